package home

import (
	"errors"
	"sync"

	"oepc.dev/oepcos/packages/home/homeapi"
)

// hub publishes events to subscribers. Every subscriber has a bounded
// queue; one that falls behind loses its oldest events and is told so with
// an EventLost, so a slow browser never holds up a modem.
type hub struct {
	mu     sync.Mutex
	seq    uint64
	subs   map[*sub]struct{}
	max    int
	queue  int
	closed bool
}

type sub struct {
	ch chan homeapi.Event
}

var errTooManySubscribers = errors.New("too many event subscribers; close another tab or try again later")

func newHub(maxSubs, queue int) *hub {
	queue = max(queue, 2)
	return &hub{subs: map[*sub]struct{}{}, max: maxSubs, queue: queue}
}

func (h *hub) subscribe() (*sub, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errors.New("homed is stopping")
	}
	if len(h.subs) >= h.max {
		return nil, errTooManySubscribers
	}
	s := &sub{ch: make(chan homeapi.Event, h.queue)}
	h.subs[s] = struct{}{}
	return s, nil
}

func (h *hub) unsubscribe(s *sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		delete(h.subs, s)
		close(s.ch)
	}
}

// publish numbers e and queues it for every subscriber, never blocking.
func (h *hub) publish(e homeapi.Event) homeapi.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	e.Seq = h.seq
	for s := range h.subs {
		h.offer(s, e)
	}
	return e
}

func (h *hub) offer(s *sub, e homeapi.Event) {
	select {
	case s.ch <- e:
		return
	default:
	}
	// Full: the reader is behind. Drop what it has not read, tell it so
	// (it reloads the device list), then give it the new event.
	// Only publish (under h.mu) sends on s.ch, so after the drain both
	// sends fit (the queue holds at least 2).
drain:
	for {
		select {
		case <-s.ch:
		default:
			break drain
		}
	}
	s.ch <- homeapi.Event{Seq: e.Seq, Time: e.Time, Kind: homeapi.EventLost}
	s.ch <- e
}
