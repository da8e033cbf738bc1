package hdmid

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// DefaultSysfs is where the kernel lists DRM connectors.
const DefaultSysfs = "/sys/class/drm"

// Connector is one DRM connector, e.g. card0-HDMI-A-1.
type Connector struct {
	Name      string
	Connected bool
	// EDID is what the display sent; empty when none was read (some
	// virtual displays and KVM switches send none).
	EDID []byte
}

// maxEDID bounds the EDID read (HF-EEODB EDIDs have up to 256 blocks).
const maxEDID = 256 * 128

// ScanConnectors reads every connector under root (a directory holding
// <card>-<connector> entries, each with a "status" file and an "edid"
// file). A missing root is no connectors, not an error.
func ScanConnectors(root string) ([]Connector, error) {
	matches, err := filepath.Glob(filepath.Join(root, "*", "status"))
	if err != nil {
		return nil, err
	}
	var out []Connector
	for _, st := range matches {
		dir := filepath.Dir(st)
		b, err := readSmall(st, 64)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // unplugged between the glob and the read
			}
			return nil, err
		}
		c := Connector{Name: filepath.Base(dir), Connected: strings.TrimSpace(string(b)) == "connected"}
		if c.Connected {
			e, err := readSmall(filepath.Join(dir, "edid"), maxEDID)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			c.EDID = e
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Connector) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func readSmall(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return b, nil
}

// pick is the connector the screen goes to: the first connected one, HDMI
// before the others (a box with HDMI and DisplayPort plugged into a TV and
// a monitor shows the status on the TV).
func pick(cs []Connector) (Connector, bool) {
	var best Connector
	found := false
	for _, c := range cs {
		if !c.Connected {
			continue
		}
		if !found || (isHDMI(c.Name) && !isHDMI(best.Name)) {
			best, found = c, true
		}
	}
	return best, found
}

func isHDMI(name string) bool { return strings.Contains(name, "-HDMI-") }

// key identifies what was plugged in, to notice a change.
func (c Connector) key() string {
	if !c.Connected {
		return ""
	}
	return fmt.Sprintf("%s/%x", c.Name, sha256.Sum256(c.EDID))
}
