package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoDaemonDeps keeps the command line a small client: it reaches the
// box only through packages/localapi's client and packages/apitype's
// types, so it must not link the daemon's libp2p or badger (it once did,
// 35 MB with 111 of their packages, through the cli's use of the box's,
// friends' and cloud's own types).
func TestNoDaemonDeps(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to list the dependencies with: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed only %q", deps)
	}
	var bad []string
	for _, d := range deps {
		if strings.Contains(d, "libp2p") || strings.Contains(d, "badger") || strings.Contains(d, "multiformats") {
			bad = append(bad, d)
		}
	}
	if len(bad) > 0 {
		t.Fatalf("oepc links %d packages of the daemon's network or database: %q", len(bad), bad)
	}
}
