package imagetest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// oepcService is _oepc._tcp.local as DNS labels, as an mDNS announcement
// carries it.
var oepcService = []byte("\x05_oepc\x04_tcp\x05local\x00")

// MDNSAnnouncements counts, in a pcap file QEMU's filter-dump wrote (the
// VM's network traffic, Ethernet frames), the UDP datagrams the guest sent
// to the mDNS group 224.0.0.251:5353 that name the _oepc._tcp service.
// Under user networking with restrict=on they reach no one: this file is
// the only place they are seen.
func MDNSAnnouncements(pcap string) (int, error) {
	b, err := os.ReadFile(pcap)
	if err != nil {
		return 0, err
	}
	if len(b) < 24 {
		return 0, errors.New("pcap: no header yet")
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4:
		bo = binary.LittleEndian
	case 0xd4c3b2a1:
		bo = binary.BigEndian
	default:
		return 0, fmt.Errorf("pcap: bad magic %x", b[:4])
	}
	n := 0
	for off := 24; off+16 <= len(b); {
		incl := int(bo.Uint32(b[off+8:]))
		off += 16
		if incl < 0 || off+incl > len(b) {
			break // a record still being written
		}
		f := b[off : off+incl]
		off += incl
		if len(f) < 14+20+8 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
			continue
		}
		ip := f[14:]
		ihl := int(ip[0]&0x0f) * 4
		if ip[9] != 17 || !bytes.Equal(ip[16:20], []byte{224, 0, 0, 251}) || len(ip) < ihl+8 {
			continue
		}
		if binary.BigEndian.Uint16(ip[ihl+2:]) != 5353 {
			continue
		}
		if bytes.Contains(bytes.ToLower(ip[ihl+8:]), oepcService) {
			n++
		}
	}
	return n, nil
}
