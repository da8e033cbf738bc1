package edid

import (
	"fmt"
	"strings"
)

// DisplayID data block tags read here (DisplayID 1.3 and 2.0).
const (
	didProductID   = 0x00
	didTypeI       = 0x03
	didCTA         = 0x81
	did2ProductID  = 0x20
	did2TypeVII    = 0x22
	didTimingBytes = 20
)

func (e *EDID) parseDisplayID(idx int, blk []byte) *DisplayID {
	d := &DisplayID{Block: idx, Version: int(blk[1])}
	n := int(blk[2])
	d.ProductType = int(blk[3])
	// The section: 4 bytes of header (blk[1:5]), n bytes of data blocks
	// and a checksum byte, inside blk[1:127].
	if 5+n > 126 {
		e.warn("block %d (DisplayID): section length %d past the block: truncated to the block", idx, n)
		n = 126 - 5
	} else if sum(blk[1:6+n]) != 0 {
		e.warn("block %d (DisplayID): section checksum is wrong (block checksum is right): section read anyway", idx)
	}
	b := blk[5 : 5+n]
	for len(b) >= 3 {
		tag, ln := int(b[0]), int(b[2])
		if tag == 0 && ln == 0 && b[1] == 0 {
			break // padding
		}
		if 3+ln > len(b) {
			e.warn("block %d (DisplayID): data block 0x%02x of length %d runs past the section", idx, tag, ln)
			break
		}
		p := b[3 : 3+ln]
		b = b[3+ln:]
		d.Tags = append(d.Tags, tag)
		switch tag {
		case didProductID, did2ProductID:
			if len(p) < 12 {
				continue
			}
			if tag == didProductID {
				d.Manufacturer = strings.TrimRight(string(p[:3]), "\x00 ")
			} else {
				d.Manufacturer = fmt.Sprintf("%02X-%02X-%02X", p[0], p[1], p[2])
			}
			d.ProductCode = int(p[3]) | int(p[4])<<8
			d.Serial = uint32(p[5]) | uint32(p[6])<<8 | uint32(p[7])<<16 | uint32(p[8])<<24
			d.Week, d.Year = int(p[9]), int(p[10])+2000
			if l := int(p[11]); 12+l <= len(p) {
				d.ProductName = strings.TrimRight(string(p[12:12+l]), "\x00 ")
			}
		case didTypeI, did2TypeVII:
			for i := 0; i+didTimingBytes <= len(p); i += didTimingBytes {
				if m, ok := parseDIDTiming(p[i:i+didTimingBytes], tag == did2TypeVII); ok {
					d.Timings = append(d.Timings, m)
				}
			}
		case didCTA:
			c := &CTA{Block: idx}
			e.ctaDataBlocks(c, p, idx)
			if len(c.VICs) > 0 || c.HDMI != nil || c.HDMIForum != nil {
				d.CTA = c
			}
		}
	}
	return d
}

// parseDIDTiming decodes a DisplayID type I (1.x, 10 kHz units) or type
// VII (2.0, 1 kHz units) detailed timing: every field is stored minus 1.
func parseDIDTiming(p []byte, kHz bool) (Mode, bool) {
	u16 := func(i int) int { return int(p[i]) | int(p[i+1])<<8 }
	clk := int(p[0]) | int(p[1])<<8 | int(p[2])<<16 + 1
	if !kHz {
		clk *= 10
	}
	ha, hb := u16(4)+1, u16(6)+1
	hfp, hsw := u16(8)&0x7fff+1, u16(10)+1
	va, vb := u16(12)+1, u16(14)+1
	vfp, vsw := u16(16)&0x7fff+1, u16(18)+1
	m := Mode{Source: SourceDisplayID}
	m.W, m.H, m.PixelClockKHz = ha, va, clk
	m.Preferred = p[3]&0x80 != 0
	m.Interlaced = p[3]&0x10 != 0
	m.HFront, m.HSync, m.HBack, m.HSyncPositive = hfp, hsw, hb-hfp-hsw, p[9]&0x80 != 0
	m.VFront, m.VSync, m.VBack, m.VSyncPositive = vfp, vsw, vb-vfp-vsw, p[17]&0x80 != 0
	htot, vtot := ha+hb, va+vb
	if m.Interlaced {
		// va is the frame height; the fields are half of it.
		m.Hz = float64(clk) * 1000 / (float64(htot) * float64(vtot)) * 2
	} else {
		m.Hz = float64(clk) * 1000 / float64(htot*vtot)
	}
	m.Aspect = aspect(m.W, m.H)
	return m, ha > 0 && va > 0
}
