package edid

import "fmt"

// CTA-861 data block tags and extended tags used here.
const (
	ctaAudio    = 1
	ctaVideo    = 2
	ctaVendor   = 3
	ctaSpeaker  = 4
	ctaExtended = 7

	ext420Video     = 0x0e
	ext420CapMap    = 0x0f
	extHFEEODB      = 0x78
	extHFSCDB       = 0x79
	ouiHDMI         = 0x000c03
	ouiHDMIForum    = 0xc45dd8
	eeodbMinVersion = 0
)

// eeodbCount returns the HF-EEODB extension count of a CTA block, 0 when
// there is none. The HF-EEODB must be the first data block.
func eeodbCount(blk []byte) int {
	d := int(blk[2])
	if d < 4 || d > 127 {
		return 0
	}
	h := blk[4]
	if h>>5 == ctaExtended && h&0x1f >= 2 && blk[5] == extHFEEODB {
		return int(blk[6])
	}
	return 0
}

func (e *EDID) parseCTA(idx int, blk []byte) *CTA {
	c := &CTA{Block: idx, Revision: int(blk[1])}
	d := int(blk[2])
	if c.Revision >= 2 {
		f := blk[3]
		c.Underscan, c.BasicAudio = f&0x80 != 0, f&0x40 != 0
		c.YCbCr444, c.YCbCr422 = f&0x20 != 0, f&0x10 != 0
		c.NativeDTDs = int(f & 0x0f)
	}
	if d == 0 {
		return c // no data blocks, no DTDs
	}
	if d < 4 || d > 127 {
		e.warn("block %d (CTA-861): DTD offset %d out of range: block ignored", idx, d)
		return c
	}
	if c.Revision >= 3 {
		e.ctaDataBlocks(c, blk[4:d], idx)
	}
	for off := d; off+18 <= 127; off += 18 {
		dd := blk[off : off+18]
		if dd[0] == 0 && dd[1] == 0 {
			break
		}
		m, ok := parseDTD(dd)
		if !ok {
			continue
		}
		m.Source = SourceCTADTD
		if len(c.DTDs) < c.NativeDTDs {
			m.Native = true
		}
		c.DTDs = append(c.DTDs, m)
	}
	return c
}

// ctaDataBlocks walks a data block collection (a CTA block's, or the one in
// a DisplayID CTA data block).
func (e *EDID) ctaDataBlocks(c *CTA, b []byte, idx int) {
	for len(b) > 0 {
		tag, n := int(b[0]>>5), int(b[0]&0x1f)
		if 1+n > len(b) {
			e.warn("block %d (CTA-861): data block tag %d of length %d runs past the data block collection", idx, tag, n)
			return
		}
		p := b[1 : 1+n]
		b = b[1+n:]
		switch tag {
		case ctaVideo:
			for _, s := range p {
				vic, native := svd(s)
				if vic == 0 {
					continue
				}
				c.VICs = append(c.VICs, vic)
				if native {
					c.NativeVICs = append(c.NativeVICs, vic)
				}
			}
		case ctaAudio:
			for i := 0; i+3 <= len(p); i += 3 {
				a := Audio{Format: int(p[i] >> 3 & 0xf), Channels: int(p[i]&7) + 1}
				for j, hz := range []int{32000, 44100, 48000, 88200, 96000, 176400, 192000} {
					if p[i+1]&(1<<j) != 0 {
						a.SampleRates = append(a.SampleRates, hz)
					}
				}
				c.Audio = append(c.Audio, a)
			}
		case ctaSpeaker:
			for i := 0; i < len(p) && i < 3; i++ {
				c.Speakers |= uint32(p[i]) << (8 * i)
			}
		case ctaVendor:
			if len(p) < 3 {
				continue
			}
			switch int(p[2])<<16 | int(p[1])<<8 | int(p[0]) {
			case ouiHDMI:
				c.HDMI, c.HDMIVICs = parseHDMIVSDB(p)
			case ouiHDMIForum:
				if len(p) >= 5 {
					c.HDMIForum = parseHF(p[3:])
				}
			}
		case ctaExtended:
			if n == 0 {
				continue
			}
			et := int(p[0])
			c.ExtendedTags = append(c.ExtendedTags, et)
			q := p[1:]
			switch et {
			case ext420Video:
				for _, s := range q {
					if vic, _ := svd(s); vic != 0 {
						c.YCbCr420Only = append(c.YCbCr420Only, vic)
					}
				}
			case ext420CapMap:
				if len(q) == 0 {
					c.cmapAll = true
				}
				c.cmap = append([]byte(nil), q...)
			case extHFEEODB:
				if len(q) >= 1 {
					c.EEODBCount = int(q[0])
				}
			case extHFSCDB:
				// HF-SCDB: two reserved bytes, then the HF-VSDB payload.
				if len(q) >= 4 && c.HDMIForum == nil {
					c.HDMIForum = parseHF(q[2:])
				}
			}
		default:
			c.UnknownBlocks++
		}
	}
	// The capability map indexes the SVDs of the Video Data Block(s) in
	// order; an empty map means all of them.
	if c.cmapAll {
		c.YCbCr420Also = append(c.YCbCr420Also, c.VICs...)
	} else {
		for i, vic := range c.VICs {
			if i/8 < len(c.cmap) && c.cmap[i/8]&(1<<(i%8)) != 0 {
				c.YCbCr420Also = append(c.YCbCr420Also, vic)
			}
		}
	}
}

// svd decodes a short video descriptor: VICs 1-64 may carry the native flag
// (bit 7); codes 193-253 are VICs as they are; 0, 128, 254, 255 are
// reserved.
func svd(s byte) (vic int, native bool) {
	switch {
	case s == 0 || s == 128 || s >= 254:
		return 0, false
	case s >= 129 && s <= 192:
		return int(s & 0x7f), true
	}
	return int(s), false
}

func parseHDMIVSDB(p []byte) (*HDMI, []int) {
	h := &HDMI{}
	if len(p) >= 5 {
		h.PhysicalAddress = fmt.Sprintf("%d.%d.%d.%d", p[3]>>4, p[3]&0xf, p[4]>>4, p[4]&0xf)
	}
	if len(p) >= 6 {
		f := p[5]
		h.SupportsAI, h.DeepColor48, h.DeepColor36 = f&0x80 != 0, f&0x40 != 0, f&0x20 != 0
		h.DeepColor30, h.DeepColorY444, h.DVIDual = f&0x10 != 0, f&0x08 != 0, f&0x01 != 0
	}
	if len(p) >= 7 && p[6] != 0 {
		h.MaxTMDSKHz = int(p[6]) * 5000
	}
	var vics []int
	if len(p) < 8 {
		return h, nil
	}
	flags := p[7]
	i := 8
	if flags&0x80 != 0 { // latency fields
		i += 2
	}
	if flags&0x40 != 0 { // interlaced latency fields
		i += 2
	}
	if flags&0x20 == 0 || i+2 > len(p) { // no HDMI video present
		return h, nil
	}
	vicLen := int(p[i+1] >> 5)
	i += 2
	for j := 0; j < vicLen && i+j < len(p); j++ {
		if v := int(p[i+j]); v != 0 {
			vics = append(vics, v)
		}
	}
	return h, vics
}

// parseHF decodes the HF-VSDB payload from its version byte on.
func parseHF(q []byte) *HDMIForum {
	f := &HDMIForum{Version: int(q[0])}
	if len(q) >= 2 {
		f.MaxTMDSCharacterRateKHz = int(q[1]) * 5000
	}
	if len(q) >= 3 {
		f.SCDCPresent = q[2]&0x80 != 0
	}
	if len(q) >= 4 {
		f.DeepColor420_48 = q[3]&0x04 != 0
		f.DeepColor420_36 = q[3]&0x02 != 0
		f.DeepColor420_30 = q[3]&0x01 != 0
		f.MaxFRLRate = int(q[3] >> 4)
	}
	return f
}
