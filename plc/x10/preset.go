package x10

import (
	"context"

	"oepc.dev/oepcos/plc"
)

// Preset Dim (function codes 1010 and 1011, protocol.txt section 1.2 and
// X10's "Standard and Extended Code" notes): one of 32 absolute levels,
// for the modules that take it (LM14A, two-way dimmers). The level does
// not fit the function byte's function nibble, so it rides in its house
// nibble: the low four bits of the level, sent in the house-code order M N
// O P C D A B E F G H K L I J (M = 0, N = 1, ..., J = 15: each nibble the
// level's four bits in reverse order), and its high bit picks the
// function: Preset Dim 1 for levels 0-15, Preset Dim 2 for 16-31. A module
// that was addressed just before (in its own house) takes the level,
// whatever house the nibble spells.

// MaxPreset is the highest preset level (100%).
const MaxPreset = 31

func reverse4(b byte) byte { return (b&1)<<3 | (b&2)<<1 | (b&4)>>1 | (b&8)>>3 }

// PresetDimFrame is the header:code pair of Preset Dim to level 0-31.
func PresetDimFrame(level int) []byte {
	level = max(0, min(MaxPreset, level))
	f := PresetDim1
	if level > 15 {
		f = PresetDim2
	}
	return []byte{hdrSync | hdrFunction, reverse4(byte(level&0xF))<<4 | byte(f)}
}

// PresetLevel is the level (0-31) of a Preset Dim function code byte
// (house nibble and function), false for any other function.
func PresetLevel(code byte) (int, bool) {
	f := Function(code & 0xF)
	if f != PresetDim1 && f != PresetDim2 {
		return 0, false
	}
	l := int(reverse4(code >> 4))
	if f == PresetDim2 {
		l += 16
	}
	return l, true
}

// PresetOf is an item's preset level, when it is a Preset Dim.
func (it Item) PresetOf() (int, bool) {
	if !it.IsFunction {
		return 0, false
	}
	h, ok := HouseCode(it.House)
	if !ok {
		return 0, false
	}
	return PresetLevel(h<<4 | byte(it.Func))
}

// PresetItem is the function item of Preset Dim to level 0-31.
func PresetItem(level int) Item {
	b := PresetDimFrame(level)[1]
	return Item{IsFunction: true, House: HouseLetter(b >> 4), Func: Function(b & 0xF)}
}

// PresetStepOf is the preset level nearest to l.
func PresetStepOf(l plc.Level) int { return (int(l)*MaxPreset + 127) / 255 }

// LevelOfPreset is the level of preset level n (0-31).
func LevelOfPreset(n int) plc.Level {
	return plc.Level((max(0, min(MaxPreset, n))*255 + MaxPreset/2) / MaxPreset)
}

// PresetDim sets a unit to level l, rounded to the nearest of the 32
// preset levels, in one absolute command: its address, then Preset Dim.
// Only modules that take Preset Dim follow (LM14A, two-way dimmers); a
// plain lamp module (LM465) ignores it, so plc.Modem's Dim stays the
// relative Dim/Bright that every module takes. Level 0 is Off.
func (m *Modem) PresetDim(ctx context.Context, pa plc.Address, l plc.Level) error {
	return m.command(ctx, pa, "preset-dim", func(a Addr) ([][]byte, plc.Level, error) {
		n := PresetStepOf(l)
		if n == 0 {
			return [][]byte{AddressFrame(a), m.fn(a, Off, 0)}, 0, nil
		}
		return [][]byte{AddressFrame(a), PresetDimFrame(n)}, LevelOfPreset(n), nil
	})
}
