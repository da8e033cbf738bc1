package role

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"oepc.dev/oepcos/packages/health"
)

func tempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "rl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// runRole starts Run and waits for its health socket to answer.
func runRole(t *testing.T, cfg Config) (health.Report, context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, cfg) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rep, err := health.Query(context.Background(), health.SocketPath(cfg.HealthDir, cfg.Name))
		if err == nil {
			return rep, cancel, errc
		}
		select {
		case err := <-errc:
			cancel()
			t.Fatalf("Run returned early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("health never answered: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func stopRole(t *testing.T, cancel context.CancelFunc, errc <-chan error) {
	t.Helper()
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(health.ShutdownTimeout + 2*time.Second):
		t.Fatal("Run did not stop")
	}
}

func TestRunNotEnabled(t *testing.T) {
	d := tempDir(t)
	state := filepath.Join(d, "perm", "home", "storaged")
	cfg := Config{Name: "storaged", Detail: "storage provider arrives later", StateDir: state, HealthDir: filepath.Join(d, "h")}
	rep, cancel, errc := runRole(t, cfg)
	if rep.Status != health.NotEnabled || rep.Detail != cfg.Detail || rep.Name != "storaged" {
		t.Errorf("report %+v", rep)
	}
	fi, err := os.Stat(state)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir: %v %v", fi, err)
	}
	// Stays up: still answering a little later.
	time.Sleep(100 * time.Millisecond)
	if _, err := health.Query(context.Background(), health.SocketPath(cfg.HealthDir, cfg.Name)); err != nil {
		t.Errorf("role went away: %v", err)
	}
	stopRole(t, cancel, errc)
	if _, err := os.Lstat(health.SocketPath(cfg.HealthDir, cfg.Name)); !os.IsNotExist(err) {
		t.Errorf("socket left behind after stop: %v", err)
	}
}

func TestRunUnusableStateDirReportsError(t *testing.T) {
	d := tempDir(t)
	// The state dir's parent is a regular file: MkdirAll fails, as with a
	// missing /perm.
	blocker := filepath.Join(d, "perm")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Name: "minerd", Detail: "miner arrives later", StateDir: filepath.Join(blocker, "home", "minerd"), HealthDir: d}
	rep, cancel, errc := runRole(t, cfg)
	if rep.Status != health.Error || !strings.Contains(rep.Detail, "state directory") {
		t.Errorf("report %+v, want an error naming the state directory", rep)
	}
	stopRole(t, cancel, errc)
}

func TestConfigErrors(t *testing.T) {
	d := tempDir(t)
	for _, cfg := range []Config{
		{Name: "", Detail: "x", HealthDir: d},
		{Name: "a/b", Detail: "x", HealthDir: d},
		{Name: "relayd", HealthDir: d},
		{Name: "relayd", Detail: "x"},
		{Name: "relayd", Detail: "x", HealthDir: d, StateDir: "relative/dir"},
	} {
		err := Run(context.Background(), cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("Run(%+v) = %v, want a ConfigError", cfg, err)
		}
	}
}

func TestMainExitStatus(t *testing.T) {
	var buf bytes.Buffer
	if got := Main("homed", "x", []string{"--log-level", "loud"}, &buf); got != ExitConfig {
		t.Errorf("bad log level: exit %d", got)
	}
	if got := Main("homed", "x", []string{"--no-such-flag"}, &buf); got != ExitConfig {
		t.Errorf("unknown flag: exit %d", got)
	}
	if got := Main("homed", "x", []string{"extra"}, &buf); got != ExitConfig {
		t.Errorf("extra argument: exit %d", got)
	}
	if got := Main("homed", "x", []string{"--data", "rel"}, &buf); got != ExitConfig {
		t.Errorf("relative data dir: exit %d", got)
	}
	if !strings.Contains(buf.String(), "not absolute") {
		t.Errorf("log lacks the reason:\n%s", buf.String())
	}
}
