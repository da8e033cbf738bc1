package webui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Event is one server-sent event: Kind names it (friends, health, and
// whatever a page adds, e.g. transfers), Data is its JSON.
type Event struct {
	Kind string
	Data json.RawMessage
}

// hub fans events out to the open streams, one per browser tab. Each
// stream has a small buffer; a tab too slow to take an event misses it and
// is told to reload its data (event "resync").
type hub struct {
	mu   sync.Mutex
	subs map[chan Event]*atomic.Bool // value: missed an event
}

const (
	subBuffer  = 16
	maxStreams = 64
)

func newHub() *hub { return &hub{subs: map[chan Event]*atomic.Bool{}} }

// Publish sends an event of kind with v (JSON-encoded) to every open tab.
func (u *UI) Publish(kind string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		u.log.Warn("web UI event not sent", "kind", kind, "err", err)
		return
	}
	u.hub.publish(Event{Kind: kind, Data: b})
}

func (h *hub) publish(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c, missed := range h.subs {
		select {
		case c <- e:
		default:
			missed.Store(true)
		}
	}
}

func (h *hub) subscribe() (chan Event, *atomic.Bool, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) >= maxStreams {
		return nil, nil, false
	}
	c := make(chan Event, subBuffer)
	missed := new(atomic.Bool)
	h.subs[c] = missed
	return c, missed, true
}

func (h *hub) unsubscribe(c chan Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, c)
}

func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// serveEvents is GET /ui/events: the tab's one event stream.
func (u *UI) serveEvents(w http.ResponseWriter, r *http.Request, s *Session, token string) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	c, missed, ok := u.hub.subscribe()
	if !ok {
		http.Error(w, "too many open event streams; close some tabs", http.StatusServiceUnavailable)
		return
	}
	defer u.hub.unsubscribe(c)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 3000\nevent: hello\ndata: {\"role\":%q}\n\n", s.Role.String())
	fl.Flush()
	u.kickPoll()
	ping := time.NewTicker(25 * time.Second)
	defer ping.Stop()
	for {
		var e Event
		select {
		case <-r.Context().Done():
			return
		case <-u.done:
			return
		case <-ping.C:
			e = Event{Kind: "ping", Data: json.RawMessage("{}")}
		case e = <-c:
		}
		// A signed-out session's stream ends at its next event.
		if u.auth.Lookup(token) == nil {
			return
		}
		if !eventAllowed(s.Role, e.Kind) {
			continue
		}
		rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if missed.Swap(false) {
			fmt.Fprint(w, "event: resync\ndata: {}\n\n")
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Kind, e.Data); err != nil {
			return
		}
		fl.Flush()
	}
}
