package cloudapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"time"

	"oepc.dev/oepcos/packages/apitype"
	"oepc.dev/oepcos/packages/localapi"
)

// Transfers tracks the uploads (puts and sends) a client named with
// ?transfer=ID, so a web page can show the box's own progress while its
// browser is still sending: bytes received, segments sealed, segments
// placed. It keeps those under way and, for a while, those that ended.
type Transfers struct {
	mu   sync.Mutex
	m    map[string]*transfer
	subs map[*transferSub]struct{}
	now  func() time.Time
}

// Bounds: transfers under way at once, ended ones kept (and for how
// long), event subscribers at once.
const (
	maxRunning     = 64
	maxEnded       = 256
	keepEnded      = 10 * time.Minute
	maxSubscribers = 32
)

var transferIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// NewTransfers makes an empty registry.
func NewTransfers() *Transfers {
	return &Transfers{m: map[string]*transfer{}, subs: map[*transferSub]struct{}{}, now: time.Now}
}

type transfer struct {
	ts *Transfers
	v  apitype.Transfer // under ts.mu
}

type transferSub struct {
	dirty map[string]bool // under ts.mu
	ch    chan struct{}   // a wake-up, buffered 1
}

var (
	errTransferID   = errors.New("bad transfer ID (want 1-64 letters, digits, - or _)")
	errTransferUsed = errors.New("a transfer with this ID is under way")
	errTransferBusy = errors.New("too many transfers under way; wait for one to end")
)

// start records a new transfer; v.ID must be free.
func (ts *Transfers) start(v apitype.Transfer) (*transfer, error) {
	if !transferIDRe.MatchString(v.ID) {
		return nil, errTransferID
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.pruneLocked()
	running := 0
	for _, t := range ts.m {
		if t.v.State == apitype.TransferRunning {
			running++
		}
	}
	if old, ok := ts.m[v.ID]; ok && old.v.State == apitype.TransferRunning {
		return nil, errTransferUsed
	}
	if running >= maxRunning {
		return nil, errTransferBusy
	}
	v.State = apitype.TransferRunning
	v.Started = ts.now().UTC()
	t := &transfer{ts: ts, v: v}
	ts.m[v.ID] = t
	ts.changedLocked(v.ID)
	return t, nil
}

// pruneLocked drops ended transfers older than keepEnded, and the oldest
// ended ones beyond maxEnded.
func (ts *Transfers) pruneLocked() {
	var ended []*transfer
	for id, t := range ts.m {
		if t.v.State == apitype.TransferRunning {
			continue
		}
		if ts.now().Sub(t.v.Ended) > keepEnded {
			delete(ts.m, id)
			continue
		}
		ended = append(ended, t)
	}
	if len(ended) > maxEnded {
		slices.SortFunc(ended, func(a, b *transfer) int { return a.v.Ended.Compare(b.v.Ended) })
		for _, t := range ended[:len(ended)-maxEnded] {
			delete(ts.m, t.v.ID)
		}
	}
}

func (ts *Transfers) changedLocked(id string) {
	for s := range ts.subs {
		s.dirty[id] = true
		select {
		case s.ch <- struct{}{}:
		default:
		}
	}
}

// update changes the transfer under the registry's lock and tells the
// subscribers. A nil transfer (none was asked for) ignores it.
func (t *transfer) update(f func(v *apitype.Transfer)) {
	if t == nil {
		return
	}
	t.ts.mu.Lock()
	defer t.ts.mu.Unlock()
	f(&t.v)
	t.ts.changedLocked(t.v.ID)
}

// end records how the transfer ended.
func (t *transfer) end(err error, status int, f func(v *apitype.Transfer)) {
	t.update(func(v *apitype.Transfer) {
		v.Ended = t.ts.now().UTC()
		v.Status = status
		if err != nil {
			v.State, v.Error = apitype.TransferFailed, err.Error()
			return
		}
		v.State = apitype.TransferDone
		if f != nil {
			f(v)
		}
	})
}

// Get returns the transfer id.
func (ts *Transfers) Get(id string) (apitype.Transfer, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t, ok := ts.m[id]
	if !ok {
		return apitype.Transfer{}, false
	}
	return t.v, true
}

// List returns every transfer kept, oldest first.
func (ts *Transfers) List() []apitype.Transfer {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.pruneLocked()
	out := make([]apitype.Transfer, 0, len(ts.m))
	for _, t := range ts.m {
		out = append(out, t.v)
	}
	slices.SortFunc(out, func(a, b apitype.Transfer) int { return a.Started.Compare(b.Started) })
	return out
}

// Subscribe follows the transfers' changes: notify wakes up after a
// change, and changed returns the current state of every transfer that
// changed since its last call. Changes are coalesced, never lost: a slow
// reader sees fewer steps, and always the last. cancel ends the
// subscription. At most maxSubscribers at once.
func (ts *Transfers) Subscribe() (notify <-chan struct{}, changed func() []apitype.Transfer, cancel func(), err error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.subs) >= maxSubscribers {
		return nil, nil, nil, errors.New("too many transfer event streams open")
	}
	s := &transferSub{dirty: map[string]bool{}, ch: make(chan struct{}, 1)}
	ts.subs[s] = struct{}{}
	changed = func() []apitype.Transfer {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		var out []apitype.Transfer
		for id := range s.dirty {
			if t, ok := ts.m[id]; ok {
				out = append(out, t.v)
			}
		}
		clear(s.dirty)
		slices.SortFunc(out, func(a, b apitype.Transfer) int { return a.Started.Compare(b.Started) })
		return out
	}
	cancel = func() {
		ts.mu.Lock()
		delete(ts.subs, s)
		ts.mu.Unlock()
	}
	return s.ch, changed, cancel, nil
}

// countingBody counts the bytes read from a request body into its
// transfer.
type countingBody struct {
	r io.Reader
	t *transfer
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.t.update(func(v *apitype.Transfer) { v.Received += int64(n) })
	}
	return n, err
}

// startTransfer starts the transfer a request names with ?transfer=ID (nil
// if none), answering the request itself when it cannot.
func (a *API) startTransfer(w http.ResponseWriter, r *http.Request, v apitype.Transfer) (*transfer, bool) {
	v.ID = r.URL.Query().Get("transfer")
	if v.ID == "" {
		return nil, true
	}
	v.Total = r.ContentLength
	if v.Total < 0 {
		v.Total = -1
	}
	t, err := a.tr.start(v)
	switch {
	case errors.Is(err, errTransferID):
		localapi.WriteError(w, http.StatusBadRequest, err)
		return nil, false
	case errors.Is(err, errTransferUsed):
		localapi.WriteError(w, http.StatusConflict, err)
		return nil, false
	case err != nil:
		localapi.WriteError(w, http.StatusServiceUnavailable, err)
		return nil, false
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{&countingBody{r: r.Body, t: t}, r.Body}
	return t, true
}

func (a *API) transferGet(w http.ResponseWriter, r *http.Request) {
	v, ok := a.tr.Get(r.PathValue("id"))
	if !ok {
		localapi.WriteError(w, http.StatusNotFound, fmt.Errorf("no transfer %q (ended ones are kept %v)", r.PathValue("id"), keepEnded))
		return
	}
	localapi.WriteJSON(w, http.StatusOK, v)
}

func (a *API) transferList(w http.ResponseWriter, r *http.Request) {
	localapi.WriteJSON(w, http.StatusOK, apitype.Transfers{Transfers: a.tr.List()})
}

// eventGap spaces a stream's events so that a fast upload does not flood
// it; keepAlive is the comment that keeps an idle stream open through
// proxies; writeTimeout bounds each write to a stalled reader.
const (
	eventGap     = 100 * time.Millisecond
	keepAlive    = 15 * time.Second
	writeTimeout = 10 * time.Second
)

// transferEvents streams the transfers as server-sent events of type
// "transfer" (apitype.TransferEvent), each a JSON apitype.Transfer: first
// every transfer kept, then each one that changes.
func (a *API) transferEvents(w http.ResponseWriter, r *http.Request) {
	notify, changed, cancel, err := a.tr.Subscribe()
	if err != nil {
		localapi.WriteError(w, http.StatusServiceUnavailable, err)
		return
	}
	defer cancel()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	send := func(ts []apitype.Transfer, comment bool) bool {
		rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if comment {
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return false
			}
		}
		for _, t := range ts {
			b, _ := json.Marshal(t)
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", apitype.TransferEvent, b); err != nil {
				return false
			}
		}
		return rc.Flush() == nil
	}
	changed() // what follows List is news
	if !send(a.tr.List(), true) {
		return
	}
	ka := time.NewTicker(keepAlive)
	defer ka.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-ka.C:
			if !send(nil, true) {
				return
			}
		case <-notify:
			if !send(changed(), false) {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(eventGap):
			}
		}
	}
}
