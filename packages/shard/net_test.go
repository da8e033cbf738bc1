package shard

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/p2p/p2ptest"
)

type friendSet struct {
	mu sync.Mutex
	m  map[peer.ID]bool
}

func (f *friendSet) Allowed(p peer.ID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[p]
}

// testNet is a holder box and three boxes that talk to it: alice and bob
// are its friends, eve is a stranger.
type testNet struct {
	holder          host.Host
	st              *testStore
	srv             *Server
	alice, bob, eve *Client
	aliceK, bobK    ed25519.PrivateKey // their owner keys
	aliceH, bobH    host.Host
	eveH            host.Host
	ctx             context.Context
}

func newTestNet(t testing.TB, quota int64, opt ServerOptions) *testNet {
	t.Helper()
	n := &testNet{holder: p2ptest.Host(t), st: newTestStore(t, quota)}
	n.aliceH, n.bobH, n.eveH = p2ptest.Host(t), p2ptest.Host(t), p2ptest.Host(t)
	friends := &friendSet{m: map[peer.ID]bool{n.aliceH.ID(): true, n.bobH.ID(): true}}
	n.srv = NewServerWithOptions(n.holder, n.st.Store, friends, nil, opt)
	t.Cleanup(func() { n.srv.Close() })
	for _, h := range []host.Host{n.aliceH, n.bobH, n.eveH} {
		p2ptest.Connect(t, h, n.holder)
	}
	n.aliceK, n.bobK = newOwnerKey(t), newOwnerKey(t)
	n.alice, n.bob = NewClient(n.aliceH).WithOwner(n.aliceK), NewClient(n.bobH).WithOwner(n.bobK)
	n.eve = NewClient(n.eveH).WithOwner(newOwnerKey(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	n.ctx = ctx
	return n
}

func (n *testNet) id() peer.ID { return n.holder.ID() }

// signed encodes r signed by alice's owner key for the holder.
func (n *testNet) signed(t testing.TB, r *request) []byte {
	t.Helper()
	if err := r.sign(n.aliceK, n.id(), time.Now()); err != nil {
		t.Fatal(err)
	}
	b, err := r.marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// settled waits until the holder has no put in flight and no temp file.
func (n *testNet) settled(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n.st.mu.Lock()
		res := n.st.reserved
		n.st.mu.Unlock()
		tmp := n.st.tmpFiles(t)
		if res == 0 && len(tmp) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("holder not settled: %d bytes reserved, temp files %v", res, tmp)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNetRoundTrip(t *testing.T) {
	n := newTestNet(t, 1<<30, ServerOptions{})
	data := randBytes(t, 300_000)
	id := Sum(data)
	if err := n.alice.Put(n.ctx, n.id(), id, data); err != nil {
		t.Fatal(err)
	}
	other := Sum([]byte("not stored"))
	have, err := n.bob.Has(n.ctx, n.id(), []ID{id, other})
	if err != nil || len(have) != 2 || !have[0] || have[1] {
		t.Fatalf("Has = %v, %v", have, err)
	}
	got, err := n.bob.Get(n.ctx, n.id(), id)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get: %v", err)
	}
	// Storing again is accepted without a second upload.
	if err := n.alice.Put(n.ctx, n.id(), id, data); err != nil {
		t.Fatal(err)
	}
	if h := n.st.Hosted(); len(h) != 1 || h[0].Owner != OwnerOf(n.aliceK) || h[0].Shards != 1 || h[0].Bytes != int64(len(data)) {
		t.Fatalf("Hosted = %+v", h)
	}
	if err := n.alice.Delete(n.ctx, n.id(), id); err != nil {
		t.Fatal(err)
	}
	if have, err := n.alice.Has(n.ctx, n.id(), []ID{id}); err != nil || have[0] {
		t.Fatalf("Has after delete = %v, %v", have, err)
	}
	if _, err := n.alice.Get(n.ctx, n.id(), id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after delete: %v", err)
	}
	if err := n.alice.Delete(n.ctx, n.id(), id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete after delete: %v", err)
	}
}

func TestNetHasBatches(t *testing.T) {
	n := newTestNet(t, 1<<20, ServerOptions{})
	data := []byte("batched")
	if err := n.alice.Put(n.ctx, n.id(), Sum(data), data); err != nil {
		t.Fatal(err)
	}
	ids := make([]ID, 2*MaxHasBatch+5)
	for i := range ids {
		ids[i] = Sum(fmt.Appendf(nil, "x%d", i))
	}
	ids[MaxHasBatch+3] = Sum(data)
	have, err := n.alice.Has(n.ctx, n.id(), ids)
	if err != nil || len(have) != len(ids) {
		t.Fatalf("Has: %d answers, %v", len(have), err)
	}
	for i, h := range have {
		if h != (i == MaxHasBatch+3) {
			t.Fatalf("have[%d] = %v", i, h)
		}
	}
}

func TestNetStrangerRefused(t *testing.T) {
	n := newTestNet(t, 1<<20, ServerOptions{})
	data := randBytes(t, 1000)
	id := Sum(data)
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, ErrRefused) {
			t.Fatalf("%s by stranger: %v", op, err)
		}
		if !strings.Contains(err.Error(), "not a friend of "+n.id().String()) {
			t.Fatalf("%s: unclear refusal %q", op, err)
		}
	}
	check("Put", n.eve.Put(n.ctx, n.id(), id, data))
	_, err := n.eve.Get(n.ctx, n.id(), id)
	check("Get", err)
	_, err = n.eve.Has(n.ctx, n.id(), []ID{id})
	check("Has", err)
	check("Delete", n.eve.Delete(n.ctx, n.id(), id))
	if ok, _ := n.st.Has(id); ok {
		t.Fatal("stranger's shard stored")
	}

	// A stranger may only send a grant get, within a short deadline: one
	// that sends nothing at all is refused when it runs out.
	s, err := n.eveH.NewStream(n.ctx, n.id(), Protocol)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(2 * strangerTimeout))
	r, err := readResponse(bufio.NewReader(s))
	if err != nil || r.code != codeRefused {
		t.Fatalf("silent stranger got %+v, %v", r, err)
	}

	// A friend who is unfriended loses access.
	n.srv.auth.(*friendSet).mu.Lock()
	delete(n.srv.auth.(*friendSet).m, n.bobH.ID())
	n.srv.auth.(*friendSet).mu.Unlock()
	_, err = n.bob.Has(n.ctx, n.id(), []ID{id})
	check("Has by unfriended", err)
}

func TestNetOverQuotaAndQuotaChange(t *testing.T) {
	n := newTestNet(t, 100_000, ServerOptions{})
	a, b := randBytes(t, 60_000), randBytes(t, 60_000)
	if err := n.alice.Put(n.ctx, n.id(), Sum(a), a); err != nil {
		t.Fatal(err)
	}
	err := n.alice.Put(n.ctx, n.id(), Sum(b), b)
	if !errors.Is(err, ErrOverQuota) {
		t.Fatalf("Put over quota: %v", err)
	}
	var re *RemoteError
	if !errors.As(err, &re) || re.Peer != n.id() {
		t.Fatalf("not a RemoteError from the holder: %#v", err)
	}
	n.settled(t)
	n.st.SetQuota(200_000)
	if err := n.alice.Put(n.ctx, n.id(), Sum(b), b); err != nil {
		t.Fatalf("Put after raising quota: %v", err)
	}
	n.st.SetQuota(0)
	c := randBytes(t, 10)
	if err := n.bob.Put(n.ctx, n.id(), Sum(c), c); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("Put after lowering quota: %v", err)
	}
	if have, err := n.alice.Has(n.ctx, n.id(), []ID{Sum(a), Sum(b)}); err != nil || !have[0] || !have[1] {
		t.Fatalf("lowering the quota evicted shards: %v, %v", have, err)
	}
}

func TestNetTooLarge(t *testing.T) {
	n := newTestNet(t, 1<<30, ServerOptions{})
	big := make([]byte, MaxShardSize+1)
	if err := n.alice.Put(n.ctx, n.id(), Sum(big), big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("client Put of too large: %v", err)
	}
	// A client that announces a too-large shard anyway gets a typed refusal.
	r := rawRequest(t, n.aliceH, n.id(), append(append(append([]byte{byte(opPut)}, make([]byte, 32)...), 0, 0, 0, 0, 2, 0, 0, 0), make([]byte, authSize)...))
	if r.code != codeTooLarge {
		t.Fatalf("raw too-large put got %+v", r)
	}
}

func TestNetHashMismatchOnPut(t *testing.T) {
	n := newTestNet(t, 1<<20, ServerOptions{})
	data := randBytes(t, 50_000)
	lie := Sum([]byte("the client claims this"))
	if err := n.alice.Put(n.ctx, n.id(), lie, data); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("lying Put: %v", err)
	}
	n.settled(t)
	if ok, _ := n.st.Has(lie); ok {
		t.Fatal("mismatched shard stored")
	}
	if used, _ := n.st.Usage(); used != 0 {
		t.Fatalf("Usage = %d", used)
	}
}

func TestNetCorruptOnHolderDisk(t *testing.T) {
	n := newTestNet(t, 1<<20, ServerOptions{})
	data := randBytes(t, 70_000)
	id := Sum(data)
	if err := n.alice.Put(n.ctx, n.id(), id, data); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(n.st.path(id), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("bitrot"), 100)
	f.Close()
	if _, err := n.bob.Get(n.ctx, n.id(), id); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("Get of a shard corrupt on the holder: %v", err)
	}
	// The holder noticed and dropped it: audits now see it missing.
	if have, err := n.alice.Has(n.ctx, n.id(), []ID{id}); err != nil || have[0] {
		t.Fatalf("Has after corruption = %v, %v", have, err)
	}

	// A truncated file is caught before sending: a typed remote error.
	if err := n.alice.Put(n.ctx, n.id(), id, data); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(n.st.path(id), 10); err != nil {
		t.Fatal(err)
	}
	_, err = n.bob.Get(n.ctx, n.id(), id)
	if !errors.Is(err, ErrHashMismatch) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get of a truncated shard: %v", err)
	}
}

// rawRequest sends one framed request body on a fresh stream and returns
// the first response.
func rawRequest(t testing.TB, from host.Host, to peer.ID, body []byte) *response {
	t.Helper()
	s, br := rawStream(t, from, to, body)
	defer s.Close()
	r, err := readResponse(br)
	if err != nil {
		t.Fatalf("raw request: %v", err)
	}
	return r
}

func rawStream(t testing.TB, from host.Host, to peer.ID, body []byte) (network.Stream, *bufio.Reader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := from.NewStream(ctx, to, Protocol)
	if err != nil {
		t.Fatal(err)
	}
	s.SetDeadline(time.Now().Add(10 * time.Second))
	if body != nil {
		if _, err := s.Write(appendFrame(nil, body)); err != nil {
			t.Fatal(err)
		}
	}
	return s, bufio.NewReader(s)
}

func TestNetTruncatedAndHostileStreams(t *testing.T) {
	n := newTestNet(t, 1<<20, ServerOptions{})
	data := randBytes(t, 200_000)
	id := Sum(data)
	put := n.signed(t, &request{op: opPut, id: id, size: int64(len(data))})

	// The sender goes away mid-put: half the bytes, then a reset.
	s, br := rawStream(t, n.aliceH, n.id(), put)
	if r, err := readResponse(br); err != nil || r.code != codeContinue {
		t.Fatalf("put header: %+v, %v", r, err)
	}
	s.Write(data[:100_000])
	s.Reset()
	n.settled(t)
	if ok, _ := n.st.Has(id); ok {
		t.Fatal("half a shard stored after reset")
	}

	// The sender closes early: a clear "truncated" error, nothing kept.
	put = n.signed(t, &request{op: opPut, id: id, size: int64(len(data))})
	s, br = rawStream(t, n.aliceH, n.id(), put)
	if r, err := readResponse(br); err != nil || r.code != codeContinue {
		t.Fatalf("put header: %+v, %v", r, err)
	}
	s.Write(data[:150_000])
	s.CloseWrite()
	r, err := readResponse(br)
	if err != nil || r.code != codeBadRequest {
		t.Fatalf("truncated put got %+v, %v", r, err)
	}
	s.Close()
	n.settled(t)
	if ok, _ := n.st.Has(id); ok {
		t.Fatal("truncated shard stored")
	}

	// Garbage, unknown ops, oversized frames, half a header.
	for name, raw := range map[string][]byte{
		"garbage":     []byte("GET / HTTP/1.1\r\n\r\n"),
		"unknown op":  appendFrame(nil, []byte{77, 1, 2, 3}),
		"huge frame":  {0xff, 0xff, 0xff, 0xff, 0x0f},
		"half header": appendFrame(nil, put)[:10],
		"varint bomb": bytes.Repeat([]byte{0xff}, 20),
	} {
		s, br := rawStream(t, n.aliceH, n.id(), nil)
		s.Write(raw)
		s.CloseWrite()
		r, err := readResponse(br)
		if err != nil || r.code != codeBadRequest {
			t.Errorf("%s: got %+v, %v", name, r, err)
		}
		s.Close()
	}

	// After all that the holder still works.
	if err := n.alice.Put(n.ctx, n.id(), id, data); err != nil {
		t.Fatal(err)
	}
	if got, err := n.alice.Get(n.ctx, n.id(), id); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get after hostile streams: %v", err)
	}
}

func TestNetConcurrentPuts(t *testing.T) {
	n := newTestNet(t, 1<<30, ServerOptions{})
	const per = 8
	var wg sync.WaitGroup
	errs := make(chan error, 2*per)
	ids := make(chan ID, 2*per)
	for _, c := range []*Client{n.alice, n.bob} {
		for i := range per {
			wg.Add(1)
			go func() {
				defer wg.Done()
				data := randBytes(t, 64<<10+i)
				if err := c.Put(n.ctx, n.id(), Sum(data), data); err != nil {
					errs <- err
					return
				}
				ids <- Sum(data)
			}()
		}
	}
	wg.Wait()
	close(errs)
	close(ids)
	for err := range errs {
		t.Error(err)
	}
	var all []ID
	for id := range ids {
		all = append(all, id)
	}
	have, err := n.alice.Has(n.ctx, n.id(), all)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range have {
		if !h {
			t.Errorf("shard %s missing", all[i])
		}
	}
	h := n.st.Hosted()
	if len(h) != 2 || h[0].Shards != per || h[1].Shards != per {
		t.Fatalf("Hosted = %+v", h)
	}
}

func TestNetDiskFull(t *testing.T) {
	full := devFull(t)
	n := newTestNet(t, 1<<30, ServerOptions{})
	n.st.createTemp = func(string, string) (*os.File, error) {
		return os.OpenFile(full, os.O_WRONLY, 0)
	}
	// Bigger than a flow-control window: the client must not sit blocked
	// until its deadline when the holder stops reading.
	data := randBytes(t, 4<<20)
	start := time.Now()
	err := n.alice.Put(n.ctx, n.id(), Sum(data), data)
	if time.Since(start) > 10*time.Second {
		t.Errorf("failed Put took %v", time.Since(start))
	}
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Put on a holder with a full disk: %v", err)
	}
	if strings.Contains(err.Error(), "/") {
		t.Errorf("holder leaked a path: %v", err)
	}
	n.settled(t)
}

func TestNetSecondOwnerMustUpload(t *testing.T) {
	n := newTestNet(t, 1<<20, ServerOptions{})
	data := randBytes(t, 10_000)
	id := Sum(data)
	if err := n.alice.Put(n.ctx, n.id(), id, data); err != nil {
		t.Fatal(err)
	}
	if err := n.bob.Put(n.ctx, n.id(), id, make([]byte, len(data))); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("bob claiming alice's shard without its bytes: %v", err)
	}
	if err := n.bob.Put(n.ctx, n.id(), id, data); err != nil {
		t.Fatal(err)
	}
	if h := n.st.Hosted(); len(h) != 2 {
		t.Fatalf("Hosted = %+v", h)
	}
	if used, _ := n.st.Usage(); used != int64(len(data)) {
		t.Fatalf("Usage = %d, want one copy", used)
	}
}

func TestNetDeleteAuthorization(t *testing.T) {
	n := newTestNet(t, 1<<20, ServerOptions{})
	data := randBytes(t, 1000)
	id := Sum(data)
	if err := n.alice.Put(n.ctx, n.id(), id, data); err != nil {
		t.Fatal(err)
	}
	if err := n.bob.Delete(n.ctx, n.id(), id); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("friend deleting another's shard: %v", err)
	}
	if err := n.eve.Delete(n.ctx, n.id(), id); !errors.Is(err, ErrRefused) {
		t.Fatalf("stranger deleting: %v", err)
	}
	if ok, _ := n.st.Has(id); !ok {
		t.Fatal("shard gone")
	}
	if err := n.alice.Delete(n.ctx, n.id(), id); err != nil {
		t.Fatal(err)
	}
}

func TestNetBusyAndDeadlines(t *testing.T) {
	n := newTestNet(t, 1<<20, ServerOptions{MaxStreams: 1, QueueWait: 50 * time.Millisecond, RequestTimeout: 300 * time.Millisecond})
	data := randBytes(t, 1000)
	put := n.signed(t, &request{op: opPut, id: Sum(data), size: int64(len(data))})

	// A stalled sender holds the only slot...
	s, br := rawStream(t, n.aliceH, n.id(), put)
	if r, err := readResponse(br); err != nil || r.code != codeContinue {
		t.Fatalf("put header: %+v, %v", r, err)
	}
	// ...so others are told to come back later, not queued for ever.
	if _, err := n.bob.Has(n.ctx, n.id(), []ID{Sum(data)}); !errors.Is(err, ErrBusy) {
		t.Fatalf("Has while busy: %v", err)
	}
	if _, err := n.alice.Has(n.ctx, n.id(), []ID{Sum(data)}); !errors.Is(err, ErrBusy) {
		t.Fatalf("Has beyond the per-peer share: %v", err)
	}
	// The stalled put hits the server's deadline and is cleaned up.
	start := time.Now()
	if r, err := readResponse(br); err == nil && r.code != codeBadRequest {
		t.Fatalf("stalled put got %+v", r)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("stalled stream held for %v", el)
	}
	s.Close()
	n.settled(t)
	if err := n.bob.Put(n.ctx, n.id(), Sum(data), data); err != nil {
		t.Fatalf("Put after the stall cleared: %v", err)
	}

	// A friend that opens a stream and says nothing is cut off too.
	s, br = rawStream(t, n.aliceH, n.id(), nil)
	if r, err := readResponse(br); err == nil && r.code != codeBadRequest {
		t.Fatalf("silent stream got %+v", r)
	}
	s.Close()
}

func TestNetPerPeerShare(t *testing.T) {
	n := newTestNet(t, 1<<20, ServerOptions{MaxStreams: 4, MaxStreamsPerPeer: 2, QueueWait: 50 * time.Millisecond})
	data := randBytes(t, 1000)
	// Alice stalls two puts: her share.
	for range 2 {
		put := n.signed(t, &request{op: opPut, id: Sum(data), size: int64(len(data))})
		s, br := rawStream(t, n.aliceH, n.id(), put)
		defer s.Close()
		if r, err := readResponse(br); err != nil || r.code != codeContinue {
			t.Fatalf("put header: %+v, %v", r, err)
		}
	}
	if _, err := n.alice.Has(n.ctx, n.id(), []ID{Sum(data)}); !errors.Is(err, ErrBusy) {
		t.Fatalf("alice beyond her share: %v", err)
	}
	// Bob is still served.
	if _, err := n.bob.Has(n.ctx, n.id(), []ID{Sum(data)}); err != nil {
		t.Fatalf("bob while alice hogs: %v", err)
	}
}

func TestNetContextAndClose(t *testing.T) {
	n := newTestNet(t, 1<<20, ServerOptions{})
	ctx, cancel := context.WithCancel(n.ctx)
	cancel()
	if _, err := n.alice.Get(ctx, n.id(), ID{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with cancelled context: %v", err)
	}
	n.srv.Close()
	data := []byte("after close")
	if err := n.alice.Put(n.ctx, n.id(), Sum(data), data); err == nil {
		t.Fatal("Put after server Close succeeded")
	}
}

func BenchmarkPutGet(b *testing.B) {
	n := newTestNet(b, 1<<40, ServerOptions{})
	data := randBytes(b, 1<<20)
	b.SetBytes(2 * int64(len(data)))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		data[0], data[1], data[2] = byte(i), byte(i>>8), byte(i>>16)
		id := Sum(data)
		if err := n.alice.Put(n.ctx, n.id(), id, data); err != nil {
			b.Fatal(err)
		}
		if _, err := n.alice.Get(n.ctx, n.id(), id); err != nil {
			b.Fatal(err)
		}
		if err := n.alice.Delete(n.ctx, n.id(), id); err != nil {
			b.Fatal(err)
		}
	}
}
