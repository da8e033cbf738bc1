package x10

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"oepc.dev/oepcos/plc"
)

func FuzzDecodeUpload(f *testing.F) {
	for _, s := range [][]byte{
		{0x05, 0x04, 0xe9, 0xe5, 0xe5, 0x58},
		{0x05, 0x01, 0x87, 0x06, 0x3f, 0x31},
		{0x02, 0x00, 0x66},
		{0x03, 0x02, 0x66, 0x62},
		{0x09, 0xff, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64},
		{0x03, 0x02, 0x66, 0x64},
		{0x03, 0x02, 0x6E, 0x1A}, // A2, Preset Dim 1 level 8
		{0x03, 0x02, 0x6E, 0xFB}, // A2, Preset Dim 2 level 31
		{},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := DecodeUpload(b)
		if err != nil {
			if !errors.Is(err, ErrUpload) {
				t.Fatalf("error %v does not wrap ErrUpload", err)
			}
			return
		}
		// A clean decode re-encodes to as many bytes, which decode to the
		// same items (the decoder ignores mask bits of argument bytes and
		// the high nibble of an extended code's unit byte).
		for _, it := range items {
			if n, ok := it.PresetOf(); ok && (n < 0 || n > MaxPreset || PresetItem(n) != (Item{IsFunction: true, House: it.House, Func: it.Func})) {
				t.Fatalf("preset item %+v: level %d does not round-trip", it, n)
			}
			_ = it.String()
		}
		out, err := EncodeUpload(items)
		if err != nil {
			t.Fatalf("re-encode %v: %v", items, err)
		}
		again, err := DecodeUpload(out)
		if err != nil || len(out) != len(b) || len(again) != len(items) {
			t.Fatalf("re-encode % x -> %v -> % x: %v", b, items, out, err)
		}
		for i := range items {
			if again[i] != items[i] {
				t.Fatalf("re-encode % x: item %d %+v became %+v", b, i, items[i], again[i])
			}
		}
		_ = Describe(items)
	})
}

func FuzzDecodeClock(f *testing.F) {
	f.Add(ClockFrame(time.Date(2024, 3, 5, 13, 45, 30, 0, time.UTC), 'A', 0))
	f.Add(ClockFrame(time.Date(2023, 12, 31, 23, 59, 59, 0, time.UTC), 'P', 7))
	f.Add([]byte{0x9b, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeClock(b)
		if err != nil {
			return
		}
		if c.Hour > 23 || c.Minute > 59 || c.Second > 59 || c.YearDay > 365 || c.Weekday > time.Saturday {
			t.Fatalf("out of range %+v from % x", c, b)
		}
	})
}

func FuzzDecodeInfo(f *testing.F) {
	f.Add([]byte{0xff, 0xff, 12, 61, 7, 10, 0x02, 0x68, 0x40, 0x00, 0x40, 0x40, 0x00, 0x00})
	f.Add(make([]byte, 14))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := DecodeInfo(b)
		if err != nil {
			return
		}
		// The unit masks survive a round trip (the clock byte is normalised).
		back, err := DecodeInfo(EncodeInfo(in))
		if err != nil || back.OnOff != in.OnOff || back.Addressed != in.Addressed || back.DimmedUnits != in.DimmedUnits || back.House != in.House {
			t.Fatalf("round trip %+v -> %+v, %v", in, back, err)
		}
	})
}

func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"A1", "p16", "G1", "Q1", "A0", "A17", "", "A01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddr(s)
		if err != nil {
			if !errors.Is(err, plc.ErrBadAddress) {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if b, err := ParseAddr(a.String()); err != nil || b != a {
			t.Fatalf("%q -> %v -> %v %v", s, a, b, err)
		}
		if AddrOfCode(a.Code()) != a {
			t.Fatalf("%v code %02x", a, a.Code())
		}
	})
}

// fuzzPort feeds the driver a fixed byte stream, as a confused or broken
// interface would, and swallows what the driver writes.
type fuzzPort struct {
	data   []byte
	closed chan struct{}
}

func (p *fuzzPort) Read(b []byte) (int, error) {
	if len(p.data) == 0 {
		<-p.closed
		return 0, io.ErrClosedPipe
	}
	n := copy(b, p.data[:min(len(p.data), 3)]) // split across reads
	p.data = p.data[n:]
	return n, nil
}
func (p *fuzzPort) Write(b []byte) (int, error) { return len(b), nil }
func (p *fuzzPort) Close() error {
	select {
	case <-p.closed:
	default:
		close(p.closed)
	}
	return nil
}

// FuzzLine: whatever the interface sends, the driver neither panics nor
// wedges: a command still completes (with an error, since nobody answers
// it properly) and Close returns.
func FuzzLine(f *testing.F) {
	f.Add([]byte{0x5a, 0x05, 0x04, 0xe9, 0xe5, 0xe5, 0x58})
	f.Add([]byte{0xa5, 0x31, 0x55})
	f.Add([]byte{0x5a, 0x5a, 0x5a, 0x09, 0xff})
	f.Add([]byte{0xff, 0x13, 0x5a, 0x02, 0x00, 0x66})
	f.Add([]byte{0x5a, 0x0a, 0x5a, 0xa5})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 200 {
			b = b[:200]
		}
		p := &fuzzPort{data: append([]byte(nil), b...), closed: make(chan struct{})}
		m := New(p, Config{Retries: 1, ChecksumTimeout: 2 * time.Millisecond, ByteTimeout: 2 * time.Millisecond,
			ReadyTimeout: 5 * time.Millisecond, StatusWait: 5 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		go func() {
			for range m.Events() {
			}
		}()
		_ = m.On(ctx, "A1")
		if ctx.Err() != nil {
			t.Fatal("command wedged")
		}
		done := make(chan struct{})
		go func() { m.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Close wedged")
		}
	})
}
