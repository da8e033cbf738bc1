package mdns

import (
	"context"
	"log/slog"
	"net"
	"oepc.dev/oepcos/packages/home/mdns/mdnstest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grandcat/zeroconf"
)

// inBrowseNetns is set in the copy of the test binary that runs inside
// the network namespace TestBrowseInNetns made.
const inBrowseNetns = "OEPC_MDNS_TEST_BROWSE"

func TestParseEntryBounds(t *testing.T) {
	e := zeroconf.NewServiceEntry("OEPC x", Service, "local.")
	e.Text = []string{"id=12D3KooWx", "version=v1", "paired=yes", "p2p=4001"}
	e.AddrIPv4 = []net.IP{net.IPv4(10, 0, 0, 1), net.IPv4(10, 0, 0, 1)}
	p, ok := parseEntry(e)
	if !ok || p.ID != "12D3KooWx" || p.P2PPort != 4001 || !p.Paired || len(p.Addrs) != 1 {
		t.Fatalf("parseEntry %+v %v", p, ok)
	}
	for _, bad := range []string{"p2p=0", "p2p=70000", "p2p=x"} {
		e.Text = []string{"id=a", bad}
		if p, _ := parseEntry(e); p.P2PPort != 0 {
			t.Errorf("%s: port %d", bad, p.P2PPort)
		}
	}
	e.Text = []string{"version=v1"}
	if _, ok := parseEntry(e); ok {
		t.Error("an entry without id= was taken")
	}
	e.Text = []string{"id=" + strings.Repeat("a", 200)}
	if _, ok := parseEntry(e); ok {
		t.Error("an over-long id was taken")
	}
}

func TestBrowserBounded(t *testing.T) {
	var found []string
	b := NewBrowser(BrowseConfig{Self: "me", Max: 2, StaleAfter: time.Hour, Found: func(p Peer) { found = append(found, p.ID) }})
	for _, id := range []string{"me", "a", "b", "c", "a"} {
		e := zeroconf.NewServiceEntry("OEPC "+id, Service, "local.")
		e.Text, e.TTL = []string{"id=" + id}, 120
		e.AddrIPv4 = []net.IP{net.IPv4(10, 0, 0, 1)}
		b.saw(e)
	}
	ps := b.Peers()
	if len(ps) != 2 || ps[0].ID != "a" || ps[1].ID != "b" {
		t.Fatalf("peers %+v", ps)
	}
	if strings.Join(found, ",") != "a,b" {
		t.Fatalf("found %v (want a,b: not self, not past Max, not a again unchanged)", found)
	}
	if d := time.Until(ps[0].Expires); d > 121*time.Second {
		t.Fatalf("expires in %v, past the record's TTL", d)
	}
}

// TestBrowseInNetns runs two advertisers on one end of a veth pair and the
// browser (with an advertisement of its own) on the other: both boxes are
// found with their ID, version, address and ports, its own is not, and
// one that stops advertising is dropped once stale.
func TestBrowseInNetns(t *testing.T) {
	if !mdnstest.NetnsVeth(t, "TestBrowseInNetns", inBrowseNetns) {
		return
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	adv := func(name string, p2p int, iface string) context.CancelFunc {
		actx, acancel := context.WithCancel(ctx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := Run(actx, Config{Instance: "OEPC " + name, Host: "box" + name, Port: 8443, P2PPort: p2p,
				ID: "id-" + name, Version: "v0." + name, Interfaces: []string{iface}, Poll: 200 * time.Millisecond, Logger: log}); err != nil {
				t.Errorf("Run %s: %v", name, err)
			}
		}()
		return acancel
	}
	adv("a", 4001, "oema0")
	stopB := adv("b", 4002, "oema0")
	adv("self", 4003, "oemb0")

	var mu sync.Mutex
	found := map[string]Peer{}
	b := NewBrowser(BrowseConfig{Interfaces: []string{"oemb0"}, Self: "id-self", Round: time.Second, StaleAfter: 3 * time.Second,
		Logger: log, Found: func(p Peer) { mu.Lock(); found[p.ID] = p; mu.Unlock() }})
	wg.Add(1)
	go func() { defer wg.Done(); b.Run(ctx) }()

	until := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 60 s (peers %+v)", what, b.Peers())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	ids := func() string {
		var s []string
		for _, p := range b.Peers() {
			s = append(s, p.ID)
		}
		return strings.Join(s, ",")
	}
	until("both boxes are found", func() bool { return ids() == "id-a,id-b" })
	mu.Lock()
	a, bb := found["id-a"], found["id-b"]
	_, self := found["id-self"]
	mu.Unlock()
	if self {
		t.Fatal("the browser reported its own box")
	}
	if a.P2PPort != 4001 || bb.P2PPort != 4002 || a.Port != 8443 || a.Version != "v0.a" || a.Instance != "OEPC a" {
		t.Fatalf("found a %+v, b %+v", a, bb)
	}
	if len(a.Addrs) == 0 || !a.Addrs[0].Equal(net.IPv4(10, 78, 0, 1)) {
		t.Fatalf("a's addresses %v, want 10.78.0.1", a.Addrs)
	}

	stopB()
	until("the box that stopped advertising is dropped", func() bool { return ids() == "id-a" })
	// a is still there a few rounds on: it is seen again each round.
	time.Sleep(5 * time.Second)
	if got := ids(); got != "id-a" {
		t.Fatalf("after 5 s: %q, want id-a (kept fresh by each round)", got)
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{`OEPC\ a`: "OEPC a", `a\046b`: "a.b", `x\\y`: `x\y`, "plain": "plain", `end\`: `end\`} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseEntry feeds arbitrary TXT strings and instance names (what
// another machine on the LAN sends) to the parser.
func FuzzParseEntry(f *testing.F) {
	f.Add("OEPC\\ a", "id=12D3KooWx\x00version=v1\x00paired=yes\x00p2p=4001")
	f.Add("x\\", "p2p=99999\x00id=")
	f.Fuzz(func(t *testing.T, instance, txt string) {
		e := zeroconf.NewServiceEntry(instance, Service, "local.")
		e.Text = strings.Split(txt, "\x00")
		e.AddrIPv4 = []net.IP{net.IPv4(10, 0, 0, 1)}
		p, ok := parseEntry(e)
		if !ok {
			return
		}
		if p.ID == "" || len(p.ID) > 128 || p.P2PPort < 0 || p.P2PPort > 65535 || len(p.Addrs) > 16 {
			t.Fatalf("parsed %+v", p)
		}
		if len(p.Instance) > len(instance) {
			t.Fatalf("unescape grew %q to %q", instance, p.Instance)
		}
	})
}
