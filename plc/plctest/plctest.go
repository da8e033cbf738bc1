// Package plctest gives tests a real serial line: a pseudo-terminal pair in
// raw mode, whose one end a driver opens as a serial port and whose other
// end a simulated modem serves.
package plctest

import (
	"os"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// PTY opens a pseudo-terminal in raw mode and returns its controlling end
// (for the simulated modem) and the path of its terminal end (for the
// driver, as it would open /dev/ttyUSB0). Both are closed when t ends.
func PTY(t testing.TB) (modem *os.File, path string) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	if err := makeRaw(tty); err != nil {
		t.Fatalf("pty raw mode: %v", err)
	}
	path = tty.Name()
	// The driver opens the path itself; keeping tty open here keeps the
	// line up between the driver's reconnects, as a plugged-in adapter does.
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	return ptmx, path
}

// makeRaw turns off echo, line editing and character translation, as a
// serial port in 8N1 raw mode has them off.
func makeRaw(f *os.File) error {
	fd := int(f.Fd())
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	tio.Cflag &^= unix.CSIZE | unix.PARENB
	tio.Cflag |= unix.CS8
	tio.Cc[unix.VMIN] = 1
	tio.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, tio)
}
