package cli

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"oepc.dev/oepcos/packages/directio"
)

// A download of a size that is no multiple of the block size, arriving in
// odd pieces, lands whole, whether the file system takes direct I/O or not.
func TestDownloadWriter(t *testing.T) {
	for _, size := range []int{0, 1, directio.Align, downloadPiece, 3*downloadPiece + 12345, 7*downloadPiece - 1} {
		want := make([]byte, size)
		rand.Read(want)
		f, err := os.Create(filepath.Join(t.TempDir(), "out"))
		if err != nil {
			t.Fatal(err)
		}
		w := newDownloadWriter(f)
		for p := want; len(p) > 0; {
			n := min(len(p), 1+len(p)%777777)
			if _, err := w.Write(p[:n]); err != nil {
				t.Fatal(err)
			}
			p = p[n:]
		}
		if err := w.finish(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		got, _ := os.ReadFile(f.Name())
		if !bytes.Equal(got, want) {
			t.Fatalf("size %d: got %d bytes back, differing (direct %v)", size, len(got), w.direct)
		}
	}
}
