// Package chainbench measures OEChain and the box's light node: the light
// node's sync from genesis to height 10,000 (time and bytes), the latency
// of a verified balance query, the memory the light node adds to a
// process, and the transfers per second the 4-validator devnet sustains.
// Run by `make bench-chain`; each benchmark runs once (-benchtime 1x) and
// reports its figures as metrics.
package chainbench

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cometbft/cometbft/rpc/client/local"
	"github.com/cometbft/cometbft/types"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"oepc.dev/oepcos/packages/chain/app"
	"oepc.dev/oepcos/packages/chain/chaintest"
	"oepc.dev/oepcos/packages/chain/light"
	"oepc.dev/oepcos/packages/chain/node"
	"oepc.dev/oepcos/packages/chain/tx"
	"oepc.dev/oepcos/packages/p2p/p2ptest"
	"oepc.dev/oepcos/packages/wire"
)

// childEnv makes the test binary the light node's own process (so its
// memory is measured apart from the chain's).
const childEnv = "OECHAIN_BENCH_LIGHT_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		if err := lightChild(); err != nil {
			fmt.Fprintln(os.Stderr, "light child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// superHost serves the light protocol from s and counts the bytes of its
// answers (what a box downloads).
func superHost(b *testing.B, s *light.Server, sent *atomic.Int64) host.Host {
	h := p2ptest.Host(b)
	h.SetStreamHandler(light.Protocol, func(st network.Stream) {
		defer st.Close()
		q, err := light.ReadRequest(st)
		if err != nil {
			st.Reset()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		wire.Write(countingWriter{st, sent}, s.Answer(ctx, q))
	})
	return h
}

// childResult is what the light node's process reports.
type childResult struct {
	RSSBeforeKiB  int64     `json:"rss_before_kib"` // a libp2p host, connected, no light node
	RSSAfterKiB   int64     `json:"rss_after_kib"`  // synced, after the queries
	HeapBefore    uint64    `json:"heap_before"`
	HeapAfter     uint64    `json:"heap_after"`
	SyncSeconds   float64   `json:"sync_seconds"`
	Verified      int64     `json:"verified"`
	QuerySeconds  []float64 `json:"query_seconds"`
	ExistsBalance uint64    `json:"balance"`
}

func rssKiB() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// lightChild is a box's light node alone in a process: it connects to the
// super nodes (OECHAIN_BENCH_SUPERS: multiaddrs), syncs from the genesis
// (OECHAIN_BENCH_GENESIS) to the newest header, queries a balance
// (OECHAIN_BENCH_ACCOUNT) 50 times, and prints a childResult.
func lightChild() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		return err
	}
	defer h.Close()
	var supers []peer.ID
	for _, s := range strings.Split(os.Getenv("OECHAIN_BENCH_SUPERS"), ",") {
		info, err := peer.AddrInfoFromP2pAddr(ma.StringCast(s))
		if err != nil {
			return err
		}
		h.Peerstore().AddAddrs(info.ID, info.Addrs, peerstore.PermanentAddrTTL)
		if err := h.Connect(ctx, *info); err != nil {
			return err
		}
		supers = append(supers, info.ID)
	}
	gen, err := types.GenesisDocFromFile(os.Getenv("OECHAIN_BENCH_GENESIS"))
	if err != nil {
		return err
	}
	acct, err := tx.ParseAddress(os.Getenv("OECHAIN_BENCH_ACCOUNT"))
	if err != nil {
		return err
	}
	var r childResult
	r.RSSBeforeKiB, r.HeapBefore = rssKiB(), heap()
	dir, err := os.MkdirTemp("", "oechain-bench-light")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	t0 := time.Now()
	c, err := light.Start(ctx, light.Config{Host: h, SuperNodes: supers, Dir: dir, Genesis: gen, TrustingPeriod: 24 * time.Hour})
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := c.Update(ctx)
	if err != nil {
		return err
	}
	r.SyncSeconds, r.Verified = time.Since(t0).Seconds(), st.VerifiedHeight
	fmt.Println("synced") // the parent counts the bytes sent so far
	for range 50 {
		q0 := time.Now()
		acc, ok, _, err := c.Account(ctx, acct)
		if err != nil || !ok {
			return fmt.Errorf("balance query: %v (exists %v)", err, ok)
		}
		r.QuerySeconds = append(r.QuerySeconds, time.Since(q0).Seconds())
		r.ExistsBalance = acc.Balance
	}
	r.RSSAfterKiB, r.HeapAfter = rssKiB(), heap()
	return json.NewEncoder(os.Stdout).Encode(r)
}

// BenchmarkLightSync builds a 10,000-block chain (one validator,
// timeout_commit 1 ms, so it is built in about a minute; three super-node
// hosts serve it, as a box needs a primary and two witnesses), then
// starts a box's light node in a process of its own: its sync from the
// genesis to the newest header (time, bytes the super nodes sent), 50
// verified balance queries while blocks go on (p50, max), and the memory
// it adds to its process.
func BenchmarkLightSync(b *testing.B) {
	const target = 10_000
	p := app.DefaultParams()
	p.MaxValidators = 1
	p.UnbondingBlocks = 10_000_000
	t0 := time.Now()
	net := chaintest.Start(b, chaintest.Options{Nodes: 1, Funded: 1, Params: p, TimeoutCommit: time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	net.WaitHeight(ctx, 0, target)
	b.Logf("built %d blocks in %s", target, time.Since(t0).Round(time.Second))

	var sent atomic.Int64
	var addrs []string
	for range 3 {
		h := superHost(b, &light.Server{Client: local.New(net.Nodes[0].CometBFT())}, &sent)
		addrs = append(addrs, fmt.Sprintf("%s/p2p/%s", h.Addrs()[0], h.ID()))
	}
	funded := tx.AddressOf(net.Funded[0].Public().(ed25519.PublicKey))
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "OECHAIN_BENCH_SUPERS="+strings.Join(addrs, ","),
		"OECHAIN_BENCH_GENESIS="+node.GenesisPath(net.Homes[0]), "OECHAIN_BENCH_ACCOUNT="+funded.String())
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	rd := bufio.NewReader(stdout)
	line, err := rd.ReadString('\n')
	if err != nil || line != "synced\n" {
		b.Fatalf("light node process: %q %v", line, err)
	}
	syncBytes := sent.Load()
	out, _ := io.ReadAll(rd)
	if err := cmd.Wait(); err != nil {
		b.Fatalf("light node process: %v", err)
	}
	b.StopTimer()
	var r childResult
	if err := json.Unmarshal(out, &r); err != nil {
		b.Fatalf("light node process said %q: %v", out, err)
	}
	if r.Verified < target {
		b.Fatalf("verified height %d, want at least %d", r.Verified, target)
	}
	q := slices.Clone(r.QuerySeconds)
	slices.Sort(q)
	b.ReportMetric(r.SyncSeconds, "sync-s")
	b.ReportMetric(float64(r.Verified), "verified-height")
	b.ReportMetric(float64(syncBytes)/1024, "sync-KiB")
	b.ReportMetric(float64(sent.Load()-syncBytes)/50, "bytes-per-query")
	var mean float64
	for _, x := range q {
		mean += x / float64(len(q))
	}
	b.ReportMetric(mean*1000, "query-mean-ms")
	b.ReportMetric(q[len(q)/2]*1000, "query-p50-ms")
	b.ReportMetric(q[len(q)-1]*1000, "query-max-ms")
	b.ReportMetric(float64(r.RSSAfterKiB-r.RSSBeforeKiB)/1024, "light-RSS-MiB")
	b.ReportMetric(float64(int64(r.HeapAfter)-int64(r.HeapBefore))/(1<<20), "light-heap-MiB")
	b.Logf("light node: synced to %d in %.2f s, %d bytes from the super nodes (then %d for 50 queries); balance query p50 %.1f ms, max %.1f ms; RSS %d -> %d KiB, heap %d -> %d",
		r.Verified, r.SyncSeconds, syncBytes, sent.Load()-syncBytes, q[len(q)/2]*1000, q[len(q)-1]*1000, r.RSSBeforeKiB, r.RSSAfterKiB, r.HeapBefore, r.HeapAfter)
}
