package insteon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"oepc.dev/oepcos/plc"
)

// Info asks the modem for its address, category and firmware (0x60).
func (m *Modem) Info(ctx context.Context) (IMInfo, error) {
	res, err := m.do(ctx, &request{frame: []byte{STX, CmdGetIMInfo}, idempotent: true})
	if err != nil {
		return IMInfo{}, err
	}
	return DecodeIMInfo(res.echo.Raw)
}

// GetConfig reads the modem's configuration byte (0x73).
func (m *Modem) GetConfig(ctx context.Context) (IMConfig, error) {
	res, err := m.do(ctx, &request{frame: []byte{STX, CmdGetIMConfig}, idempotent: true})
	if err != nil {
		return 0, err
	}
	return DecodeConfig(res.echo.Raw)
}

// SetConfig writes the modem's configuration byte (0x6B).
func (m *Modem) SetConfig(ctx context.Context, c IMConfig) error {
	_, err := m.do(ctx, &request{frame: EncodeSetConfig(c), idempotent: true})
	return err
}

// Send sends a direct message to msg.To and returns the device's ACK.
// Flags other than Extended are filled in (direct, MaxHops); an extended
// message gets its D14 checksum. A device NAK is plc.ErrNAK; no answer
// after Retries resends is plc.ErrNoAnswer.
func (m *Modem) Send(ctx context.Context, msg Message) (Message, error) {
	msg.Flags = Flags{Type: Direct, Extended: msg.Flags.Extended, HopsLeft: m.cfg.MaxHops, MaxHops: m.cfg.MaxHops}
	if msg.Flags.Extended {
		msg.SetChecksum()
	}
	to, cmd1 := msg.To, msg.Cmd1
	r := &request{
		frame: EncodeSend(msg), idempotent: true, timeout: m.cfg.ReplyTimeout,
		matchReply: func(f Frame, got *Message) bool {
			if got == nil || got.From != to || (got.Flags.Type != DirectACK && got.Flags.Type != DirectNAK) {
				return false
			}
			// An ACK repeats the command byte, so a late ACK of an earlier
			// command (sent twice after a lost echo) is not taken for this
			// one's. A status request's ACK carries the ALDB delta there
			// instead, and a NAK may too.
			return got.Cmd1 == cmd1 || cmd1 == CmdStatusRequest || got.Flags.Type == DirectNAK
		},
		replies: m.oneReply,
	}
	var err error
	for attempt := 0; attempt <= m.cfg.Retries; attempt++ {
		var res result
		res, err = m.do(ctx, r)
		if err == nil {
			ack, derr := DecodeReceived(res.replies[0].Raw)
			if derr != nil {
				return Message{}, derr
			}
			if ack.Flags.Type == DirectNAK {
				return ack, fmt.Errorf("%w: %s answered NAK to %s (%s)", plc.ErrNAK, to, InsteonCmdName(msg.Cmd1), nakReason(ack.Cmd2))
			}
			return ack, nil
		}
		if !errors.Is(err, errTimeout) {
			return Message{}, err
		}
		m.log.Warn("insteon: device did not answer", "address", to, "cmd", InsteonCmdName(msg.Cmd1), "attempt", attempt+1)
	}
	return Message{}, fmt.Errorf("%w: %s did not answer %s (out of range, unplugged, or not linked?)", plc.ErrNoAnswer, to, InsteonCmdName(msg.Cmd1))
}

func nakReason(cmd2 byte) string {
	switch cmd2 {
	case 0xFF:
		return "the modem is not in the device's ALL-Link database"
	case 0xFE:
		return "no load detected"
	case 0xFD:
		return "checksum error"
	case 0xFC:
		return "illegal command"
	case 0xFB:
		return "illegal value"
	}
	return fmt.Sprintf("reason 0x%02X", cmd2)
}

func (m *Modem) direct(ctx context.Context, a plc.Address, cmd1, cmd2 byte) (Message, error) {
	to, err := ParseAddress(string(a))
	if err != nil {
		return Message{}, err
	}
	return m.Send(ctx, Message{To: to, Cmd1: cmd1, Cmd2: cmd2})
}

func (m *Modem) switched(ctx context.Context, a plc.Address, cmd1, cmd2 byte, level plc.Level) error {
	ack, err := m.direct(ctx, a, cmd1, cmd2)
	if err != nil {
		return err
	}
	// The event names the device as every other event does (1A.2B.3C),
	// however the caller spelt it.
	m.emit(plc.Event{Time: m.cfg.Now(), Address: plc.Address(ack.From.String()), Kind: plc.EventState, Level: level, Command: InsteonCmdName(cmd1)})
	return nil
}

// On switches a device fully on (0x11, level 0xFF).
func (m *Modem) On(ctx context.Context, a plc.Address) error {
	return m.switched(ctx, a, CmdOn, 0xFF, 255)
}

// Off switches a device off (0x13).
func (m *Modem) Off(ctx context.Context, a plc.Address) error {
	return m.switched(ctx, a, CmdOff, 0x00, 0)
}

// FastOn switches a device fully on without its ramp (0x12).
func (m *Modem) FastOn(ctx context.Context, a plc.Address) error {
	return m.switched(ctx, a, CmdFastOn, 0xFF, 255)
}

// FastOff switches a device off without its ramp (0x14).
func (m *Modem) FastOff(ctx context.Context, a plc.Address) error {
	return m.switched(ctx, a, CmdFastOff, 0x00, 0)
}

// Dim sets a dimmer's level (0x11 with the level in cmd2; 0 is off).
func (m *Modem) Dim(ctx context.Context, a plc.Address, l plc.Level) error {
	if l == 0 {
		return m.Off(ctx, a)
	}
	return m.switched(ctx, a, CmdOn, byte(l), l)
}

// Status asks a device its level (0x19): the ACK carries it in cmd2.
func (m *Modem) Status(ctx context.Context, a plc.Address) (plc.Level, error) {
	ack, err := m.direct(ctx, a, CmdStatusRequest, 0x00)
	if err != nil {
		return 0, err
	}
	return plc.Level(ack.Cmd2), nil
}

// Ping checks that a device answers (0x0F).
func (m *Modem) Ping(ctx context.Context, a plc.Address) error {
	_, err := m.direct(ctx, a, CmdPing, 0x00)
	return err
}

// SceneResult is what the modem reported after firing a scene.
type SceneResult struct {
	// Failed lists the members that did not answer their cleanup (0x56).
	Failed []Address
}

// Scene fires ALL-Link group g of the modem (0x61): the members linked as
// its responders go to their on level (on) or off. It returns when the
// modem reports the cleanups done (0x58); a 0x58 NAK (interrupted
// cleanups) or failed members give ErrCleanup: a device result, not a
// busy modem, so it is not retried.
func (m *Modem) Scene(ctx context.Context, g byte, on bool) (SceneResult, error) {
	cmd1 := byte(CmdOff)
	if on {
		cmd1 = CmdOn
	}
	r := &request{
		frame: EncodeSendAllLink(g, cmd1, 0), idempotent: true, timeout: m.cfg.SceneTimeout,
		matchReply: func(f Frame, _ *Message) bool {
			return f.Cmd() == CmdCleanupStatus || f.Cmd() == CmdCleanupFailure
		},
		replies: func(ctx context.Context, w *waiter, timeout time.Duration) ([]Frame, error) {
			var got []Frame
			for {
				fs, err := m.oneReply(ctx, w, timeout)
				if err != nil {
					return got, err
				}
				got = append(got, fs...)
				if fs[0].Cmd() == CmdCleanupStatus {
					return got, nil
				}
			}
		},
	}
	res, err := m.do(ctx, r)
	var sr SceneResult
	for _, f := range res.replies {
		if f.Cmd() == CmdCleanupFailure {
			if _, a, derr := DecodeCleanupFailure(f.Raw); derr == nil {
				sr.Failed = append(sr.Failed, a)
			}
		}
	}
	if err != nil {
		return sr, err
	}
	last := res.replies[len(res.replies)-1]
	if !last.Acked() || len(sr.Failed) > 0 {
		return sr, fmt.Errorf("%w: group %d, members without an answer: %v", ErrCleanup, g, sr.Failed)
	}
	m.log.Info("insteon: scene fired", "group", g, "on", on)
	return sr, nil
}

// maxLinks bounds a database read (a 2413U holds about 1000 records).
const maxLinks = 4096

// Links reads the modem's ALL-Link database (0x69, then 0x6A until NAK;
// each record arrives as 0x57).
func (m *Modem) Links(ctx context.Context) ([]LinkRecord, error) {
	var out []LinkRecord
	cmd := byte(CmdGetFirstLink)
	for len(out) < maxLinks {
		r := &request{
			frame: []byte{STX, cmd}, nakIsAnswer: true, idempotent: false, timeout: m.cfg.EchoTimeout,
			matchReply: func(f Frame, _ *Message) bool { return f.Cmd() == CmdLinkRecord },
			replies:    m.oneReply,
		}
		res, err := m.do(ctx, r)
		if err != nil {
			return out, fmt.Errorf("reading the modem's ALL-Link database (record %d): %w", len(out), err)
		}
		if !res.echo.Acked() {
			return out, nil // no (more) records
		}
		rec, err := DecodeLinkRecord(res.replies[0].Raw)
		if err != nil {
			return out, err
		}
		out = append(out, rec)
		cmd = CmdGetNextLink
	}
	return out, fmt.Errorf("insteon: the modem's ALL-Link database has more than %d records; stopped reading", maxLinks)
}

// LastBackup is the database as read before the last change.
func (m *Modem) LastBackup() []LinkRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]LinkRecord(nil), m.backup...)
}

// AddLink adds (or modifies) one record of the modem's database,
// controller or responder as rec.Flags says. DeleteLink removes one. Both
// read the database first and hand it to Config.Backup, change only that
// one record (0x6F), and read the database back to check that the record
// changed and nothing else did.
func (m *Modem) AddLink(ctx context.Context, rec LinkRecord) error {
	rec.Flags |= LinkInUse
	code := ManageAddResponder
	if rec.Controller() {
		code = ManageAddController
	}
	return m.changeLink(ctx, code, rec)
}

// DeleteLink removes a record (matched by role, group and device).
func (m *Modem) DeleteLink(ctx context.Context, rec LinkRecord) error {
	rec.Flags |= LinkInUse
	return m.changeLink(ctx, ManageDelete, rec)
}

func (m *Modem) changeLink(ctx context.Context, code ManageCode, rec LinkRecord) error {
	before, err := m.Links(ctx)
	if err != nil {
		return fmt.Errorf("insteon: not changing the ALL-Link database: backing it up failed: %w", err)
	}
	m.mu.Lock()
	m.backup = append([]LinkRecord(nil), before...)
	m.mu.Unlock()
	if m.cfg.Backup != nil {
		if err := m.cfg.Backup(before); err != nil {
			return fmt.Errorf("insteon: not changing the ALL-Link database: saving its backup failed: %w", err)
		}
	}
	if code != ManageDelete {
		for _, r := range before {
			if r.Same(rec) && r.Data == rec.Data {
				return nil // already there
			}
		}
	}
	res, err := m.do(ctx, &request{frame: EncodeManageLink(code, rec), nakIsAnswer: true})
	if err != nil {
		return fmt.Errorf("insteon: changing ALL-Link record %v: %w", rec, err)
	}
	if !res.echo.Acked() {
		if code == ManageDelete {
			return fmt.Errorf("%w: %v", ErrNoRecord, rec)
		}
		return fmt.Errorf("insteon: the modem refused to add %v (database full?)", rec)
	}
	after, err := m.Links(ctx)
	if err != nil {
		return fmt.Errorf("insteon: ALL-Link record %v written but the read-back failed (backup of %d records kept): %w", rec, len(before), err)
	}
	if err := checkChange(before, after, code, rec); err != nil {
		m.log.Error("insteon: ALL-Link database read-back does not match", "err", err, "backup_records", len(before))
		return err
	}
	m.log.Info("insteon: ALL-Link database changed", "code", fmt.Sprintf("0x%02X", byte(code)), "record", rec.String(), "records", len(after))
	return nil
}

// checkChange: after must be before with exactly rec added (or updated) or
// removed.
func checkChange(before, after []LinkRecord, code ManageCode, rec LinkRecord) error {
	count := map[LinkRecord]int{}
	for _, r := range before {
		count[r]++
	}
	for _, r := range after {
		count[r]--
	}
	var missing, extra []LinkRecord
	for r, n := range count {
		for ; n > 0; n-- {
			missing = append(missing, r)
		}
		for ; n < 0; n++ {
			extra = append(extra, r)
		}
	}
	ok := false
	switch code {
	case ManageDelete:
		ok = len(extra) == 0 && len(missing) == 1 && missing[0].Same(rec)
	default:
		ok = len(extra) == 1 && extra[0] == rec && (len(missing) == 0 || (len(missing) == 1 && missing[0].Same(rec)))
	}
	if !ok {
		return fmt.Errorf("insteon: the ALL-Link database changed more than asked (lost %v, gained %v); restore it from the backup", missing, extra)
	}
	return nil
}

// Link starts ALL-Linking (0x64) for group g and waits until a device's
// SET button completes it (0x53) or ctx ends, then cancels (0x65).
func (m *Modem) Link(ctx context.Context, code LinkCode, g byte) (LinkingCompleted, error) {
	m.linkMu.Lock()
	defer m.linkMu.Unlock()
	for {
		select { // drop a stale report
		case <-m.linked:
			continue
		default:
		}
		break
	}
	if _, err := m.do(ctx, &request{frame: EncodeStartLinking(code, g), idempotent: true}); err != nil {
		return LinkingCompleted{}, err
	}
	select {
	case l := <-m.linked:
		return l, nil
	case <-ctx.Done():
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := m.do(cctx, &request{frame: []byte{STX, CmdCancelLinking}, idempotent: true}); err != nil {
			m.log.Warn("insteon: cancelling all-linking failed", "err", err)
		}
		return LinkingCompleted{}, fmt.Errorf("%w: no device joined group %d: %v", plc.ErrNoAnswer, g, ctx.Err())
	case <-m.closing:
		return LinkingCompleted{}, ErrClosed
	}
}

// CancelLinking stops ALL-Linking mode (0x65).
func (m *Modem) CancelLinking(ctx context.Context) error {
	_, err := m.do(ctx, &request{frame: []byte{STX, CmdCancelLinking}, idempotent: true})
	return err
}
