package insteon

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"
)

// scriptPort plays data as what the modem sends, in reads of the given
// size, then blocks until Close. Writes are taken and dropped.
type scriptPort struct {
	mu     sync.Mutex
	data   []byte
	step   int
	closed chan struct{}
	once   sync.Once
}

func (p *scriptPort) Read(b []byte) (int, error) {
	p.mu.Lock()
	if len(p.data) > 0 {
		n := copy(b[:min(len(b), p.step)], p.data)
		p.data = p.data[n:]
		p.mu.Unlock()
		return n, nil
	}
	p.mu.Unlock()
	<-p.closed
	return 0, io.ErrClosedPipe
}

func (p *scriptPort) Write(b []byte) (int, error) {
	select {
	case <-p.closed:
		return 0, io.ErrClosedPipe
	default:
		return len(b), nil
	}
}

func (p *scriptPort) Close() error { p.once.Do(func() { close(p.closed) }); return nil }

// FuzzDriverLine: whatever the line carries, the driver neither panics nor
// wedges: a command in flight ends by its deadline and Close returns.
func FuzzDriverLine(f *testing.F) {
	for _, s := range []string{
		"02621A2B3C0F11FF06 02501A2B3C4485112B11FF",
		"15 15 025815 025C15 0269 15",
		"02501A2B3C000001CB1100 02501A2B3C000001C71100 02501A2B3C4485114111 01",
		"0257E2011A2B3C012041 025601051A2B3C 0253010 11A2B3C012041 0255",
		"02511A2B3C4485111F2E000100000000000000000000000000D1",
		"FFFFFF0202020262",
		// A record read: the echo, the ACK, the record (0x2F, D2 = 01).
		"02 62 1A2B3C 1F 2F 00 00 00 0F FF 01 00 00 00 00 00 00 00 00 C2 06 02 50 1A2B3C 448511 20 2F 00 02 51 1A2B3C 448511 10 2F 00 00 01 0F FF 00 A2 03 448511 FF 1C 01 27",
		// Linking: echoes, the 0x09 ACK, the SET broadcast, 0x53.
		"02 64 01 03 06 02 50 1A2B3C 448511 20 09 03 02 50 1A2B3C 010E41 8F 01 03 02 53 01 03 1A2B3C 01 0E 41",
	} {
		f.Add(hx(f, s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		p := &scriptPort{data: append([]byte(nil), data...), step: int(step%32) + 1, closed: make(chan struct{})}
		m := New(p, Config{EchoTimeout: 20 * time.Millisecond, ReplyTimeout: 20 * time.Millisecond,
			BusyBackoff: time.Millisecond, Quiet: 5 * time.Millisecond, Events: 4})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			m.Info(ctx)
			m.On(ctx, "1A.2B.3C")
			m.Links(ctx)
			m.ReadDeviceLink(ctx, Address{0x1A, 0x2B, 0x3C}, ALDBFirst)
			m.LinkResponder(ctx, Address{0x1A, 0x2B, 0x3C}, 3, 0x80, DefaultRamp)
		}()
		go func() {
			for range m.Events() {
			}
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("commands did not end by their deadline")
		}
		closed := make(chan struct{})
		go func() { m.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not return")
		}
	})
}
