// Package health is the tiny per-process health protocol of the box.
//
// Every program of the box (oepcd and each role supervisor) serves its own
// health Report as HTTP/JSON on a unix socket named <name>.sock in one shared
// directory; oepcd's local API aggregates them with Collect and the boot test
// reads the aggregate.
//
// On gokrazy the directory is DefaultDir, /run/oepc/health: gokrazy's init
// mounts a tmpfs on /run at every boot (/tmp is a tmpfs too, but /run is the
// conventional home of runtime sockets), so no stale socket survives a reboot
// and nothing of it is written to the SD card or disk. Persistent state lives
// under /perm/home/<program>, never here. Off gokrazy (devnet, tests) pass any
// directory; socket paths must stay under the kernel's limit of about 107
// bytes.
//
// The protocol is one request: GET /health on the socket answers a JSON
// Report. A process whose socket is missing or does not answer before the
// deadline is reported by Collect as Status "error", Detail "not running: ...".
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"oepc.dev/oepcos/packages/version"
)

// DefaultDir is where the health sockets live on the box (a tmpfs mounted
// by gokrazy's init at every boot).
const DefaultDir = "/run/oepc/health"

// Status is the coarse state of one process.
type Status string

// The states a Report can carry.
const (
	// OK: the process does its job.
	OK Status = "ok"
	// NotEnabled: the process runs and is healthy, but its role is not
	// implemented or not switched on yet; Detail says why. Not a failure.
	NotEnabled Status = "not enabled"
	// Degraded: the process works, but not fully (e.g. no peers yet).
	Degraded Status = "degraded"
	// Error: the process cannot do its job, or is not running at all.
	Error Status = "error"
)

// Valid reports whether s is one of the defined states.
func (s Status) Valid() bool {
	switch s {
	case OK, NotEnabled, Degraded, Error:
		return true
	}
	return false
}

// Healthy reports whether s is an acceptable steady state: ok, or honestly
// not enabled.
func (s Status) Healthy() bool { return s == OK || s == NotEnabled }

// Report is what one process says about itself.
type Report struct {
	// Name of the program, e.g. "storaged"; the socket is Name+".sock".
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Detail is a human-readable explanation, required for anything but OK.
	Detail string `json:"detail,omitempty"`
	// Version is the OEPC OS build the process runs.
	Version string `json:"version,omitempty"`
	// Since is when the process entered Status (or started).
	Since time.Time `json:"since"`
	// PID and RSSBytes describe the serving process (filled by Serve on
	// Linux); the benchmark sums RSSBytes over the box.
	PID      int   `json:"pid,omitempty"`
	RSSBytes int64 `json:"rss_bytes,omitempty"`
}

// SocketPath is the socket of program name inside dir.
func SocketPath(dir, name string) string { return filepath.Join(dir, name+".sock") }

// maxSocketPath is the usable length of sockaddr_un.sun_path on Linux.
const maxSocketPath = 107

// ValidName reports an error unless name can name a program's socket.
func ValidName(name string) error {
	if name == "" || strings.ContainsAny(name, `/\`+"\x00") || name == "." || name == ".." {
		return fmt.Errorf("health: invalid program name %q", name)
	}
	return nil
}

// ShutdownTimeout bounds how long Serve waits for in-flight requests once
// its context is done.
const ShutdownTimeout = 2 * time.Second

// Serve answers GET /health on the unix socket at socketPath with report()
// until ctx is done, then shuts down within ShutdownTimeout, removes the
// socket and returns nil. It creates the socket's directory, replaces a stale
// socket left by a dead process, and refuses to take over a socket that a
// live process still answers on, or a path that is not a socket.
//
// Serve fills PID and RSSBytes, and Since/Version when report leaves them
// empty.
func Serve(ctx context.Context, socketPath string, report func() Report) error {
	if report == nil {
		return errors.New("health: Serve needs a report function")
	}
	if len(socketPath) > maxSocketPath {
		return fmt.Errorf("health: socket path %q is %d bytes, longer than the %d a unix socket allows", socketPath, len(socketPath), maxSocketPath)
	}
	if err := os.MkdirAll(filepath.Dir(socketPath), 0o755); err != nil {
		return fmt.Errorf("health: %w", err)
	}
	if err := removeStale(ctx, socketPath); err != nil {
		return err
	}
	ln, err := net.Listen("unix", socketPath)
	if err != nil {
		return fmt.Errorf("health: listen: %w", err)
	}
	// Only the owner (root on the box) may talk to the socket.
	if err := os.Chmod(socketPath, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("health: %w", err)
	}
	start := time.Now()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		rep := report()
		if rep.Since.IsZero() {
			rep.Since = start
		}
		if rep.Version == "" {
			rep.Version = buildVersion()
		}
		rep.PID = os.Getpid()
		rep.RSSBytes = selfRSS()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(rep)
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      5 * time.Second,
		IdleTimeout:       30 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		os.Remove(socketPath)
		return fmt.Errorf("health: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc
	// The listener removes its socket on close; make sure.
	if err := os.Remove(socketPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("health: %w", err)
	}
	return nil
}

// removeStale removes socketPath if it is a socket nobody answers on.
func removeStale(ctx context.Context, socketPath string) error {
	fi, err := os.Lstat(socketPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("health: %s exists and is not a socket; refusing to replace it", socketPath)
	}
	dctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(dctx, "unix", socketPath)
	if err == nil {
		c.Close()
		return fmt.Errorf("health: %s is served by a running process; is another instance running?", socketPath)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("health: checking stale socket %s: %w", socketPath, err)
	}
	if err := os.Remove(socketPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("health: removing stale socket: %w", err)
	}
	return nil
}

// QueryTimeout is the deadline Query applies when ctx has none.
const QueryTimeout = 2 * time.Second

// Query asks the process serving socketPath for its Report. Without a
// deadline on ctx it gives up after QueryTimeout.
func Query(ctx context.Context, socketPath string) (Report, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, QueryTimeout)
		defer cancel()
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socketPath)
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://health/health", nil)
	if err != nil {
		return Report{}, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return Report{}, fmt.Errorf("health: query %s: %w", socketPath, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Report{}, fmt.Errorf("health: query %s: HTTP %s", socketPath, resp.Status)
	}
	var rep Report
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&rep); err != nil {
		return Report{}, fmt.Errorf("health: query %s: bad report: %w", socketPath, err)
	}
	if !rep.Status.Valid() {
		return Report{}, fmt.Errorf("health: query %s: unknown status %q", socketPath, rep.Status)
	}
	return rep, nil
}

// Collect queries the programs names, each at SocketPath(dir, name), in
// parallel, and returns one Report per name in the same order. A program
// whose socket is missing or does not answer in time is reported as
// Status Error with Detail "not running: <reason>"; one that answers under
// another name is reported as an error too.
func Collect(ctx context.Context, dir string, names []string) []Report {
	out := make([]Report, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ValidName(name); err != nil {
				out[i] = Report{Name: name, Status: Error, Detail: err.Error()}
				return
			}
			qctx, cancel := context.WithTimeout(ctx, QueryTimeout)
			defer cancel()
			rep, err := Query(qctx, SocketPath(dir, name))
			switch {
			case err != nil:
				out[i] = Report{Name: name, Status: Error, Detail: "not running: " + err.Error()}
			case rep.Name != name:
				out[i] = Report{Name: name, Status: Error, Detail: fmt.Sprintf("socket %s answers as %q", SocketPath(dir, name), rep.Name)}
			default:
				out[i] = rep
			}
		}()
	}
	wg.Wait()
	return out
}

// AllHealthy reports whether every report is ok or not enabled.
func AllHealthy(reps []Report) bool {
	for _, r := range reps {
		if !r.Status.Healthy() {
			return false
		}
	}
	return true
}

// Self is a report about the calling process itself (PID, RSS, Version,
// Since = process start as far as known), for a program that includes its
// own state in an aggregate without going through a socket.
func Self(name string, status Status, detail string, since time.Time) Report {
	return Report{
		Name:     name,
		Status:   status,
		Detail:   detail,
		Version:  buildVersion(),
		Since:    since,
		PID:      os.Getpid(),
		RSSBytes: selfRSS(),
	}
}

// buildVersion is the OEPC OS version stamped into the binary.
func buildVersion() string { return version.Version }

// selfRSS is the resident set size of this process in bytes, 0 when the
// platform does not tell (it reads /proc/self/statm on Linux).
func selfRSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
