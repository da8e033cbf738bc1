package x10

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"oepc.dev/oepcos/plc"
)

func bareModem(events int) *Modem {
	return &Modem{cfg: Config{Now: time.Now}, log: slog.New(slog.DiscardHandler), events: make(chan plc.Event, events),
		levels: map[Addr]plc.Level{}, sel: map[byte][]int{}, selDone: map[byte]bool{}, waiters: map[Addr][]chan bool{}}
}

func drainEvents(m *Modem) []plc.Event {
	var evs []plc.Event
	for {
		select {
		case ev := <-m.events:
			evs = append(evs, ev)
		default:
			return evs
		}
	}
}

// When the reader falls behind, the oldest events go, the newest stay.
func TestEmitDropsOldest(t *testing.T) {
	m := bareModem(2)
	for i := range 3 {
		m.emit(plc.Event{Address: "A1", Level: plc.Level(i)})
	}
	evs := drainEvents(m)
	if len(evs) != 2 || evs[0].Level != 1 || evs[1].Level != 2 {
		t.Fatalf("%+v", evs)
	}
}

// X10 addressing: addresses accumulate until a function; the next address
// after a function starts over; house codes are independent.
func TestApplyAddressing(t *testing.T) {
	m := bareModem(16)
	fn := func(h byte, f Function, amount int) Item {
		return Item{IsFunction: true, House: h, Func: f, DimAmount: amount}
	}
	a := func(s string) Item { x, _ := ParseAddr(s); return Item{Addr: x} }
	m.apply([]Item{a("A1"), a("A2"), a("B1"), fn('A', On, 0)}, false)
	if got := drainEvents(m); len(got) != 2 || got[0].Address != "A1" || got[1].Address != "A2" {
		t.Fatalf("A1 A2 B1 A-on: %+v", got)
	}
	// B1 is still addressed for B's function; A's selection starts over.
	m.apply([]Item{a("A3"), fn('A', Off, 0), fn('B', On, 0)}, false)
	got := drainEvents(m)
	if len(got) != 2 || got[0].Address != "A3" || got[0].Level != 0 || got[1].Address != "B1" || got[1].Level != 255 {
		t.Fatalf("%+v", got)
	}
	// A second function applies to the same selection (Dim after On).
	m.apply([]Item{fn('A', Dim, 105)}, false) // half of 210: 11 steps down from A3's off (full first)
	if got := drainEvents(m); len(got) != 1 || got[0].Address != "A3" || got[0].Level != LevelOf(11) {
		t.Fatalf("%+v", got)
	}
	// All units off reaches every known unit of the house.
	m.apply([]Item{fn('A', AllUnitsOff, 0)}, false)
	got = drainEvents(m)
	if len(got) != 3 {
		t.Fatalf("all units off: %+v", got)
	}
	for _, ev := range got {
		if ev.Level != 0 || ev.Address[0] != 'A' {
			t.Fatalf("%+v", ev)
		}
	}
	// Lost bytes: the unit left addressed without its function is unknown.
	m.apply([]Item{a("A2")}, true)
	if _, ok := m.levels[Addr{'A', 2}]; ok {
		t.Fatal("A2's level survived a lossy upload")
	}
	if _, ok := m.levels[Addr{'B', 1}]; !ok {
		t.Fatal("B1's level was lost though its function came")
	}
}

// eofPort reads as tarm/serial does on a read timeout, (0, io.EOF), a
// number of times between real bytes; it answers 0xC3 with an upload.
type eofPort struct {
	mu     sync.Mutex
	eofs   int
	queue  []byte
	closed bool
}

func (p *eofPort) Read(b []byte) (int, error) {
	time.Sleep(time.Millisecond)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, io.ErrClosedPipe
	}
	if p.eofs > 0 || len(p.queue) == 0 {
		p.eofs--
		return 0, io.EOF
	}
	n := copy(b, p.queue)
	p.queue = p.queue[n:]
	return n, nil
}

func (p *eofPort) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(b) == 1 && b[0] == PollAck {
		p.eofs = 5
		p.queue = append(p.queue, 0x03, 0x02, 0x62, 0x62) // A3, A on
	}
	return len(b), nil
}

func (p *eofPort) Close() error { p.mu.Lock(); p.closed = true; p.mu.Unlock(); return nil }

// A read timeout's (0, EOF) is not an unplug: no read error is counted and
// the poll and its upload (with EOFs between them) still arrive.
func TestEOFIsNotUnplug(t *testing.T) {
	p := &eofPort{eofs: 20, queue: []byte{PollData}}
	m := New(p, Config{ByteTimeout: time.Second})
	defer m.Close()
	select {
	case ev := <-m.Events():
		if ev.Address != "A3" || ev.Level != 255 {
			t.Fatalf("%+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	if s := m.Stats(); s.ReadErrors != 0 {
		t.Fatalf("%+v", s)
	}
}
