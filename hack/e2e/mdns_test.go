package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"oepc.dev/oepcos/packages/apitype"
	"oepc.dev/oepcos/packages/box"
	"oepc.dev/oepcos/packages/friends"
)

// TestMDNSInOneHouse puts two boxes in two network namespaces joined by a
// veth pair (a house LAN this test owns; nothing reaches the machine's real
// interfaces), with no super node at all: they find each other by mDNS and
// make friends with the invite URI.
func TestMDNSInOneHouse(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip from iproute2")
	}
	tag := fmt.Sprintf("%06x", rand.IntN(1<<24))
	nsA, nsB := "oe-a-"+tag, "oe-b-"+tag
	vA, vB := "oea"+tag, "oeb"+tag
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	sh("netns", "add", nsA)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsA).Run() })
	sh("netns", "add", nsB)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsB).Run() })
	sh("link", "add", vA, "netns", nsA, "type", "veth", "peer", "name", vB, "netns", nsB)
	for _, c := range []struct{ ns, dev, addr string }{{nsA, vA, "10.231.0.1/24"}, {nsB, vB, "10.231.0.2/24"}} {
		sh("-n", c.ns, "link", "set", "lo", "up")
		sh("-n", c.ns, "addr", "add", c.addr, "dev", c.dev)
		sh("-n", c.ns, "link", "set", c.dev, "up", "multicast", "on")
	}

	// The boxes announce themselves when they start: wait until the house
	// LAN carries packets in both namespaces.
	for _, c := range []struct{ ns, dev string }{{nsA, vA}, {nsB, vB}} {
		WaitFor(t, c.dev+" to be up", 10*time.Second, func() bool {
			out, err := exec.Command("ip", "-n", c.ns, "-o", "link", "show", "dev", c.dev).Output()
			return err == nil && strings.Contains(string(out), "state UP")
		})
	}

	var logs []string
	start := func(ns, name string) string {
		dir := t.TempDir()
		cmd := exec.Command("ip", "netns", "exec", ns, filepath.Join(bin, "oepcd"), "--data", dir, "--name", name,
			"--api", "127.0.0.1:7070", "--listen", "/ip4/0.0.0.0/tcp/4001", "--mdns=true", "--health-dir=")
		logf, _ := os.Create(filepath.Join(dir, "log"))
		logs = append(logs, logf.Name())
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			logf.Close()
		})
		return dir
	}
	dirA, dirB := start(nsA, "kitchen"), start(nsB, "attic")
	// Registered last, so it runs first: the logs are still there.
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				t.Logf("%s:\n%s", l, b)
			}
		}
	})
	oepc := func(ns, dir string, args ...string) ([]byte, error) {
		cmd := exec.Command("ip", append([]string{"netns", "exec", ns, filepath.Join(bin, "oepc"),
			"--box", "http://127.0.0.1:7070", "--token-file", filepath.Join(dir, "api.token")}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if err != nil {
			err = fmt.Errorf("%v: %s", err, errb.String())
		}
		return out.Bytes(), err
	}
	statusOf := func(ns, dir string) (box.Status, error) {
		var st box.Status
		out, err := oepc(ns, dir, "status", "--json")
		if err == nil {
			err = json.Unmarshal(out, &st)
		}
		return st, err
	}
	var a, b box.Status
	WaitFor(t, "both boxes to answer", 30*time.Second, func() bool {
		var errA, errB error
		a, errA = statusOf(nsA, dirA)
		b, errB = statusOf(nsB, dirB)
		return errA == nil && errB == nil
	})
	WaitFor(t, "the boxes to find each other by mDNS", 60*time.Second, func() bool {
		st, err := statusOf(nsA, dirA)
		return err == nil && slices.ContainsFunc(st.Network.Peers, func(p apitype.PeerStatus) bool { return p.ID == b.PeerID })
	})
	out, err := oepc(nsA, dirA, "friends", "invite", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var inv friends.Invite
	if err := json.Unmarshal(out, &inv); err != nil {
		t.Fatal(err)
	}
	if _, err := oepc(nsB, dirB, "friends", "accept", inv.URI); err != nil {
		t.Fatalf("accept over the house LAN: %v", err)
	}
	WaitFor(t, "the kitchen box to list the attic box as a connected friend", 15*time.Second, func() bool {
		st, err := statusOf(nsA, dirA)
		return err == nil && st.FriendsConnected == 1 && st.Friends[0].ID.String() == b.PeerID && st.Friends[0].Name == "attic"
	})
	_ = a
}
