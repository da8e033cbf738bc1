// Package serialport opens a power-line modem's serial port and keeps it
// open across unplugging: when the device goes away the port says so once
// (ErrUnplugged), then finds the device again, under its old path or under
// /dev/serial/by-id/ or /dev/ttyUSB*, and reopens it with backoff.
//
// An unplug is not detected from a read's (0, EOF): tarm/serial returns that
// on every read timeout. It is detected from the device node (gone, or a
// different device at the path) or from an I/O error other than a timeout.
// Both drivers (plc/insteon, plc/x10) take a *Port as their
// io.ReadWriteCloser.
package serialport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/tarm/serial"
)

// DefaultPatterns are where a USB serial adapter appears on Linux: the
// stable by-id names first, then the kernel's numbered names.
var DefaultPatterns = []string{"/dev/serial/by-id/*", "/dev/ttyUSB*", "/dev/ttyACM*"}

var (
	// ErrUnplugged: the device went away. Read returns it once per unplug;
	// Write returns it until the device is back.
	ErrUnplugged = errors.New("serialport: device unplugged")
	// ErrNotFound: no device at the path nor under the patterns.
	ErrNotFound = errors.New("serialport: no serial device found")
	// ErrClosed: the port was closed.
	ErrClosed = errors.New("serialport: closed")
)

// OpenFunc opens one device. The default opens it with tarm/serial, 8N1.
type OpenFunc func(path string, baud int, readTimeout time.Duration) (io.ReadWriteCloser, error)

// Config says which device to open and how to find it again.
type Config struct {
	// Path is the device to open first ("/dev/ttyUSB0", a by-id name). Empty:
	// the first device that Patterns find.
	Path string
	// Baud: 19200 for the Insteon PLM, 4800 for the X10 CM11A.
	Baud int
	// Patterns are globs searched, in order, when Path is empty or gone.
	// Nil means DefaultPatterns; an empty non-nil slice means Path only.
	Patterns []string
	// ReadTimeout bounds one read on the device, so that Close and the
	// presence check happen at least this often. Default 100 ms.
	ReadTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnect attempts.
	// Defaults 100 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
	// Open opens a device; nil means tarm/serial.
	Open OpenFunc
}

func (c *Config) defaults() {
	if c.Patterns == nil {
		c.Patterns = DefaultPatterns
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 100 * time.Millisecond
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = 5 * time.Second
		if c.MaxBackoff < c.MinBackoff {
			c.MaxBackoff = c.MinBackoff
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Open == nil {
		c.Open = tarmOpen
	}
}

func tarmOpen(path string, baud int, readTimeout time.Duration) (io.ReadWriteCloser, error) {
	return serial.OpenPort(&serial.Config{Name: path, Baud: baud, Size: 8,
		Parity: serial.ParityNone, StopBits: serial.Stop1, ReadTimeout: readTimeout})
}

// Port is an io.ReadWriteCloser over a serial device that survives the
// device being unplugged and plugged back in.
type Port struct {
	cfg Config

	mu       sync.Mutex
	cond     *sync.Cond // signalled when dev changes or the port closes
	dev      io.ReadWriteCloser
	path     string      // path dev was opened at
	info     os.FileInfo // what the path pointed to when opened
	gen      int         // bumped on every open and every loss
	closed   bool
	redials  int
	stop     context.CancelFunc
	stopped  chan struct{} // closed when the reconnect goroutine ends
	lastPath string

	fastEOF int // consecutive reads that ended at once with nothing; Read's own
}

// Open finds and opens the device. It fails with ErrNotFound (saying where
// it looked) when there is none now; the caller decides whether to wait.
func Open(cfg Config) (*Port, error) {
	cfg.defaults()
	if cfg.Baud <= 0 {
		return nil, errors.New("serialport: no baud rate set (19200 for Insteon, 4800 for X10)")
	}
	p := &Port{cfg: cfg}
	p.cond = sync.NewCond(&p.mu)
	dev, path, info, err := p.dial()
	if err != nil {
		return nil, err
	}
	p.dev, p.path, p.info, p.lastPath = dev, path, info, path
	p.cfg.Logger.Info("serial port open", "path", path, "baud", cfg.Baud)
	return p, nil
}

// Candidates lists the device paths to try, in order: path first (when
// given), then every match of the patterns, without repeats.
func Candidates(path string, patterns []string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	add(path)
	for _, pat := range patterns {
		m, _ := filepath.Glob(pat)
		sort.Strings(m)
		for _, p := range m {
			add(p)
		}
	}
	return out
}

// dial tries every candidate once: the last path it had first.
func (p *Port) dial() (io.ReadWriteCloser, string, os.FileInfo, error) {
	first := p.lastPath
	if first == "" {
		first = p.cfg.Path
	}
	cands := Candidates(first, p.cfg.Patterns)
	if first != p.cfg.Path && p.cfg.Path != "" {
		cands = Candidates(first, append([]string{p.cfg.Path}, p.cfg.Patterns...))
	}
	var errs []error
	for _, c := range cands {
		info, err := os.Stat(c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		dev, err := p.cfg.Open(c, p.cfg.Baud, p.cfg.ReadTimeout)
		if err != nil {
			errs = append(errs, fmt.Errorf("open %s: %w", c, err))
			continue
		}
		return dev, c, info, nil
	}
	where := append([]string{}, p.cfg.Patterns...)
	if first != "" {
		where = append([]string{first}, where...)
	}
	return nil, "", nil, fmt.Errorf("%w (looked at %v; plug the modem in or set the port): %w",
		ErrNotFound, where, errors.Join(errs...))
}

// Path is the device the port has open now ("" while unplugged).
func (p *Port) Path() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dev == nil {
		return ""
	}
	return p.path
}

// Reconnects counts how many times the device came back after an unplug.
func (p *Port) Reconnects() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.redials
}

// present says whether the device opened at path is still there: the path
// exists and is the same node.
func present(path string, info os.FileInfo) bool {
	now, err := os.Stat(path)
	return err == nil && os.SameFile(now, info)
}

// Read reads from the device. A read timeout is not returned: Read checks
// that the device is still present and reads again. When the device is
// gone Read returns ErrUnplugged once, then blocks until it is back.
func (p *Port) Read(b []byte) (int, error) {
	for {
		p.mu.Lock()
		for p.dev == nil && !p.closed {
			p.cond.Wait()
		}
		if p.closed {
			p.mu.Unlock()
			return 0, ErrClosed
		}
		dev, gen, path, info := p.dev, p.gen, p.path, p.info
		p.mu.Unlock()

		start := time.Now()
		n, err := dev.Read(b)
		if n > 0 {
			p.fastEOF = 0
			return n, nil
		}
		if p.isClosed() {
			return 0, ErrClosed
		}
		if err == nil || errors.Is(err, io.EOF) {
			// A read timeout, or a hung-up line: a timeout takes about
			// ReadTimeout, a hang-up returns at once, again and again
			// (a pseudo-terminal whose index the kernel already reused
			// still stats as the same node).
			if time.Since(start) < p.cfg.ReadTimeout/4 {
				p.fastEOF++
			} else {
				p.fastEOF = 0
			}
			if present(path, info) && p.fastEOF < 3 {
				continue
			}
			if p.fastEOF >= 3 {
				err = errors.New("line hung up (reads end at once)")
			} else {
				err = errors.New("device node gone")
			}
			p.fastEOF = 0
		}
		if p.lose(gen, err) {
			return 0, fmt.Errorf("%w: %s: %v", ErrUnplugged, path, err)
		}
	}
}

// Write writes to the device, or fails with ErrUnplugged while it is away.
func (p *Port) Write(b []byte) (int, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return 0, ErrClosed
	}
	dev, gen, path := p.dev, p.gen, p.path
	p.mu.Unlock()
	if dev == nil {
		return 0, fmt.Errorf("%w: waiting for it to come back (last at %s)", ErrUnplugged, p.lastPathLocked())
	}
	n, err := dev.Write(b)
	if err != nil {
		if p.isClosed() {
			return n, ErrClosed
		}
		p.lose(gen, err)
		return n, fmt.Errorf("%w: %s: %v", ErrUnplugged, path, err)
	}
	return n, nil
}

func (p *Port) lastPathLocked() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastPath
}

func (p *Port) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// lose drops the device of generation gen and starts reconnecting. It
// reports whether this call did it (the first to notice a loss does).
func (p *Port) lose(gen int, cause error) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || gen != p.gen || p.dev == nil {
		return false
	}
	p.dev.Close()
	p.dev = nil
	p.gen++
	p.cfg.Logger.Warn("serial device unplugged; reconnecting", "path", p.path, "err", cause)
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	p.stopped = make(chan struct{})
	go p.reconnect(ctx, p.stopped)
	p.cond.Broadcast()
	return true
}

func (p *Port) reconnect(ctx context.Context, done chan struct{}) {
	defer close(done)
	wait := p.cfg.MinBackoff
	for attempt := 1; ; attempt++ {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		dev, path, info, err := p.dial()
		if err == nil {
			p.mu.Lock()
			if p.closed {
				p.mu.Unlock()
				dev.Close()
				return
			}
			p.dev, p.path, p.info, p.lastPath = dev, path, info, path
			p.gen++
			p.redials++
			p.cond.Broadcast()
			p.mu.Unlock()
			p.cfg.Logger.Info("serial device back", "path", path, "attempts", attempt)
			return
		}
		if attempt == 1 || attempt%10 == 0 {
			p.cfg.Logger.Warn("serial device still missing", "attempts", attempt, "err", err)
		}
		wait *= 2
		if wait > p.cfg.MaxBackoff {
			wait = p.cfg.MaxBackoff
		}
	}
}

// Close closes the device and stops reconnecting. A Read blocked on the
// device returns within ReadTimeout.
func (p *Port) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	dev, stop, stopped := p.dev, p.stop, p.stopped
	p.dev = nil
	p.cond.Broadcast()
	p.mu.Unlock()
	if stop != nil {
		stop()
		<-stopped
	}
	if dev != nil {
		return dev.Close()
	}
	return nil
}
