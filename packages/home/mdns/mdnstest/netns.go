// Package mdnstest holds helpers for tests that multicast: they run inside
// network namespaces of their own, never on the machine's interfaces.
package mdnstest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// NetnsVeth re-runs test name inside a network namespace of its own
// (unshare --net) with env set, and, inside, makes a veth pair oema0
// (10.78.0.1) and oemb0 (10.78.0.2) whose ends accept each other's
// packets. It reports whether the caller is inside.
func NetnsVeth(t *testing.T, name, env string) bool {
	t.Helper()
	if os.Getenv(env) == "" {
		if os.Geteuid() != 0 {
			t.Skip("needs root to make a network namespace")
		}
		for _, p := range []string{"unshare", "ip"} {
			if _, err := exec.LookPath(p); err != nil {
				t.Skipf("needs %s (hack/install-deps.sh util-linux iproute2)", p)
			}
		}
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "unshare", "--net", "--fork", "--kill-child", "--", exe, "-test.run", "^"+name+"$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), env+"=1")
		out, err := cmd.CombinedOutput()
		t.Logf("inside the namespace:\n%s", out)
		if err != nil {
			t.Fatalf("the test inside the namespace failed: %v", err)
		}
		if !strings.Contains(string(out), "--- PASS: "+name) {
			t.Fatal("the test inside the namespace did not pass")
		}
		return false
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	run("link", "set", "lo", "up")
	run("link", "add", "oema0", "type", "veth", "peer", "name", "oemb0")
	for _, k := range []string{"all", "default", "oema0", "oemb0"} {
		os.WriteFile("/proc/sys/net/ipv4/conf/"+k+"/accept_local", []byte("1"), 0o644)
		os.WriteFile("/proc/sys/net/ipv4/conf/"+k+"/rp_filter", []byte("0"), 0o644)
	}
	run("addr", "add", "10.78.0.1/24", "dev", "oema0")
	run("addr", "add", "10.78.0.2/24", "dev", "oemb0")
	run("link", "set", "oema0", "up", "multicast", "on")
	run("link", "set", "oemb0", "up", "multicast", "on")
	return true
}
