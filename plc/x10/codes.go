// Package x10 drives an X10 CM11A power-line interface (4800 8N1) over an
// io.ReadWriteCloser, and implements plc.Modem with addresses like "A1".
//
// The wire protocol is the one in X10's "CM11A Interface Communication
// Protocol" (protocol.txt, as kept by the heyu project): the host sends a
// header:code pair (or the five-byte extended frame), the interface answers
// the byte sum, the host sends 0x00, the interface puts the frame on the
// power line and answers 0x55 ("ready"). When the interface has heard
// something on the line it polls with 0x5A once a second until the host
// answers 0xC3, then uploads its buffer (size, function/address mask, up to
// eight data bytes). After a power failure it polls with 0xA5 until it gets
// the clock frame 0x9B and six time bytes.
//
// frame.go encodes and decodes the frames; modem.go is the driver: one
// goroutine owns the line (the only writer), commands wait in a bounded
// queue, and every read has a deadline.
package x10

import (
	"fmt"
	"strconv"
	"strings"

	"oepc.dev/oepcos/plc"
)

// codeTable is X10's non-sequential encoding of house codes A-P and unit
// codes 1-16 (protocol.txt section 1.1): index 0 is A / 1.
var codeTable = [16]byte{0x6, 0xE, 0x2, 0xA, 0x1, 0x9, 0x5, 0xD, 0x7, 0xF, 0x3, 0xB, 0x0, 0x8, 0x4, 0xC}

// decodeTable inverts codeTable: nibble -> index 0-15.
var decodeTable = func() (t [16]int) {
	for i, c := range codeTable {
		t[c] = i
	}
	return t
}()

// HouseCode is the 4-bit wire code of house letter h ('A'-'P').
func HouseCode(h byte) (byte, bool) {
	if h < 'A' || h > 'P' {
		return 0, false
	}
	return codeTable[h-'A'], true
}

// HouseLetter is the letter of a 4-bit house code.
func HouseLetter(code byte) byte { return 'A' + byte(decodeTable[code&0xF]) }

// UnitCode is the 4-bit wire code of unit 1-16.
func UnitCode(u int) (byte, bool) {
	if u < 1 || u > 16 {
		return 0, false
	}
	return codeTable[u-1], true
}

// UnitNumber is the unit number (1-16) of a 4-bit unit code.
func UnitNumber(code byte) int { return decodeTable[code&0xF] + 1 }

// Addr is one X10 device: a house letter and a unit number.
type Addr struct {
	House byte // 'A'-'P'
	Unit  int  // 1-16
}

func (a Addr) String() string { return string(a.House) + strconv.Itoa(a.Unit) }

// Code is the address byte: house code in the high nibble, unit code low.
func (a Addr) Code() byte {
	h, _ := HouseCode(a.House)
	u, _ := UnitCode(a.Unit)
	return h<<4 | u
}

// ParseAddr reads "A1".."P16" (letters in either case).
func ParseAddr(s string) (Addr, error) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || len(s) > 3 {
		return Addr{}, fmt.Errorf("%w: %q: an X10 address is a house letter A-P and a unit 1-16, like A1", plc.ErrBadAddress, s)
	}
	h := s[0]
	if h >= 'a' && h <= 'p' {
		h -= 'a' - 'A'
	}
	if _, ok := HouseCode(h); !ok {
		return Addr{}, fmt.Errorf("%w: %q: house %q is not A-P", plc.ErrBadAddress, s, s[0])
	}
	u, err := strconv.Atoi(s[1:])
	if err != nil || u < 1 || u > 16 || s[1] == '0' || s[1] == '+' {
		return Addr{}, fmt.Errorf("%w: %q: unit %q is not 1-16", plc.ErrBadAddress, s, s[1:])
	}
	return Addr{House: h, Unit: u}, nil
}

// AddrOfCode decodes an address byte.
func AddrOfCode(b byte) Addr { return Addr{House: HouseLetter(b >> 4), Unit: UnitNumber(b)} }

// Function is an X10 function code (protocol.txt section 1.2).
type Function byte

const (
	AllUnitsOff   Function = 0x0
	AllLightsOn   Function = 0x1
	On            Function = 0x2
	Off           Function = 0x3
	Dim           Function = 0x4
	Bright        Function = 0x5
	AllLightsOff  Function = 0x6
	ExtendedCode  Function = 0x7
	HailRequest   Function = 0x8
	HailAck       Function = 0x9
	PresetDim1    Function = 0xA
	PresetDim2    Function = 0xB
	ExtendedData  Function = 0xC
	StatusOn      Function = 0xD
	StatusOff     Function = 0xE
	StatusRequest Function = 0xF
)

var functionNames = [16]string{"all-units-off", "all-lights-on", "on", "off", "dim", "bright",
	"all-lights-off", "extended-code", "hail-request", "hail-ack", "preset-dim-1", "preset-dim-2",
	"extended-data", "status-on", "status-off", "status-request"}

func (f Function) String() string { return functionNames[f&0xF] }

// ToAddr converts a plc.Address.
func ToAddr(a plc.Address) (Addr, error) { return ParseAddr(string(a)) }
