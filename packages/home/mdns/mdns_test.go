package mdns

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// inNetns is set in the copy of the test binary that runs inside the
// network namespace the test made.
const inNetns = "OEPC_MDNS_TEST_NETNS"

const python = "/usr/bin/python3" // Debian's, where python3-zeroconf is

func TestTXT(t *testing.T) {
	got := TXT("12D3KooWabc", "v1.2.3", true)
	want := []string{"id=12D3KooWabc", "version=v1.2.3", "paired=yes"}
	if !slices.Equal(got, want) {
		t.Fatalf("TXT %v, want %v", got, want)
	}
	if TXT("a", "b", false)[2] != "paired=no" {
		t.Fatal("paired=no missing")
	}
}

// TestAdvertiseInNetns runs the advertiser in a network namespace of its
// own (unshare -n: only a loopback, multicast switched on, nothing reaches
// the machine's interfaces) and checks it with an independent
// implementation, Debian's python3-zeroconf: the service and its TXT
// records are browsed, oepc.local resolves, a change of pairing updates
// the TXT, and a new address is advertised after it appears.
func TestAdvertiseInNetns(t *testing.T) {
	if os.Getenv(inNetns) == "" {
		if os.Geteuid() != 0 {
			t.Skip("needs root to make a network namespace")
		}
		for _, p := range []string{"unshare", "ip"} {
			if _, err := exec.LookPath(p); err != nil {
				t.Skipf("needs %s", p)
			}
		}
		if exec.Command(python, "-c", "import zeroconf").Run() != nil {
			t.Skip("needs Debian's python3-zeroconf (make test installs it: hack/install-deps.sh python3-zeroconf)")
		}
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("unshare", "--net", "--", exe, "-test.run", "^TestAdvertiseInNetns$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), inNetns+"=1")
		out, err := cmd.CombinedOutput()
		t.Logf("inside the namespace:\n%s", out)
		if err != nil {
			t.Fatalf("the test inside the namespace failed: %v", err)
		}
		if !strings.Contains(string(out), "--- PASS: TestAdvertiseInNetns") {
			t.Fatal("the test inside the namespace did not pass")
		}
		return
	}
	// Inside: a fresh namespace with only lo.
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "set", "lo", "multicast", "on"},
		{"route", "add", "224.0.0.0/4", "dev", "lo"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	var paired atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Instance: "OEPC kitchen", Port: 8443, ID: "12D3KooWtestbox", Version: "v0.test",
			Paired: paired.Load, Interfaces: []string{"lo"}, Poll: 200 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	type instance struct {
		Name      string            `json:"name"`
		Server    string            `json:"server"`
		Port      int               `json:"port"`
		Addresses []string          `json:"addresses"`
		TXT       map[string]string `json:"txt"`
	}
	browse := func() []instance {
		t.Helper()
		out, err := exec.Command(python, "testdata/zc.py", "browse", "_oepc._tcp.local.", "5").Output()
		if err != nil {
			t.Fatalf("zc.py browse: %v", err)
		}
		var is []instance
		if err := json.Unmarshal(out, &is); err != nil {
			t.Fatalf("zc.py browse: %v: %s", err, out)
		}
		return is
	}
	resolve := func() []string {
		t.Helper()
		out, err := exec.Command(python, "testdata/zc.py", "resolve", "oepc.local.", "5").Output()
		if err != nil {
			t.Fatalf("zc.py resolve: %v", err)
		}
		var as []string
		if err := json.Unmarshal(out, &as); err != nil {
			t.Fatalf("zc.py resolve: %v: %s", err, out)
		}
		return as
	}
	until := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 20 s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	var is []instance
	until("the service is browsed", func() bool { is = browse(); return len(is) == 1 })
	in := is[0]
	if in.Name != "OEPC kitchen._oepc._tcp.local." || in.Port != 8443 || in.Server != "oepc.local." {
		t.Fatalf("instance %+v", in)
	}
	if in.TXT["id"] != "12D3KooWtestbox" || in.TXT["version"] != "v0.test" || in.TXT["paired"] != "no" || len(in.TXT) != 3 {
		t.Fatalf("TXT %v", in.TXT)
	}
	if !slices.Contains(in.Addresses, "127.0.0.1") {
		t.Fatalf("addresses %v", in.Addresses)
	}
	if as := resolve(); !slices.Contains(as, "127.0.0.1") {
		t.Fatalf("oepc.local resolves to %v", as)
	}

	paired.Store(true)
	until("paired=yes is advertised", func() bool { is = browse(); return len(is) == 1 && is[0].TXT["paired"] == "yes" })

	// A new address (as DHCP would give): registered again with it.
	if out, err := exec.Command("ip", "addr", "add", "10.77.0.1/24", "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("ip addr add: %v %s", err, out)
	}
	until("the new address is advertised", func() bool {
		is = browse()
		return len(is) == 1 && slices.Contains(is[0].Addresses, "10.77.0.1") && is[0].TXT["paired"] == "yes"
	})
	until("oepc.local resolves to the new address", func() bool { return slices.Contains(resolve(), "10.77.0.1") })
}
