// Package hdmidtest fakes the kernel's DRM connectors in a directory laid
// out like /sys/class/drm, for hdmid's tests and the devnet.
package hdmidtest

import (
	"os"
	"path/filepath"

	"oepc.dev/oepcos/packages/atomicfile"
)

// Sysfs is a fake /sys/class/drm.
type Sysfs struct{ Dir string }

// NewSysfs makes one in dir with the given connectors (e.g.
// "card0-HDMI-A-1"), all disconnected.
func NewSysfs(dir string, connectors ...string) (*Sysfs, error) {
	s := &Sysfs{Dir: dir}
	// The card itself has no status file and must be skipped.
	if err := os.MkdirAll(filepath.Join(dir, "card0"), 0o755); err != nil {
		return nil, err
	}
	for _, c := range connectors {
		if err := s.Disconnect(c); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Connect plugs a display with this EDID (nil: none sent) into connector.
// The EDID is written before the status, as the kernel has it ready when
// it reports "connected".
func (s *Sysfs) Connect(connector string, edid []byte) error {
	d := filepath.Join(s.Dir, connector)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(d, "edid"), edid, 0o444); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(d, "status"), []byte("connected\n"), 0o644)
}

// Disconnect unplugs connector's display.
func (s *Sysfs) Disconnect(connector string) error {
	d := filepath.Join(s.Dir, connector)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(d, "status"), []byte("disconnected\n"), 0o644); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(d, "edid"), nil, 0o444)
}
