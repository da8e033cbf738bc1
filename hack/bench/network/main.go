// Command network is the OE network benchmark (make bench): how long a box
// takes from start to joined (DHT bootstrapped, friends connected), the
// resident memory of an idle box, and stream throughput between two boxes
// over libp2p beside raw TCP on loopback, measured side by side in one run
// and reported as a ratio.
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/hack/devnet/devnet"
	"oepc.dev/oepcos/packages/box"
	"oepc.dev/oepcos/packages/p2p"
)

func main() {
	size := flag.Int("mib", 512, "MiB streamed for the throughput comparison")
	runs := flag.Int("runs", 3, "start-to-joined measurements")
	flag.Parse()
	if err := run(*size, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(mib, runs int) error {
	tmp, err := os.MkdirTemp("", "oepc-netbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	build := exec.Command("go", "build", "-o", tmp+"/", "oepc.dev/oepcos/hack/devnet")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return err
	}
	exe := filepath.Join(tmp, "devnet")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// A 2-box network; box2 is then restarted alone, and timed.
	dn := exec.CommandContext(ctx, exe, "--boxes", "2", "--supernodes", "1", "--dir", filepath.Join(tmp, "net"))
	dn.Cancel = func() error { return dn.Process.Signal(syscall.SIGTERM) }
	if err := dn.Start(); err != nil {
		return err
	}
	// Stop the devnet (SIGTERM through the context) and wait for it.
	defer func() { cancel(); dn.Wait() }()
	st, err := waitState(filepath.Join(tmp, "net"))
	if err != nil {
		return err
	}
	b2 := st.Boxes[1]
	var joins []time.Duration
	for range runs {
		pid := currentPID(filepath.Join(tmp, "net"), 1)
		os.WriteFile(filepath.Join(b2.DataDir, "disabled"), nil, 0o600)
		syscall.Kill(pid, syscall.SIGTERM)
		waitGone(pid)
		d, rss, err := startAndJoin(ctx, exe, st, b2)
		if err != nil {
			return err
		}
		joins = append(joins, d)
		fmt.Printf("box start to joined (DHT bootstrapped, 1 friend connected): %v (RSS then %.1f MiB)\n", d.Round(time.Millisecond), rss)
	}
	best := joins[0]
	for _, d := range joins {
		best = min(best, d)
	}
	fmt.Printf("start to joined, best of %d: %v\n", runs, best.Round(time.Millisecond))

	// Idle RSS of box1 after the network settled.
	time.Sleep(10 * time.Second)
	rss, hwm := memOf(currentPID(filepath.Join(tmp, "net"), 0))
	fmt.Printf("idle box RSS: %.1f MiB (peak %.1f MiB; target under 60 MiB)\n", rss, hwm)

	p2pRate, tcpRate, err := throughput(mib)
	if err != nil {
		return err
	}
	fmt.Printf("stream throughput, %d MiB on loopback: libp2p (TCP+TLS+yamux) %.0f MB/s, raw TCP %.0f MB/s, ratio %.2f\n",
		mib, p2pRate, tcpRate, p2pRate/tcpRate)
	return nil
}

func waitState(dir string) (devnet.State, error) {
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := devnet.Load(dir); err == nil {
			return st, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return devnet.State{}, fmt.Errorf("devnet did not come up")
}

func currentPID(dir string, i int) int {
	st, _ := devnet.Load(dir)
	return st.Boxes[i].PID
}

func waitGone(pid int) {
	for syscall.Kill(pid, 0) == nil {
		time.Sleep(20 * time.Millisecond)
	}
}

// startAndJoin starts box b the way the devnet does and times it to joined
// with its friend connected.
func startAndJoin(ctx context.Context, exe string, st devnet.State, b devnet.Box) (time.Duration, float64, error) {
	cmd := exec.CommandContext(ctx, exe, "--data", b.DataDir, "--name", b.Name, "--loopback-only", "--mdns=false", "--health-dir=",
		"--api", strings.TrimPrefix(b.API, "http://"),
		"--listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d,/ip4/127.0.0.1/udp/%d/quic-v1", b.P2PPort, b.P2PPort),
		"--bootstrap", st.Bootstrap())
	cmd.Env = append(os.Environ(), devnet.ChildEnv+"=box")
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	for time.Since(start) < 60*time.Second {
		var s box.Status
		c, cancel := context.WithTimeout(ctx, time.Second)
		err := b.Client().Do(c, "GET", "/v1/status", nil, &s)
		cancel()
		if err == nil && s.Network.Joined && s.Network.RoutingTable > 0 && s.FriendsConnected == len(s.Friends) && len(s.Friends) > 0 {
			d := time.Since(start)
			rss, _ := memOf(cmd.Process.Pid)
			return d, rss, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, 0, fmt.Errorf("%s did not join within a minute", b.Name)
}

// memOf returns a process's RSS and peak RSS in MiB.
func memOf(pid int) (rss, hwm float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm
}

// throughput streams mib MiB between two libp2p hosts (TCP only) and
// between two raw TCP sockets, alternating, best of three each.
func throughput(mib int) (p2pMBs, tcpMBs float64, err error) {
	total := int64(mib) << 20
	buf := make([]byte, 256<<10)
	rand.Read(buf)
	mk := func() (*p2p.Node, error) {
		k, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		return p2p.New(context.Background(), p2p.Config{Key: k, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, LoopbackOnly: true})
	}
	a, err := mk()
	if err != nil {
		return 0, 0, err
	}
	defer a.Close()
	b, err := mk()
	if err != nil {
		return 0, 0, err
	}
	defer b.Close()
	const proto = "/oe/bench/1.0.0"
	b.Host.SetStreamHandler(proto, func(s network.Stream) {
		io.Copy(io.Discard, s)
		s.Close()
	})
	ctx := context.Background()
	if err := a.Host.Connect(ctx, peer.AddrInfo{ID: b.Host.ID(), Addrs: b.Host.Addrs()}); err != nil {
		return 0, 0, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	send := func(w io.WriteCloser) error {
		for sent := int64(0); sent < total; sent += int64(len(buf)) {
			if _, err := w.Write(buf); err != nil {
				return err
			}
		}
		return w.Close()
	}
	for range 3 {
		s, err := a.Host.NewStream(ctx, b.Host.ID(), proto)
		if err != nil {
			return 0, 0, err
		}
		t0 := time.Now()
		if err := send(s); err != nil {
			return 0, 0, err
		}
		io.Copy(io.Discard, s) // wait for the receiver's close: all bytes arrived
		p2pMBs = max(p2pMBs, float64(total)/1e6/time.Since(t0).Seconds())

		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return 0, 0, err
		}
		t0 = time.Now()
		if err := send(c.(*net.TCPConn)); err != nil {
			return 0, 0, err
		}
		tcpMBs = max(tcpMBs, float64(total)/1e6/time.Since(t0).Seconds())
	}
	return p2pMBs, tcpMBs, nil
}
