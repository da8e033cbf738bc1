// Package edid parses a display's EDID: the VESA base block (EDID 1.0 to
// 1.4), CTA-861 extension blocks (video, audio and speaker data blocks, the
// HDMI and HDMI Forum vendor-specific blocks, the YCbCr 4:2:0 blocks, the
// HF-EEODB override of the extension count, and their detailed timings), and
// DisplayID extension blocks (product ID and type I/VII detailed timings).
//
// Parse never panics on any input. A broken base block (bad header, bad
// checksum, fewer than 128 bytes) is an error and no EDID. A valid base
// block with broken extensions is still returned: an extension with a bad
// checksum is skipped with a warning (some real TVs ship one), and an
// extension count past the data gives the EDID read so far together with an
// ErrExtensionCount error, so a caller can still drive the display after
// saying so.
package edid

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// BlockSize is the size of every EDID block.
const BlockSize = 128

// Sentinel errors; Parse wraps them in *Error, so test them with errors.Is.
var (
	ErrHeader         = errors.New("bad EDID header (not 00 FF FF FF FF FF FF 00)")
	ErrChecksum       = errors.New("bad checksum")
	ErrTruncated      = errors.New("truncated EDID")
	ErrExtensionCount = errors.New("extension count past the data")
)

// Error is a parse error: which block, what went wrong.
type Error struct {
	Block  int    // block index, 0 for the base block
	Err    error  // one of the sentinels
	Detail string // what exactly
}

func (e *Error) Error() string {
	return fmt.Sprintf("edid: block %d: %v: %s", e.Block, e.Err, e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }

var header = [8]byte{0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}

// Source says where a mode was found.
type Source string

// The sources of a Mode.
const (
	SourceDTD         Source = "dtd"         // detailed timing descriptor, base block
	SourceCTADTD      Source = "cta-dtd"     // detailed timing descriptor, CTA-861 block
	SourceVIC         Source = "vic"         // CTA-861 short video descriptor
	SourceHDMIVIC     Source = "hdmi-vic"    // HDMI 1.4 VSDB HDMI_VIC
	SourceDisplayID   Source = "displayid"   // DisplayID type I/VII timing
	SourceEstablished Source = "established" // established timings I & II
	SourceStandard    Source = "standard"    // standard timings
	SourceCVT3        Source = "cvt3"        // CVT 3-byte timing code descriptor
)

// Mode is a timing the display supports, with where it came from.
type Mode struct {
	Timing
	Source    Source
	VIC       int  `json:",omitempty"` // CTA VIC or HDMI VIC
	Native    bool `json:",omitempty"` // CTA native flag
	Preferred bool `json:",omitempty"`
	// YCbCr420Only: the display takes this mode only in YCbCr 4:2:0
	// (listed in a YCbCr 4:2:0 Video Data Block).
	YCbCr420Only bool `json:",omitempty"`
	// YCbCr420Also: also in 4:2:0 (a YCbCr 4:2:0 Capability Map).
	YCbCr420Also bool `json:",omitempty"`
	// Estimated: the pixel clock is computed (CVT), not given.
	Estimated bool `json:",omitempty"`
	WidthMM   int  `json:",omitempty"`
	HeightMM  int  `json:",omitempty"`
}

// String is "1920x1080p60 (148.50 MHz)".
func (m Mode) String() string {
	pi := "p"
	if m.Interlaced {
		pi = "i"
	}
	return fmt.Sprintf("%dx%d%s%s (%.2f MHz)", m.W, m.H, pi, hzString(m.Hz), float64(m.PixelClockKHz)/1000)
}

func hzString(hz float64) string {
	if r := math.Round(hz); math.Abs(hz-r) < 0.005 {
		return fmt.Sprintf("%d", int(r))
	}
	return fmt.Sprintf("%.2f", hz)
}

// Chromaticity is a CIE 1931 x, y pair.
type Chromaticity struct{ X, Y float64 }

// RangeLimits is the display range limits descriptor (0xFD).
type RangeLimits struct {
	MinVHz, MaxVHz     int
	MinHKHz, MaxHKHz   int
	MaxPixelClockKHz   int // 0: not given
	Kind               string
	DefaultGTF         bool `json:",omitempty"`
	SecondaryGTF       bool `json:",omitempty"`
	CVTSupported       bool `json:",omitempty"`
	CVTMaxPixelClockHz int  `json:",omitempty"`
}

// StandardTiming is one 2-byte standard timing (or one from a 0xFA
// descriptor).
type StandardTiming struct {
	W, H int
	Hz   int
}

// Features is byte 0x18 of the base block.
type Features struct {
	Standby, Suspend, ActiveOff bool
	// ColorType: analog: "monochrome", "rgb", "non-rgb", "undefined";
	// digital: "rgb444", "rgb444+ycbcr444", "rgb444+ycbcr422",
	// "rgb444+ycbcr444+ycbcr422".
	ColorType string
	SRGB      bool
	// PreferredTimingFirst: the first DTD is the preferred timing (always
	// true in 1.3; in 1.4 it means the preferred timing is native).
	PreferredTimingFirst bool
	Continuous           bool // 1.4: continuous frequency; <1.4: GTF
}

// Audio is a CTA-861 short audio descriptor.
type Audio struct {
	Format      int // 1 LPCM, 2 AC-3, ... (CTA-861 table 37)
	Channels    int
	SampleRates []int // Hz
}

// HDMI is what the HDMI 1.x VSDB (OUI 00-0C-03) says.
type HDMI struct {
	PhysicalAddress string // "1.0.0.0"
	SupportsAI      bool
	DeepColor30     bool
	DeepColor36     bool
	DeepColor48     bool
	DeepColorY444   bool
	DVIDual         bool
	MaxTMDSKHz      int // 0: not given
}

// HDMIForum is what the HDMI Forum VSDB (OUI C4-5D-D8) or the HF-SCDB says.
type HDMIForum struct {
	Version                 int
	MaxTMDSCharacterRateKHz int // 0: no more than 340 MHz
	SCDCPresent             bool
	DeepColor420_30         bool
	DeepColor420_36         bool
	DeepColor420_48         bool
	MaxFRLRate              int // the FRL rate code (0: no FRL)
}

// CTA is one CTA-861 extension block.
type CTA struct {
	Block         int // index in the EDID
	Revision      int
	Underscan     bool
	BasicAudio    bool
	YCbCr444      bool
	YCbCr422      bool
	NativeDTDs    int
	VICs          []int // Video Data Block VICs in order (native flag stripped)
	NativeVICs    []int `json:",omitempty"`
	YCbCr420Only  []int `json:",omitempty"` // YCbCr 4:2:0 Video Data Block
	YCbCr420Also  []int `json:",omitempty"` // from the 4:2:0 Capability Map
	Audio         []Audio
	Speakers      uint32 `json:",omitempty"` // speaker allocation bitmap
	HDMI          *HDMI
	HDMIForum     *HDMIForum
	HDMIVICs      []int `json:",omitempty"`
	EEODBCount    int   `json:",omitempty"` // HF-EEODB extension block count (0: none)
	ExtendedTags  []int `json:",omitempty"` // extended tags seen (tag 7)
	DTDs          []Mode
	UnknownBlocks int `json:",omitempty"`
	cmapAll       bool
	cmap          []byte
}

// DisplayID is one DisplayID extension block (or section).
type DisplayID struct {
	Block        int
	Version      int // 0x12 for 1.2, 0x20 for 2.0
	ProductType  int
	Manufacturer string `json:",omitempty"` // product ID block
	ProductCode  int    `json:",omitempty"`
	Serial       uint32 `json:",omitempty"`
	Week, Year   int    `json:",omitempty"`
	ProductName  string `json:",omitempty"`
	Timings      []Mode
	CTA          *CTA  `json:",omitempty"` // a CTA-861 data block inside
	Tags         []int // data block tags seen
}

// Extension is one extension block as found.
type Extension struct {
	Block      int
	Tag        byte // 0x02 CTA-861, 0x70 DisplayID, 0xF0 block map, 0x10 VTB, 0x40 DI
	Kind       string
	ChecksumOK bool
	// Timings: the detailed timings of a VTB-EXT block (CTA and DisplayID
	// blocks keep theirs in EDID.CTA and EDID.DisplayID).
	Timings []Mode `json:",omitempty"`
}

// EDID is a parsed EDID.
type EDID struct {
	// Raw is the input of Parse, not copied.
	Raw []byte `json:"-"`

	Manufacturer string // PNP ID, 3 letters
	ProductCode  uint16
	Serial       uint32 // 0: not given
	Week         int    // 0: not given
	Year         int    // year of manufacture, or the model year
	ModelYear    bool   // Year is the model year (week 0xFF, 1.4)
	Version      int
	Revision     int

	Digital     bool
	BitDepth    int    // digital 1.4: bits per colour, 0 undefined
	Interface   string // digital 1.4: "hdmi-a", "displayport", "dvi", ...
	AnalogLevel string `json:",omitempty"` // analog: "0.700/0.300", ...
	WidthCM     int    // 0 with HeightCM 0: unknown or variable
	HeightCM    int
	AspectRatio string  `json:",omitempty"` // 1.4 with one size byte 0: "16:9"-style landscape ratio
	Gamma       float64 // 0: not given (in an extension)
	Features    Features
	Red, Green  Chromaticity
	Blue, White Chromaticity
	Established []Mode
	Standard    []StandardTiming
	// EstablishedIII: the established timings III descriptor (0xF7).
	EstablishedIII []Mode `json:",omitempty"`
	// CVT3: the CVT 3-byte timing codes descriptor (0xF8), computed.
	CVT3          []Mode `json:",omitempty"`
	DTDs          []Mode // base block detailed timings
	Name          string `json:",omitempty"` // monitor name descriptor(s)
	SerialString  string `json:",omitempty"` // monitor serial descriptor
	Text          []string
	RangeLimits   *RangeLimits
	DescriptorTag []byte // tag of each of the 4 descriptors (0 for a DTD)

	// ExtensionCount is the number of extensions the EDID declares (the
	// HF-EEODB count when there is one, else byte 126).
	ExtensionCount int
	// ChecksumOK: every block present has a good checksum.
	ChecksumOK bool
	Extensions []Extension
	CTA        []*CTA
	DisplayID  []*DisplayID
	// Warnings: what is wrong but was worked around.
	Warnings []string
}

// Parse decodes an EDID of 128 × n bytes. See the package doc for what is
// an error and what a warning.
func Parse(b []byte) (*EDID, error) {
	if len(b) < BlockSize {
		if len(b) >= 8 && [8]byte(b[:8]) != header {
			return nil, &Error{0, ErrHeader, fmt.Sprintf("first bytes % x", b[:8])}
		}
		return nil, &Error{0, ErrTruncated, fmt.Sprintf("%d bytes, the base block alone is 128", len(b))}
	}
	if [8]byte(b[:8]) != header {
		return nil, &Error{0, ErrHeader, fmt.Sprintf("first bytes % x", b[:8])}
	}
	if s := sum(b[:BlockSize]); s != 0 {
		return nil, &Error{0, ErrChecksum, fmt.Sprintf("bytes sum to 0x%02x mod 256, want 0 (checksum byte 0x%02x, should be 0x%02x)", s, b[127], byte(int(b[127])-int(s)))}
	}
	e := &EDID{Raw: b, ChecksumOK: true}
	e.parseBase(b[:BlockSize])
	e.ExtensionCount = int(b[126])

	// HF-EEODB: the first data block of the first CTA block may override
	// the count (HDMI 2.1 section 10.3.6); honour it before checking.
	if len(b) >= 2*BlockSize && b[BlockSize] == 0x02 {
		if n := eeodbCount(b[BlockSize : 2*BlockSize]); n > 0 {
			e.ExtensionCount = n
		}
	}
	var err error
	have := len(b)/BlockSize - 1
	if len(b)%BlockSize != 0 {
		e.warn("%d trailing bytes after %d blocks", len(b)%BlockSize, have+1)
		if have < e.ExtensionCount {
			err = &Error{have + 1, ErrTruncated, fmt.Sprintf("%d bytes: block %d is cut short", len(b), have+1)}
		}
	}
	if err == nil && have < e.ExtensionCount {
		err = &Error{have + 1, ErrExtensionCount, fmt.Sprintf("the EDID declares %d extension blocks, the data holds %d", e.ExtensionCount, have)}
	}
	if have > e.ExtensionCount {
		e.warn("%d blocks after the %d declared extensions ignored", have-e.ExtensionCount, e.ExtensionCount)
		have = e.ExtensionCount
	}
	for i := 1; i <= have; i++ {
		blk := b[i*BlockSize : (i+1)*BlockSize]
		x := Extension{Block: i, Tag: blk[0], Kind: extKind(blk[0]), ChecksumOK: sum(blk) == 0}
		if !x.ChecksumOK {
			e.ChecksumOK = false
			e.warn("block %d (%s): bad checksum (0x%02x, should be 0x%02x): block ignored, base block used", i, x.Kind, blk[127], byte(int(blk[127])-int(sum(blk))))
			e.Extensions = append(e.Extensions, x)
			continue
		}
		switch blk[0] {
		case 0x02:
			e.CTA = append(e.CTA, e.parseCTA(i, blk))
		case 0x70:
			e.DisplayID = append(e.DisplayID, e.parseDisplayID(i, blk))
		case 0x10:
			x.Timings = parseVTB(blk)
		}
		e.Extensions = append(e.Extensions, x)
	}
	return e, err
}

func sum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

func extKind(tag byte) string {
	switch tag {
	case 0x02:
		return "CTA-861"
	case 0x10:
		return "VTB-EXT"
	case 0x40:
		return "DI-EXT"
	case 0x50:
		return "LS-EXT"
	case 0x60:
		return "DPVL-EXT"
	case 0x70:
		return "DisplayID"
	case 0xF0:
		return "block map"
	case 0xFF:
		return "manufacturer"
	}
	return fmt.Sprintf("unknown 0x%02x", tag)
}

func (e *EDID) warn(format string, args ...any) {
	e.Warnings = append(e.Warnings, fmt.Sprintf(format, args...))
}

func (e *EDID) parseBase(b []byte) {
	id := uint16(b[8])<<8 | uint16(b[9])
	e.Manufacturer = string([]byte{
		'@' + byte(id>>10&0x1f), '@' + byte(id>>5&0x1f), '@' + byte(id&0x1f)})
	for _, c := range e.Manufacturer {
		if c < 'A' || c > 'Z' {
			e.warn("manufacturer ID %q is not 3 letters", e.Manufacturer)
			break
		}
	}
	e.ProductCode = uint16(b[10]) | uint16(b[11])<<8
	e.Serial = uint32(b[12]) | uint32(b[13])<<8 | uint32(b[14])<<16 | uint32(b[15])<<24
	e.Version, e.Revision = int(b[18]), int(b[19])
	if e.Version != 1 || e.Revision > 4 {
		e.warn("EDID version %d.%d: parsed as 1.4", e.Version, e.Revision)
	}
	rev := e.Revision
	if e.Version != 1 {
		rev = 4
	}
	week, year := int(b[16]), int(b[17])
	switch {
	case week == 0xff:
		// A model year (1.4; edid-decode reads 1.3 EDIDs the same way,
		// and so do the displays that set it).
		e.ModelYear, e.Year = true, 1990+year
	default:
		if week <= 54 {
			e.Week = week
		}
		e.Year = 1990 + year
	}

	in := b[20]
	e.Digital = in&0x80 != 0
	if e.Digital {
		if rev >= 4 {
			e.BitDepth = [8]int{0, 6, 8, 10, 12, 14, 16, 0}[in>>4&7]
			e.Interface = [16]string{"undefined", "dvi", "hdmi-a", "hdmi-b", "mddi", "displayport"}[in&0xf]
			if e.Interface == "" {
				e.Interface = "reserved"
			}
		}
	} else {
		e.AnalogLevel = [4]string{"0.700/0.300", "0.714/0.286", "1.000/0.400", "0.700/0.000"}[in>>5&3]
	}
	h, v := int(b[21]), int(b[22])
	switch {
	case h != 0 && v != 0:
		e.WidthCM, e.HeightCM = h, v
	case rev >= 4 && h != 0:
		e.AspectRatio = fmt.Sprintf("%.2f:1", float64(h+99)/100)
	case rev >= 4 && v != 0:
		e.AspectRatio = fmt.Sprintf("1:%.2f", float64(v+99)/100)
	}
	if b[23] != 0xff {
		e.Gamma = float64(int(b[23])+100) / 100
	}
	f := b[24]
	e.Features = Features{
		Standby: f&0x80 != 0, Suspend: f&0x40 != 0, ActiveOff: f&0x20 != 0,
		SRGB: f&0x04 != 0, PreferredTimingFirst: f&0x02 != 0, Continuous: f&0x01 != 0,
	}
	if e.Digital && rev >= 4 {
		e.Features.ColorType = [4]string{"rgb444", "rgb444+ycbcr444", "rgb444+ycbcr422", "rgb444+ycbcr444+ycbcr422"}[f>>3&3]
	} else {
		e.Features.ColorType = [4]string{"monochrome", "rgb", "non-rgb", "undefined"}[f>>3&3]
	}
	lo1, lo2 := b[25], b[26]
	c := func(hi byte, lo byte) float64 { return float64(int(hi)<<2|int(lo)) / 1024 }
	e.Red = Chromaticity{c(b[27], lo1>>6&3), c(b[28], lo1>>4&3)}
	e.Green = Chromaticity{c(b[29], lo1>>2&3), c(b[30], lo1&3)}
	e.Blue = Chromaticity{c(b[31], lo2>>6&3), c(b[32], lo2>>4&3)}
	e.White = Chromaticity{c(b[33], lo2>>2&3), c(b[34], lo2&3)}

	et := uint32(b[35])<<16 | uint32(b[36])<<8 | uint32(b[37])
	if n := bits.OnesCount32(et & 0xffff80); n > 0 {
		e.Established = make([]Mode, 0, n)
	}
	e.DTDs = make([]Mode, 0, 4)
	e.DescriptorTag = make([]byte, 0, 4)
	for i, t := range establishedTimings {
		if et&(1<<(23-i)) != 0 && t.W != 0 {
			e.Established = append(e.Established, Mode{Timing: t, Source: SourceEstablished})
		}
	}
	for i := 0; i < 8; i++ {
		if st, ok := standardTiming(b[38+2*i], b[39+2*i], rev); ok {
			e.Standard = append(e.Standard, st)
		}
	}
	var name strings.Builder
	nameFull := false
	for i := 0; i < 4; i++ {
		d := b[54+18*i : 72+18*i]
		if d[0] != 0 || d[1] != 0 {
			e.DescriptorTag = append(e.DescriptorTag, 0)
			if m, ok := parseDTD(d); ok {
				m.Source = SourceDTD
				e.DTDs = append(e.DTDs, m)
			}
			continue
		}
		e.DescriptorTag = append(e.DescriptorTag, d[3])
		switch d[3] {
		case 0xfc:
			s, full := descString(d[5:])
			if name.Len() > 0 && !nameFull {
				name.WriteByte(' ')
			}
			name.WriteString(s)
			nameFull = full
		case 0xff:
			e.SerialString, _ = descString(d[5:])
		case 0xfe:
			s, _ := descString(d[5:])
			e.Text = append(e.Text, s)
		case 0xfd:
			e.RangeLimits = parseRange(d, rev)
		case 0xf7:
			for j, id := range establishedIII {
				if d[6+j/8]&(0x80>>(j%8)) != 0 {
					e.EstablishedIII = append(e.EstablishedIII, Mode{Timing: dmtTable[id], Source: SourceEstablished})
				}
			}
		case 0xf8:
			for j := 0; j < 4; j++ {
				e.CVT3 = append(e.CVT3, cvt3(d[6+3*j:9+3*j])...)
			}
		case 0xfa:
			for j := 0; j < 6; j++ {
				if st, ok := standardTiming(d[5+2*j], d[6+2*j], rev); ok {
					e.Standard = append(e.Standard, st)
				}
			}
		}
	}
	e.Name = strings.TrimSpace(name.String())
	// EDID 1.3 and later: the first DTD is always the preferred timing;
	// before 1.3 only when the feature bit says so. (edid-decode and the
	// Linux kernel also honour the bit in 1.3: some 1.3 displays clear it,
	// and then no timing is marked preferred.)
	if len(e.DTDs) > 0 && e.DescriptorTag[0] == 0 && (e.Features.PreferredTimingFirst || rev >= 4) {
		e.DTDs[0].Preferred = true
	}
}

// descString decodes a descriptor string: up to 13 bytes, ended by 0x0A,
// padded with spaces. full says it had no terminator (13 characters, maybe
// continued in the next descriptor).
func descString(b []byte) (s string, full bool) {
	b = b[:13]
	end := len(b)
	full = true
	for i, c := range b {
		if c == 0x0a {
			end, full = i, false
			break
		}
	}
	r := make([]byte, 0, end)
	for _, c := range b[:end] {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		r = append(r, c)
	}
	return strings.TrimRight(string(r), " "), full
}

func parseRange(d []byte, rev int) *RangeLimits {
	r := &RangeLimits{MinVHz: int(d[5]), MaxVHz: int(d[6]), MinHKHz: int(d[7]), MaxHKHz: int(d[8])}
	if rev >= 4 {
		if d[4]&0x01 != 0 {
			r.MinVHz += 255
		}
		if d[4]&0x02 != 0 {
			r.MaxVHz += 255
		}
		if d[4]&0x04 != 0 {
			r.MinHKHz += 255
		}
		if d[4]&0x08 != 0 {
			r.MaxHKHz += 255
		}
	}
	if d[9] != 0 && d[9] != 0xff {
		r.MaxPixelClockKHz = int(d[9]) * 10000
	}
	switch d[10] {
	case 0x00:
		r.Kind, r.DefaultGTF = "gtf", true
	case 0x01:
		r.Kind = "bare"
	case 0x02:
		r.Kind, r.SecondaryGTF = "secondary-gtf", true
	case 0x04:
		r.Kind, r.CVTSupported = "cvt", true
		// CVT: byte 12 bits 7:2 take 0.25 MHz steps off the max clock.
		if r.MaxPixelClockKHz != 0 {
			r.CVTMaxPixelClockHz = r.MaxPixelClockKHz*1000 - int(d[12]>>2)*250000
		}
	default:
		r.Kind = fmt.Sprintf("0x%02x", d[10])
	}
	return r
}

// standardTiming decodes a 2-byte standard timing; 01 01 means unused, and
// like edid-decode any first byte 00 or 01 (a width of 248 or 256: real
// EDIDs pad with 01 FF, 01 20) and 20 20 (spaces, seen in old EDIDs) are
// taken as unused too.
func standardTiming(b1, b2 byte, rev int) (StandardTiming, bool) {
	if b1 <= 0x01 || (b1 == 0x20 && b2 == 0x20) {
		return StandardTiming{}, false
	}
	w := (int(b1) + 31) * 8
	var h int
	switch b2 >> 6 {
	case 0:
		if rev < 3 {
			h = w // 1:1 before EDID 1.3
		} else {
			h = w * 10 / 16
		}
	case 1:
		h = w * 3 / 4
	case 2:
		h = w * 4 / 5
	case 3:
		h = w * 9 / 16
	}
	return StandardTiming{W: w, H: h, Hz: int(b2&0x3f) + 60}, true
}

// parseDTD decodes an 18-byte detailed timing descriptor.
func parseDTD(d []byte) (Mode, bool) {
	clk := int(d[0]) | int(d[1])<<8 // 10 kHz units
	ha := int(d[2]) | int(d[4]>>4)<<8
	hb := int(d[3]) | int(d[4]&0xf)<<8
	va := int(d[5]) | int(d[7]>>4)<<8
	vb := int(d[6]) | int(d[7]&0xf)<<8
	hfp := int(d[8]) | int(d[11]>>6)<<8
	hsw := int(d[9]) | int(d[11]>>4&3)<<8
	vfp := int(d[10]>>4) | int(d[11]>>2&3)<<4
	vsw := int(d[10]&0xf) | int(d[11]&3)<<4
	wmm := int(d[12]) | int(d[14]>>4)<<8
	hmm := int(d[13]) | int(d[14]&0xf)<<8
	flags := d[17]
	if clk == 0 || ha == 0 || va == 0 {
		return Mode{}, false
	}
	m := Mode{WidthMM: wmm, HeightMM: hmm}
	m.W, m.PixelClockKHz = ha, clk*10
	m.Interlaced = flags&0x80 != 0
	m.HFront, m.HSync, m.HBack = hfp, hsw, hb-hfp-hsw
	m.VFront, m.VSync, m.VBack = vfp, vsw, vb-vfp-vsw
	if flags&0x18 == 0x18 { // digital separate sync
		m.HSyncPositive = flags&0x02 != 0
		m.VSyncPositive = flags&0x04 != 0
	}
	htot := ha + hb
	if m.Interlaced {
		m.H = 2 * va
		// a frame of two fields, with the half line of each field
		m.Hz = float64(m.PixelClockKHz) * 1000 / (float64(htot) * (float64(2*(va+vb)) + 1)) * 2
	} else {
		m.H = va
		m.Hz = float64(m.PixelClockKHz) * 1000 / float64(htot*(va+vb))
	}
	m.Aspect = aspect(m.W, m.H)
	return m, true
}

var aspects = []struct {
	w, h int
	s    string
}{{16, 9, "16:9"}, {16, 10, "16:10"}, {4, 3, "4:3"}, {5, 4, "5:4"}, {64, 27, "64:27"}, {256, 135, "256:135"}, {21, 9, "21:9"}, {32, 9, "32:9"}}

func aspect(w, h int) string {
	for _, a := range aspects {
		if w*a.h == h*a.w {
			return a.s
		}
	}
	g := gcd(w, h)
	if g == 0 {
		return ""
	}
	return fmt.Sprintf("%d:%d", w/g, h/g)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// VIC returns the CTA-861 timing of a VIC (1-127, 193-219).
func VIC(vic int) (Timing, bool) {
	if vic <= 0 || vic >= len(vicTable) || vicTable[vic].W == 0 {
		return Timing{}, false
	}
	return vicTable[vic], true
}

// HDMIVIC returns the timing of an HDMI 1.4 HDMI_VIC (1-4).
func HDMIVIC(vic int) (Timing, bool) {
	if vic <= 0 || vic >= len(hdmiVICTable) {
		return Timing{}, false
	}
	return hdmiVICTable[vic], true
}

// DMT returns the VESA DMT timing of a DMT ID (0x01-0x58).
func DMT(id int) (Timing, bool) {
	if id <= 0 || id >= len(dmtTable) || dmtTable[id].W == 0 {
		return Timing{}, false
	}
	return dmtTable[id], true
}

// establishedTimings: bytes 0x23-0x25, most significant bit first. The
// IBM and Apple ones are not in DMT; their figures are edid-decode's.
var establishedTimings = [24]Timing{
	{W: 720, H: 400, Hz: 70.081663, PixelClockKHz: 28320},
	{W: 720, H: 400, Hz: 87.849542, PixelClockKHz: 35500},
	dmtTable[0x04],
	{W: 640, H: 480, Hz: 66.666667, PixelClockKHz: 30240},
	dmtTable[0x05], dmtTable[0x06], dmtTable[0x08], dmtTable[0x09],
	dmtTable[0x0a], dmtTable[0x0b],
	{W: 832, H: 624, Hz: 74.551266, PixelClockKHz: 57284},
	dmtTable[0x0f], dmtTable[0x10], dmtTable[0x11], dmtTable[0x12], dmtTable[0x24],
	{W: 1152, H: 870, Hz: 75.061550, PixelClockKHz: 100000},
}

// parseVTB reads the detailed timings of a VESA Video Timing Block
// extension (tag 0x10): byte 2 counts the 18-byte DTDs that start at byte 5.
func parseVTB(blk []byte) []Mode {
	var out []Mode
	n := int(blk[2])
	for i := 0; i < n && 5+18*(i+1) <= 127; i++ {
		if m, ok := parseDTD(blk[5+18*i : 5+18*(i+1)]); ok {
			m.Source = SourceDTD
			out = append(out, m)
		}
	}
	return out
}

// establishedIII: the DMT IDs of the established timings III bits, byte 6
// bit 7 first (VESA E-EDID 1.4 table 3.29; checked against edid-decode).
var establishedIII = [44]int{
	0x01, 0x02, 0x03, 0x07, 0x0e, 0x0c, 0x13, 0x15,
	0x16, 0x17, 0x18, 0x19, 0x20, 0x21, 0x23, 0x25,
	0x27, 0x2e, 0x2f, 0x30, 0x31, 0x29, 0x2a, 0x2b,
	0x2c, 0x39, 0x3a, 0x3b, 0x3c, 0x33, 0x34, 0x35,
	0x36, 0x37, 0x3e, 0x3f, 0x41, 0x42, 0x44, 0x45,
	0x46, 0x47, 0x49, 0x4a,
}

// cvt3 decodes one CVT 3-byte timing code: the lines, the aspect, the
// rates supported (50, 60, 75, 85 Hz, and 60 Hz reduced blanking).
func cvt3(c []byte) []Mode {
	if c[0] == 0 && c[1] == 0 && c[2] == 0 {
		return nil
	}
	lines := (int(c[0]) | int(c[1]>>4)<<8 + 1) * 2
	var w int
	switch c[1] >> 2 & 3 {
	case 0:
		w = lines * 4 / 3
	case 1:
		w = lines * 16 / 9
	case 2:
		w = lines * 16 / 10
	case 3:
		w = lines * 15 / 9
	}
	w = w / 8 * 8
	var out []Mode
	for i, hz := range []float64{50, 60, 75, 85} {
		if c[2]&(0x10>>i) != 0 {
			out = append(out, Mode{Timing: CVT(w, lines, hz), Source: SourceCVT3})
		}
	}
	if c[2]&0x01 != 0 {
		out = append(out, Mode{Timing: CVTRB(w, lines, 60), Source: SourceCVT3})
	}
	return out
}
