package insteon

import "time"

// dedup merges the copies of one message that arrive over several hops.
//
// Insteon repeats a message by simulcast: every device that hears it with
// hops left > 0 sends it again in the next timeslot, with hops left one
// less. The modem therefore hears one message as a run of copies whose
// hops left go down, one timeslot (~50 ms) apart; then, for an ALL-Link
// broadcast, the controller's cleanup, direct to the modem, with the same
// group and command.
//
// The state machine, per (sender, message): a copy is a duplicate when it
// comes within the window of the previous one with fewer hops left; a
// cleanup is a duplicate when it follows its broadcast within the cleanup
// window. Anything else starts a new event, so a second real press (a
// fresh broadcast, hops left back at the top, or any broadcast after its
// cleanup) is a second event, however soon it comes. Entries expire after
// the cleanup window and their number is capped: the state is bounded.
type dedup struct {
	window, cleanupWindow time.Duration
	max                   int
	entries               map[dedupKey]*dedupEntry
}

type dedupKey struct {
	from  Address
	to    Address // direct messages; zero for group messages
	class uint8   // 0 direct (by type), 1 group
	typ   MsgType
	cmd1  byte
	cmd2  byte // direct: cmd2; group: the group
	data  [14]byte
}

type dedupEntry struct {
	cleanup  bool // the cleanup was heard
	hopsLeft uint8
	last     time.Time // the last copy
	first    time.Time // the first copy of this event
}

func newDedup(window, cleanupWindow time.Duration, max int) *dedup {
	return &dedup{window: window, cleanupWindow: cleanupWindow, max: max, entries: map[dedupKey]*dedupEntry{}}
}

func keyOf(m Message) (dedupKey, bool) {
	switch m.Flags.Type {
	case GroupBroadcast, GroupCleanup:
		return dedupKey{from: m.From, class: 1, cmd1: m.Cmd1, cmd2: byte(m.Group())}, m.Flags.Type == GroupCleanup
	}
	return dedupKey{from: m.From, to: m.To, typ: m.Flags.Type, cmd1: m.Cmd1, cmd2: m.Cmd2, data: m.Data}, false
}

// seen reports whether m is a copy of a message already reported.
func (d *dedup) seen(m Message, now time.Time) bool {
	d.expire(now)
	k, isCleanup := keyOf(m)
	e := d.entries[k]
	hops := m.Flags.HopsLeft
	if e != nil {
		switch {
		case isCleanup && !e.cleanup && now.Sub(e.first) < d.cleanupWindow:
			// The cleanup of a broadcast already reported.
			e.cleanup, e.hopsLeft, e.last = true, hops, now
			return true
		case isCleanup == e.cleanup && hops < e.hopsLeft && now.Sub(e.last) < d.window:
			// The next hop's copy.
			e.hopsLeft, e.last = hops, now
			return true
		}
	}
	if len(d.entries) >= d.max {
		d.evictOldest()
	}
	d.entries[k] = &dedupEntry{cleanup: isCleanup, hopsLeft: hops, last: now, first: now}
	return false
}

func (d *dedup) expire(now time.Time) {
	for k, e := range d.entries {
		if now.Sub(e.last) > d.cleanupWindow && now.Sub(e.last) > d.window {
			delete(d.entries, k)
		}
	}
}

func (d *dedup) evictOldest() {
	var oldest dedupKey
	var t time.Time
	for k, e := range d.entries {
		if t.IsZero() || e.last.Before(t) {
			oldest, t = k, e.last
		}
	}
	delete(d.entries, oldest)
}
