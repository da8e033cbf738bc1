package p2p

import (
	"bytes"
	"errors"
	"net"
	"testing"
)

// writeLog is the wire under a recordBatcher: it records each write system
// call the batcher would make.
type writeLog struct {
	net.Conn
	calls [][]byte
	fail  error
}

func (w *writeLog) Write(p []byte) (int, error) {
	if w.fail != nil {
		return 0, w.fail
	}
	w.calls = append(w.calls, bytes.Clone(p))
	return len(p), nil
}

func TestRecordBatcher(t *testing.T) {
	wire := &writeLog{}
	b := &recordBatcher{Conn: wire}

	// Outside a batch (handshake, alerts) every write goes straight out.
	b.Write([]byte("hello"))
	if len(wire.calls) != 1 {
		t.Fatalf("unbatched write: %d calls, want 1", len(wire.calls))
	}

	// In a batch, records gather and leave in one call, in order.
	b.hold(true)
	for _, r := range []string{"a", "bb", "ccc"} {
		if n, err := b.Write([]byte(r)); n != len(r) || err != nil {
			t.Fatalf("held write: %d, %v", n, err)
		}
	}
	if len(wire.calls) != 1 {
		t.Fatalf("held records went out early: %d calls", len(wire.calls))
	}
	b.hold(false)
	// A write arriving after the batch (an alert from Close) must follow it.
	b.Write([]byte("alert"))
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	want := []string{"hello", "abbccc", "alert"}
	if len(wire.calls) != len(want) {
		t.Fatalf("calls %q, want %q", wire.calls, want)
	}
	for i := range want {
		if string(wire.calls[i]) != want[i] {
			t.Fatalf("call %d is %q, want %q", i, wire.calls[i], want[i])
		}
	}

	// A batch never grows past maxBatch: what is gathered goes first.
	wire.calls = nil
	b.hold(true)
	b.Write(make([]byte, maxBatch-10))
	b.Write(bytes.Repeat([]byte{1}, 20))
	if len(wire.calls) != 2 || len(wire.calls[0]) != maxBatch-10 || len(wire.calls[1]) != 20 {
		t.Fatalf("overflowing batch: %d calls", len(wire.calls))
	}
	b.hold(false)

	// Once the wire failed, the connection stays failed.
	b.hold(true)
	b.Write([]byte("lost"))
	wire.fail = errors.New("broken pipe")
	if err := b.flush(); err == nil {
		t.Fatal("flush onto a broken wire succeeded")
	}
	wire.fail = nil
	if _, err := b.Write([]byte("more")); err == nil {
		t.Fatal("write after a failed flush succeeded")
	}
}
