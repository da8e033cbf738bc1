package hdmid

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Uevent is one kernel uevent message: "ACTION@DEVPATH\0KEY=VALUE\0...".
type Uevent struct {
	Action  string
	DevPath string
	Env     map[string]string
}

// maxUevent bounds a message (the kernel's UEVENT_BUFFER_SIZE is 2048).
const maxUevent = 8192

// ParseUevent decodes one kernel uevent datagram. It rejects udev's own
// re-broadcasts ("libudev" header), which only arrive on another group.
func ParseUevent(b []byte) (Uevent, error) {
	if len(b) > maxUevent {
		return Uevent{}, fmt.Errorf("uevent: %d bytes, more than %d", len(b), maxUevent)
	}
	parts := bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0})
	head := string(parts[0])
	action, path, ok := strings.Cut(head, "@")
	if !ok || action == "" || !strings.HasPrefix(path, "/") {
		return Uevent{}, fmt.Errorf("uevent: bad header %q", truncate(head, 64))
	}
	ev := Uevent{Action: action, DevPath: path, Env: map[string]string{}}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(string(p), "=")
		if !ok || k == "" {
			return Uevent{}, fmt.Errorf("uevent: bad field %q", truncate(string(p), 64))
		}
		ev.Env[k] = v
	}
	return ev, nil
}

// DRMHotplug reports whether ev may mean a display came or went: a change
// event of the drm subsystem (the kernel sends HOTPLUG=1 with it), or a
// DRM device added or removed.
func (ev Uevent) DRMHotplug() bool {
	return ev.Env["SUBSYSTEM"] == "drm"
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// ueventSocket listens for the kernel's uevents.
type ueventSocket struct{ f *os.File }

// openUevents opens a NETLINK_KOBJECT_UEVENT socket bound to the kernel's
// broadcast group. It fails where netlink is not allowed (some sandboxes);
// hdmid then polls sysfs more often.
func openUevents() (*ueventSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return nil, fmt.Errorf("uevent socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("uevent bind: %w", err)
	}
	// A non-blocking descriptor in an *os.File is served by Go's poller:
	// a read waits without a thread or a timer, and Close ends it.
	return &ueventSocket{f: os.NewFile(uintptr(fd), "uevent")}, nil
}

// run sends on kick (without blocking: one pending kick is enough) for
// every DRM uevent, until ctx ends or the socket fails.
func (s *ueventSocket) run(ctx context.Context, kick chan<- struct{}) error {
	stop := context.AfterFunc(ctx, func() { s.f.Close() })
	defer stop()
	buf := make([]byte, maxUevent)
	for {
		n, err := s.f.Read(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, os.ErrClosed) {
				return nil
			}
			if errors.Is(err, unix.ENOBUFS) {
				// Events were lost: rescan anyway.
				notify(kick)
				continue
			}
			return fmt.Errorf("uevent read: %w", err)
		}
		ev, err := ParseUevent(buf[:n])
		if err != nil {
			continue
		}
		if ev.DRMHotplug() {
			notify(kick)
		}
	}
}

func (s *ueventSocket) close() { s.f.Close() }

func notify(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
