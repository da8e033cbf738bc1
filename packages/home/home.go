// Package home is homed, the box's home-automation supervisor, as a
// library: devices on power-line modems (plc.Modem, one per configured
// serial device), scenes, schedules and device events, kept in badger under
// the state directory and served as a local HTTP/JSON API on a unix socket
// (types and client in homeapi).
//
// A command's state is "pending" from the moment it goes to the modem until
// the device's ACK, then "on" or "off" with its level, or "error" with why
// (the device did not answer, refused, or the modem is missing). What a
// device reports by itself (a switch pressed by hand, a keypad button)
// updates its state, the members of a scene the button fires follow, and
// every change is published to the event stream's subscribers (each with a
// bounded queue). Schedules fire at a time of day or at sunrise or sunset
// with an offset, in the owner's time zone (time/tzdata is embedded: the
// image has no zoneinfo), correctly across DST changes, and only once the
// clock has been set.
package home

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // the image has no zoneinfo

	"oepc.dev/oepcos/packages/health"
	"oepc.dev/oepcos/packages/home/homeapi"
	"oepc.dev/oepcos/packages/role"
	"oepc.dev/oepcos/packages/store"
	"oepc.dev/oepcos/plc"
	"oepc.dev/oepcos/plc/insteon"
	"oepc.dev/oepcos/plc/serialport"
	"oepc.dev/oepcos/plc/x10"
)

// ModemConfig is one serial device with a modem on it.
type ModemConfig struct {
	Protocol plc.Protocol // plc.Insteon or plc.X10
	Path     string       // e.g. /dev/serial/by-id/usb-Insteon_...
	// Patterns: where else to look when Path is gone (serialport.Config);
	// nil: serialport.DefaultPatterns; empty: Path only.
	Patterns []string
}

func (m ModemConfig) String() string { return string(m.Protocol) + " modem on " + m.Path }

// Opened is a modem homed drives, and whether its serial device is
// plugged in now.
type Opened struct {
	Modem   plc.Modem
	Present func() bool
}

// OpenFunc opens a modem. The default opens the serial port with
// plc/serialport and starts the protocol's driver on it.
type OpenFunc func(ctx context.Context, mc ModemConfig, log *slog.Logger) (Opened, error)

// Config is homed's configuration.
type Config struct {
	// StateDir holds the badger database (StateDir/db); /perm/home/homed
	// on the box.
	StateDir string
	// Socket is the API's unix socket. Default StateDir/homed.sock.
	Socket string
	// HealthDir: where the health socket Name.sock goes; empty: none.
	HealthDir string
	// Name of the health socket; default "homed".
	Name string
	// Modems are the serial devices with a modem on them.
	Modems []ModemConfig
	// Open opens a modem; nil: DefaultOpen.
	Open OpenFunc
	// TimeZone is the owner's time zone until the settings name one.
	// Default UTC.
	TimeZone string
	// Clock; nil: the system clock.
	Clock  Clock
	Logger *slog.Logger
	// CommandTimeout bounds one device command. Default 10 s.
	CommandTimeout time.Duration
	// LinkTimeout bounds linking (or unlinking) one scene member into its
	// ALL-Link group: reading the device's database a record at a time,
	// the linking session, the write and its read-back. Default 2 min.
	LinkTimeout time.Duration
	// MaxInFlight bounds the commands waiting on the modems at once
	// (beyond: "busy" at once). Default 32.
	MaxInFlight int
	// MaxSubscribers bounds the event stream's subscribers. Default 64;
	// EventQueue is each one's queue. Default 64.
	MaxSubscribers, EventQueue int
	// MaxDevices, MaxScenes, MaxSchedules bound what the API accepts.
	// Defaults 512, 256, 256.
	MaxDevices, MaxScenes, MaxSchedules int
	// OpenRetry is the longest wait between tries to open a missing modem.
	// Default 30 s (the first wait is 1 s).
	OpenRetry time.Duration
}

func (c *Config) defaults() {
	if c.Socket == "" && c.StateDir != "" {
		c.Socket = filepath.Join(c.StateDir, "homed.sock")
	}
	if c.Name == "" {
		c.Name = "homed"
	}
	if c.Open == nil {
		c.Open = DefaultOpen
	}
	if c.TimeZone == "" {
		c.TimeZone = "UTC"
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&c.MaxInFlight, 32)
	def(&c.MaxSubscribers, 64)
	def(&c.EventQueue, 64)
	def(&c.MaxDevices, 512)
	def(&c.MaxScenes, 256)
	def(&c.MaxSchedules, 256)
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = 10 * time.Second
	}
	if c.OpenRetry <= 0 {
		c.OpenRetry = 30 * time.Second
	}
	if c.LinkTimeout <= 0 {
		c.LinkTimeout = 2 * time.Minute
	}
}

// Validate checks cfg; its errors are *role.ConfigError (exit 125).
func (c Config) Validate() error {
	bad := func(f string, a ...any) error { return &role.ConfigError{Err: fmt.Errorf(f, a...)} }
	if c.StateDir == "" || !filepath.IsAbs(c.StateDir) {
		return bad("state directory %q is not an absolute path", c.StateDir)
	}
	if c.Socket != "" && !filepath.IsAbs(c.Socket) {
		return bad("API socket %q is not an absolute path", c.Socket)
	}
	if c.TimeZone != "" {
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			return bad("time zone %q: %v (use an IANA name like Europe/Berlin)", c.TimeZone, err)
		}
	}
	seen := map[string]bool{}
	for _, m := range c.Modems {
		if m.Protocol != plc.Insteon && m.Protocol != plc.X10 {
			return bad("modem %q: protocol %q: use insteon or x10", m.Path, m.Protocol)
		}
		if m.Path == "" {
			return bad("%s modem: empty serial device path", m.Protocol)
		}
		if seen[m.Path] {
			return bad("serial device %s configured twice", m.Path)
		}
		seen[m.Path] = true
	}
	return nil
}

// DefaultOpen opens mc's serial port (plc/serialport, which finds it again
// after an unplug) and starts the Insteon or X10 driver on it.
func DefaultOpen(_ context.Context, mc ModemConfig, log *slog.Logger) (Opened, error) {
	sc := serialport.Config{Path: mc.Path, Patterns: mc.Patterns, Logger: log}
	switch mc.Protocol {
	case plc.Insteon:
		sc.Baud = insteon.Baud
	case plc.X10:
		sc.Baud = x10.BaudRate
	default:
		return Opened{}, fmt.Errorf("protocol %q: use insteon or x10", mc.Protocol)
	}
	p, err := serialport.Open(sc)
	if err != nil {
		return Opened{}, err
	}
	present := func() bool { return p.Path() != "" }
	if mc.Protocol == plc.Insteon {
		return Opened{Modem: insteon.New(p, insteon.Config{Logger: log}), Present: present}, nil
	}
	return Opened{Modem: x10.New(p, x10.Config{Logger: log}), Present: present}, nil
}

// Store keys, all under "home/".
const (
	keyDevice   = "home/dev/"
	keyScene    = "home/scene/"
	keySchedule = "home/sched/"
	keySettings = "home/settings"
)

// Home is a running homed.
type Home struct {
	cfg   Config
	log   *slog.Logger
	kv    store.KV
	hub   *hub
	clock Clock

	mu        sync.Mutex
	devices   map[string]*homeapi.Device
	scenes    map[string]homeapi.Scene
	schedules map[string]*schedEntry
	settings  homeapi.Settings
	loc       *time.Location

	modems   []*modemSlot
	inflight chan struct{}
	// The linker's queue of scenes whose links need work (links.go), the
	// scenes queued, and a generation per scene bumped on every change.
	linkq      chan string
	linkQueued map[string]bool
	linkGen    map[string]uint64
	// ctx is Run's: what a keypad trigger fires a scene's group under.
	ctx     context.Context
	kick    chan struct{}
	started time.Time
}

type schedEntry struct {
	homeapi.Schedule
	w when
}

// Run runs homed until ctx ends. A state directory or database that
// cannot be used leaves it up, reporting "error" on its health socket
// (a restart would not help); a bad cfg is a *role.ConfigError.
func Run(ctx context.Context, cfg Config) error {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger.With("role", cfg.Name)
	if err := os.MkdirAll(cfg.StateDir, 0o700); err == nil {
		db, err := store.Open(filepath.Join(cfg.StateDir, "db"), store.Options{Logger: log})
		if err == nil {
			defer db.Close()
			return run(ctx, cfg, log, db)
		}
		return broken(ctx, cfg, log, fmt.Errorf("opening the database in %s: %w", cfg.StateDir, err))
	} else {
		return broken(ctx, cfg, log, fmt.Errorf("state directory %s: %w", cfg.StateDir, err))
	}
}

func broken(ctx context.Context, cfg Config, log *slog.Logger, err error) error {
	log.Error("homed cannot keep state; staying up and reporting the error", "err", err)
	if cfg.HealthDir == "" {
		<-ctx.Done()
		return nil
	}
	since := time.Now()
	return health.Serve(ctx, health.SocketPath(cfg.HealthDir, cfg.Name), func() health.Report {
		return health.Self(cfg.Name, health.Error, err.Error(), since)
	})
}

func run(ctx context.Context, cfg Config, log *slog.Logger, kv store.KV) error {
	h := &Home{cfg: cfg, log: log, kv: kv, hub: newHub(cfg.MaxSubscribers, cfg.EventQueue), clock: cfg.Clock,
		devices: map[string]*homeapi.Device{}, scenes: map[string]homeapi.Scene{}, schedules: map[string]*schedEntry{},
		inflight: make(chan struct{}, cfg.MaxInFlight), kick: make(chan struct{}, 1), started: time.Now(),
		linkq: make(chan string, cfg.MaxScenes+1), linkQueued: map[string]bool{}, linkGen: map[string]uint64{}}
	if err := h.load(); err != nil {
		return broken(ctx, cfg, log, err)
	}
	for _, mc := range cfg.Modems {
		h.modems = append(h.modems, &modemSlot{cfg: mc})
	}

	if err := os.MkdirAll(filepath.Dir(cfg.Socket), 0o755); err != nil {
		return fmt.Errorf("API socket directory: %w", err)
	}
	if err := os.Remove(cfg.Socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the old API socket: %w", err)
	}
	ln, err := net.Listen("unix", cfg.Socket)
	if err != nil {
		return fmt.Errorf("API socket: %w", err)
	}
	if err := os.Chmod(cfg.Socket, 0o660); err != nil {
		ln.Close()
		return fmt.Errorf("API socket: %w", err)
	}
	srv := &http.Server{Handler: h.Handler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}

	log.Info("homed started", "socket", cfg.Socket, "modems", len(cfg.Modems), "devices", len(h.devices),
		"scenes", len(h.scenes), "schedules", len(h.schedules))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h.ctx = ctx
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	for _, s := range h.modems {
		wg.Add(1)
		go func() { defer wg.Done(); h.runModem(ctx, s) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); h.runScheduler(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); h.runLinker(ctx) }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("API: %w", err)
		}
	}()
	if cfg.HealthDir != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := health.Serve(ctx, health.SocketPath(cfg.HealthDir, cfg.Name), h.health); err != nil {
				errc <- fmt.Errorf("health: %w", err)
			}
		}()
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	cancel()
	h.hub.close()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	wg.Wait()
	os.Remove(cfg.Socket)
	log.Info("homed stopped")
	return runErr
}

// health is the report on homed's health socket.
func (h *Home) health() health.Report {
	status, detail := health.OK, ""
	var problems []string
	present := 0
	for _, m := range h.modemList() {
		if !m.Present {
			problems = append(problems, fmt.Sprintf("%s modem missing at %s: %s", m.Protocol, m.Port, m.Error))
		} else {
			present++
		}
	}
	switch {
	case len(h.modems) == 0:
		status, detail = health.Degraded, "no modem configured (--modem insteon:/dev/ttyUSB0)"
	case len(problems) > 0:
		status, detail = health.Degraded, strings.Join(problems, "; ")
	default:
		detail = fmt.Sprintf("%d modem(s), %d device(s)", present, h.deviceCount())
	}
	return health.Self(h.cfg.Name, status, detail, h.started)
}

func (h *Home) deviceCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.devices)
}

// load reads devices, scenes, schedules and settings from the store.
func (h *Home) load() error {
	h.settings = homeapi.Settings{TimeZone: h.cfg.TimeZone}
	if err := store.GetJSON(h.kv, []byte(keySettings), &h.settings); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("reading the settings: %w", err)
	}
	loc, err := time.LoadLocation(h.settings.TimeZone)
	if err != nil {
		h.log.Warn("stored time zone unknown; using the configured one", "time_zone", h.settings.TimeZone, "err", err)
		h.settings.TimeZone = h.cfg.TimeZone
		loc, _ = time.LoadLocation(h.cfg.TimeZone)
	}
	h.loc = loc
	scan := func(prefix string, fn func(v []byte) error) error {
		return h.kv.Scan([]byte(prefix), func(k, v []byte) error {
			if err := fn(v); err != nil {
				h.log.Error("skipping an unreadable record", "key", string(k), "err", err)
			}
			return nil
		})
	}
	err = scan(keyDevice, func(v []byte) error {
		var d homeapi.Device
		if err := store.GetJSONBytes(v, &d); err != nil {
			return err
		}
		if d.State.State == homeapi.StatePending || d.State.State == "" {
			d.State.State = homeapi.StateUnknown
		}
		h.devices[d.Name] = &d
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the devices: %w", err)
	}
	err = scan(keyScene, func(v []byte) error {
		var s homeapi.Scene
		if err := store.GetJSONBytes(v, &s); err != nil {
			return err
		}
		resumeLinks(&s)
		h.scenes[s.Name] = s
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the scenes: %w", err)
	}
	err = scan(keySchedule, func(v []byte) error {
		var s homeapi.Schedule
		if err := store.GetJSONBytes(v, &s); err != nil {
			return err
		}
		w, err := parseWhen(s)
		if err != nil {
			return err
		}
		s.Next = time.Time{}
		h.schedules[s.Name] = &schedEntry{Schedule: s, w: w}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the schedules: %w", err)
	}
	return nil
}
