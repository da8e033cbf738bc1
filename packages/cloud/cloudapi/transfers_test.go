package cloudapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"oepc.dev/oepcos/packages/apitype"
	"oepc.dev/oepcos/packages/cloud"
	"oepc.dev/oepcos/packages/localapi"
)

// A put named with ?transfer= shows the box's own progress, through GET
// and as server-sent events: every segment sealed and placed, the bytes
// received, then done with the entry.
func TestPutTransferProgress(t *testing.T) {
	e := newEnv(t, 6, nil)
	h := Handler(e.s)
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := &localapi.Client{Base: srv.URL}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	events := make(chan apitype.Transfer, 1000)
	errc := make(chan error, 1)
	go func() {
		errc <- c.TransferEvents(ctx, func(tr apitype.Transfer) error {
			events <- tr
			if tr.State != apitype.TransferRunning {
				return errStop
			}
			return nil
		})
	}()
	// The stream is open once the box counts it as a subscriber.
	waitUntil(t, func() bool {
		h.tr.mu.Lock()
		defer h.tr.mu.Unlock()
		return len(h.tr.subs) == 1
	})

	data := randBytes(4*seg + 100) // 5 segments
	ent, err := c.CloudPut(ctx, "/up/big.bin", bytes.NewReader(data), int64(len(data)), localapi.PutOptions{Transfer: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, errStop) {
		t.Fatalf("event stream: %v", err)
	}
	close(events)
	var last apitype.Transfer
	var placed int64
	n := 0
	for tr := range events {
		if tr.ID != "t1" || tr.Kind != apitype.TransferPut {
			t.Fatalf("event of another transfer: %+v", tr)
		}
		if tr.Placed < placed || tr.SegmentsPlaced > tr.SegmentsSealed {
			t.Fatalf("progress went backwards or placed before sealed: %+v after placed %d", tr, placed)
		}
		placed = tr.Placed
		last = tr
		n++
	}
	if n < 2 {
		t.Fatalf("only %d events", n)
	}
	if last.State != apitype.TransferDone || last.SegmentsTotal != 5 || last.SegmentsSealed != 5 || last.SegmentsPlaced != 5 ||
		last.Placed != int64(len(data)) || last.Received != int64(len(data)) || last.Total != int64(len(data)) ||
		last.Entry == nil || last.Entry.ID != ent.ID || last.Entry.Path != "/up/big.bin" || last.Status != 200 || last.Ended.IsZero() {
		t.Fatalf("last event: %+v", last)
	}
	got, err := c.Transfer(ctx, "t1")
	if err != nil || got.State != apitype.TransferDone || got.Placed != last.Placed {
		t.Fatalf("GET transfer: %+v, %v", got, err)
	}
	// Its shard map: 5 segments × 6 shards, all ok.
	hl, err := c.FileHealth(ctx, "/up/big.bin", false)
	if err != nil || len(hl.Segments) != 5 || len(hl.Segments[4].Shards) != 6 || hl.Shards[apitype.ShardOK] != 30 || len(hl.Shards) != 1 || !hl.Complete {
		t.Fatalf("health: %+v, %v", hl, err)
	}
	all, err := c.Transfers(ctx)
	if err != nil || len(all) != 1 || all[0].ID != "t1" {
		t.Fatalf("transfers: %+v, %v", all, err)
	}
	var apiErr *localapi.APIError
	if _, err := c.Transfer(ctx, "nope"); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Fatalf("unknown transfer: %v", err)
	}

	// A put that cannot be placed ends failed, with the status and why.
	_, err = c.CloudPut(ctx, "/up/c.bin", strings.NewReader("x"), 1, localapi.PutOptions{K: 5, M: 3, Transfer: "t2"})
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusPreconditionFailed {
		t.Fatalf("put on too few boxes: %v", err)
	}
	got, err = c.Transfer(ctx, "t2")
	if err != nil || got.State != apitype.TransferFailed || got.Status != http.StatusPreconditionFailed || !strings.Contains(got.Error, "force") {
		t.Fatalf("failed transfer: %+v, %v", got, err)
	}
	// A bad ID is refused before anything is stored.
	_, err = c.CloudPut(ctx, "/up/d.bin", strings.NewReader("x"), 1, localapi.PutOptions{Transfer: "no/slash"})
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		t.Fatalf("bad transfer ID: %v", err)
	}
	if _, err := c.Stat(ctx, "/up/d.bin"); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Fatalf("a refused put stored the file: %v", err)
	}
}

var errStop = errors.New("stop")

func waitUntil(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A subscriber that does not read sees the changes coalesced, never lost:
// the last state of each transfer that changed.
func TestTransfersCoalesce(t *testing.T) {
	ts := NewTransfers()
	notify, changed, cancel, err := ts.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	a, err := ts.start(apitype.Transfer{ID: "a", Kind: apitype.TransferPut})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.start(apitype.Transfer{ID: "a"}); !errors.Is(err, errTransferUsed) {
		t.Fatalf("second start of a running ID: %v", err)
	}
	for range 1000 {
		a.update(func(v *apitype.Transfer) { v.Received += 10 })
	}
	a.end(nil, 200, nil)
	select {
	case <-notify:
	default:
		t.Fatal("no wake-up")
	}
	got := changed()
	if len(got) != 1 || got[0].Received != 10000 || got[0].State != apitype.TransferDone {
		t.Fatalf("changed: %+v", got)
	}
	if got := changed(); len(got) != 0 {
		t.Fatalf("changed again without a change: %+v", got)
	}
	// An ended ID may be used again.
	if _, err := ts.start(apitype.Transfer{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	// Bounded: transfers under way, and subscribers.
	for i := range maxRunning - 1 {
		if _, err := ts.start(apitype.Transfer{ID: fmt.Sprint("r", i)}); err != nil {
			t.Fatal(i, err)
		}
	}
	if _, err := ts.start(apitype.Transfer{ID: "one-too-many"}); !errors.Is(err, errTransferBusy) {
		t.Fatalf("over the bound: %v", err)
	}
	for range maxSubscribers - 1 {
		if _, _, _, err := ts.Subscribe(); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, _, err := ts.Subscribe(); err == nil {
		t.Fatal("subscribers not bounded")
	}
	// Ended transfers go after keepEnded; running ones stay.
	ts = NewTransfers()
	now := time.Now()
	ts.now = func() time.Time { return now }
	done, _ := ts.start(apitype.Transfer{ID: "done"})
	ts.start(apitype.Transfer{ID: "running"})
	done.end(nil, 200, nil)
	ts.now = func() time.Time { return now.Add(keepEnded + time.Second) }
	if l := ts.List(); len(l) != 1 || l[0].ID != "running" {
		t.Fatalf("after keepEnded: %+v", l)
	}
}

// The listing of a folder comes in windows: offset and limit, the total,
// and where the next window starts.
func TestListWindow(t *testing.T) {
	e := newEnv(t, 6, nil)
	for i := range 25 {
		if err := e.s.Mkdir(fmt.Sprintf("/big/d%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	e.put(t, "/big/z.txt", []byte("zed"), cloud.PutOptions{})
	ls := func(q string) (l apitype.Listing) {
		t.Helper()
		if err := json.Unmarshal(apiCall(t, e.s, "GET", "/v1/cloud/ls?dir=/big"+q, nil, 200), &l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := ls("&offset=10&limit=10")
	if l.Total != 26 || l.Offset != 10 || l.Next != 20 || len(l.Items) != 10 || l.Items[0].Name != "d10" || l.Items[9].Name != "d19" || !l.Items[0].Dir {
		t.Fatalf("window: %+v", l)
	}
	l = ls("&offset=20&limit=10")
	if l.Total != 26 || l.Next != 0 || len(l.Items) != 6 || l.Items[5].Name != "z.txt" || l.Items[5].Dir || l.Items[5].Size != 3 || len(l.Items[5].ID) != 32 {
		t.Fatalf("last window: %+v", l)
	}
	l = ls("&offset=99")
	if l.Total != 26 || len(l.Items) != 0 || l.Items == nil {
		t.Fatalf("past the end: %+v", l)
	}
	l = ls("")
	if l.Total != 26 || len(l.Items) != 26 || l.Next != 0 {
		t.Fatalf("whole folder: %+v", l)
	}
	for _, q := range []string{"offset=-1", "limit=x", "offset=1e3"} {
		b := apiCall(t, e.s, "GET", "/v1/cloud/ls?dir=/big&"+q, nil, 400)
		if !strings.Contains(string(b), "whole number") {
			t.Fatalf("%s: %s", q, b)
		}
	}
}
