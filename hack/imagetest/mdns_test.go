package imagetest

import (
	"encoding/binary"
	"image"
	"os"
	"path/filepath"
	"testing"

	"oepc.dev/oepcos/hdmi/screen"
	"oepc.dev/oepcos/hdmi/screen/screentest"
	"oepc.dev/oepcos/packages/hdmid"
)

// frame is an Ethernet frame carrying UDP to dst:port with payload.
func frame(dst [4]byte, port uint16, payload []byte) []byte {
	f := make([]byte, 14+20+8)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[9] = 0x45, 17
	copy(ip[12:], []byte{10, 0, 2, 15})
	copy(ip[16:], dst[:])
	binary.BigEndian.PutUint16(ip[20+2:], port)
	return append(f, payload...)
}

func pcapFile(frames ...[]byte) []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b, 0xa1b2c3d4)
	for _, f := range frames {
		h := make([]byte, 16)
		binary.LittleEndian.PutUint32(h[8:], uint32(len(f)))
		binary.LittleEndian.PutUint32(h[12:], uint32(len(f)))
		b = append(append(b, h...), f...)
	}
	return b
}

func TestMDNSAnnouncements(t *testing.T) {
	ann := append([]byte("\x00\x00\x84\x00\x00\x00\x00\x01\x00\x00\x00\x00\x0bOEPC oepc-1"), oepcService...)
	mdns := [4]byte{224, 0, 0, 251}
	p := filepath.Join(t.TempDir(), "net.pcap")
	full := pcapFile(
		frame(mdns, 5353, ann),                         // counted
		frame([4]byte{10, 0, 2, 2}, 5353, ann),         // not to the group
		frame(mdns, 5354, ann),                         // not the mDNS port
		frame(mdns, 5353, []byte("\x05_http\x04_tcp")), // another service
		frame(mdns, 5353, ann),                         // counted
	)
	// A record half-written at the end is left for later.
	if err := os.WriteFile(p, full[:len(full)-5], 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := MDNSAnnouncements(p); err != nil || n != 1 {
		t.Errorf("half-written: %d, %v; want 1", n, err)
	}
	if err := os.WriteFile(p, full, 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := MDNSAnnouncements(p); err != nil || n != 2 {
		t.Errorf("%d, %v; want 2", n, err)
	}
	if err := os.WriteFile(p, []byte("not a pcap file at all, no"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := MDNSAnnouncements(p); err == nil {
		t.Error("bad magic accepted")
	}
}

func FuzzMDNSAnnouncements(f *testing.F) {
	f.Add(pcapFile(frame([4]byte{224, 0, 0, 251}, 5353, oepcService)))
	f.Add([]byte{0xd4, 0xc3, 0xb2, 0xa1})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "f.pcap")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		MDNSAnnouncements(p) // must not panic
	})
}

// regionIs tells the screen's "cannot reach oepcd" footer from the
// footer of a box whose state is known, on a picture as hdmid draws it.
func TestRegionIs(t *testing.T) {
	r, err := screen.NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	st := screentest.Full()
	st.Problem = hdmid.ProblemNoOepcd
	if !regionIs(r.Render(1280, 800, st), screen.Status{Problem: hdmid.ProblemNoOepcd}, "footer") {
		t.Error("the problem footer not recognised")
	}
	if regionIs(r.Render(1280, 800, screentest.Full()), screen.Status{Problem: hdmid.ProblemNoOepcd}, "footer") {
		t.Error("a known box's footer taken for the problem")
	}
	if !pairingShownOK(r.Render(1280, 800, st), st.PairingCode) || pairingShownOK(r.Render(1280, 800, st), "111-222") {
		t.Error("pairingShown does not tell the right code from a wrong one")
	}
}

func pairingShownOK(pic *image.RGBA, code string) bool { return pairingShown(pic, code) == nil }
