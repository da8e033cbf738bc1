// Package webuitest runs the web UI in real Chromium: a devnet of two
// boxes (strangers to each other) and Node's test runner driving Debian's
// chromium through playwright-core (js/*.test.mjs). Run it with make
// test-webui (it installs chromium and the npm packages); plain go test
// skips it unless OEPC_WEBUI_TEST=1.
package webuitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Chromium is Debian's browser (hack/install-deps.sh chromium).
const Chromium = "/usr/bin/chromium"

func TestWebUI(t *testing.T) {
	if os.Getenv("OEPC_WEBUI_TEST") != "1" {
		t.Skip("the browser test runs from make test-webui (OEPC_WEBUI_TEST=1)")
	}
	for _, need := range []string{Chromium, "node_modules/playwright-core", "node_modules/axe-core"} {
		if _, err := os.Stat(need); err != nil {
			t.Fatalf("%s is missing: run make test-webui (it installs chromium and runs npm ci here)", need)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	shots := os.Getenv("OEPC_WEBUI_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(root, "build", "webui-screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "oepc.dev/oepcos/hack/devnet")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the devnet: %v\n%s", err, out)
	}

	// A stand-in for gokrazy's update endpoints on a unix socket, as on
	// the box, and a crafted image for this machine's architecture.
	ota := startGokrazy(t)

	dir := t.TempDir()
	var out bytes.Buffer
	dn := exec.Command(filepath.Join(bin, "devnet"), "--dir", dir, "--boxes", "2", "--supernodes", "3", "--no-friends",
		"--box-arg=--gokrazy-socket="+ota.socket, "--box-arg=--gokrazy-password-file="+ota.passwordFile)
	dn.Stdout, dn.Stderr = &out, &out
	if err := dn.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		dn.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { dn.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			dn.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("devnet output (tail):\n%s", tail(out.String(), 6000))
		}
	}()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "devnet.json")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the devnet did not come up in 90 s:\n%s", tail(out.String(), 4000))
		}
		time.Sleep(200 * time.Millisecond)
	}

	files, err := filepath.Glob("js/*.test.mjs")
	if err != nil || len(files) == 0 {
		t.Fatalf("no browser tests in js/: %v", err)
	}
	sort.Strings(files)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	args := append([]string{"--test", "--test-concurrency=1", "--test-reporter=spec"}, files...)
	node := exec.CommandContext(ctx, "node", args...)
	node.Env = append(os.Environ(), "OEPC_WEBUI_DEVNET="+dir, "OEPC_WEBUI_SCREENSHOTS="+shots, "OEPC_CHROMIUM="+Chromium,
		"OEPC_WEBUI_OTA_IMAGE="+ota.image.Path)
	node.Stdout, node.Stderr = &testWriter{t: t}, &testWriter{t: t}
	node.WaitDelay = 10 * time.Second
	err = node.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		t.Fatalf("browser tests failed (exit %d); screenshots in %s", ee.ExitCode(), shots)
	case err != nil:
		t.Fatalf("running node: %v", err)
	}
	t.Logf("screenshots in %s", shots)
	ota.check(t)
}

type testWriter struct {
	t   *testing.T
	buf []byte
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.t.Log(strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return fmt.Sprintf("…%s", s[len(s)-n:])
	}
	return s
}
