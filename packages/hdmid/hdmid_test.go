package hdmid

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"oepc.dev/oepcos/hdmi/edid/edidtest"
	"oepc.dev/oepcos/hdmi/fb"
	"oepc.dev/oepcos/hdmi/screen"
	"oepc.dev/oepcos/hdmi/screen/screentest"
	"oepc.dev/oepcos/packages/hdmid/hdmidtest"
	"oepc.dev/oepcos/packages/health"
	"oepc.dev/oepcos/packages/role"
)

// shortTemp is a temp dir with a short path (health sockets must stay
// under the unix socket path limit).
func shortTemp(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "hd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// fakeSource is a Source whose answer the test sets.
type fakeSource struct {
	mu    sync.Mutex
	st    screen.Status
	err   error
	calls int
}

func (f *fakeSource) Status(ctx context.Context) (screen.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.st, f.err
}

func (f *fakeSource) set(fn func(*screen.Status)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.st)
}

func (f *fakeSource) nCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

type rendered struct {
	st  screen.Status
	img *image.RGBA
}

type harness struct {
	t       *testing.T
	dir     string
	sys     *hdmidtest.Sysfs
	src     *fakeSource
	renders chan rendered
	cfg     Config
	cancel  context.CancelFunc
	done    chan error
}

func newHarness(t *testing.T, mod func(*Config)) *harness {
	dir := shortTemp(t)
	sys, err := hdmidtest.NewSysfs(filepath.Join(dir, "drm"), "card0-DP-1", "card0-HDMI-A-1")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dir: dir, sys: sys, src: &fakeSource{st: screentest.Full()}, renders: make(chan rendered, 64)}
	// A small framebuffer and no PNG by default: under the race detector
	// image/png takes seconds for one 1080p picture.
	info := fb.XRGB8888(960, 540)
	h.cfg = Config{
		Name: "fallback-name", StateDir: filepath.Join(dir, "state"), HealthDir: filepath.Join(dir, "h"),
		Sysfs: sys.Dir, Framebuffer: filepath.Join(dir, "fb0"), FramebufferInfo: &info,
		Source:    h.src,
		PollSysfs: 20 * time.Millisecond, PollStatus: 20 * time.Millisecond,
		OnRender: func(st screen.Status, img image.Image) { h.renders <- rendered{st, img.(*image.RGBA)} },
		Logger:   slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	}
	if mod != nil {
		mod(&h.cfg)
	}
	return h
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- Run(ctx, h.cfg) }()
	h.t.Cleanup(h.stop)
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		h.t.Error("Run did not return after cancel")
	}
}

// next waits for the next redraw.
func (h *harness) next(what string) rendered {
	h.t.Helper()
	select {
	case r := <-h.renders:
		return r
	case <-time.After(30 * time.Second):
		h.t.Fatalf("no redraw after %s", what)
		return rendered{}
	}
}

// none checks that nothing is redrawn for d.
func (h *harness) none(d time.Duration) {
	h.t.Helper()
	select {
	case r := <-h.renders:
		h.t.Fatalf("redrawn although nothing changed: %+v", r.st)
	case <-time.After(d):
	}
}

func (h *harness) waitHealth(want health.Status, detail string) health.Report {
	h.t.Helper()
	sock := health.SocketPath(h.cfg.HealthDir, Name)
	deadline := time.Now().Add(30 * time.Second)
	var last health.Report
	var lastErr error
	for time.Now().Before(deadline) {
		last, lastErr = health.Query(context.Background(), sock)
		if lastErr == nil && last.Status == want && strings.Contains(last.Detail, detail) {
			return last
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.t.Fatalf("health never became %s %q: last %+v, %v", want, detail, last, lastErr)
	return last
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func corpus(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(edidtest.CorpusDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// The whole life of a display: none (degraded, nothing drawn), plugged in
// (health ok, the screen on the framebuffer), idle (no redraw), the box's
// state changing (one redraw), oepcd unreachable and back, unplugged
// (degraded), another TV (redrawn).
func TestHotplug(t *testing.T) {
	for _, uevents := range []bool{false, true} {
		t.Run(map[bool]string{false: "poll", true: "uevents"}[uevents], func(t *testing.T) {
			testHotplug(t, uevents)
		})
	}
}

func testHotplug(t *testing.T, uevents bool) {
	h := newHarness(t, func(c *Config) { c.Uevents = uevents })
	h.start()

	// No display: degraded, and nothing drawn.
	h.waitHealth(health.Degraded, "no display connected")
	h.none(100 * time.Millisecond)
	if fi, err := os.Stat(h.cfg.Framebuffer); err == nil && fi.Size() > 0 {
		t.Errorf("framebuffer written with no display connected")
	}

	// A 1080p TV on HDMI.
	if err := h.sys.Connect("card0-HDMI-A-1", corpus(t, "tv_samsung_1080p_2013.bin")); err != nil {
		t.Fatal(err)
	}
	rep := h.waitHealth(health.OK, "showing the status screen on card0-HDMI-A-1 at 960×540")
	if !strings.Contains(rep.Detail, "preferred mode") {
		t.Errorf("health does not give the mode's reason: %q", rep.Detail)
	}
	r := h.next("connect")
	if !strings.Contains(r.st.Display, "SAMSUNG on HDMI-A-1 • 1920×1080 at 60 Hz") || r.st.Name != "oepc-living-room" {
		t.Errorf("first picture: %+v", r.st)
	}
	// The framebuffer holds exactly that picture in its format.
	want, err := fb.Encode(nil, *h.cfg.FramebufferInfo, r.img)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(h.cfg.Framebuffer)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("framebuffer holds %d bytes (%v), not the picture drawn", len(got), err)
	}
	if screentest.Ink(r.img, r.img.Bounds()) < 1000 {
		t.Fatal("the picture drawn is empty")
	}

	// Nothing changes: no redraw over 20 polls of both sysfs and the
	// source, though the source is asked.
	before := h.src.nCalls()
	h.none(400 * time.Millisecond)
	if n := h.src.nCalls() - before; n < 5 {
		t.Errorf("the source was asked %d times in 400 ms, want polling every 20 ms", n)
	}

	// The box's state changes: one redraw with it.
	h.src.set(func(s *screen.Status) { s.Storage.Used += 1_000_000_000 })
	r = h.next("storage change")
	if r.st.Storage.Used != screentest.Full().Storage.Used+1_000_000_000 {
		t.Errorf("redraw has storage %d", r.st.Storage.Used)
	}
	h.none(100 * time.Millisecond)

	// oepcd goes away: the screen says so, health stays ok but tells.
	h.src.mu.Lock()
	h.src.err = errors.New("oepcd status: cannot reach the box")
	h.src.mu.Unlock()
	r = h.next("source error")
	if !strings.Contains(r.st.Problem, "Cannot reach oepcd") {
		t.Errorf("problem line %q", r.st.Problem)
	}
	h.waitHealth(health.OK, "box status unavailable: oepcd status: cannot reach the box")
	h.src.mu.Lock()
	h.src.err = nil
	h.src.mu.Unlock()
	r = h.next("source back")
	if r.st.Problem != "" {
		t.Errorf("problem line %q after the source came back", r.st.Problem)
	}

	// Unplugged: degraded; nothing is drawn for a dark screen.
	if err := h.sys.Disconnect("card0-HDMI-A-1"); err != nil {
		t.Fatal(err)
	}
	h.waitHealth(health.Degraded, "plug a TV or monitor")
	h.none(100 * time.Millisecond)

	// A 4K TV on DisplayPort: the mode chosen is 4K, the framebuffer
	// (as the kernel set it) is drawn at its own size.
	if err := h.sys.Connect("card0-DP-1", corpus(t, "tv_lg_4k60_2020.bin")); err != nil {
		t.Fatal(err)
	}
	h.waitHealth(health.OK, "card0-DP-1 at 960×540")
	r = h.next("4K connect")
	if !strings.Contains(r.st.Display, "3840×2160 at 60 Hz") || r.img.Bounds().Dx() != 960 {
		t.Errorf("4K TV: display %q, picture %v", r.st.Display, r.img.Bounds())
	}
	h.none(100 * time.Millisecond)
	h.stop()
}

// The devnet's PNG (no framebuffer): drawn at PNGSize without a display,
// at the chosen mode's size with one, and redrawn at each hotplug; the
// file always holds the last picture, whole.
func TestPNG(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Framebuffer, c.FramebufferInfo = "", nil
		c.PNG = filepath.Join(filepath.Dir(c.Sysfs), "screen.png")
		c.PNGSize = image.Pt(480, 270)
	})
	h.start()
	check := func(r rendered, size image.Point, display string) {
		t.Helper()
		if r.img.Bounds().Size() != size || !strings.Contains(r.st.Display, display) {
			t.Fatalf("picture %v %q, want %v %q", r.img.Bounds().Size(), r.st.Display, size, display)
		}
		p := readPNG(t, h.cfg.PNG)
		if p.Bounds() != r.img.Bounds() {
			t.Fatalf("PNG %v, picture %v", p.Bounds(), r.img.Bounds())
		}
		for _, pt := range []image.Point{{0, 0}, {size.X / 2, size.Y / 2}, {size.X * 3 / 4, size.Y / 2}, {size.X / 10, size.Y / 4}} {
			r1, g1, b1, _ := p.At(pt.X, pt.Y).RGBA()
			r2, g2, b2, _ := r.img.At(pt.X, pt.Y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 {
				t.Errorf("PNG differs from the picture at %v", pt)
			}
		}
	}
	check(h.next("start"), image.Pt(480, 270), "none connected")
	h.waitHealth(health.Degraded, "no display connected")

	if err := h.sys.Connect("card0-HDMI-A-1", corpus(t, "tv_vizio_720p_2008.bin")); err != nil {
		t.Fatal(err)
	}
	check(h.next("connect"), image.Pt(1280, 720), "1280×720")
	h.waitHealth(health.OK, "at 1280×720")
	h.none(200 * time.Millisecond)

	if err := h.sys.Disconnect("card0-HDMI-A-1"); err != nil {
		t.Fatal(err)
	}
	check(h.next("disconnect"), image.Pt(480, 270), "none connected")
	h.waitHealth(health.Degraded, "no display connected")
}

// A display without an EDID, or with a damaged one, still gets the
// screen, at the framebuffer's size.
func TestBadEDID(t *testing.T) {
	for _, e := range [][]byte{nil, corpus(t, "bad_header.bin"), []byte("junk")} {
		h := newHarness(t, nil)
		if err := h.sys.Connect("card0-HDMI-A-1", e); err != nil {
			t.Fatal(err)
		}
		h.start()
		h.waitHealth(health.OK, "card0-HDMI-A-1 at 960×540")
		r := h.next("start")
		if r.st.Display != "HDMI-A-1" {
			t.Errorf("display %q", r.st.Display)
		}
		h.stop()
	}
}

// A display connected but no framebuffer: error, saying which and why.
func TestNoFramebuffer(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.FramebufferInfo = nil
		c.PNG = ""
		c.Framebuffer = filepath.Join(c.Sysfs, "no-fb0")
	})
	if err := h.sys.Connect("card0-HDMI-A-1", nil); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.waitHealth(health.Error, "the framebuffer "+h.cfg.Framebuffer+" cannot be drawn on")
	h.none(100 * time.Millisecond)
}

func TestConfigErrors(t *testing.T) {
	var ce *role.ConfigError
	for _, cfg := range []Config{
		{},
		{Source: &fakeSource{}},
		{Source: &fakeSource{}, PNG: "x.png", StateDir: "relative"},
		{Source: &fakeSource{}, PNG: "x.png", PNGSize: image.Pt(-1, 5)},
	} {
		if err := Run(context.Background(), cfg); !errors.As(err, &ce) {
			t.Errorf("Run(%+v) = %v, want a ConfigError", cfg, err)
		}
	}
	var out bytes.Buffer
	for _, args := range [][]string{{"--png-size=big"}, {"extra"}, {"--api=127.0.0.1:7070"}, {"--log-level=loud"}, {"--fb=", "--png="}, {"--nope"}} {
		out.Reset()
		if rc := Main(args, &out); rc != role.ExitConfig {
			t.Errorf("Main(%q) = %d, want %d (%s)", args, rc, role.ExitConfig, out.String())
		}
	}
}

func TestScanConnectors(t *testing.T) {
	dir := t.TempDir()
	s, err := hdmidtest.NewSysfs(dir, "card0-HDMI-A-1", "card0-DP-1", "card1-Virtual-1")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := ScanConnectors(dir)
	if err != nil || len(cs) != 3 {
		t.Fatalf("ScanConnectors = %v, %v", cs, err)
	}
	if _, ok := pick(cs); ok {
		t.Error("a display picked with none connected")
	}
	s.Connect("card0-DP-1", []byte("dp"))
	s.Connect("card1-Virtual-1", nil)
	cs, _ = ScanConnectors(dir)
	if c, _ := pick(cs); c.Name != "card0-DP-1" || string(c.EDID) != "dp" {
		t.Errorf("picked %+v", c)
	}
	s.Connect("card0-HDMI-A-1", []byte("hdmi"))
	cs, _ = ScanConnectors(dir)
	if c, _ := pick(cs); c.Name != "card0-HDMI-A-1" {
		t.Errorf("HDMI not preferred: picked %+v", c)
	}
	if cs, err := ScanConnectors(filepath.Join(dir, "missing")); err != nil || len(cs) != 0 {
		t.Errorf("missing dir: %v, %v", cs, err)
	}
	// An EDID file larger than any EDID is an error, not a huge read.
	os.WriteFile(filepath.Join(dir, "card0-HDMI-A-1", "edid"), make([]byte, maxEDID+1), 0o644)
	if _, err := ScanConnectors(dir); err == nil {
		t.Error("oversized EDID accepted")
	}
}

func TestParseUevent(t *testing.T) {
	msg := "change@/devices/pci0000:00/0000:00:02.0/drm/card0\x00ACTION=change\x00DEVPATH=/devices/pci0000:00/0000:00:02.0/drm/card0\x00SUBSYSTEM=drm\x00HOTPLUG=1\x00DEVNAME=dri/card0\x00SEQNUM=2345\x00"
	ev, err := ParseUevent([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Action != "change" || ev.Env["HOTPLUG"] != "1" || !ev.DRMHotplug() || ev.Env["SEQNUM"] != "2345" {
		t.Errorf("parsed %+v", ev)
	}
	other, err := ParseUevent([]byte("add@/devices/virtual/net/lo\x00ACTION=add\x00SUBSYSTEM=net\x00"))
	if err != nil || other.DRMHotplug() {
		t.Errorf("net uevent: %+v, %v", other, err)
	}
	for _, bad := range []string{"", "\x00", "libudev\x00\xfe\xed", "change@\x00", "change@/x\x00NOEQUALS\x00", "@/x", strings.Repeat("a", maxUevent+1)} {
		if _, err := ParseUevent([]byte(bad)); err == nil {
			t.Errorf("ParseUevent(%q) accepted", bad)
		}
	}
}

func FuzzParseUevent(f *testing.F) {
	f.Add([]byte("change@/devices/pci0000:00/0000:00:02.0/drm/card0\x00ACTION=change\x00SUBSYSTEM=drm\x00HOTPLUG=1\x00"))
	f.Add([]byte("add@/devices/virtual/net/lo\x00ACTION=add\x00SUBSYSTEM=net\x00"))
	f.Add([]byte("libudev\x00\xfe\xed\xca\xfe"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseUevent(b)
		if err != nil {
			return
		}
		if ev.Action == "" || !strings.HasPrefix(ev.DevPath, "/") {
			t.Fatalf("accepted without action or path: %+v", ev)
		}
		for k := range ev.Env {
			if k == "" || strings.Contains(k, "=") {
				t.Fatalf("bad key %q", k)
			}
		}
	})
}

// A firmware framebuffer (efifb) without DRM connectors: drawn on, health
// ok but saying it cannot know about displays.
func TestNoConnectors(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Sysfs = filepath.Join(filepath.Dir(c.Sysfs), "empty")
		c.FramebufferInfo.ID = "EFI VGA"
	})
	h.start()
	h.waitHealth(health.OK, "no DRM connectors in "+h.cfg.Sysfs+", so whether a display is plugged in cannot be known")
	r := h.next("start")
	if r.st.Display != "EFI VGA framebuffer" {
		t.Errorf("display %q", r.st.Display)
	}
	if fi, err := os.Stat(h.cfg.Framebuffer); err != nil || fi.Size() != int64(h.cfg.FramebufferInfo.Size()) {
		t.Errorf("framebuffer not written: %v", err)
	}
	h.none(100 * time.Millisecond)
}
