// Package hdmid is the box's HDMI status screen: it watches the DRM
// connectors for a display (reading /sys/class/drm/*/status and edid, and
// woken by the kernel's hotplug uevents), picks the display's mode from its
// EDID (hdmi/mode) and says why in one log line, asks oepcd's local API for
// the box's state (its network, storage, the home's devices through homed's
// proxy, whose event stream it follows, and the light node's verified
// height), and draws the status screen (hdmi/screen) to the
// framebuffer (hdmi/fb) or to a PNG file, again only when something shown
// has changed.
//
// Its health is ok while it shows the screen on a connected display,
// degraded (saying so) while no display is connected, and error when a
// display is connected but the framebuffer cannot be drawn on.
//
// A framebuffer without any DRM connector in sysfs (efifb or vesafb: the
// firmware's framebuffer, as the amd64 kernel has it) tells nothing about
// displays or hotplug: hdmid then draws on it whenever it opens, and says
// in its health that it cannot know whether a display is there.
//
// hdmid does not program the display mode itself: on the box the kernel's
// DRM driver lights the display and offers a framebuffer at the mode it
// chose (normally the preferred one too). hdmid draws at the framebuffer's
// size and logs when its own choice differs, with the kernel command line
// option that sets it (video=).
package hdmid

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"oepc.dev/oepcos/hdmi/edid"
	"oepc.dev/oepcos/hdmi/fb"
	"oepc.dev/oepcos/hdmi/mode"
	"oepc.dev/oepcos/hdmi/screen"
	"oepc.dev/oepcos/packages/atomicfile"
	"oepc.dev/oepcos/packages/health"
	"oepc.dev/oepcos/packages/role"
)

// Name is the program's name (its health socket is hdmid.sock).
const Name = "hdmid"

// ProblemNoOepcd is the footer while oepcd's API does not answer.
const ProblemNoOepcd = "Cannot reach oepcd; the box may still be starting"

// Config is one hdmid.
type Config struct {
	// Name is the box's name shown until oepcd tells its own (the host
	// name).
	Name string
	// StateDir is hdmid's state directory (/perm/home/hdmid); created when
	// missing. Empty: none.
	StateDir string
	// HealthDir holds the health sockets; empty: no health socket.
	HealthDir string
	// Sysfs is the directory of DRM connectors (DefaultSysfs).
	Sysfs string
	// Framebuffer is the framebuffer device (/dev/fb0); empty: none.
	Framebuffer string
	// FramebufferInfo, if set, makes Framebuffer a plain file of this
	// format instead of a device (tests, the devnet).
	FramebufferInfo *fb.Info
	// Console, if set, is the virtual terminal (/dev/tty0) switched to
	// graphics mode while hdmid draws on a framebuffer device, so the
	// kernel's console does not draw over the screen.
	Console string
	// PNG, if set, is a file the screen is also written to (atomically),
	// at the chosen mode's size, or PNGSize without one.
	PNG     string
	PNGSize image.Point
	// Source tells the box's state (normally an *APISource).
	Source Source
	// Mode is what the box's output can drive (mode.Default when zero).
	Mode mode.Config
	// Uevents: listen for the kernel's hotplug uevents (on the box). The
	// connectors are polled too, every PollSysfs (default 30 s with
	// uevents, 2 s without, or when the uevent socket cannot be opened).
	Uevents   bool
	PollSysfs time.Duration
	// PollStatus is how often the Source is asked (default 5 s).
	PollStatus time.Duration
	// OnRender, if set, is called after each picture is drawn and shown
	// (tests count redraws with it).
	OnRender func(screen.Status, image.Image)
	Logger   *slog.Logger
}

func (cfg *Config) validate() error {
	if cfg.Source == nil {
		return &role.ConfigError{Err: errors.New("hdmid: no status source")}
	}
	if cfg.Framebuffer == "" && cfg.PNG == "" {
		return &role.ConfigError{Err: errors.New("hdmid: neither a framebuffer nor a PNG file to draw to")}
	}
	if cfg.StateDir != "" && !filepath.IsAbs(cfg.StateDir) {
		return &role.ConfigError{Err: fmt.Errorf("hdmid: state directory %q is not absolute", cfg.StateDir)}
	}
	if cfg.PNGSize == (image.Point{}) {
		cfg.PNGSize = image.Pt(1920, 1080)
	}
	if cfg.PNGSize.X <= 0 || cfg.PNGSize.Y <= 0 || cfg.PNGSize.X > 8192 || cfg.PNGSize.Y > 8192 {
		return &role.ConfigError{Err: fmt.Errorf("hdmid: PNG size %v out of range", cfg.PNGSize)}
	}
	if cfg.Sysfs == "" {
		cfg.Sysfs = DefaultSysfs
	}
	if cfg.Mode == (mode.Config{}) {
		cfg.Mode = mode.Default
	}
	if cfg.PollStatus <= 0 {
		cfg.PollStatus = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return nil
}

// Run shows the status screen until ctx ends. It returns a
// *role.ConfigError for a configuration no restart can fix; a missing
// display or framebuffer is not an error (health says so, and it waits).
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	d := &daemon{cfg: cfg, log: cfg.Logger, since: time.Now()}
	r, err := screen.NewRenderer()
	if err != nil {
		return err
	}
	d.r = r
	d.setHealth(health.Degraded, "starting")
	if cfg.StateDir != "" {
		if err := prepareStateDir(cfg.StateDir); err != nil {
			// Nothing hdmid keeps is vital: say so and go on.
			d.log.Warn("state directory unusable", "dir", cfg.StateDir, "err", err)
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	if cfg.HealthDir != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := health.Serve(ctx, health.SocketPath(cfg.HealthDir, Name), d.report); err != nil {
				d.log.Warn("health socket unavailable", "err", err)
			}
		}()
	}

	kick := make(chan struct{}, 1)
	pollSys := cfg.PollSysfs
	if cfg.Uevents {
		s, err := openUevents()
		if err != nil {
			d.log.Warn("no hotplug uevents; polling the connectors", "err", err, "every", "2s")
			if pollSys <= 0 {
				pollSys = 2 * time.Second
			}
		} else {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer s.close()
				if err := s.run(ctx, kick); err != nil {
					d.log.Warn("hotplug uevents stopped; polling the connectors", "err", err)
				}
			}()
		}
	}
	if pollSys <= 0 {
		if cfg.Uevents {
			pollSys = 30 * time.Second
		} else {
			pollSys = 2 * time.Second
		}
	}
	d.log.Info("hdmid started", "sysfs", cfg.Sysfs, "framebuffer", cfg.Framebuffer, "png", cfg.PNG,
		"uevents", cfg.Uevents, "poll_sysfs", pollSys, "poll_status", cfg.PollStatus)

	// A Source that can tell of changes (homed's events) is followed too,
	// so a lamp switched by hand reaches the screen before the next poll.
	poke := make(chan struct{}, 1)
	if w, ok := cfg.Source.(Watcher); ok {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.watch(ctx, w, poke)
		}()
	}

	sysT := time.NewTicker(pollSys)
	defer sysT.Stop()
	stT := time.NewTicker(cfg.PollStatus)
	defer stT.Stop()
	d.scan(ctx)
	d.poll(ctx)
	d.redraw()
	for {
		select {
		case <-ctx.Done():
			d.closeOutput()
			d.log.Info("hdmid stopped", "renders", d.renders)
			return nil
		case <-kick:
			d.scan(ctx)
		case <-sysT.C:
			d.scan(ctx)
		case <-stT.C:
			d.poll(ctx)
		case <-poke:
			d.poll(ctx)
		}
		d.redraw()
	}
}

type daemon struct {
	cfg Config
	log *slog.Logger
	r   *screen.Renderer

	// The display.
	conn      Connector
	connected bool
	// blind: sysfs lists no DRM connector at all (a firmware framebuffer
	// such as efifb): whether a display is there cannot be known.
	blind   bool
	connKey string
	scanErr string
	choice  *mode.Choice
	display string // what the footer says about it

	// The output.
	fb     *fb.FB
	fbErr  string
	tty    *fb.Console
	outGen int // bumped when the output is (re)opened: redraw then

	// The box's state.
	status screen.Status
	srcErr string

	// What is on the screen.
	drawn     screen.Status
	drawnSize image.Point
	drawnGen  int
	haveDrawn bool
	renders   int
	pngErr    string

	mu     sync.Mutex
	hs     health.Status
	detail string
	since  time.Time
}

func (d *daemon) setHealth(s health.Status, detail string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s != d.hs || detail != d.detail {
		if d.hs != "" {
			d.log.Info("health", "status", s, "detail", detail)
		}
		if s != d.hs {
			d.since = time.Now()
		}
		d.hs, d.detail = s, detail
	}
}

func (d *daemon) report() health.Report {
	d.mu.Lock()
	defer d.mu.Unlock()
	return health.Report{Name: Name, Status: d.hs, Detail: d.detail, Since: d.since}
}

// scan reads the connectors and handles a display that came or went.
func (d *daemon) scan(ctx context.Context) {
	cs, err := ScanConnectors(d.cfg.Sysfs)
	if err != nil {
		if e := err.Error(); e != d.scanErr {
			d.log.Warn("cannot read the display connectors", "dir", d.cfg.Sysfs, "err", err)
			d.scanErr = e
		}
		return
	}
	d.scanErr = ""
	if blind := len(cs) == 0; blind != d.blind {
		d.blind = blind
		if blind {
			d.log.Info("no DRM connectors; drawing on the framebuffer whether or not a display is there", "dir", d.cfg.Sysfs)
		}
	}
	c, ok := pick(cs)
	if k := c.key(); k != d.connKey || ok != d.connected {
		d.connKey, d.conn, d.connected = k, c, ok
		d.choice = nil
		if !ok {
			d.display = ""
			d.log.Info("no display connected", "connectors", len(cs), "dir", d.cfg.Sysfs)
		} else {
			d.display = shortName(c.Name)
			d.chooseMode(ctx, c)
		}
	}
	if (d.connected || d.blind) && d.fb == nil && d.cfg.Framebuffer != "" {
		d.openFB()
	}
}

// chooseMode picks the display's mode from its EDID and logs it.
func (d *daemon) chooseMode(ctx context.Context, c Connector) {
	log := d.log.With("connector", c.Name)
	if len(c.EDID) == 0 {
		log.Info("display connected without an EDID; drawing at the framebuffer's size")
		return
	}
	e, err := edid.Parse(c.EDID)
	if e == nil {
		log.Warn("display connected, its EDID is unusable; drawing at the framebuffer's size", "err", err)
		return
	}
	if err != nil {
		log.Warn("display's EDID is partly broken; using its base block", "err", err)
	}
	for _, w := range e.Warnings {
		log.Warn("EDID", "warning", w)
	}
	ch, err := mode.Choose(e, d.cfg.Mode)
	if err != nil {
		log.Warn("no mode of the display fits the box; drawing at the framebuffer's size", "err", err,
			"display", e.Name, "manufacturer", e.Manufacturer)
		return
	}
	d.choice = &ch
	ch.Log(ctx, log.With("display", e.Name, "manufacturer", e.Manufacturer))
	d.display = fmt.Sprintf("%s • %d×%d at %.0f Hz", shortName(c.Name), ch.Mode.W, ch.Mode.H, ch.Mode.Hz)
	if e.Name != "" {
		d.display = e.Name + " on " + d.display
	}
	if d.fb != nil {
		d.checkFBMode()
	}
}

// checkFBMode logs when the kernel's framebuffer is not at the chosen mode.
func (d *daemon) checkFBMode() {
	if d.choice == nil || d.fb == nil {
		return
	}
	in := d.fb.Info()
	if in.Width != d.choice.Mode.W || in.Height != d.choice.Mode.H {
		d.log.Info("the framebuffer is not at the chosen mode; drawing at the framebuffer's size",
			"framebuffer", fmt.Sprintf("%d×%d", in.Width, in.Height),
			"chosen", fmt.Sprintf("%d×%d@%.0f", d.choice.Mode.W, d.choice.Mode.H, d.choice.Mode.Hz),
			"hint", fmt.Sprintf("video=%s:%dx%d@%.0f on the kernel command line sets it", kernelConnector(d.conn.Name), d.choice.Mode.W, d.choice.Mode.H, d.choice.Mode.Hz))
	}
}

func (d *daemon) openFB() {
	var f *fb.FB
	var err error
	if d.cfg.FramebufferInfo != nil {
		f, err = fb.OpenFile(d.cfg.Framebuffer, *d.cfg.FramebufferInfo)
	} else {
		f, err = fb.Open(d.cfg.Framebuffer)
	}
	if err != nil {
		if e := err.Error(); e != d.fbErr {
			d.log.Warn("cannot open the framebuffer; retrying", "path", d.cfg.Framebuffer, "err", err)
			d.fbErr = e
		}
		return
	}
	d.fb, d.fbErr = f, ""
	d.outGen++
	if d.cfg.Console != "" && d.tty == nil {
		if c, err := fb.GraphicsMode(d.cfg.Console); err != nil {
			d.log.Warn("console stays in text mode; its cursor may draw over the screen", "err", err)
		} else {
			d.tty = c
		}
	}
	d.log.Info("framebuffer open", "path", d.cfg.Framebuffer, "format", f.Info().String(), "driver", f.Info().ID)
	d.checkFBMode()
}

func (d *daemon) closeOutput() {
	if d.fb != nil {
		d.fb.Close()
		d.fb = nil
	}
	if d.tty != nil {
		d.tty.Close()
		d.tty = nil
	}
}

// watch follows w until ctx ends, poking the main loop at each change; a
// broken stream is opened again with backoff (2 s to 1 min), and the
// polls go on meanwhile.
func (d *daemon) watch(ctx context.Context, w Watcher, poke chan<- struct{}) {
	backoff := 2 * time.Second
	lastErr := ""
	for {
		t0 := time.Now()
		err := w.Watch(ctx, func() {
			select {
			case poke <- struct{}{}:
			default:
			}
		})
		if ctx.Err() != nil {
			return
		}
		if time.Since(t0) > time.Minute {
			backoff = 2 * time.Second
		}
		if e := fmt.Sprint(err); e != lastErr {
			d.log.Info("home events unavailable; polling meanwhile", "err", err, "retry", backoff)
			lastErr = e
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Minute)
	}
}

// poll asks the source for the box's state.
func (d *daemon) poll(ctx context.Context) {
	st, err := d.cfg.Source.Status(ctx)
	if st.Name == "" {
		st.Name = d.status.Name // a box keeps its name while oepcd is away
	}
	d.status = st
	e := ""
	if err != nil {
		e = err.Error()
	}
	if e != d.srcErr {
		if err != nil {
			d.log.Warn("box status unavailable; the screen says so", "err", err)
		} else if d.srcErr != "" {
			d.log.Info("box status available again")
		}
		d.srcErr = e
	}
}

// want is the picture that should be on the screen now.
func (d *daemon) want() screen.Status {
	st := d.status
	if st.Name == "" {
		st.Name = d.cfg.Name
	}
	st.Display = d.display
	switch {
	case d.blind && d.fb != nil:
		st.Display = d.fb.Info().ID + " framebuffer"
	case !d.connected:
		st.Display = "none connected"
	}
	if d.srcErr != "" {
		st.Problem = ProblemNoOepcd
	}
	return st
}

// redraw draws and shows the screen if anything it shows changed, and
// updates the health report.
func (d *daemon) redraw() {
	st := d.want()
	var size image.Point
	switch {
	case d.fb != nil:
		size = image.Pt(d.fb.Info().Width, d.fb.Info().Height)
	case d.choice != nil:
		size = image.Pt(d.choice.Mode.W, d.choice.Mode.H)
	default:
		size = d.cfg.PNGSize
	}
	drawFB := d.fb != nil && (d.connected || d.blind)
	drawPNG := d.cfg.PNG != ""
	if (drawFB || drawPNG) && !(d.haveDrawn && st.Equal(d.drawn) && size == d.drawnSize && d.outGen == d.drawnGen) {
		img := d.r.Render(size.X, size.Y, st)
		ok := true
		if drawFB {
			if err := d.fb.Show(img); err != nil {
				d.log.Warn("cannot draw on the framebuffer; reopening it", "err", err)
				d.fbErr = err.Error()
				d.closeOutput()
				ok = false
			}
		}
		if drawPNG {
			if err := writePNG(d.cfg.PNG, img); err != nil {
				if e := err.Error(); e != d.pngErr {
					d.log.Warn("cannot write the screen's PNG", "path", d.cfg.PNG, "err", err)
					d.pngErr = e
				}
				ok = false
			} else {
				d.pngErr = ""
			}
		}
		if ok {
			d.drawn, d.drawnSize, d.drawnGen, d.haveDrawn = st, size, d.outGen, true
			d.renders++
			d.log.Debug("screen drawn", "size", size, "renders", d.renders)
			if d.cfg.OnRender != nil {
				d.cfg.OnRender(st, img)
			}
		}
	}
	d.updateHealth()
}

func (d *daemon) updateHealth() {
	switch {
	case d.scanErr != "":
		d.setHealth(health.Error, "cannot read the display connectors in "+d.cfg.Sysfs+": "+d.scanErr)
	case d.blind && d.fb != nil:
		d.setHealth(health.OK, fmt.Sprintf("showing the status screen on the %s framebuffer %s at %d×%d; "+
			"no DRM connectors in %s, so whether a display is plugged in cannot be known",
			d.fb.Info().ID, d.cfg.Framebuffer, d.drawnSize.X, d.drawnSize.Y, d.cfg.Sysfs))
	case d.blind && d.cfg.Framebuffer != "":
		d.setHealth(health.Degraded, fmt.Sprintf("no display found: no DRM connectors in %s, and the framebuffer %s cannot be opened: %s",
			d.cfg.Sysfs, d.cfg.Framebuffer, d.fbErr))
	case !d.connected:
		d.setHealth(health.Degraded, "no display connected: no connector in "+d.cfg.Sysfs+
			" reports \"connected\"; plug a TV or monitor into the box's HDMI port")
	case d.cfg.Framebuffer != "" && d.fb == nil:
		d.setHealth(health.Error, fmt.Sprintf("display %s connected, but the framebuffer %s cannot be drawn on: %s",
			d.conn.Name, d.cfg.Framebuffer, d.fbErr))
	case d.pngErr != "":
		d.setHealth(health.Error, "cannot write the screen to "+d.cfg.PNG+": "+d.pngErr)
	default:
		det := fmt.Sprintf("showing the status screen on %s at %d×%d", d.conn.Name, d.drawnSize.X, d.drawnSize.Y)
		if d.choice != nil {
			det += "; " + d.choice.Reason
		}
		if d.srcErr != "" {
			det += "; box status unavailable: " + d.srcErr
		}
		d.setHealth(health.OK, det)
	}
}

func writePNG(path string, img image.Image) error {
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&b, img); err != nil {
		return err
	}
	return atomicfile.Write(path, b.Bytes(), 0o644)
}

// shortName is the connector without its card: card0-HDMI-A-1 → HDMI-A-1.
func shortName(c string) string {
	for i := 0; i < len(c); i++ {
		if c[i] == '-' {
			return c[i+1:]
		}
	}
	return c
}

func kernelConnector(c string) string { return shortName(c) }

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
