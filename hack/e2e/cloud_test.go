// Package e2e holds end-to-end tests that run a whole devnet: real box
// processes on loopback, driven through the oepc CLI (in process) and the
// boxes' local APIs.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"oepc.dev/oepcos/hack/devnet/devnet"
	"oepc.dev/oepcos/packages/cli"
	"oepc.dev/oepcos/packages/cloud"
	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/friends"
	"oepc.dev/oepcos/packages/shard"
	"oepc.dev/oepcos/packages/wire"
)

// net is a running devnet.
type testNet struct {
	t   testing.TB
	dir string
	st  devnet.State
}

// startDevnet builds the devnet binary and runs it with n boxes. The
// devnet picks its ports before its processes bind them, and on a busy
// machine another process can take one meanwhile: a devnet that does not
// come up is retried in a fresh directory.
func startDevnet(t testing.TB, n int) *testNet {
	t.Helper()
	if testing.Short() {
		t.Skip("devnet test")
	}
	work := t.TempDir()
	exe := filepath.Join(work, "devnet")
	build := exec.Command("go", "build", "-o", exe, "oepc.dev/oepcos/hack/devnet")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("building the devnet: %v", err)
	}
	var log []byte
	for attempt := range 3 {
		dir := filepath.Join(work, fmt.Sprintf("net%d", attempt))
		logPath := filepath.Join(work, fmt.Sprintf("devnet%d.log", attempt))
		cmd := exec.Command(exe, "--boxes", strconv.Itoa(n), "--supernodes", "1", "--dir", dir)
		logf, _ := os.Create(logPath)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		}
		deadline := time.Now().Add(3 * time.Minute)
		for {
			st, err := devnet.Load(dir)
			if err == nil && len(st.Boxes) == n {
				t.Cleanup(func() {
					stop()
					if t.Failed() {
						b, _ := os.ReadFile(logPath)
						t.Logf("devnet log:\n%s", tail(b, 4000))
					}
				})
				return &testNet{t: t, dir: dir, st: st}
			}
			select {
			case <-exited:
			case <-time.After(500 * time.Millisecond):
				if time.Now().Before(deadline) {
					continue
				}
				stop()
			}
			break
		}
		log, _ = os.ReadFile(logPath)
		t.Logf("devnet attempt %d did not come up:\n%s", attempt+1, tail(log, 1500))
	}
	t.Fatal("devnet did not come up")
	return nil
}

func tail(b []byte, n int) []byte { return b[max(0, len(b)-n):] }

// oepc runs the CLI against box i and returns its stdout.
func (n *testNet) oepc(i int, args ...string) (string, error) {
	b := n.st.Boxes[i]
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	code := cli.Main(ctx, append([]string{"--box", b.API, "--token", b.Token}, args...),
		cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: os.Getenv})
	if code != 0 {
		return out.String(), fmt.Errorf("oepc %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	return out.String(), nil
}

func (n *testNet) must(i int, args ...string) string {
	n.t.Helper()
	out, err := n.oepc(i, args...)
	if err != nil {
		n.t.Fatal(err)
	}
	return out
}

func (n *testNet) health(i int, ref string) cloud.Health {
	n.t.Helper()
	var h cloud.Health
	if err := json.Unmarshal([]byte(n.must(i, "cloud", "health", ref, "--json")), &h); err != nil {
		n.t.Fatal(err)
	}
	return h
}

func (n *testNet) boxByPeer(p peer.ID) int {
	for i, b := range n.st.Boxes {
		if b.PeerID == p.String() {
			return i
		}
	}
	n.t.Fatalf("no box %s", p)
	return -1
}

// killForGood stops box i and keeps the devnet from restarting it.
func (n *testNet) killForGood(i int) {
	b := n.st.Boxes[i]
	os.WriteFile(filepath.Join(b.DataDir, "disabled"), nil, 0o600)
	st, _ := devnet.Load(n.dir)
	syscall.Kill(st.Boxes[i].PID, syscall.SIGKILL)
}

func fileSum(t *testing.T, p string) [32]byte {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return [32]byte(h.Sum(nil))
}

func peakRSSKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

func peakRSS(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "?"
}

// TestCloudDevnet is issue 4's end-to-end test on a devnet of 7 boxes (a
// box killed for good must leave k+m=6 others for repair to return every
// segment to 4+2).
func TestCloudDevnet(t *testing.T) {
	n := startDevnet(t, 7)
	work := t.TempDir()
	n.must(0, "cloud", "setup")
	n.must(1, "cloud", "setup")

	// Put 64 MiB and get it back.
	src := filepath.Join(work, "big.bin")
	data := make([]byte, 64<<20)
	rand.Read(data)
	os.WriteFile(src, data, 0o600)
	want := sha256.Sum256(data)
	t0 := time.Now()
	n.must(0, "cloud", "put", src, "/big.bin")
	putDur := time.Since(t0)
	dst := filepath.Join(work, "back.bin")
	t0 = time.Now()
	n.must(0, "cloud", "get", "/big.bin", dst)
	getDur := time.Since(t0)
	if fileSum(t, dst) != want {
		t.Fatal("get differs")
	}
	st, _ := devnet.Load(n.dir)
	t.Logf("64 MiB: put %.1f MB/s, get %.1f MB/s; box1 peak RSS %s",
		64*1.048576/putDur.Seconds(), 64*1.048576/getDur.Seconds(), peakRSS(st.Boxes[0].PID))
	// box1's own shards are not "hosted for others"; its friends host
	// box1's, under its name.
	var own cloud.HostedReport
	json.Unmarshal([]byte(n.must(0, "cloud", "hosted", "--json")), &own)
	if own.Own.Shards == 0 || len(own.Owners) != 0 {
		t.Fatalf("box1 hosted: %+v", own)
	}
	named := false
	for i := 1; i < 7 && !named; i++ {
		var r cloud.HostedReport
		json.Unmarshal([]byte(n.must(i, "cloud", "hosted", "--json")), &r)
		for _, o := range r.Owners {
			for _, b := range o.Boxes {
				named = named || (b.Peer.String() == n.st.Boxes[0].PeerID && b.Name != "")
			}
		}
	}
	if !named {
		t.Fatal("no friend hosts box1's shards under its name")
	}
	h := n.health(0, "/big.bin")
	if segs := (len(data) + codec.DefaultSegmentSize - 1) / codec.DefaultSegmentSize; !h.Complete || len(h.Segments) != segs {
		t.Fatalf("health after put: complete=%v segments=%d, want %d", h.Complete, len(h.Segments), segs)
	}
	// Holders are named: "this box", or the friend's name.
	for _, sh := range h.Segments[0].Shards {
		want := n.st.Boxes[n.boxByPeer(sh.Holder)].Name
		if n.boxByPeer(sh.Holder) == 0 {
			want = "this box"
		}
		if sh.Name != want {
			t.Fatalf("holder %s named %q, want %q", sh.Holder, sh.Name, want)
		}
	}

	// Corrupt a shard on a holder's disk: the get still succeeds, the bad
	// shard is detected and repaired.
	var victim cloud.ShardHealth
	for _, sh := range h.Segments[3].Shards {
		if i := n.boxByPeer(sh.Holder); i > 1 {
			victim = sh
			break
		}
	}
	vbox := n.st.Boxes[n.boxByPeer(victim.Holder)]
	id := victim.ID.String()
	shardFile := filepath.Join(vbox.DataDir, "shards", id[:2], id[2:])
	if !corrupt(t, vbox.DataDir, id) {
		t.Fatalf("shard file %s not found", shardFile)
	}
	os.Remove(dst)
	n.must(0, "cloud", "get", "/big.bin", dst)
	if fileSum(t, dst) != want {
		t.Fatal("get with a corrupt shard differs")
	}
	// A deep check reads every shard back: the bad one is found whether
	// or not the get happened to ask for it.
	var deep cloud.Health
	json.Unmarshal([]byte(n.must(0, "cloud", "health", "/big.bin", "--json", "--deep")), &deep)
	if s := deep.Segments[3].Shards[victim.Index]; s.Holder == victim.Holder && s.State == cloud.StateOK {
		t.Fatal("corrupt shard not detected")
	}
	waitComplete(t, n, 0, "/big.bin", func(h cloud.Health) bool {
		s := h.Segments[3].Shards[victim.Index]
		return s.State == cloud.StateOK
	})

	// Kill a holder box for good: repair brings every segment back to k+m
	// on the others.
	dead1 := 2
	n.killForGood(dead1)
	waitComplete(t, n, 0, "/big.bin", func(h cloud.Health) bool {
		for _, sg := range h.Segments {
			for _, sh := range sg.Shards {
				if sh.Holder.String() == n.st.Boxes[dead1].PeerID {
					return false
				}
			}
		}
		return true
	})

	// SIGKILL two holders (one already gone): the file comes back
	// byte-identical.
	n.killForGood(3)
	os.Remove(dst)
	n.must(0, "cloud", "get", "/big.bin", dst)
	if fileSum(t, dst) != want {
		t.Fatal("get with two holders killed differs")
	}

	// Send to a friend: it lands in their Received folder.
	small := filepath.Join(work, "note.txt")
	os.WriteFile(small, []byte("hello from box1"), 0o600)
	out := n.must(0, "send", "box2", small)
	if !strings.Contains(out, "/Received/note.txt") {
		t.Fatalf("send: %s", out)
	}
	n.must(1, "cloud", "get", "/Received/note.txt", filepath.Join(work, "got.txt"))
	if b, _ := os.ReadFile(filepath.Join(work, "got.txt")); string(b) != "hello from box1" {
		t.Fatalf("received %q", b)
	}

	// A delivery over the quota box2 gives box1 is refused, saying so.
	n.must(1, "cloud", "received-quota", "box1", "10")
	if _, err := n.oepc(0, "send", "box2", small); err == nil || !strings.Contains(err.Error(), "refused the delivery: it would exceed the 10 B of pending deliveries it accepts from you") {
		t.Fatalf("send over the quota: %v", err)
	}
	n.must(1, "cloud", "received-quota", "box1", "default")

	// Share: box2 fetches a file of box1's by its address.
	addr := strings.TrimSpace(n.must(0, "cloud", "share", "/big.bin", "box2"))
	os.Remove(dst)
	n.must(1, "cloud", "get", addr, dst)
	if fileSum(t, dst) != want {
		t.Fatal("shared get differs")
	}

	// A blocked friend and a stranger are refused.
	n.must(1, "friends", "block", "box5")
	if _, err := n.oepc(4, "send", "box2", small); err == nil || !strings.Contains(err.Error(), "not a friend") {
		t.Fatalf("blocked friend's send: %v", err)
	}
	strangerRefused(t, n.st.Boxes[1])

	// Restart a box and find its files again.
	st, _ = devnet.Load(n.dir)
	oldPID := st.Boxes[0].PID
	syscall.Kill(oldPID, syscall.SIGKILL)
	deadline := time.Now().Add(time.Minute)
	for {
		st, _ = devnet.Load(n.dir)
		if st.Boxes[0].PID != oldPID {
			if _, err := n.oepc(0, "cloud", "ls"); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("box1 did not come back")
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Its friends reconnect within seconds (4 are alive besides it).
	for {
		var st struct {
			FriendsConnected int `json:"friends_connected"`
		}
		json.Unmarshal([]byte(n.must(0, "status", "--json")), &st)
		if st.FriendsConnected >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("box1's friends did not reconnect")
		}
		time.Sleep(500 * time.Millisecond)
	}
	if out := n.must(0, "cloud", "ls"); !strings.Contains(out, "big.bin") {
		t.Fatalf("ls after restart: %s", out)
	}
	os.Remove(dst)
	n.must(0, "cloud", "get", "/big.bin", dst)
	if fileSum(t, dst) != want {
		t.Fatal("get after restart differs")
	}
}

// corrupt flips a byte in the middle of a shard file on a box's disk.
func corrupt(t *testing.T, dataDir, id string) bool {
	found := false
	filepath.Walk(filepath.Join(dataDir, "shards"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && filepath.Base(filepath.Dir(p))+filepath.Base(p) == id {
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0xff
			os.WriteFile(p, b, 0o600)
			found = true
		}
		return nil
	})
	return found
}

// waitComplete runs repair passes until the file is complete and ok holds.
func waitComplete(t *testing.T, n *testNet, i int, ref string, ok func(cloud.Health) bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		n.oepc(i, "cloud", "repair", ref)
		h := n.health(i, ref)
		if h.Complete && ok(h) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not repaired: min healthy %d", h.MinHealthy)
		}
		time.Sleep(2 * time.Second)
	}
}

// strangerRefused dials box b from a fresh libp2p host that is nobody's
// friend: the deliver protocol and the shard protocol refuse it.
func strangerRefused(t *testing.T, b devnet.Box) {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	pid, _ := peer.Decode(b.PeerID)
	addr, _ := ma.NewMultiaddr(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", b.P2PPort))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Connect(ctx, peer.AddrInfo{ID: pid, Addrs: []ma.Multiaddr{addr}}); err != nil {
		t.Fatal(err)
	}
	s, err := h.NewStream(ctx, pid, cloud.ProtoDeliver)
	if err == nil {
		s.SetDeadline(time.Now().Add(10 * time.Second))
		var rep struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		}
		if err := wire.Read(s, 4096, &rep); err != nil || !strings.Contains(rep.Error, "not a friend") {
			t.Fatalf("stranger's delivery answered %+v, %v", rep, err)
		}
		s.Close()
	}
	if _, err := shard.NewClient(h).Get(ctx, pid, shard.ID{}); err == nil {
		t.Fatal("stranger got a shard")
	} else {
		t.Logf("stranger refused: %v", err)
	}
}

// TestCloudRecoverThenRemove loses box1, recovers its cloud on a new box
// (a new peer ID) befriended by the old friends, and removes a file there:
// the shards the old box stored are deleted from the holders' disks, since
// they belong to the owner key.
func TestCloudRecoverThenRemove(t *testing.T) {
	n := startDevnet(t, 7)
	work := t.TempDir()
	out := n.must(0, "cloud", "setup")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	phrase := ""
	for _, l := range lines {
		if f := strings.Fields(l); len(f) == 17 {
			phrase = strings.Join(f, " ")
		}
	}
	if phrase == "" {
		t.Fatalf("no phrase in %q", out)
	}
	src := filepath.Join(work, "f.bin")
	data := make([]byte, 20<<20)
	rand.Read(data)
	os.WriteFile(src, data, 0o600)
	n.must(0, "cloud", "put", src, "/f.bin")
	h := n.health(0, "/f.bin")
	n.must(0, "cloud", "backup")
	n.killForGood(0)

	fresh := StartBox(t, "newbox1", n.st.Bootstrap())
	for i := 1; i < 7; i++ {
		var inv friends.Invite
		OepcJSON(t, n.st.Boxes[i], &inv, "friends", "invite", "--json")
		if _, errs, err := Oepc(fresh.API, fresh.Token, "friends", "accept", inv.URI); err != nil {
			t.Fatalf("accept box%d: %v %s", i+1, err, errs)
		}
	}
	WaitFor(t, "the new box's friends to connect", time.Minute, func() bool {
		st, err := tryStatus(fresh)
		return err == nil && st.FriendsConnected >= 6
	})
	if out, errs, err := Oepc(fresh.API, fresh.Token, "cloud", "recover", phrase); err != nil {
		t.Fatalf("recover: %v %s %s", err, out, errs)
	}
	shardFile := func(i int, id string) string {
		return filepath.Join(n.st.Boxes[i].DataDir, "shards", "shards", id[:2], id[2:])
	}
	held := func() int {
		c := 0
		for _, sg := range h.Segments {
			for _, sh := range sg.Shards {
				i := n.boxByPeer(sh.Holder)
				if i <= 0 {
					continue // the lost box
				}
				if _, err := os.Stat(shardFile(i, sh.ID.String())); err == nil {
					c++
				}
			}
		}
		return c
	}
	if held() == 0 {
		t.Fatal("no shard files found on the holders before rm")
	}
	if _, errs, err := Oepc(fresh.API, fresh.Token, "cloud", "rm", "/f.bin"); err != nil {
		t.Fatalf("rm: %v %s", err, errs)
	}
	if c := held(); c != 0 {
		t.Fatalf("%d of the old box's shards left on the holders after rm on the new box", c)
	}
}
