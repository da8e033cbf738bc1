// Package screen draws the box's status screen, the picture hdmid puts on
// the TV: the box's name, its place on the OE network, its storage, the
// home's devices, the light node, and the pairing code with a QR code for
// the web UI.
//
// The layout is given in a 1920×1080 reference frame and scaled to any
// size, so the type is as large relative to the picture at 1280×720 as at
// 1920×1080 (the smallest value line is 56 px tall at 1080p, about 1/19 of
// the height: readable from a sofa three metres away). A picture of another
// shape (4:3, 16:10) gets the same layout at the scale that fits, centred.
//
// Render is pure: the same Status at the same size gives the same pixels,
// so a caller can compare Status values to decide whether to redraw.
package screen

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"slices"
	"strings"
	"sync"

	"github.com/skip2/go-qrcode"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/gomonobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// Status is everything the screen shows. Its zero value is a box that knows
// nothing yet. It is comparable with Equal.
type Status struct {
	// Name is the box's name (the host name unless the owner set one).
	Name string
	// Network is the box's place on the OE network.
	Network Network
	// Storage is the disk the box uses and rents to friends.
	Storage Storage
	// Home lists the home's devices.
	Home Home
	// Chain is the built-in light node.
	Chain Chain
	// PairingCode is the one-time code a phone or browser proves presence
	// with; empty: oepcd offers none (yet).
	PairingCode string
	// WebURL is the web UI's address, drawn as a QR code; empty: none known.
	WebURL string
	// Display describes the mode in use, e.g. "1920×1080 at 60 Hz".
	Display string
	// Problem, if set, is shown in the footer in amber: what is wrong and
	// what to do, e.g. "cannot reach oepcd: ...".
	Problem string
}

// Network is the box's place on the OE network.
type Network struct {
	// Known: the numbers below come from oepcd (false while it cannot be
	// reached).
	Known         bool
	Joined        bool
	Direct        int // open direct connections
	Relayed       int // open relayed connections
	Friends       int
	FriendsOnline int
}

// Storage is the disk the box uses and the part it keeps for others.
type Storage struct {
	Known bool
	// Used is the bytes of shards the box stores (its own and others').
	Used int64
	// Quota is how many bytes the box may use for shards; 0: unknown.
	Quota int64
	// Hosted is the bytes kept for other households.
	Hosted int64
	// HostedFor is how many other households' owners those belong to.
	HostedFor int
}

// Home is the home-automation hub's view.
type Home struct {
	// Enabled: homed answered (through oepcd) with its devices.
	Enabled bool
	Devices []Device
	// Reason, while not Enabled, says why there is no list, e.g. "homed
	// is not answering"; empty: not known yet (oepcd not reached).
	Reason string
}

// Device is one home device and its state as a household reads it, e.g.
// {"Hall lamp", "on"}, {"Porch", "40%"}.
type Device struct {
	Name  string
	State string
}

// Chain is the light node's state.
type Chain struct {
	// Enabled: the light node runs and has verified a header.
	Enabled bool
	// Height is the last height the light node verified.
	Height int64
	// Reason, while not Enabled, says why it is not running; empty: not
	// known yet (oepcd not reached).
	Reason string
}

// Equal reports whether a and b draw the same picture.
func (a Status) Equal(b Status) bool {
	return a.Name == b.Name && a.Network == b.Network && a.Storage == b.Storage &&
		a.Home.Enabled == b.Home.Enabled && a.Home.Reason == b.Home.Reason && slices.Equal(a.Home.Devices, b.Home.Devices) &&
		a.Chain == b.Chain && a.PairingCode == b.PairingCode && a.WebURL == b.WebURL &&
		a.Display == b.Display && a.Problem == b.Problem
}

// Ref is the reference frame the layout is given in.
var Ref = image.Rect(0, 0, 1920, 1080)

// Layout is where each part of the screen goes in a picture of one size.
type Layout struct {
	Bounds  image.Rectangle // the picture
	Frame   image.Rectangle // the scaled reference frame, centred in Bounds
	Scale   float64
	Name    image.Rectangle
	Network image.Rectangle
	Storage image.Rectangle
	Home    image.Rectangle
	Chain   image.Rectangle
	Pairing image.Rectangle // the label and the pairing code
	QR      image.Rectangle // the QR code, quiet zone included
	URL     image.Rectangle // the web UI address under the QR code
	Footer  image.Rectangle
}

// Regions names the parts of the layout that carry text or the QR code.
func (l Layout) Regions() map[string]image.Rectangle {
	return map[string]image.Rectangle{
		"name": l.Name, "network": l.Network, "storage": l.Storage, "home": l.Home,
		"chain": l.Chain, "pairing": l.Pairing, "qr": l.QR, "url": l.URL, "footer": l.Footer,
	}
}

// LayoutFor is the layout of a picture with bounds b.
func LayoutFor(b image.Rectangle) Layout {
	s := min(float64(b.Dx())/float64(Ref.Dx()), float64(b.Dy())/float64(Ref.Dy()))
	fw, fh := int(float64(Ref.Dx())*s), int(float64(Ref.Dy())*s)
	ox, oy := b.Min.X+(b.Dx()-fw)/2, b.Min.Y+(b.Dy()-fh)/2
	r := func(x0, y0, x1, y1 int) image.Rectangle {
		return image.Rect(ox+int(float64(x0)*s), oy+int(float64(y0)*s), ox+int(float64(x1)*s), oy+int(float64(y1)*s))
	}
	l := Layout{Bounds: b, Frame: image.Rect(ox, oy, ox+fw, oy+fh), Scale: s}
	l.Name = r(64, 40, 1856, 170)
	sec := func(i int) image.Rectangle { return r(64, 200+i*190, 1180, 200+i*190+180) }
	l.Network, l.Storage, l.Home, l.Chain = sec(0), sec(1), sec(2), sec(3)
	l.Pairing = r(1260, 200, 1856, 380)
	l.QR = r(1300, 400, 1816, 916)
	l.URL = r(1240, 920, 1876, 975)
	l.Footer = r(64, 990, 1856, 1060)
	return l
}

// Colours of the screen: light type on a dark blue, which a TV shows
// without glare and without burning in a bright frame.
var (
	Background = color.RGBA{0x0b, 0x1f, 0x33, 0xff}
	colText    = color.RGBA{0xff, 0xff, 0xff, 0xff}
	colDetail  = color.RGBA{0xc4, 0xd0, 0xdc, 0xff}
	colLabel   = color.RGBA{0x7f, 0xb8, 0xec, 0xff}
	colGood    = color.RGBA{0x5c, 0xd6, 0x8a, 0xff}
	colWarn    = color.RGBA{0xf5, 0xb9, 0x42, 0xff}
	colDim     = color.RGBA{0x8a, 0x9b, 0xad, 0xff}
)

// Type sizes in reference pixels.
const (
	sizeName   = 100
	sizeLabel  = 40
	sizeValue  = 64
	sizeDetail = 44
	sizeCode   = 112
	sizeURL    = 38
	sizeFooter = 36
)

// Renderer draws status screens. It keeps the parsed fonts and the faces
// of the sizes it has drawn; it is safe for concurrent use.
type Renderer struct {
	mu    sync.Mutex
	fonts map[string]*opentype.Font
	faces map[faceKey]font.Face
}

type faceKey struct {
	font string
	px   int
}

// NewRenderer parses the embedded Go fonts.
func NewRenderer() (*Renderer, error) {
	r := &Renderer{fonts: map[string]*opentype.Font{}, faces: map[faceKey]font.Face{}}
	for name, ttf := range map[string][]byte{"regular": goregular.TTF, "bold": gobold.TTF, "mono": gomonobold.TTF} {
		f, err := opentype.Parse(ttf)
		if err != nil {
			return nil, fmt.Errorf("screen: font %s: %w", name, err)
		}
		r.fonts[name] = f
	}
	return r, nil
}

func (r *Renderer) face(name string, px int) font.Face {
	px = max(px, 6)
	k := faceKey{name, px}
	if f, ok := r.faces[k]; ok {
		return f
	}
	f, err := opentype.NewFace(r.fonts[name], &opentype.FaceOptions{Size: float64(px), DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		// Only a bad size fails, and px is always positive.
		panic(fmt.Sprintf("screen: face %s %d: %v", name, px, err))
	}
	r.faces[k] = f
	return f
}

// Render draws st into a new picture of w×h pixels.
func (r *Renderer) Render(w, h int, st Status) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r.Draw(img, st)
	return img
}

// Draw draws st over the whole of dst.
func (r *Renderer) Draw(dst *image.RGBA, st Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := LayoutFor(dst.Bounds())
	draw.Draw(dst, dst.Bounds(), image.NewUniform(Background), image.Point{}, draw.Src)
	if l.Frame.Dx() < 16 || l.Frame.Dy() < 9 {
		return
	}
	px := func(ref int) int { return int(float64(ref)*l.Scale + 0.5) }

	name := st.Name
	if name == "" {
		name = "OEPC box"
	}
	r.text(dst, l.Name, "bold", px(sizeName), colText, name, 0.77)

	// Network.
	var netV, netD string
	var netC color.RGBA
	switch n := st.Network; {
	case !n.Known:
		netV, netD, netC = "Network state unknown", "waiting for oepcd", colWarn
	case n.Joined:
		netV, netC = "Joined the OE network", colGood
		netD = fmt.Sprintf("%d direct • %d relayed %s • %d of %d friends online",
			n.Direct, n.Relayed, noun(n.Relayed, "peer"), n.FriendsOnline, n.Friends)
	default:
		netV, netC = "Not joined yet", colWarn
		netD = fmt.Sprintf("looking for the OE network • %d direct • %d relayed %s", n.Direct, n.Relayed, noun(n.Relayed, "peer"))
	}
	r.section(dst, l, l.Network, "NETWORK", netV, netC, netD)

	// Storage.
	stV, stD, stC := "", "", colText
	if s := st.Storage; !s.Known {
		stV, stD, stC = "Storage unknown", "waiting for oepcd", colWarn
	} else {
		stV = Bytes(s.Used) + " used"
		if s.Quota > 0 {
			stV += " of " + Bytes(s.Quota)
		}
		stD = Bytes(s.Hosted) + " hosted for others"
		if s.HostedFor > 0 {
			stD += fmt.Sprintf(" (%s)", plural(s.HostedFor, "household"))
		}
	}
	r.section(dst, l, l.Storage, "STORAGE", stV, stC, stD)

	// Home.
	homeV, homeD, homeC := r.homeText(l, st.Home)
	r.section(dst, l, l.Home, "HOME", homeV, homeC, homeD)

	// Light node.
	chV, chD, chC := "Light node unknown", "waiting for oepcd", colWarn
	switch {
	case st.Chain.Enabled:
		chV, chD, chC = "Height "+group(st.Chain.Height), "verified by the box's light node", colText
	case st.Chain.Reason != "":
		chV, chD, chC = "Not running", st.Chain.Reason, colDim
	}
	r.section(dst, l, l.Chain, "LIGHT NODE", chV, chC, chD)

	// Pairing.
	pl := l.Pairing
	labelH := pl.Dy() * 30 / 100
	r.text(dst, image.Rect(pl.Min.X, pl.Min.Y, pl.Max.X, pl.Min.Y+labelH), "bold", px(sizeLabel), colLabel, "PAIRING CODE", 0.8)
	codeR := image.Rect(pl.Min.X, pl.Min.Y+labelH, pl.Max.X, pl.Max.Y)
	if st.PairingCode != "" {
		r.text(dst, codeR, "mono", px(sizeCode), colText, st.PairingCode, 0.8)
	} else {
		r.text(dst, codeR, "regular", px(sizeDetail), colDim, "none offered yet", 0.7)
	}
	if st.WebURL != "" {
		drawQR(dst, l.QR, st.WebURL)
		r.text(dst, l.URL, "regular", px(sizeURL), colDetail, st.WebURL, 0.8, centred)
	} else {
		r.text(dst, l.URL, "regular", px(sizeURL), colDim, "web UI address unknown", 0.8, centred)
	}

	// Footer.
	if st.Problem != "" {
		r.text(dst, l.Footer, "bold", px(sizeFooter), colWarn, st.Problem, 0.75)
	} else if st.Display != "" {
		r.text(dst, l.Footer, "regular", px(sizeFooter), colDim, "Display "+st.Display, 0.75)
	}
}

// HomeText is the value and detail lines the home section shows for h in
// a picture of size w×h: as many devices as fit on the two lines, then
// "+N more".
func (r *Renderer) HomeText(w, h int, home Home) (value, detail string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, d, _ := r.homeText(LayoutFor(image.Rect(0, 0, w, h)), home)
	return v, d
}

const sep = " • "

func (r *Renderer) homeText(l Layout, h Home) (value, detail string, c color.RGBA) {
	switch {
	case !h.Enabled && h.Reason != "":
		return "Not available", h.Reason, colDim
	case !h.Enabled:
		return "Home unknown", "waiting for oepcd", colWarn
	case len(h.Devices) == 0:
		return "No devices yet", "add one in the web UI or with oepc home add", colDim
	}
	px := func(ref int) int { return int(float64(ref)*l.Scale + 0.5) }
	fv, fd := r.face("bold", px(sizeValue)), r.face("regular", px(sizeDetail))
	w := fixed.I(l.Home.Dx())
	parts := make([]string, len(h.Devices))
	for i, d := range h.Devices {
		parts[i] = d.Name + " " + d.State
	}
	// The value line: as many as fit whole (at least one, shortened).
	n := 1
	for n < len(parts) && font.MeasureString(fv, strings.Join(parts[:n+1], sep)) <= w {
		n++
	}
	value = fit(fv, strings.Join(parts[:n], sep), w)
	rest := parts[n:]
	if len(rest) == 0 {
		return value, "", colText
	}
	if font.MeasureString(fd, strings.Join(rest, sep)) <= w {
		return value, strings.Join(rest, sep), colText
	}
	// The detail line: as many as fit with "+N more" after them.
	more := func(k int) string {
		m := fmt.Sprintf("+%d more", len(rest)-k)
		if k == 0 {
			return m
		}
		return strings.Join(rest[:k], sep) + sep + m
	}
	k := 0
	for k < len(rest)-1 && font.MeasureString(fd, more(k+1)) <= w {
		k++
	}
	return value, more(k), colText
}

// section draws a label, a value line and a detail line into rect.
func (r *Renderer) section(dst *image.RGBA, l Layout, rect image.Rectangle, label, value string, vc color.Color, detail string) {
	px := func(ref int) int { return int(float64(ref)*l.Scale + 0.5) }
	h := rect.Dy()
	y0 := rect.Min.Y
	r.text(dst, image.Rect(rect.Min.X, y0, rect.Max.X, y0+h*26/100), "bold", px(sizeLabel), colLabel, label, 0.8)
	r.text(dst, image.Rect(rect.Min.X, y0+h*26/100, rect.Max.X, y0+h*66/100), "bold", px(sizeValue), vc, value, 0.8)
	if detail != "" {
		r.text(dst, image.Rect(rect.Min.X, y0+h*66/100, rect.Max.X, rect.Max.Y), "regular", px(sizeDetail), colDetail, detail, 0.8)
	}
}

type align int

const centred align = 1

// text draws s in one line inside rect, its baseline at base (a fraction
// of rect's height), shortened with an ellipsis when it does not fit.
func (r *Renderer) text(dst *image.RGBA, rect image.Rectangle, fontName string, px int, c color.Color, s string, base float64, opts ...align) {
	f := r.face(fontName, px)
	maxW := fixed.I(rect.Dx())
	s = fit(f, s, maxW)
	// A sub-image, not a wrapper: drawing into an *image.RGBA takes
	// the image/draw fast paths (ten times faster).
	sub, ok := dst.SubImage(rect).(*image.RGBA)
	if !ok || sub.Rect.Empty() {
		return
	}
	d := font.Drawer{Dst: sub, Src: image.NewUniform(c), Face: f}
	x := fixed.I(rect.Min.X)
	if len(opts) > 0 && opts[0] == centred {
		x += (maxW - d.MeasureString(s)) / 2
	}
	d.Dot = fixed.Point26_6{X: x, Y: fixed.I(rect.Min.Y + int(float64(rect.Dy())*base))}
	d.DrawString(s)
}

// fit shortens s with "…" until it is at most w wide in f.
func fit(f font.Face, s string, w fixed.Int26_6) string {
	if font.MeasureString(f, s) <= w {
		return s
	}
	rs := []rune(s)
	for len(rs) > 0 {
		rs = rs[:len(rs)-1]
		t := strings.TrimRight(string(rs), " •") + "…"
		if font.MeasureString(f, t) <= w {
			return t
		}
	}
	return ""
}

// drawQR draws a QR code of s, black on white with its quiet zone, as
// large as fits in rect with whole-pixel modules, centred.
func drawQR(dst *image.RGBA, rect image.Rectangle, s string) {
	q, err := qrcode.New(s, qrcode.Medium)
	if err != nil {
		// Only content too long for any QR version fails; the URL is
		// still printed beneath.
		return
	}
	bm := q.Bitmap() // includes the 4-module quiet zone
	n := len(bm)
	side := min(rect.Dx(), rect.Dy())
	m := side / n
	if m < 1 {
		return
	}
	full := m * n
	x0 := rect.Min.X + (rect.Dx()-full)/2
	y0 := rect.Min.Y + (rect.Dy()-full)/2
	draw.Draw(dst, image.Rect(x0, y0, x0+full, y0+full), image.White, image.Point{}, draw.Src)
	for y, row := range bm {
		for x, on := range row {
			if on {
				draw.Draw(dst, image.Rect(x0+x*m, y0+y*m, x0+(x+1)*m, y0+(y+1)*m), image.Black, image.Point{}, draw.Src)
			}
		}
	}
}

func noun(n int, what string) string {
	if n == 1 {
		return what
	}
	return what + "s"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// Bytes formats n as a size a household reads: 0 B, 512 B, 1.5 KB, 12.3 GB
// (decimal units, as disks are sold).
func Bytes(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%d B", max(n, 0))
	}
	units := []string{"KB", "MB", "GB", "TB", "PB", "EB"}
	v := float64(n)
	i := -1
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if v < 10 {
		return fmt.Sprintf("%.1f %s", v, units[i])
	}
	return fmt.Sprintf("%.0f %s", v, units[i])
}

// group writes n with commas between thousands: 1,234,567.
func group(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
