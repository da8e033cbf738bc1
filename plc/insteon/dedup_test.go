package insteon

import (
	"testing"
	"time"
)

func TestDedupStateMachine(t *testing.T) {
	d := newDedup(400*time.Millisecond, 3*time.Second, 8)
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	sw := Address{0x3C, 0x4D, 0x5E}
	bc := func(hops uint8) Message {
		return Message{From: sw, To: Address{0, 0, 1}, Flags: Flags{GroupBroadcast, false, hops, 3}, Cmd1: CmdOn}
	}
	cl := func(hops uint8) Message {
		return Message{From: sw, To: Address{0x44, 0x85, 0x11}, Flags: Flags{GroupCleanup, false, hops, 1}, Cmd1: CmdOn, Cmd2: 1}
	}
	steps := []struct {
		ms   int
		m    Message
		dup  bool
		what string
	}{
		{0, bc(2), false, "first copy"},
		{50, bc(1), true, "next hop"},
		{100, bc(0), true, "last hop"},
		{350, cl(1), true, "its cleanup"},
		{400, cl(0), true, "the cleanup's next hop"},
		{1500, bc(2), false, "a second press after its cleanup"},
		{1550, bc(1), true, "its next hop"},
		{1700, bc(3), false, "a third press before the second's cleanup: hops back at the top"},
		{1750, bc(2), true, "its next hop"},
		{1900, bc(2), false, "same hops again: a new message"},
		{2600, bc(1), false, "fewer hops but after the window: a new message"},
		{10000, cl(0), false, "a cleanup whose broadcast was missed"},
	}
	for _, s := range steps {
		if got := d.seen(s.m, at(s.ms)); got != s.dup {
			t.Fatalf("%s (t=%dms): dup=%v, want %v", s.what, s.ms, got, s.dup)
		}
	}
	// Direct messages: an ACK heard twice over hops is one, a second ACK
	// with the same hops is another.
	ack := Message{From: sw, To: Address{0x44, 0x85, 0x11}, Flags: Flags{DirectACK, false, 1, 1}, Cmd1: CmdOn, Cmd2: 0xFF}
	if d.seen(ack, at(20000)) {
		t.Fatal("first ack a dup")
	}
	ack2 := ack
	ack2.Flags.HopsLeft = 0
	if !d.seen(ack2, at(20050)) {
		t.Fatal("ack's repeat not merged")
	}
	if d.seen(ack, at(20300)) {
		t.Fatal("a second ack taken for a repeat")
	}
	// Bounded: many senders never grow the table past max.
	for i := 0; i < 100; i++ {
		m := bc(3)
		m.From = Address{0, 0, byte(i)}
		d.seen(m, at(30000+i))
	}
	if len(d.entries) > 8 {
		t.Fatalf("dedup holds %d entries, max 8", len(d.entries))
	}
}
