package plctest

import (
	"bytes"
	"io"
	"os"
	"testing"
)

// TestPTYCarriesBytesRaw: bytes that a tty in cooked mode would translate
// (CR, ^C, 0x7F) cross the line unchanged in both directions.
func TestPTYCarriesBytesRaw(t *testing.T) {
	modem, path := PTY(t)
	host, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	frame := []byte{0x02, 0x62, 0x0d, 0x03, 0x7f, 0x0a, 0x11, 0xff}
	if _, err := host.Write(frame); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(frame))
	if _, err := io.ReadFull(modem, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, frame) {
		t.Fatalf("modem read % x, want % x", got, frame)
	}
	if _, err := modem.Write(frame); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(host, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, frame) {
		t.Fatalf("host read % x, want % x", got, frame)
	}
}
