package home

import (
	"testing"

	"oepc.dev/oepcos/packages/home/homeapi"
)

func TestHubBoundedQueues(t *testing.T) {
	h := newHub(2, 4)
	slow, err := h.subscribe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.subscribe(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.subscribe(); err != errTooManySubscribers {
		t.Fatalf("third subscriber: %v", err)
	}
	for i := 0; i < 10; i++ {
		h.publish(homeapi.Event{Kind: homeapi.EventState, Device: "d"})
	}
	// The slow reader has a lost marker then the newest event, not a
	// blocked publisher.
	var got []homeapi.Event
	for len(slow.ch) > 0 {
		got = append(got, <-slow.ch)
	}
	if len(got) > 4 {
		t.Fatalf("queue grew to %d", len(got))
	}
	last := got[len(got)-1]
	if last.Seq != 10 || last.Kind != homeapi.EventState {
		t.Fatalf("last event %+v, want seq 10", last)
	}
	lost := false
	for _, e := range got {
		lost = lost || e.Kind == homeapi.EventLost
	}
	if !lost {
		t.Fatalf("no lost marker in %+v", got)
	}
	h.unsubscribe(slow)
	if _, err := h.subscribe(); err != nil {
		t.Fatalf("a slot freed by unsubscribe: %v", err)
	}
	h.close()
	if _, err := h.subscribe(); err == nil {
		t.Fatal("subscribe after close")
	}
}
