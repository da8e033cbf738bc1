package insteon

import (
	"errors"
	"fmt"
	"strings"

	"oepc.dev/oepcos/plc"
)

// Address is a device's 3-byte Insteon ID, written 1A.2B.3C.
type Address [3]byte

// ParseAddress reads "1A.2B.3C" (also "1a2b3c" and "1A 2B 3C").
func ParseAddress(s string) (Address, error) {
	var a Address
	t := strings.NewReplacer(".", "", " ", "", ":", "").Replace(strings.TrimSpace(s))
	if len(t) != 6 {
		return a, fmt.Errorf("%w: %q is not an Insteon address (write it 1A.2B.3C)", plc.ErrBadAddress, s)
	}
	for i := 0; i < 3; i++ {
		hi, ok1 := unhex(t[2*i])
		lo, ok2 := unhex(t[2*i+1])
		if !ok1 || !ok2 {
			return Address{}, fmt.Errorf("%w: %q is not an Insteon address (write it 1A.2B.3C)", plc.ErrBadAddress, s)
		}
		a[i] = hi<<4 | lo
	}
	return a, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func (a Address) String() string { return fmt.Sprintf("%02X.%02X.%02X", a[0], a[1], a[2]) }

// MsgType is the message type in bits 7-5 of the flags.
type MsgType uint8

const (
	Direct          MsgType = 0 // 000
	DirectACK       MsgType = 1 // 001
	GroupCleanup    MsgType = 2 // 010: ALL-Link cleanup, direct to each responder
	GroupCleanupACK MsgType = 3 // 011
	Broadcast       MsgType = 4 // 100: to = device category, e.g. the SET button
	DirectNAK       MsgType = 5 // 101
	GroupBroadcast  MsgType = 6 // 110: ALL-Link broadcast, to = 00 00 group
	GroupCleanupNAK MsgType = 7 // 111
)

func (t MsgType) String() string {
	return [...]string{"direct", "direct-ack", "all-link-cleanup", "all-link-cleanup-ack",
		"broadcast", "direct-nak", "all-link-broadcast", "all-link-cleanup-nak"}[t&7]
}

// Flags is the message flags byte: type, extended, hops left, max hops.
type Flags struct {
	Type     MsgType
	Extended bool
	HopsLeft uint8 // 0-3
	MaxHops  uint8 // 0-3
}

// DecodeFlags splits a flags byte.
func DecodeFlags(b byte) Flags {
	return Flags{Type: MsgType(b >> 5), Extended: b&0x10 != 0, HopsLeft: (b >> 2) & 3, MaxHops: b & 3}
}

// Byte encodes the flags.
func (f Flags) Byte() byte {
	b := byte(f.Type&7)<<5 | (f.HopsLeft&3)<<2 | f.MaxHops&3
	if f.Extended {
		b |= 0x10
	}
	return b
}

// Message is one Insteon message as it travels on the power line.
type Message struct {
	From, To   Address
	Flags      Flags
	Cmd1, Cmd2 byte
	Data       [14]byte // extended messages: D1-D14
}

// Group is the ALL-Link group of a group message (broadcast: the low byte
// of To; cleanup: Cmd2), 0 otherwise.
func (m Message) Group() int {
	switch m.Flags.Type {
	case GroupBroadcast:
		return int(m.To[2])
	case GroupCleanup, GroupCleanupACK, GroupCleanupNAK:
		return int(m.Cmd2)
	}
	return 0
}

func (m Message) String() string {
	s := fmt.Sprintf("%s -> %s %s hops %d/%d cmd %02X %02X", m.From, m.To, m.Flags.Type,
		m.Flags.HopsLeft, m.Flags.MaxHops, m.Cmd1, m.Cmd2)
	if m.Flags.Extended {
		s += fmt.Sprintf(" data % X", m.Data[:])
	}
	return s
}

// Checksum is the extended message checksum in D14: the two's complement
// of the sum of Cmd1, Cmd2 and D1-D13, so that they and D14 sum to 0.
func Checksum(cmd1, cmd2 byte, d []byte) byte {
	s := cmd1 + cmd2
	for i := 0; i < 13 && i < len(d); i++ {
		s += d[i]
	}
	return -s
}

// SetChecksum writes the checksum of an extended message into D14.
func (m *Message) SetChecksum() { m.Data[13] = Checksum(m.Cmd1, m.Cmd2, m.Data[:13]) }

// ChecksumOK reports whether D14 matches.
func (m Message) ChecksumOK() bool { return m.Data[13] == Checksum(m.Cmd1, m.Cmd2, m.Data[:13]) }

// Insteon commands (cmd1) this driver sends or understands.
const (
	CmdAssignToGroup = 0x01 // broadcast: SET button pressed, responder
	CmdSetButton     = 0x02 // broadcast: SET button pressed, controller
	CmdPing          = 0x0F
	CmdIDRequest     = 0x10
	CmdOn            = 0x11 // cmd2: level
	CmdFastOn        = 0x12
	CmdOff           = 0x13
	CmdFastOff       = 0x14
	CmdBright        = 0x15
	CmdDimStep       = 0x16
	CmdStartManual   = 0x17
	CmdStopManual    = 0x18
	CmdStatusRequest = 0x19 // ACK: cmd1 = ALDB delta, cmd2 = level
)

// InsteonCmdName names an Insteon command byte.
func InsteonCmdName(c byte) string {
	switch c {
	case CmdAssignToGroup:
		return "set-button-responder"
	case CmdSetButton:
		return "set-button-controller"
	case CmdPing:
		return "ping"
	case CmdIDRequest:
		return "id-request"
	case CmdOn:
		return "on"
	case CmdFastOn:
		return "fast-on"
	case CmdOff:
		return "off"
	case CmdFastOff:
		return "fast-off"
	case CmdBright:
		return "bright"
	case CmdDimStep:
		return "dim"
	case CmdStartManual:
		return "start-manual-change"
	case CmdStopManual:
		return "stop-manual-change"
	case CmdStatusRequest:
		return "status-request"
	}
	return fmt.Sprintf("0x%02X", c)
}

// ErrFrame: a frame too short, or not the kind the decoder takes.
var ErrFrame = errors.New("insteon: malformed frame")

// EncodeSend is the host's 0x62 frame for m (To, Flags, Cmd1, Cmd2, and
// Data when extended). From is not sent: the modem puts its own.
func EncodeSend(m Message) []byte {
	b := []byte{STX, CmdSend, m.To[0], m.To[1], m.To[2], m.Flags.Byte(), m.Cmd1, m.Cmd2}
	if m.Flags.Extended {
		b = append(b, m.Data[:]...)
	}
	return b
}

// DecodeSend reads a host's 0x62 frame (or the modem's echo of one).
func DecodeSend(raw []byte) (Message, error) {
	var m Message
	if len(raw) < 8 || raw[0] != STX || raw[1] != CmdSend {
		return m, fmt.Errorf("%w: send: % X", ErrFrame, raw)
	}
	copy(m.To[:], raw[2:5])
	m.Flags = DecodeFlags(raw[5])
	m.Cmd1, m.Cmd2 = raw[6], raw[7]
	if m.Flags.Extended {
		if len(raw) < 22 {
			return m, fmt.Errorf("%w: extended send is %d bytes, want 22: % X", ErrFrame, len(raw), raw)
		}
		copy(m.Data[:], raw[8:22])
	}
	return m, nil
}

// EncodeReceived is the modem's 0x50 (or 0x51, when extended) frame for a
// message heard on the line.
func EncodeReceived(m Message) []byte {
	cmd := byte(CmdStandardReceived)
	if m.Flags.Extended {
		cmd = CmdExtendedReceived
	}
	b := []byte{STX, cmd, m.From[0], m.From[1], m.From[2], m.To[0], m.To[1], m.To[2], m.Flags.Byte(), m.Cmd1, m.Cmd2}
	if m.Flags.Extended {
		b = append(b, m.Data[:]...)
	}
	return b
}

// DecodeReceived reads a 0x50 or 0x51 frame.
func DecodeReceived(raw []byte) (Message, error) {
	var m Message
	if len(raw) < 11 || raw[0] != STX || (raw[1] != CmdStandardReceived && raw[1] != CmdExtendedReceived) {
		return m, fmt.Errorf("%w: received message: % X", ErrFrame, raw)
	}
	copy(m.From[:], raw[2:5])
	copy(m.To[:], raw[5:8])
	m.Flags = DecodeFlags(raw[8])
	m.Cmd1, m.Cmd2 = raw[9], raw[10]
	if raw[1] == CmdExtendedReceived {
		if len(raw) < 25 {
			return m, fmt.Errorf("%w: extended message is %d bytes, want 25", ErrFrame, len(raw))
		}
		copy(m.Data[:], raw[11:25])
		m.Flags.Extended = true
	} else if m.Flags.Extended {
		return m, fmt.Errorf("%w: standard frame 0x50 with the extended flag set: % X", ErrFrame, raw)
	}
	return m, nil
}

// IMInfo is the modem's answer to Get IM Info (0x60).
type IMInfo struct {
	Address  Address
	Category byte
	Subcat   byte
	Firmware byte
}

// EncodeIMInfo is the modem's echo of 0x60.
func EncodeIMInfo(i IMInfo) []byte {
	return []byte{STX, CmdGetIMInfo, i.Address[0], i.Address[1], i.Address[2], i.Category, i.Subcat, i.Firmware, ACK}
}

// DecodeIMInfo reads the echo of 0x60.
func DecodeIMInfo(raw []byte) (IMInfo, error) {
	var i IMInfo
	if len(raw) != 9 || raw[0] != STX || raw[1] != CmdGetIMInfo {
		return i, fmt.Errorf("%w: im info: % X", ErrFrame, raw)
	}
	copy(i.Address[:], raw[2:5])
	i.Category, i.Subcat, i.Firmware = raw[5], raw[6], raw[7]
	return i, nil
}

// IMConfig is the modem's configuration byte (Get/Set IM Configuration,
// 0x73/0x6B).
type IMConfig byte

const (
	ConfigDisableAutoLink IMConfig = 0x80 // the SET button does not start linking
	ConfigMonitorMode     IMConfig = 0x40 // report messages not addressed to the modem
	ConfigDisableAutoLED  IMConfig = 0x20 // the host drives the LED
	ConfigDisableDeadman  IMConfig = 0x10 // no 240 ms inter-byte limit on host frames
)

func (c IMConfig) String() string {
	var s []string
	for _, f := range []struct {
		b IMConfig
		n string
	}{{ConfigDisableAutoLink, "disable-auto-linking"}, {ConfigMonitorMode, "monitor-mode"},
		{ConfigDisableAutoLED, "disable-auto-led"}, {ConfigDisableDeadman, "disable-deadman"}} {
		if c&f.b != 0 {
			s = append(s, f.n)
		}
	}
	if len(s) == 0 {
		return "default"
	}
	return strings.Join(s, ",")
}

// EncodeSetConfig is the host's 0x6B frame.
func EncodeSetConfig(c IMConfig) []byte { return []byte{STX, CmdSetIMConfig, byte(c)} }

// EncodeConfigEcho is the modem's echo of 0x73 carrying its configuration.
func EncodeConfigEcho(c IMConfig) []byte {
	return []byte{STX, CmdGetIMConfig, byte(c), 0, 0, ACK}
}

// DecodeConfig reads the echo of 0x73.
func DecodeConfig(raw []byte) (IMConfig, error) {
	if len(raw) != 6 || raw[0] != STX || raw[1] != CmdGetIMConfig {
		return 0, fmt.Errorf("%w: im config: % X", ErrFrame, raw)
	}
	return IMConfig(raw[2]), nil
}

// LinkRecord is one record of an ALL-Link database (the modem's: 0x57,
// 0x6F).
type LinkRecord struct {
	Flags   byte // bit 7: in use; bit 6: the modem is the controller
	Group   byte
	Address Address
	Data    [3]byte // responder: on level, ramp rate, button; controller: device cat, subcat, firmware
}

const (
	LinkInUse      = 0x80
	LinkController = 0x40
)

// Controller says whether the modem controls the other device in this
// record (else it responds to it).
func (r LinkRecord) Controller() bool { return r.Flags&LinkController != 0 }

func (r LinkRecord) String() string {
	role := "responder"
	if r.Controller() {
		role = "controller"
	}
	return fmt.Sprintf("%s group %d %s data % X", role, r.Group, r.Address, r.Data[:])
}

// Same says whether two records are the same link (role, group, device);
// their data may differ.
func (r LinkRecord) Same(o LinkRecord) bool {
	return r.Controller() == o.Controller() && r.Group == o.Group && r.Address == o.Address
}

// EncodeLinkRecord is the modem's 0x57 frame.
func EncodeLinkRecord(r LinkRecord) []byte {
	return []byte{STX, CmdLinkRecord, r.Flags, r.Group, r.Address[0], r.Address[1], r.Address[2], r.Data[0], r.Data[1], r.Data[2]}
}

// DecodeLinkRecord reads a 0x57 frame.
func DecodeLinkRecord(raw []byte) (LinkRecord, error) {
	var r LinkRecord
	if len(raw) != 10 || raw[0] != STX || raw[1] != CmdLinkRecord {
		return r, fmt.Errorf("%w: all-link record: % X", ErrFrame, raw)
	}
	r.Flags, r.Group = raw[2], raw[3]
	copy(r.Address[:], raw[4:7])
	copy(r.Data[:], raw[7:10])
	return r, nil
}

// ManageCode is the control code of Manage ALL-Link Record (0x6F).
type ManageCode byte

const (
	ManageFindFirst     ManageCode = 0x00
	ManageFindNext      ManageCode = 0x01
	ManageModifyOrAdd   ManageCode = 0x20 // modify the first match, or add
	ManageAddController ManageCode = 0x40
	ManageAddResponder  ManageCode = 0x41
	ManageDelete        ManageCode = 0x80 // delete the first match
)

// EncodeManageLink is the host's 0x6F frame.
func EncodeManageLink(code ManageCode, r LinkRecord) []byte {
	return []byte{STX, CmdManageLink, byte(code), r.Flags, r.Group, r.Address[0], r.Address[1], r.Address[2], r.Data[0], r.Data[1], r.Data[2]}
}

// DecodeManageLink reads a host's 0x6F frame (or its echo).
func DecodeManageLink(raw []byte) (ManageCode, LinkRecord, error) {
	if len(raw) < 11 || raw[0] != STX || raw[1] != CmdManageLink {
		return 0, LinkRecord{}, fmt.Errorf("%w: manage all-link record: % X", ErrFrame, raw)
	}
	r := LinkRecord{Flags: raw[3], Group: raw[4]}
	copy(r.Address[:], raw[5:8])
	copy(r.Data[:], raw[8:11])
	return ManageCode(raw[2]), r, nil
}

// LinkCode is the code of Start ALL-Linking (0x64) and of ALL-Linking
// Completed (0x53).
type LinkCode byte

const (
	LinkAsResponder  LinkCode = 0x00 // the modem responds to the device
	LinkAsController LinkCode = 0x01 // the modem controls the device
	LinkEither       LinkCode = 0x03 // whichever SET is pressed first decides
	LinkDeleted      LinkCode = 0xFF
)

// EncodeStartLinking is the host's 0x64 frame.
func EncodeStartLinking(code LinkCode, group byte) []byte {
	return []byte{STX, CmdStartLinking, byte(code), group}
}

// LinkingCompleted is the modem's 0x53 report.
type LinkingCompleted struct {
	Code     LinkCode
	Group    byte
	Address  Address
	Category byte
	Subcat   byte
	Firmware byte
}

// EncodeLinkingCompleted is the modem's 0x53 frame.
func EncodeLinkingCompleted(l LinkingCompleted) []byte {
	return []byte{STX, CmdLinkingCompleted, byte(l.Code), l.Group, l.Address[0], l.Address[1], l.Address[2], l.Category, l.Subcat, l.Firmware}
}

// DecodeLinkingCompleted reads a 0x53 frame.
func DecodeLinkingCompleted(raw []byte) (LinkingCompleted, error) {
	var l LinkingCompleted
	if len(raw) != 10 || raw[0] != STX || raw[1] != CmdLinkingCompleted {
		return l, fmt.Errorf("%w: all-linking completed: % X", ErrFrame, raw)
	}
	l.Code, l.Group = LinkCode(raw[2]), raw[3]
	copy(l.Address[:], raw[4:7])
	l.Category, l.Subcat, l.Firmware = raw[7], raw[8], raw[9]
	return l, nil
}

// EncodeSendAllLink is the host's 0x61 frame: fire ALL-Link group (a scene).
func EncodeSendAllLink(group, cmd1, cmd2 byte) []byte {
	return []byte{STX, CmdSendAllLink, group, cmd1, cmd2}
}

// EncodeCleanupStatus is the modem's 0x58 report: ACK when every
// responder answered its cleanup, NAK when the cleanups were interrupted
// (a device result, not "modem busy").
func EncodeCleanupStatus(ok bool) []byte {
	if ok {
		return []byte{STX, CmdCleanupStatus, ACK}
	}
	return []byte{STX, CmdCleanupStatus, NAK}
}

// EncodeCleanupFailure is the modem's 0x56 report: one responder of a group
// did not answer its cleanup.
func EncodeCleanupFailure(group byte, a Address) []byte {
	return []byte{STX, CmdCleanupFailure, 0x01, group, a[0], a[1], a[2]}
}

// DecodeCleanupFailure reads a 0x56 frame.
func DecodeCleanupFailure(raw []byte) (group byte, a Address, err error) {
	if len(raw) != 7 || raw[0] != STX || raw[1] != CmdCleanupFailure {
		return 0, a, fmt.Errorf("%w: cleanup failure: % X", ErrFrame, raw)
	}
	copy(a[:], raw[4:7])
	return raw[3], a, nil
}

// Echo is the modem's echo of a host frame: the frame and ACK or NAK.
func Echo(host []byte, ack bool) []byte {
	b := append([]byte{}, host...)
	if ack {
		return append(b, ACK)
	}
	return append(b, NAK)
}
