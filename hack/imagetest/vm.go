// Package imagetest boots OEPC OS images under QEMU (TCG, user-mode
// networking restricted to the forwards a test sets up) and talks to the box
// from the host: the local API, the gokrazy web interface and the serial
// console log. Its tests are the image boot test (TestBoot, "make
// test-image") and the image benchmark (TestBench, "make bench-image");
// both only run when asked (OEPC_IMAGE_TEST=1, OEPC_IMAGE_BENCH=1), because
// they build images and take minutes.
package imagetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// VMConfig describes one QEMU run.
type VMConfig struct {
	// Image is the raw disk image; the VM writes to it.
	Image string
	// Log receives the serial console (and QEMU's own messages).
	Log string
	// HostFwd maps guest TCP ports to host ports on 127.0.0.1.
	HostFwd map[int]int
	// GuestFwd lets the guest reach host services: guest address
	// (e.g. "10.0.2.100:4001") to host address (e.g. "127.0.0.1:4567").
	// Each connection is carried by one socat process started by QEMU.
	GuestFwd map[string]string
	// MemMB defaults to 1024.
	MemMB int
	// Extra is appended to QEMU's arguments (e.g. a display and a
	// monitor socket for the screen test).
	Extra []string
	// Modem, if set, is a host terminal (/dev/pts/N, the simulated modem's
	// line) joined to the guest's second serial port, ttyS1; the console
	// stays on the first.
	Modem string
	// UEFI boots with OVMF (Debian's ovmf package) instead of SeaBIOS's
	// legacy BIOS boot.
	UEFI bool
}

// OVMF is the UEFI firmware image of Debian's ovmf package.
const OVMF = "/usr/share/ovmf/OVMF.fd"

// VM is a running QEMU.
type VM struct {
	Config  VMConfig
	Started time.Time
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// netdev builds the -netdev argument. restrict=on: the guest reaches
// nothing but the virtual DHCP server and the explicit guest forwards, so
// gokrazy's NTP client and anything else in the image cannot talk to the
// internet through the host; host forwards bind 127.0.0.1 only.
func (c VMConfig) netdev() (string, error) {
	parts := []string{"user", "id=n0", "restrict=on"}
	for guest, host := range c.HostFwd {
		parts = append(parts, fmt.Sprintf("hostfwd=tcp:127.0.0.1:%d-:%d", host, guest))
	}
	for guest, host := range c.GuestFwd {
		if strings.ContainsAny(guest+host, ", ") {
			return "", fmt.Errorf("guest forward %s -> %s: no commas or spaces allowed", guest, host)
		}
		if h, _, err := net.SplitHostPort(host); err != nil || (h != "127.0.0.1" && h != "::1") {
			return "", fmt.Errorf("guest forward target %s must be on loopback", host)
		}
		parts = append(parts, fmt.Sprintf("guestfwd=tcp:%s-cmd:socat STDIO TCP:%s", guest, host))
	}
	return strings.Join(parts, ","), nil
}

// StartVM boots the image. The VM runs until Stop (or ctx is done); a guest
// reboot stays inside the same QEMU process, so forwards survive it.
func StartVM(ctx context.Context, c VMConfig) (*VM, error) {
	if c.MemMB == 0 {
		c.MemMB = 1024
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		return nil, errors.New("qemu-system-x86_64 not found: install qemu-system-x86 (make test-image does as root)")
	}
	if len(c.GuestFwd) > 0 {
		if _, err := exec.LookPath("socat"); err != nil {
			return nil, errors.New("socat not found: install socat (make test-image does as root)")
		}
	}
	nd, err := c.netdev()
	if err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(c.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	args := []string{
		"-accel", "tcg", "-cpu", "max", "-m", strconv.Itoa(c.MemMB), "-nographic",
		"-drive", "file=" + c.Image + ",format=raw,if=virtio",
		"-netdev", nd, "-device", "virtio-net-pci,netdev=n0",
	}
	if c.UEFI {
		if _, err := os.Stat(OVMF); err != nil {
			logf.Close()
			return nil, fmt.Errorf("UEFI firmware: %w (install ovmf; make test-image does as root)", err)
		}
		args = append(args, "-bios", OVMF)
	}
	if c.Modem != "" {
		// QEMU takes a -serial starting with /dev/ as a host terminal.
		if !strings.HasPrefix(c.Modem, "/dev/") || strings.ContainsAny(c.Modem, ", ") {
			logf.Close()
			return nil, fmt.Errorf("modem line %q: want a /dev/ terminal path", c.Modem)
		}
		args = append(args, "-serial", "mon:stdio", "-serial", c.Modem)
	}
	args = append(args, c.Extra...)
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	vm := &VM{Config: c, cmd: cmd, done: make(chan struct{})}
	vm.Started = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting qemu: %w", err)
	}
	go func() {
		vm.err = cmd.Wait()
		logf.Close()
		close(vm.done)
	}()
	return vm, nil
}

// Exited reports whether QEMU has exited, and how.
func (vm *VM) Exited() (bool, error) {
	select {
	case <-vm.done:
		return true, vm.err
	default:
		return false, nil
	}
}

// Stop ends QEMU (and the socat processes it started, which share its
// process group): SIGTERM, then SIGKILL after 5 s.
func (vm *VM) Stop() {
	if exited, _ := vm.Exited(); exited {
		return
	}
	pgid := vm.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-vm.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-vm.done
	}
}

// SerialSize is the current length of the serial log, to look only at
// what a later boot prints.
func (vm *VM) SerialSize() int64 {
	fi, err := os.Stat(vm.Config.Log)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// Serial returns the serial log from offset on.
func (vm *VM) Serial(offset int64) string {
	b, err := os.ReadFile(vm.Config.Log)
	if err != nil || offset > int64(len(b)) {
		return ""
	}
	return string(b[offset:])
}

var rootRE = regexp.MustCompile(`Kernel command line:.* root=(\S+)`)

// RootDevices lists the root= argument of every kernel boot in the serial
// log from offset on, in order (gokrazy: PARTNROFF=1 is root A, =2 root B).
func (vm *VM) RootDevices(offset int64) []string {
	var out []string
	for _, m := range rootRE.FindAllStringSubmatch(vm.Serial(offset), -1) {
		out = append(out, m[1])
	}
	return out
}

// Tail is the last n bytes of the serial log, for failure messages.
func (vm *VM) Tail(n int) string {
	s := vm.Serial(0)
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}
