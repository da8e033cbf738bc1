package insteon

import "fmt"

// A device's own ALL-Link database, and linking a device remotely.
//
// From the INSTEON command tables (Insteon "Command Tables" 2007-2013,
// "INSTEON Developer's Guide", the i2CS changes) as pyinsteon,
// insteon-terminal and openHAB's binding use them:
//
//   - Enter Linking Mode, cmd1 0x09, cmd2 = the group: a remote press of the
//     device's SET button. An i2CS device takes it only as an extended
//     message (D1-D13 zero, D14 the checksum); it ACKs, then joins the
//     modem's linking session as a SET press would: as the responder of a
//     modem in linking mode as controller.
//   - Read/Write ALDB, cmd1 0x2F, cmd2 0x00, extended:
//     D1 unused, D2 the action (0x00 read, 0x01 a record in answer, 0x02
//     write), D3-D4 the record's memory address (high byte first; the
//     first record is at 0x0FFF, each next one 8 bytes lower), D5 how many
//     records to read (0: all; 1: one) or, to write, how many bytes (8),
//     D6-D13 the record (flags, group, ID(3), data 1-3), D14 the checksum.
//     A read is ACKed, then each record comes as an extended direct message
//     0x2F 0x00 with D2 = 0x01. A write is ACKed.
//   - A record's flags: bit 7 in use, bit 6 controller (else responder),
//     bit 1 "used before": the first record with it clear ends the
//     database (the high-water mark). A responder's data are its on
//     level, its ramp rate and its button.
const (
	CmdEnterLinking = 0x09
	CmdExitLinking  = 0x08
	CmdReadWriteDB  = 0x2F
)

// The D2 actions of Read/Write ALDB.
const (
	ALDBRead   = 0x00
	ALDBRecord = 0x01
	ALDBWrite  = 0x02
)

const (
	// ALDBFirst is the memory address of a device's first ALDB record.
	ALDBFirst uint16 = 0x0FFF
	// ALDBRecordSize: each next record is this much lower.
	ALDBRecordSize = 8
	// LinkUsedBefore is a record's high-water bit: clear on the first
	// record never used, which ends the database.
	LinkUsedBefore = 0x02
)

// DefaultRamp is the ramp rate homed writes in a responder record: 0x1C,
// half a second (the ramp table of the SwitchLinc/LampLinc dimmers; 0x1F is
// 0.1 s, 0x00 is 9 minutes).
const DefaultRamp = 0x1C

// EnterLinkingMsg is the extended Enter Linking Mode (0x09) for group g.
func EnterLinkingMsg(to Address, g byte) Message {
	m := Message{To: to, Flags: Flags{Type: Direct, Extended: true}, Cmd1: CmdEnterLinking, Cmd2: g}
	m.SetChecksum()
	return m
}

// ALDBReadMsg asks a device for n records (0: all) from memory address at.
func ALDBReadMsg(to Address, at uint16, n byte) Message {
	m := Message{To: to, Flags: Flags{Type: Direct, Extended: true}, Cmd1: CmdReadWriteDB}
	m.Data[1] = ALDBRead
	m.Data[2], m.Data[3] = byte(at>>8), byte(at)
	m.Data[4] = n
	m.SetChecksum()
	return m
}

// ALDBWriteMsg writes one record at memory address at.
func ALDBWriteMsg(to Address, at uint16, r LinkRecord) Message {
	m := Message{To: to, Flags: Flags{Type: Direct, Extended: true}, Cmd1: CmdReadWriteDB}
	m.Data[1] = ALDBWrite
	m.Data[2], m.Data[3] = byte(at>>8), byte(at)
	m.Data[4] = 8
	putRecord(m.Data[5:13], r)
	m.SetChecksum()
	return m
}

// ALDBRecordMsg is a device's answer to a read: one record.
func ALDBRecordMsg(from, to Address, at uint16, r LinkRecord) Message {
	m := Message{From: from, To: to, Flags: Flags{Type: Direct, Extended: true}, Cmd1: CmdReadWriteDB}
	m.Data[1] = ALDBRecord
	m.Data[2], m.Data[3] = byte(at>>8), byte(at)
	putRecord(m.Data[5:13], r)
	m.SetChecksum()
	return m
}

func putRecord(d []byte, r LinkRecord) {
	d[0], d[1] = r.Flags, r.Group
	copy(d[2:5], r.Address[:])
	copy(d[5:8], r.Data[:])
}

func getRecord(d []byte) LinkRecord {
	r := LinkRecord{Flags: d[0], Group: d[1]}
	copy(r.Address[:], d[2:5])
	copy(r.Data[:], d[5:8])
	return r
}

// ALDBOp is a decoded Read/Write ALDB message.
type ALDBOp struct {
	Action byte   // ALDBRead, ALDBRecord or ALDBWrite
	At     uint16 // the record's memory address
	Count  byte   // read: records wanted (0 all); write: bytes (8)
	Record LinkRecord
}

// DecodeALDB reads an extended 0x2F message (a host's read or write, or a
// device's record). Its checksum must hold.
func DecodeALDB(m Message) (ALDBOp, error) {
	var op ALDBOp
	if m.Cmd1 != CmdReadWriteDB || !m.Flags.Extended {
		return op, fmt.Errorf("%w: not an extended read/write ALDB message: %s", ErrFrame, m)
	}
	if !m.ChecksumOK() {
		return op, fmt.Errorf("%w: read/write ALDB: checksum %02X, want %02X", ErrFrame, m.Data[13], Checksum(m.Cmd1, m.Cmd2, m.Data[:13]))
	}
	op.Action = m.Data[1]
	op.At = uint16(m.Data[2])<<8 | uint16(m.Data[3])
	op.Count = m.Data[4]
	switch op.Action {
	case ALDBRead:
	case ALDBRecord:
		op.Record = getRecord(m.Data[5:13])
	case ALDBWrite:
		if op.Count != 8 {
			return op, fmt.Errorf("%w: ALDB write of %d bytes, want 8", ErrFrame, op.Count)
		}
		op.Record = getRecord(m.Data[5:13])
	default:
		return op, fmt.Errorf("%w: read/write ALDB action 0x%02X", ErrFrame, op.Action)
	}
	return op, nil
}

// DeviceLink is one record of a device's ALDB and where it is.
type DeviceLink struct {
	At uint16
	LinkRecord
}

// InUse says whether the record is a live link.
func (r LinkRecord) InUse() bool { return r.Flags&LinkInUse != 0 }

// End says whether the record marks the end of a device's database.
func (r LinkRecord) End() bool { return r.Flags&LinkUsedBefore == 0 }
