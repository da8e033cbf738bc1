package insteon

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// The serial protocol of the PowerLinc Modem, from the INSTEON Modem
// Developer's Guide (2242-222). Every frame starts with STX (0x02) and a
// command byte; its length follows from the command byte (and, for 0x62,
// from the extended bit of the message flags). A command the host sends is
// echoed back by the modem with one byte appended: ACK (0x06) or NAK (0x15).
// A modem that cannot take a command at all answers a lone NAK.
const (
	STX = 0x02
	ACK = 0x06
	NAK = 0x15
)

// Command bytes, modem to host.
const (
	CmdStandardReceived = 0x50 // 02 50 from(3) to(3) flags cmd1 cmd2
	CmdExtendedReceived = 0x51 // 02 51 from(3) to(3) flags cmd1 cmd2 d1..d14
	CmdX10Received      = 0x52 // 02 52 raw flag
	CmdLinkingCompleted = 0x53 // 02 53 code group id(3) cat subcat firmware
	CmdButtonEvent      = 0x54 // 02 54 event
	CmdUserReset        = 0x55 // 02 55
	CmdCleanupFailure   = 0x56 // 02 56 01 group id(3)
	CmdLinkRecord       = 0x57 // 02 57 flags group id(3) data(3)
	CmdCleanupStatus    = 0x58 // 02 58 ACK|NAK
)

// Command bytes, host to modem (the modem's echo adds ACK/NAK).
const (
	CmdGetIMInfo       = 0x60 // 02 60 -> 02 60 id(3) cat subcat firmware ACK
	CmdSendAllLink     = 0x61 // 02 61 group cmd1 cmd2
	CmdSend            = 0x62 // 02 62 to(3) flags cmd1 cmd2 [d1..d14]
	CmdSendX10         = 0x63 // 02 63 raw flag
	CmdStartLinking    = 0x64 // 02 64 code group
	CmdCancelLinking   = 0x65 // 02 65
	CmdSetHostCategory = 0x66 // 02 66 cat subcat firmware
	CmdResetIM         = 0x67 // 02 67 (erases the ALDB: this driver never sends it)
	CmdSetACK1         = 0x68 // 02 68 cmd2
	CmdGetFirstLink    = 0x69 // 02 69 (NAK: the database is empty)
	CmdGetNextLink     = 0x6A // 02 6A (NAK: no more records)
	CmdSetIMConfig     = 0x6B // 02 6B flags
	CmdGetSenderLink   = 0x6C // 02 6C
	CmdLEDOn           = 0x6D // 02 6D
	CmdLEDOff          = 0x6E // 02 6E
	CmdManageLink      = 0x6F // 02 6F control flags group id(3) data(3) (NAK: no match)
	CmdSetNAK1         = 0x70 // 02 70 cmd2
	CmdSetACK2         = 0x71 // 02 71 cmd1 cmd2
	CmdRFSleep         = 0x72 // 02 72
	CmdGetIMConfig     = 0x73 // 02 73 -> 02 73 flags spare spare ACK
)

// hostLen is the length of a frame the host sends (STX included), 0 if
// cmd is not a host command; 0x62's length needs the flags byte (b[5]),
// -1 when b is too short to say.
func hostLen(cmd byte, b []byte) int {
	switch cmd {
	case CmdGetIMInfo, CmdCancelLinking, CmdResetIM, CmdGetFirstLink, CmdGetNextLink,
		CmdGetSenderLink, CmdLEDOn, CmdLEDOff, CmdRFSleep, CmdGetIMConfig:
		return 2
	case CmdSetACK1, CmdSetIMConfig, CmdSetNAK1:
		return 3
	case CmdSendX10, CmdStartLinking, CmdSetACK2:
		return 4
	case CmdSendAllLink, CmdSetHostCategory:
		return 5
	case CmdManageLink:
		return 11
	case CmdSend:
		if len(b) < 6 {
			return -1
		}
		if DecodeFlags(b[5]).Extended {
			return 22
		}
		return 8
	}
	return 0
}

// modemLen is the length of a frame the modem sends: a message from the
// line, or the echo of a host command (its length plus ACK/NAK). 0 if cmd
// is unknown, -1 when b is too short to say.
func modemLen(cmd byte, b []byte) int {
	switch cmd {
	case CmdStandardReceived:
		return 11
	case CmdExtendedReceived:
		return 25
	case CmdX10Received:
		return 4
	case CmdLinkingCompleted:
		return 10
	case CmdButtonEvent, CmdCleanupStatus:
		return 3
	case CmdUserReset:
		return 2
	case CmdCleanupFailure:
		return 7
	case CmdLinkRecord:
		return 10
	case CmdGetIMInfo:
		return 9
	case CmdGetIMConfig:
		return 6
	}
	n := hostLen(cmd, b)
	if n <= 0 {
		return n
	}
	return n + 1
}

// IsEcho says whether a modem frame with this command byte is the echo of
// a host command (and so ends in ACK or NAK).
func IsEcho(cmd byte) bool { return cmd >= CmdGetIMInfo && cmd <= CmdGetIMConfig }

// CmdName is a short name of a command byte, for logs and plctool.
func CmdName(cmd byte) string {
	if n, ok := cmdNames[cmd]; ok {
		return n
	}
	return fmt.Sprintf("0x%02X", cmd)
}

var cmdNames = map[byte]string{
	CmdStandardReceived: "standard-received", CmdExtendedReceived: "extended-received",
	CmdX10Received: "x10-received", CmdLinkingCompleted: "all-linking-completed",
	CmdButtonEvent: "button-event", CmdUserReset: "user-reset",
	CmdCleanupFailure: "all-link-cleanup-failure", CmdLinkRecord: "all-link-record",
	CmdCleanupStatus: "all-link-cleanup-status", CmdGetIMInfo: "get-im-info",
	CmdSendAllLink: "send-all-link", CmdSend: "send", CmdSendX10: "send-x10",
	CmdStartLinking: "start-all-linking", CmdCancelLinking: "cancel-all-linking",
	CmdSetHostCategory: "set-host-category", CmdResetIM: "reset-im", CmdSetACK1: "set-ack-1",
	CmdGetFirstLink: "get-first-all-link-record", CmdGetNextLink: "get-next-all-link-record",
	CmdSetIMConfig: "set-im-config", CmdGetSenderLink: "get-sender-all-link-record",
	CmdLEDOn: "led-on", CmdLEDOff: "led-off", CmdManageLink: "manage-all-link-record",
	CmdSetNAK1: "set-nak-1", CmdSetACK2: "set-ack-2", CmdRFSleep: "rf-sleep",
	CmdGetIMConfig: "get-im-config",
}

// Kind says what the parser found on the line.
type Kind uint8

const (
	// KindFrame: a whole frame (Raw starts with STX).
	KindFrame Kind = iota
	// KindBusy: a lone NAK between frames: the modem could not take the
	// command just sent (its buffer is full); send it again later.
	KindBusy
	// KindGarbage: bytes dropped while resynchronising on STX: noise, a
	// frame cut short by lost bytes, or a command byte this parser does
	// not know (its payload is skipped, so a 0x15 inside it is never
	// taken for "busy").
	KindGarbage
)

// Frame is one unit off the line.
type Frame struct {
	Kind Kind
	Raw  []byte
}

// Cmd is the command byte (0 when Raw is not a frame).
func (f Frame) Cmd() byte {
	if f.Kind == KindBusy {
		return NAK
	}
	if f.Kind != KindFrame || len(f.Raw) < 2 {
		return 0
	}
	return f.Raw[1]
}

// Hex is the whole frame in hex, as plctool prints it.
func (f Frame) Hex() string { return strings.ToUpper(hex.EncodeToString(f.Raw)) }

// Acked reports, for an echo, whether the modem took the command.
func (f Frame) Acked() bool { return len(f.Raw) > 0 && f.Raw[len(f.Raw)-1] == ACK }

// Direction says which side of the line a parser reads.
type Direction uint8

const (
	// FromModem parses what the modem sends (the driver's side).
	FromModem Direction = iota
	// FromHost parses what the host sends (the simulated modem's side).
	FromHost
)

// maxGarbage bounds one garbage unit, and so the parser's buffer: a line
// that never sends STX costs at most this much memory.
const maxGarbage = 64

// Parser splits a byte stream into frames. Feed it what each read returns,
// in any pieces; call Next until it reports false. Its buffer is bounded.
type Parser struct {
	dir Direction
	buf []byte
	// skipping: the last unit was garbage that ran to the end of what was
	// fed; everything up to the next STX is garbage too, so a 0x15 there
	// (say, the payload of an unknown frame split across reads) is never
	// taken for a lone busy NAK.
	skipping bool
}

// NewParser returns a parser for one direction of the line.
func NewParser(dir Direction) *Parser { return &Parser{dir: dir} }

// Feed appends bytes read from the line.
func (p *Parser) Feed(b []byte) { p.buf = append(p.buf, b...) }

// Pending is how many bytes wait for the rest of their frame.
func (p *Parser) Pending() int { return len(p.buf) }

// Flush gives up on a partial frame (the rest never came: bytes were lost)
// and returns it as garbage. The caller decides when: after the line has
// been quiet longer than a frame takes.
func (p *Parser) Flush() (Frame, bool) {
	if len(p.buf) == 0 {
		return Frame{}, false
	}
	f := Frame{Kind: KindGarbage, Raw: p.buf}
	p.buf = nil
	p.skipping = false
	return f, true
}

func (p *Parser) take(n int, k Kind) Frame {
	raw := make([]byte, n)
	copy(raw, p.buf[:n])
	p.buf = p.buf[n:]
	if len(p.buf) == 0 {
		p.buf = nil // let the backing array go
	}
	return Frame{Kind: k, Raw: raw}
}

// garbageTo drops bytes up to the next STX at or after from (or the end,
// or maxGarbage).
func (p *Parser) garbageTo(from int) Frame {
	i := from
	for i < len(p.buf) && i < maxGarbage && p.buf[i] != STX {
		i++
	}
	p.skipping = i == len(p.buf) || i == maxGarbage
	return p.take(i, KindGarbage)
}

// Next returns the next complete unit, or false when it needs more bytes.
func (p *Parser) Next() (Frame, bool) {
	if len(p.buf) == 0 {
		return Frame{}, false
	}
	if p.buf[0] != STX {
		if p.skipping {
			return p.garbageTo(0), true
		}
		if p.buf[0] == NAK && p.dir == FromModem {
			return p.take(1, KindBusy), true
		}
		return p.garbageTo(1), true
	}
	if len(p.buf) < 2 {
		return Frame{}, false
	}
	var n int
	if p.dir == FromModem {
		n = modemLen(p.buf[1], p.buf)
	} else {
		n = hostLen(p.buf[1], p.buf)
	}
	switch {
	case n == 0: // unknown command: skip it and its payload
		return p.garbageTo(2), true
	case n < 0 || len(p.buf) < n:
		return Frame{}, false
	}
	if p.dir == FromModem && IsEcho(p.buf[1]) && p.buf[n-1] != ACK && p.buf[n-1] != NAK {
		// An echo must end in ACK or NAK: this one lost bytes, and what
		// follows its STX is the start of the next frame.
		return p.garbageTo(1), true
	}
	return p.take(n, KindFrame), true
}
