package box

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud"
	"oepc.dev/oepcos/packages/friends"
	"oepc.dev/oepcos/packages/localapi"
	"oepc.dev/oepcos/packages/p2p"
	"oepc.dev/oepcos/packages/p2p/p2ptest"
	"oepc.dev/oepcos/packages/shard"
	"oepc.dev/oepcos/packages/store"
)

// testNet is a super node, a box run by Run, and a friend of the box: a
// p2p node with a friend book and a shard server of its own.
type testNet struct {
	sn     *p2p.Node
	info   Info
	api    *localapi.Client
	friend *p2p.Node
	book   *friends.Book
	code   string // the invite code the friend accepted
	ctx    context.Context
}

func startTestNet(t *testing.T) *testNet {
	t.Helper()
	if testing.Short() {
		t.Skip("network test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	n := &testNet{ctx: ctx}
	n.sn = p2ptest.Node(t, p2p.Config{SuperNode: true})
	p2ptest.Run(t, n.sn)
	var boot []string
	for _, a := range n.sn.P2PAddrs() {
		boot = append(boot, a.String())
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() // before the cleanup below, so removed after the box stops
	ready := make(chan Info, 1)
	bctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(bctx, Config{DataDir: dir, Name: "thebox", APIListener: ln, LoopbackOnly: true,
			ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: boot, Quota: 1 << 30,
			Ready: func(i Info) { ready <- i }})
	}()
	t.Cleanup(func() {
		stop()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("box did not stop")
		}
	})
	select {
	case n.info = <-ready:
	case err := <-done:
		t.Fatalf("box stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("box never became ready")
	}
	n.api = &localapi.Client{Base: n.info.API, Token: n.info.Token}
	// Wait until the box has joined the DHT, so that anything it would
	// announce reaches the super node.
	for deadline := time.Now().Add(30 * time.Second); ; {
		var st Status
		if err := n.api.Do(ctx, "GET", "/v1/status", nil, &st); err == nil && st.Network.Joined && st.Network.RoutingTable > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("box did not join the DHT")
		}
		time.Sleep(50 * time.Millisecond)
	}

	n.friend = p2ptest.Node(t, p2p.Config{Bootstrap: []peer.AddrInfo{p2ptest.Info(n.sn)}})
	p2ptest.Run(t, n.friend)
	kv, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kv.Close() })
	if n.book, err = friends.New(n.friend.Host, kv, friends.Options{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.book.Close)
	st, err := shard.OpenStore(filepath.Join(t.TempDir(), "shards"), kv, 1<<30, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := shard.NewServer(n.friend.Host, st, n.book, nil)
	t.Cleanup(func() { srv.Close() })

	var inv friends.Invite
	if err := n.api.Do(ctx, "POST", "/v1/friends/invite", InviteRequest{}, &inv); err != nil {
		t.Fatal(err)
	}
	n.code = inv.Code
	if _, err := n.book.Accept(ctx, inv.URI); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *testNet) boxID() peer.ID { return n.info.PeerID }

// providers are the DHT provider records the super node (the only DHT
// server) keeps for key.
func (n *testNet) providers(t *testing.T, key []byte) []peer.AddrInfo {
	t.Helper()
	ps, err := n.sn.DHT.ProviderStore().GetProviders(n.ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// Storing a shard on a box leaves no provider record in the DHT: nothing
// looks shards up there, and it would tell DHT servers which box holds how
// much (issue 9, item 13).
func TestStoredShardNotInDHT(t *testing.T) {
	n := startTestNet(t)
	// The check looks in the right place: the invite the box made is
	// provided there.
	for deadline := time.Now().Add(20 * time.Second); len(n.providers(t, friends.RendezvousKey(n.code).Hash())) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the box's invite never reached the super node's provider store")
		}
		time.Sleep(50 * time.Millisecond)
	}

	data := make([]byte, 10_000)
	rand.Read(data)
	id := shard.Sum(data)
	_, key, _ := ed25519.GenerateKey(nil)
	if err := shard.NewClient(n.friend.Host).WithOwner(key).Put(n.ctx, n.boxID(), id, data); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if ps := n.providers(t, shard.CID(id).Hash()); len(ps) > 0 {
			t.Fatalf("the shard is provided in the DHT by %v", ps)
		}
	}
	fctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	if ps, err := n.friend.FindProviders(fctx, shard.CID(id)); err != nil || len(ps) > 0 {
		t.Fatalf("FindProviders = %v, %v; want none", ps, err)
	}
}

// cloud health names each holder: the friend's name, and "this box" for
// the box itself, with the peer ID beside it (issue 9, item 16).
func TestCloudHealthNamesHolders(t *testing.T) {
	n := startTestNet(t)
	if err := n.api.Do(n.ctx, "POST", "/v1/cloud/setup", nil, nil); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 100_000)
	rand.Read(data)
	// 1+1 on the two boxes there are: the box and its friend.
	resp, err := n.api.Send(n.ctx, "POST", "/v1/cloud/put?path=/x&k=1&m=1", "application/octet-stream", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var h cloud.Health
	if err := n.api.Do(n.ctx, "GET", "/v1/cloud/health?path=/x", nil, &h); err != nil {
		t.Fatal(err)
	}
	names := map[peer.ID]string{}
	for _, sg := range h.Segments {
		for _, sh := range sg.Shards {
			names[sh.Holder] = sh.Name
		}
	}
	want := map[peer.ID]string{n.boxID(): "this box", n.friend.Host.ID(): "alice"}
	if len(names) != 2 || names[n.boxID()] != want[n.boxID()] || names[n.friend.Host.ID()] != want[n.friend.Host.ID()] {
		t.Fatalf("holders named %v, want %v", names, want)
	}
}
