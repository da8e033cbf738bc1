package x10

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"oepc.dev/oepcos/plc"
)

// Bytes of the serial protocol (protocol.txt sections 3, 4, 8, 9).
const (
	PollData      byte = 0x5A // interface: "I have data for you"
	PollAck       byte = 0xC3 // host: "send it"
	PollPowerFail byte = 0xA5 // interface: "I lost power, send me the clock"
	ClockHeader   byte = 0x9B // host: clock frame header
	Ready         byte = 0x55 // interface: frame transmitted, ready
	Confirm       byte = 0x00 // host: checksum right, transmit
	InfoRequest   byte = 0x8B // host: interface status request (14 bytes back)

	// MaxDims is the dim amount that means 100% in a header byte.
	MaxDims = 22
	// MaxUploadDim is the dim/bright amount byte in an upload that means 100%.
	MaxUploadDim = 210
	// InfoLen is the length of the interface's answer to InfoRequest.
	InfoLen = 14
	// maxUploadSize: the size byte counts the mask and at most 8 data bytes.
	maxUploadSize = 9
)

// Header bits (protocol.txt 3.1.1): dims in bits 7-3, bit 2 always 1,
// bit 1 function (1) or address (0), bit 0 extended (1) or standard (0).
const (
	hdrSync     byte = 0x04
	hdrFunction byte = 0x02
	hdrExtended byte = 0x01
)

// AddressFrame is the header:code pair that selects a unit: 04 hu.
func AddressFrame(a Addr) []byte { return []byte{hdrSync, a.Code()} }

// FunctionFrame is the header:code pair of a standard function for a house.
// dims (0-22) is used by Dim and Bright: 22 is 100%.
func FunctionFrame(house byte, f Function, dims int) ([]byte, error) {
	h, ok := HouseCode(house)
	if !ok {
		return nil, fmt.Errorf("%w: house %q is not A-P", plc.ErrBadAddress, house)
	}
	if f == ExtendedCode {
		return nil, errors.New("x10: the extended code function needs ExtendedFrame")
	}
	if dims < 0 || dims > MaxDims {
		return nil, fmt.Errorf("x10: dim amount %d is not 0-%d", dims, MaxDims)
	}
	return []byte{byte(dims)<<3 | hdrSync | hdrFunction, h<<4 | byte(f)}, nil
}

// ExtendedFrame is the five-byte extended transmission (protocol.txt 3.2,
// as corrected): 07, house:0111, unit code, data, command.
func ExtendedFrame(a Addr, data, cmd byte) []byte {
	h, _ := HouseCode(a.House)
	u, _ := UnitCode(a.Unit)
	return []byte{hdrSync | hdrFunction | hdrExtended, h<<4 | byte(ExtendedCode), u, data, cmd}
}

// ClockFrame is the answer to a power-fail poll (protocol.txt section 8):
// 9B, seconds, minutes 0-119, hours/2, year day low 8 bits, year day bit 8
// in bit 7 with the day-of-week mask (bit 0 Sunday) below, monitored house
// code in the high nibble with the flag bits (timer purge 0x4, battery
// timer clear 0x2, monitored status clear 0x1) below. The year day is
// 0-based, as heyu's setclock sends tm_yday.
func ClockFrame(t time.Time, monitored byte, flags byte) []byte {
	h, ok := HouseCode(monitored)
	if !ok {
		h, _ = HouseCode('A')
	}
	yday := t.YearDay() - 1
	return []byte{ClockHeader, byte(t.Second()), byte(t.Minute() + 60*(t.Hour()%2)), byte(t.Hour() / 2),
		byte(yday), byte(yday>>8)<<7 | 1<<uint(t.Weekday()), h<<4 | flags&0x7}
}

// Clock is a decoded clock frame.
type Clock struct {
	Second, Minute, Hour int // Minute 0-59, Hour 0-23
	YearDay              int // 0-365
	Weekday              time.Weekday
	House                byte // monitored house letter
	Flags                byte
}

// DecodeClock reads a clock frame (with its 0x9B header).
func DecodeClock(b []byte) (Clock, error) {
	if len(b) != 7 || b[0] != ClockHeader {
		return Clock{}, fmt.Errorf("x10: clock frame is 9B and 6 bytes, got % x", b)
	}
	c := Clock{Second: int(b[1]), Minute: int(b[2]) % 60, Hour: int(b[3])*2 + int(b[2])/60,
		YearDay: int(b[4]) | int(b[5]>>7)<<8, House: HouseLetter(b[6] >> 4), Flags: b[6] & 0x7}
	if b[1] > 59 || b[2] > 119 || b[3] > 11 || c.YearDay > 365 {
		return Clock{}, fmt.Errorf("x10: clock frame out of range: % x", b)
	}
	mask := b[5] & 0x7F
	if mask == 0 || mask&(mask-1) != 0 {
		return Clock{}, fmt.Errorf("x10: clock frame day mask %07b is not one day", mask)
	}
	for mask>>1 != 0 {
		mask >>= 1
		c.Weekday++
	}
	return c, nil
}

// Checksum is what the interface answers to a frame: the byte sum of the
// frame, without the 0x9B header of a clock frame.
func Checksum(frame []byte) byte {
	if len(frame) == 7 && frame[0] == ClockHeader {
		frame = frame[1:]
	}
	var s byte
	for _, b := range frame {
		s += b
	}
	return s
}

// Item is one entry of an upload buffer: an address, or a function with its
// argument bytes.
type Item struct {
	IsFunction bool
	Addr       Addr     // address items
	House      byte     // function items: the house letter
	Func       Function // function items
	// DimAmount: Dim and Bright, 0-210 (210 is 100%).
	DimAmount int
	// Extended code: the unit, data and command bytes.
	Unit      int
	Data, Cmd byte
}

func (it Item) String() string {
	if !it.IsFunction {
		return it.Addr.String()
	}
	s := string(it.House) + " " + it.Func.String()
	if n, ok := it.PresetOf(); ok {
		return fmt.Sprintf("%s %d/%d", it.Func, n, MaxPreset)
	}
	switch it.Func {
	case Dim, Bright:
		s += fmt.Sprintf(" %d/210", it.DimAmount)
	case ExtendedCode:
		s = fmt.Sprintf("%c%d extended data=%02x cmd=%02x", it.House, it.Unit, it.Data, it.Cmd)
	}
	return s
}

// Describe writes items as "A1 A2 A on".
func Describe(items []Item) string {
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = it.String()
	}
	return strings.Join(parts, " ")
}

// ErrUpload: an upload buffer that cannot be decoded in full.
var ErrUpload = errors.New("x10: bad upload buffer")

// DecodeUpload reads an upload buffer as the interface sends it after 0xC3:
// size (the count of bytes after it: the mask and 1-8 data bytes), the
// function/address mask (bit i set: data byte i is a function), the data
// bytes. A Dim or Bright function takes the next byte as its amount, an
// extended code the next three (unit, data, command) whatever their mask
// bits say (protocol.txt 4.4, 4.5). It returns the items it could decode
// and, when the buffer is malformed or cut short, an error wrapping
// ErrUpload; a truncated last function is dropped, never guessed.
func DecodeUpload(b []byte) ([]Item, error) {
	if len(b) < 1 {
		return nil, fmt.Errorf("%w: empty", ErrUpload)
	}
	size := int(b[0])
	if size < 2 || size > maxUploadSize {
		return nil, fmt.Errorf("%w: size byte %d is not 2-%d", ErrUpload, size, maxUploadSize)
	}
	if len(b) != size+1 {
		return nil, fmt.Errorf("%w: size byte says %d bytes, got %d", ErrUpload, size, len(b)-1)
	}
	mask, data := b[1], b[2:]
	var items []Item
	for i := 0; i < len(data); i++ {
		c := data[i]
		if mask&(1<<uint(i)) == 0 {
			items = append(items, Item{Addr: AddrOfCode(c)})
			continue
		}
		it := Item{IsFunction: true, House: HouseLetter(c >> 4), Func: Function(c & 0xF)}
		switch it.Func {
		case Dim, Bright:
			if i+1 >= len(data) {
				return items, fmt.Errorf("%w: %s without its dim amount byte", ErrUpload, it.Func)
			}
			i++
			it.DimAmount = int(data[i])
			if it.DimAmount > MaxUploadDim {
				return items, fmt.Errorf("%w: dim amount %d is over %d", ErrUpload, it.DimAmount, MaxUploadDim)
			}
		case ExtendedCode:
			if i+3 >= len(data) {
				return items, fmt.Errorf("%w: extended code without its unit, data and command bytes", ErrUpload)
			}
			it.Unit = UnitNumber(data[i+1])
			it.Data, it.Cmd = data[i+2], data[i+3]
			i += 3
		}
		items = append(items, it)
	}
	return items, nil
}

// EncodeUpload builds an upload buffer from items (the simulator's side).
// It fails when they need more than 8 data bytes.
func EncodeUpload(items []Item) ([]byte, error) {
	var mask byte
	var data []byte
	for _, it := range items {
		if !it.IsFunction {
			data = append(data, it.Addr.Code())
			continue
		}
		h, ok := HouseCode(it.House)
		if !ok {
			return nil, fmt.Errorf("%w: house %q", plc.ErrBadAddress, it.House)
		}
		if len(data) < 8 {
			mask |= 1 << uint(len(data))
		}
		data = append(data, h<<4|byte(it.Func))
		switch it.Func {
		case Dim, Bright:
			data = append(data, byte(it.DimAmount))
		case ExtendedCode:
			u, _ := UnitCode(it.Unit)
			data = append(data, u, it.Data, it.Cmd)
		}
	}
	if len(data) == 0 || len(data) > 8 {
		return nil, fmt.Errorf("x10: an upload holds 1-8 data bytes, these items need %d", len(data))
	}
	return append([]byte{byte(len(data) + 1), mask}, data...), nil
}

// Info is the interface's answer to the status request 0x8B (protocol.txt
// section 9).
type Info struct {
	BatteryTimer uint16 // minutes on battery; 0xFFFF after a cold start
	Clock        Clock  // Second, Minute, Hour, YearDay, Weekday
	House        byte   // monitored house letter
	Firmware     int    // 0-15
	Addressed    uint16 // monitored units currently addressed, bit (unit-1)
	OnOff        uint16 // monitored units that are on, bit (unit-1)
	DimmedUnits  uint16 // monitored units that are dimmed, bit (unit-1)
}

// unitMask converts the interface's mask (bit n set for the unit whose code
// is n) into one with bit (unit-1) set.
func unitMask(raw uint16) (m uint16) {
	for code := 0; code < 16; code++ {
		if raw&(1<<uint(code)) != 0 {
			m |= 1 << uint(UnitNumber(byte(code))-1)
		}
	}
	return m
}

func rawMask(m uint16) (raw uint16) {
	for u := 1; u <= 16; u++ {
		if m&(1<<uint(u-1)) != 0 {
			c, _ := UnitCode(u)
			raw |= 1 << uint(c)
		}
	}
	return raw
}

// DecodeInfo reads the 14 bytes answered to 0x8B. Byte order per
// protocol.txt 9: battery timer (low byte first), seconds, minutes 0-119,
// hours/2, year day (bit 8 in the next byte's bit 7) and day mask, the
// monitored house code (high nibble) and firmware revision (low nibble,
// as heyu's status.c reads them),
// then three 16-bit unit masks, low byte first, indexed by unit code.
func DecodeInfo(b []byte) (Info, error) {
	if len(b) != InfoLen {
		return Info{}, fmt.Errorf("x10: interface status is %d bytes, got %d", InfoLen, len(b))
	}
	clk, err := DecodeClock([]byte{ClockHeader, b[2], b[3], b[4], b[5], b[6], b[7] & 0xF0})
	if err != nil {
		return Info{}, fmt.Errorf("x10: interface status: %w", err)
	}
	in := Info{BatteryTimer: uint16(b[0]) | uint16(b[1])<<8, Clock: clk, House: HouseLetter(b[7] >> 4),
		Firmware:    int(b[7] & 0xF),
		Addressed:   unitMask(uint16(b[8]) | uint16(b[9])<<8),
		OnOff:       unitMask(uint16(b[10]) | uint16(b[11])<<8),
		DimmedUnits: unitMask(uint16(b[12]) | uint16(b[13])<<8)}
	in.Clock.House = in.House
	return in, nil
}

// EncodeInfo is DecodeInfo's inverse (the simulator's side). in.Clock gives
// the time fields; the masks are indexed by unit (bit unit-1).
func EncodeInfo(in Info) []byte {
	t := time.Date(2000, 1, 1, in.Clock.Hour, in.Clock.Minute, in.Clock.Second, 0, time.UTC)
	c := ClockFrame(t, 'A', 0)
	yday := in.Clock.YearDay
	h, _ := HouseCode(in.House)
	a, o, d := rawMask(in.Addressed), rawMask(in.OnOff), rawMask(in.DimmedUnits)
	return []byte{byte(in.BatteryTimer), byte(in.BatteryTimer >> 8), c[1], c[2], c[3],
		byte(yday), byte(yday>>8)<<7 | 1<<uint(in.Clock.Weekday), h<<4 | byte(in.Firmware&0xF),
		byte(a), byte(a >> 8), byte(o), byte(o >> 8), byte(d), byte(d >> 8)}
}

// Level mapping. X10 has 22 dim steps between off and full (a header's dim
// amount 22 is 100%); plc.Level is 0-255. Step s is level round(s*255/22);
// level l is step round(l*22/255), so every step survives a round trip.

// StepOf is the X10 step (0-22) nearest to a level.
func StepOf(l plc.Level) int { return (int(l)*MaxDims + 127) / 255 }

// LevelOf is the level of an X10 step (0-22).
func LevelOf(step int) plc.Level {
	if step <= 0 {
		return 0
	}
	if step >= MaxDims {
		return 255
	}
	return plc.Level((step*255 + MaxDims/2) / MaxDims)
}

// StepsOfAmount converts an upload's dim amount (0-210) to steps (0-22).
func StepsOfAmount(n int) int { return (n*MaxDims + MaxUploadDim/2) / MaxUploadDim }

// AmountOfSteps converts steps to an upload's dim amount.
func AmountOfSteps(s int) int { return (s*MaxUploadDim + MaxDims/2) / MaxDims }

// Line timing, for the simulator and the benchmark's physical limit.
//
// Serial: 4800 baud, 8N1: 10 bits a byte, 480 bytes/s, 2.083 ms a byte.
// One standard exchange is 5 bytes on the wire (2 header:code, checksum,
// 0x00, 0x55); an extended one 8.
//
// Power line: an X10 frame is 11 cycles (start code 1110 in 2 cycles, the
// house code in 4, the key code in 5; each bit sent true then complement
// on successive zero crossings), every frame is sent twice, and 3 quiet
// cycles must separate one pair from the next. Dim and Bright are repeated
// back to back with no gap. So an address+function command is
// 2×(2×11+3) = 50 cycles, 0.833 s at 60 Hz, 1 s at 50 Hz — see
// http://www.automationfaq.com/fom-serve/cache/296.html ("A single X10
// command such as turn device A1 on takes a grand total of 50 cycles ...
// ~0.833 seconds") and X10's standard code format note, as quoted in ST's
// ST7 user guide chapter 9 ("always be transmitted in groups of 2 with 3
// power line cycles between each group"). An extended code frame adds
// the unit (4 cycles) and 16 data bits: 31 cycles, sent twice.
const (
	BaudRate      = 4800
	BitsPerByte   = 10 // start, 8 data, stop
	FrameCycles   = 11
	GapCycles     = 3
	ExtFrameCycle = 31
	// ExchangeBytes: bytes on the serial line for one standard frame.
	ExchangeBytes = 5
	// ExtExchangeBytes: the same for an extended frame.
	ExtExchangeBytes = 8
)

// ByteTime is one byte's time on the serial line at 4800 8N1.
const ByteTime = time.Second * BitsPerByte / BaudRate

// LineCycles is the power-line time of one host frame, in AC cycles: a
// standard frame twice plus the gap; Dim/Bright with d dims as d frames
// back to back (at least 2) plus the gap; an extended frame twice plus
// the gap. This is the simulator's model of the CM11A; the real interface
// adds its own small processing time.
func LineCycles(frame []byte) int {
	if len(frame) == 0 {
		return 0
	}
	if frame[0]&hdrExtended != 0 {
		return 2*ExtFrameCycle + GapCycles
	}
	if frame[0]&hdrFunction != 0 {
		if f := Function(frame[len(frame)-1] & 0xF); f == Dim || f == Bright {
			d := int(frame[0] >> 3)
			if d < 2 {
				d = 2
			}
			return d*FrameCycles + GapCycles
		}
	}
	return 2*FrameCycles + GapCycles
}

// CycleTime is one AC cycle at hz (50 or 60).
func CycleTime(hz int) time.Duration { return time.Second / time.Duration(hz) }
