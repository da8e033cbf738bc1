package imagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	"golang.org/x/sys/unix"
)

// BoxSecrets are what a box shows its owner once, on its consoles, after
// its first boot (packages/bootguard, secrets.go).
type BoxSecrets struct {
	Password string // gokrazy_password
	Token    string // api_token
	Active   bool   // gokrazy_uses_password
}

var secretsRE = regexp.MustCompile(`gokrazy_password=([0-9a-f]{40}) api_token=([0-9a-f]{64}) gokrazy_uses_password=(true|false)`)

// SecretsShown returns every secrets line in the serial log from offset on.
func (vm *VM) SecretsShown(offset int64) []BoxSecrets {
	var out []BoxSecrets
	for _, m := range secretsRE.FindAllStringSubmatch(vm.Serial(offset), -1) {
		out = append(out, BoxSecrets{Password: m[1], Token: m[2], Active: m[3] == "true"})
	}
	return out
}

// WaitSecrets waits until the box shows its secrets on the serial console,
// as its owner would read them there.
func (vm *VM) WaitSecrets(ctx context.Context, offset int64, timeout time.Duration) (BoxSecrets, error) {
	var s BoxSecrets
	err := WaitFor(ctx, timeout, time.Second, func(context.Context) error {
		if exited, err := vm.Exited(); exited {
			return fmt.Errorf("qemu exited: %v", err)
		}
		all := vm.SecretsShown(offset)
		if len(all) == 0 {
			return errors.New("the box has not shown its secrets on the serial console yet")
		}
		s = all[0]
		return nil
	})
	return s, err
}

// FileContains reports which of needles occur in the file, reading only
// its data (the image files are sparse).
func FileContains(path string, needles ...string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	longest := 0
	for _, n := range needles {
		longest = max(longest, len(n))
	}
	found := map[string]bool{}
	buf := make([]byte, 4<<20)
	fd := int(f.Fd())
	for off := int64(0); off < fi.Size(); {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if err != nil {
			break // ENXIO: only a hole is left
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return nil, err
		}
		// Read the extent in pieces that overlap by a needle's length.
		var tail []byte
		for pos := data; pos < hole; {
			n, err := f.ReadAt(buf[:min(int64(len(buf)), hole-pos)], pos)
			if n == 0 && err != nil && err != io.EOF {
				return nil, err
			}
			if n == 0 {
				break
			}
			chunk := append(tail, buf[:n]...)
			for _, nd := range needles {
				if bytes.Contains(chunk, []byte(nd)) {
					found[nd] = true
				}
			}
			tail = append([]byte(nil), chunk[max(0, len(chunk)-longest):]...)
			pos += int64(n)
		}
		off = hole
	}
	return found, nil
}
