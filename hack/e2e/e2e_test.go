// Package e2e runs the real programs (devnet, oepcd, oepc) as separate
// processes on loopback and checks the OE network end to end.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"oepc.dev/oepcos/hack/devnet/devnet"
	"oepc.dev/oepcos/packages/box"
)

var bin string // directory of the built programs

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "oepc-e2e-bin")
	if err != nil {
		panic(err)
	}
	bin = dir
	cmd := exec.Command("go", "build", "-o", dir+"/", "oepc.dev/oepcos/hack/devnet", "oepc.dev/oepcos/appliance/oepc", "oepc.dev/oepcos/appliance/oepcd")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the programs failed:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Net is a running devnet.
type Net struct {
	t   *testing.T
	Dir string
	cmd *exec.Cmd
	out *bytes.Buffer
}

// StartDevnet runs the devnet binary and waits for devnet.json.
func StartDevnet(t *testing.T, dir string, args ...string) *Net {
	t.Helper()
	os.Remove(filepath.Join(dir, "devnet.json"))
	n := &Net{t: t, Dir: dir, out: &bytes.Buffer{}}
	n.cmd = exec.Command(filepath.Join(bin, "devnet"), append([]string{"--dir", dir}, args...)...)
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	WaitFor(t, "devnet.json", 90*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(dir, "devnet.json"))
		return err == nil
	})
	return n
}

// State reads devnet.json.
func (n *Net) State() devnet.State {
	st, err := devnet.Load(n.Dir)
	if err != nil {
		n.t.Fatal(err)
	}
	return st
}

// Stop ends the devnet with SIGTERM and reports whether it exited cleanly.
func (n *Net) Stop() error {
	if n.cmd.ProcessState != nil {
		return nil
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- n.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		n.cmd.Process.Kill()
		<-done
		return errors.New("devnet did not stop within 30s of SIGTERM")
	}
}

// WaitFor polls ok until it holds or d passes.
func WaitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Oepc runs the CLI against a box and returns stdout, stderr and the error.
func Oepc(api, token string, args ...string) (string, string, error) {
	cmd := exec.Command(filepath.Join(bin, "oepc"), args...)
	cmd.Env = append(os.Environ(), "OEPC_BOX="+api, "OEPC_TOKEN="+token)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// OepcJSON runs the CLI and decodes its JSON output.
func OepcJSON(t *testing.T, b devnet.Box, v any, args ...string) {
	t.Helper()
	out, errs, err := Oepc(b.API, b.Token, args...)
	if err != nil {
		t.Fatalf("oepc %s on %s: %v\n%s", strings.Join(args, " "), b.Name, err, errs)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("oepc %s: bad JSON %q: %v", strings.Join(args, " "), out, err)
	}
}

func status(t *testing.T, b devnet.Box) box.Status {
	t.Helper()
	var st box.Status
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Client().Do(ctx, "GET", "/v1/status", nil, &st); err != nil {
		t.Fatalf("status of %s: %v", b.Name, err)
	}
	return st
}

func tryStatus(b devnet.Box) (box.Status, error) {
	var st box.Status
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := b.Client().Do(ctx, "GET", "/v1/status", nil, &st)
	return st, err
}

func freePort(t *testing.T) int {
	p, err := devnet.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// StartBox runs one more oepcd outside the devnet (a stranger to its boxes).
func StartBox(t *testing.T, name, bootstrap string) devnet.Box {
	t.Helper()
	dir := t.TempDir()
	api := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(filepath.Join(bin, "oepcd"), "--data", dir, "--name", name, "--api", api,
		"--listen", "/ip4/127.0.0.1/tcp/0", "--bootstrap", bootstrap, "--loopback-only", "--mdns=false", "--health-dir=")
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		logf.Close()
	})
	b := devnet.Box{Name: name, API: "http://" + api, DataDir: dir, PID: cmd.Process.Pid}
	WaitFor(t, name+" to answer", 30*time.Second, func() bool {
		tok, err := os.ReadFile(filepath.Join(dir, "api.token"))
		if err != nil {
			return false
		}
		b.Token = strings.TrimSpace(string(tok))
		st, err := tryStatus(b)
		b.PeerID = st.PeerID
		return err == nil
	})
	return b
}
