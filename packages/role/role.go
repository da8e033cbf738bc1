// Package role runs a box role whose implementation has not landed yet, and
// holds the small amount of plumbing every thin main of the box shares.
//
// A role that is not implemented still starts as its own gokrazy package,
// prepares its state directory under /perm/home/<program>, serves its health
// socket with the honest Status "not enabled" and a Detail that says what is
// missing, and stays up until it is told to stop. It never claims to do work
// it does not do. If its state directory cannot be prepared (no /perm, a
// full or read-only disk) it stays up as well and reports Status "error"
// with the reason, so the box shows a clear error instead of a restart loop.
package role

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"oepc.dev/oepcos/packages/health"
)

// Config describes one role process.
type Config struct {
	// Name is the program name, e.g. "storaged"; it names the health
	// socket.
	Name string
	// Detail is the honest explanation served with Status "not enabled",
	// e.g. "storage provider is not in this build; it arrives with the
	// storage issue".
	Detail string
	// StateDir is where the role keeps its state, normally
	// /perm/home/<Name>. It is created (0700) when missing. Empty means
	// the role keeps no state.
	StateDir string
	// HealthDir holds the health sockets (health.DefaultDir on the box).
	HealthDir string
	// Logger; slog.Default() when nil.
	Logger *slog.Logger
}

// ConfigError is a configuration mistake that restarting cannot fix; a main
// exits with status 125 on it, which tells gokrazy not to restart.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return "configuration: " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Validate checks cfg; its errors are *ConfigError.
func (cfg Config) Validate() error {
	if err := health.ValidName(cfg.Name); err != nil {
		return &ConfigError{err}
	}
	if cfg.Detail == "" {
		return &ConfigError{errors.New("a role that is not enabled needs a Detail saying why")}
	}
	if cfg.HealthDir == "" {
		return &ConfigError{errors.New("empty health directory")}
	}
	if cfg.StateDir != "" && !filepath.IsAbs(cfg.StateDir) {
		return &ConfigError{fmt.Errorf("state directory %q is not absolute", cfg.StateDir)}
	}
	return nil
}

// Run serves the health of a not-yet-enabled role until ctx is done, then
// returns nil after a bounded shutdown. It returns a *ConfigError for a bad
// cfg and an error when the health socket cannot be served.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("role", cfg.Name)

	st := &state{status: health.NotEnabled, detail: cfg.Detail, since: time.Now()}
	if cfg.StateDir != "" {
		if err := prepareStateDir(cfg.StateDir); err != nil {
			log.Error("state directory unusable; staying up and reporting the error", "dir", cfg.StateDir, "err", err)
			st.set(health.Error, fmt.Sprintf("state directory %s: %v", cfg.StateDir, err))
		}
	}
	log.Info("role started", "status", st.status, "detail", st.detail,
		"health_socket", health.SocketPath(cfg.HealthDir, cfg.Name), "state_dir", cfg.StateDir)

	err := health.Serve(ctx, health.SocketPath(cfg.HealthDir, cfg.Name), func() health.Report {
		return st.report(cfg.Name)
	})
	if err != nil {
		return err
	}
	log.Info("role stopped")
	return nil
}

// prepareStateDir creates dir and proves it is writable (a read-only or
// full /perm fails here, not later at a random spot).
func prepareStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	probe := filepath.Join(dir, ".write-probe")
	if err := os.WriteFile(probe, []byte("ok\n"), 0o600); err != nil {
		return err
	}
	return os.Remove(probe)
}

type state struct {
	mu     sync.Mutex
	status health.Status
	detail string
	since  time.Time
}

func (s *state) set(st health.Status, detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.detail, s.since = st, detail, time.Now()
}

func (s *state) report(name string) health.Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return health.Report{Name: name, Status: s.status, Detail: s.detail, Since: s.since}
}
