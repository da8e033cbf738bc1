// Package insteon drives an Insteon PowerLinc Modem (2413U/2413S, 19200
// 8N1) over an io.ReadWriteCloser, usually a *serialport.Port, and
// implements plc.Modem.
//
// How it behaves, from what users of pyinsteon, openHAB's binding and
// insteon-terminal ran into:
//   - One writer: one command is on the line at a time; the modem's echo
//     and ACK are awaited with a bounded timeout, then the device's own
//     ACK. The queue in front of the writer is bounded.
//   - A NAK from the modem (a lone 0x15, or an echo ending in 0x15) means
//     "busy": the command is sent again with backoff, up to a cap. A 0x15
//     that belongs to a frame (the status of 0x58, an unknown frame's
//     payload) is never taken for "busy"; an echo NAK of 0x69/0x6A/0x6F is
//     that command's answer ("no more records", "no match").
//   - Writes are paced, and after garbage on the line the parser
//     resynchronises on STX (0x02).
//   - The copies of one message that arrive over several hops are one
//     event (see dedup), without swallowing a real second press.
//   - The modem's ALL-Link database is never wiped and rewritten: a change
//     is one 0x6F, with the database backed up before and read back after.
package insteon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"oepc.dev/oepcos/plc"
	"oepc.dev/oepcos/plc/serialport"
)

// Baud is the PowerLinc Modem's serial speed (8N1).
const Baud = 19200

var (
	// ErrBusy: the modem kept answering NAK (busy) after every retry.
	ErrBusy = errors.New("insteon: the modem stayed busy (NAK) after retries; try again later")
	// ErrNoRecord: the modem has no such ALL-Link record (or no more).
	ErrNoRecord = errors.New("insteon: no such ALL-Link record")
	// ErrClosed: the modem was closed.
	ErrClosed = errors.New("insteon: modem closed")
	// ErrCleanup: a scene fired but not every member confirmed it.
	ErrCleanup = errors.New("insteon: not every scene member confirmed")
)

// Config tunes the driver. The zero value works.
type Config struct {
	Logger *slog.Logger
	// MaxHops for the messages this driver sends (0-3). Default 3.
	MaxHops uint8
	// EchoTimeout: how long the modem may take to echo a command. Default 1 s.
	EchoTimeout time.Duration
	// ReplyTimeout: how long a device may take to ACK a direct command.
	// Default 2 s (a 3-hop message and its 3-hop ACK take 400 ms; the modem's
	// Insteon engine retries on its own).
	ReplyTimeout time.Duration
	// SceneTimeout: how long a scene's cleanups may take. Default 6 s.
	SceneTimeout time.Duration
	// LinkTimeout: how long a device told to enter linking mode may take
	// to join the modem's group (0x53). Default 20 s.
	LinkTimeout time.Duration
	// Retries: how many more times a direct command is sent when its
	// device did not answer. Default 1; negative means none.
	Retries int
	// BusyRetries caps the resends after the modem said busy. Default 6.
	BusyRetries int
	// BusyBackoff is the first wait after busy; it doubles up to 1 s.
	// Default 40 ms.
	BusyBackoff time.Duration
	// WriteGap: the least time between the end of one exchange and the
	// next write. Default 5 ms.
	WriteGap time.Duration
	// Quiet: a partial frame is given up when no byte came for this long
	// (at 19200 baud a frame's bytes come 0.5 ms apart). Default 100 ms.
	Quiet time.Duration
	// DupWindow and CleanupWindow: see dedup. Defaults 400 ms and 3 s.
	DupWindow, CleanupWindow time.Duration
	// Events is the event channel's capacity. Default 64.
	Events int
	// Backup receives the modem's ALL-Link database before each change
	// (e.g. write it with atomicfile). Nil: the backup is kept in memory
	// only (LastBackup).
	Backup func([]LinkRecord) error
	// OnFrame, if set, sees every unit read from the line (plctool monitor).
	// It runs on the reader: it must not block.
	OnFrame func(Frame)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxHops == 0 || c.MaxHops > 3 {
		c.MaxHops = 3
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.EchoTimeout, time.Second)
	def(&c.ReplyTimeout, 2*time.Second)
	def(&c.SceneTimeout, 6*time.Second)
	def(&c.LinkTimeout, 20*time.Second)
	def(&c.BusyBackoff, 40*time.Millisecond)
	def(&c.WriteGap, 5*time.Millisecond)
	def(&c.Quiet, 100*time.Millisecond)
	def(&c.DupWindow, 400*time.Millisecond)
	def(&c.CleanupWindow, 3*time.Second)
	if c.Retries < 0 {
		c.Retries = 0
	} else if c.Retries == 0 {
		c.Retries = 1
	}
	if c.BusyRetries <= 0 {
		c.BusyRetries = 6
	}
	if c.Events <= 0 {
		c.Events = 64
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Modem is a PowerLinc Modem on one serial line.
type Modem struct {
	cfg  Config
	log  *slog.Logger
	port io.ReadWriteCloser

	reqs    chan *request
	chunks  chan readResult
	closing chan struct{}
	once    sync.Once
	wg      sync.WaitGroup

	mu     sync.Mutex
	waiter *waiter
	linked chan LinkingCompleted
	backup []LinkRecord
	// selfAddr is the modem's own address, once asked.
	selfAddr  Address
	selfKnown bool

	// linkMu: one linking session at a time (the modem has one linking mode).
	linkMu sync.Mutex

	evMu     sync.Mutex
	events   chan plc.Event
	evClosed bool
	dropped  int

	dedup *dedup // the dispatcher's own
}

var _ plc.Modem = (*Modem)(nil)

type readResult struct {
	b   []byte
	err error
}

// New starts the driver on port; Close stops it and closes port.
func New(port io.ReadWriteCloser, cfg Config) *Modem {
	cfg.defaults()
	m := &Modem{
		cfg: cfg, log: cfg.Logger, port: port,
		reqs:    make(chan *request, 16),
		chunks:  make(chan readResult, 16),
		closing: make(chan struct{}),
		events:  make(chan plc.Event, cfg.Events),
		linked:  make(chan LinkingCompleted, 4),
		dedup:   newDedup(cfg.DupWindow, cfg.CleanupWindow, 256),
	}
	m.wg.Add(3)
	go m.readPump()
	go m.dispatch()
	go m.writer()
	return m
}

// Close stops the driver and closes the port. Pending commands fail with
// ErrClosed; Events is closed.
func (m *Modem) Close() error {
	var err error
	m.once.Do(func() {
		close(m.closing)
		err = m.port.Close()
		m.wg.Wait()
		m.evMu.Lock()
		m.evClosed = true
		close(m.events)
		m.evMu.Unlock()
	})
	return err
}

// Events delivers device events (merged over hops) until Close.
func (m *Modem) Events() <-chan plc.Event { return m.events }

func (m *Modem) emit(e plc.Event) {
	m.evMu.Lock()
	defer m.evMu.Unlock()
	if m.evClosed {
		return
	}
	select {
	case m.events <- e:
		return
	default:
	}
	select {
	case old := <-m.events:
		m.dropped++
		m.log.Warn("insteon: event reader behind, dropped the oldest event", "address", old.Address, "command", old.Command, "dropped", m.dropped)
	default:
	}
	select {
	case m.events <- e:
	default:
	}
}

// readPump moves what the port reads to the dispatcher.
func (m *Modem) readPump() {
	defer m.wg.Done()
	buf := make([]byte, 256)
	wait := 10 * time.Millisecond
	for {
		n, err := m.port.Read(buf)
		if n > 0 {
			wait = 10 * time.Millisecond
			b := append([]byte(nil), buf[:n]...)
			select {
			case m.chunks <- readResult{b: b}:
			case <-m.closing:
				return
			}
		}
		if err == nil {
			continue
		}
		select {
		case <-m.closing:
			return
		case m.chunks <- readResult{err: err}:
		}
		if errors.Is(err, serialport.ErrClosed) {
			return
		}
		if !errors.Is(err, serialport.ErrUnplugged) {
			// A port that keeps failing (a closed pipe, a dead tty without
			// a serialport in front): do not spin.
			select {
			case <-m.closing:
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, time.Second)
		}
	}
}

// dispatch parses the line and routes each unit: to the command in flight,
// to the linking waiter, or to Events.
func (m *Modem) dispatch() {
	defer m.wg.Done()
	p := NewParser(FromModem)
	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	for {
		select {
		case <-m.closing:
			return
		case <-quiet.C:
			if f, ok := p.Flush(); ok {
				m.log.Warn("insteon: partial frame given up (bytes lost on the line)", "hex", f.Hex())
				m.route(f)
			}
		case r := <-m.chunks:
			if r.err != nil {
				m.lineError(p, r.err)
				continue
			}
			p.Feed(r.b)
			for {
				f, ok := p.Next()
				if !ok {
					break
				}
				m.route(f)
			}
			quiet.Stop()
			if p.Pending() > 0 {
				quiet.Reset(m.cfg.Quiet)
			}
		}
	}
}

func (m *Modem) lineError(p *Parser, err error) {
	if f, ok := p.Flush(); ok {
		m.log.Warn("insteon: partial frame dropped", "hex", f.Hex())
	}
	if errors.Is(err, serialport.ErrClosed) {
		return
	}
	m.log.Warn("insteon: serial line error", "err", err)
	m.mu.Lock()
	w := m.waiter
	m.mu.Unlock()
	if w != nil {
		w.failWith(fmt.Errorf("%w: the modem went away: %v", plc.ErrNoAnswer, err))
	}
}

func (m *Modem) route(f Frame) {
	if m.cfg.OnFrame != nil {
		m.cfg.OnFrame(f)
	}
	switch f.Kind {
	case KindGarbage:
		m.log.Warn("insteon: garbage on the line, resynchronised", "hex", f.Hex())
		return
	case KindBusy:
		if !m.toWaiter(f, phaseEcho, nil) {
			m.log.Warn("insteon: modem NAK with no command waiting")
		}
		return
	}
	cmd := f.Cmd()
	switch {
	case IsEcho(cmd):
		if !m.toWaiter(f, phaseEcho, nil) {
			m.log.Warn("insteon: stray echo (its command already gave up)", "hex", f.Hex())
		}
	case cmd == CmdStandardReceived || cmd == CmdExtendedReceived:
		msg, err := DecodeReceived(f.Raw)
		if err != nil {
			m.log.Warn("insteon: bad message", "err", err)
			return
		}
		if m.dedup.seen(msg, m.cfg.Now()) {
			m.log.Debug("insteon: duplicate over hops merged", "msg", msg.String())
			return
		}
		if m.toWaiter(f, phaseReply, &msg) {
			return
		}
		m.message(msg)
	case cmd == CmdLinkRecord || cmd == CmdCleanupStatus || cmd == CmdCleanupFailure:
		if !m.toWaiter(f, phaseReply, nil) {
			m.log.Info("insteon: unsolicited report", "cmd", CmdName(cmd), "hex", f.Hex())
		}
	case cmd == CmdLinkingCompleted:
		l, err := DecodeLinkingCompleted(f.Raw)
		if err != nil {
			return
		}
		m.log.Info("insteon: all-linking completed", "address", l.Address, "group", l.Group, "code", l.Code)
		select {
		case m.linked <- l:
		default:
		}
	case cmd == CmdUserReset:
		m.log.Warn("insteon: the modem was reset with its SET button: its ALL-Link database is erased; restore it from the last backup")
	default:
		m.log.Info("insteon: report", "cmd", CmdName(cmd), "hex", f.Hex())
	}
}

// message turns an unsolicited message from a device into an event.
func (m *Modem) message(msg Message) {
	now := m.cfg.Now()
	switch msg.Flags.Type {
	case GroupBroadcast, GroupCleanup:
		e := plc.Event{Time: now, Address: plc.Address(msg.From.String()), Group: msg.Group(), Command: InsteonCmdName(msg.Cmd1)}
		switch msg.Cmd1 {
		case CmdOn, CmdFastOn:
			e.Level = 255
		case CmdOff, CmdFastOff:
			e.Level = 0
		case 0x06: // the controller's success report after its cleanups
			return
		default:
			e.Kind = plc.EventButton
		}
		if e.Kind == "" {
			e.Kind = plc.EventState
			if e.Group > 1 {
				e.Kind = plc.EventButton
			}
		}
		m.log.Info("insteon: device event", "address", e.Address, "group", e.Group, "command", e.Command, "level", e.Level, "hops_left", msg.Flags.HopsLeft)
		m.emit(e)
	case Broadcast:
		if msg.Cmd1 == CmdSetButton || msg.Cmd1 == CmdAssignToGroup {
			m.emit(plc.Event{Time: now, Address: plc.Address(msg.From.String()), Kind: plc.EventButton, Command: "set-button"})
		}
		m.log.Info("insteon: broadcast", "msg", msg.String())
	default:
		m.log.Debug("insteon: message nobody waits for", "msg", msg.String())
	}
}

const (
	phaseEcho = iota + 1
	phaseReply
)

// waiter is the command in flight.
type waiter struct {
	sent       []byte
	phase      int
	echo       chan Frame
	reply      chan Frame
	fail       chan error
	matchReply func(Frame, *Message) bool
}

func (w *waiter) failWith(err error) {
	select {
	case w.fail <- err:
	default:
	}
}

// echoMatches: an echo is the sent frame plus ACK/NAK.
func (w *waiter) echoMatches(f Frame) bool {
	if f.Kind == KindBusy {
		return true
	}
	if c := w.sent[1]; c == CmdGetIMInfo || c == CmdGetIMConfig {
		return f.Cmd() == c // these echoes carry the answer
	}
	n := len(w.sent)
	return len(f.Raw) == n+1 && string(f.Raw[:n]) == string(w.sent)
}

func (m *Modem) toWaiter(f Frame, phase int, msg *Message) bool {
	m.mu.Lock()
	w := m.waiter
	m.mu.Unlock()
	if w == nil {
		return false
	}
	m.mu.Lock()
	cur := w.phase
	m.mu.Unlock()
	switch phase {
	case phaseEcho:
		if cur != phaseEcho || !w.echoMatches(f) {
			return false
		}
		select {
		case w.echo <- f:
		default:
		}
		return true
	case phaseReply:
		// A reply may beat the writer to the phase change: accept it in
		// either phase once the echo is in.
		if w.matchReply == nil || !w.matchReply(f, msg) {
			return false
		}
		select {
		case w.reply <- f:
		default:
			m.log.Warn("insteon: reply dropped, waiter full", "hex", f.Hex())
		}
		return true
	}
	return false
}

// request is one command for the writer.
type request struct {
	ctx   context.Context
	frame []byte
	// nakIsAnswer: an echo NAK is this command's answer, not "busy".
	nakIsAnswer bool
	// idempotent commands are sent again when the echo does not come.
	idempotent bool
	// matchReply selects the reports this command waits for after its
	// echo; replies says how to collect them (nil: echo only).
	matchReply func(Frame, *Message) bool
	replies    func(ctx context.Context, w *waiter, timeout time.Duration) ([]Frame, error)
	timeout    time.Duration
	done       chan result
}

type result struct {
	echo    Frame
	replies []Frame
	err     error
}

// do queues r and waits for its result.
func (m *Modem) do(ctx context.Context, r *request) (result, error) {
	r.ctx = ctx
	r.done = make(chan result, 1)
	select {
	case m.reqs <- r:
	case <-m.closing:
		return result{}, ErrClosed
	case <-ctx.Done():
		return result{}, fmt.Errorf("%w: the modem's queue is full: %v", plc.ErrNoAnswer, ctx.Err())
	}
	select {
	case res := <-r.done:
		return res, res.err
	case <-m.closing:
		return result{}, ErrClosed
	case <-ctx.Done():
		return result{}, fmt.Errorf("%w: %v", plc.ErrNoAnswer, ctx.Err())
	}
}

func (m *Modem) writer() {
	defer m.wg.Done()
	var last time.Time
	for {
		select {
		case <-m.closing:
			return
		case r := <-m.reqs:
			if r.ctx.Err() != nil {
				r.done <- result{err: fmt.Errorf("%w: %v", plc.ErrNoAnswer, r.ctx.Err())}
				continue
			}
			res := m.exchange(r, &last)
			m.mu.Lock()
			m.waiter = nil
			m.mu.Unlock()
			r.done <- res
		}
	}
}

func sleepCtx(ctx context.Context, closing <-chan struct{}, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %v", plc.ErrNoAnswer, ctx.Err())
	case <-closing:
		return ErrClosed
	}
}

// exchange sends r's frame, awaits its echo (resending while the modem is
// busy, with backoff) and then its replies.
func (m *Modem) exchange(r *request, last *time.Time) result {
	w := &waiter{sent: r.frame, phase: phaseEcho, echo: make(chan Frame, 4), reply: make(chan Frame, 16),
		fail: make(chan error, 1), matchReply: r.matchReply}
	busy, silent := 0, 0
	backoff := m.cfg.BusyBackoff
	defer func() { *last = time.Now() }()
	for {
		if err := sleepCtx(r.ctx, m.closing, m.cfg.WriteGap-time.Since(*last)); err != nil {
			return result{err: err}
		}
		m.mu.Lock()
		w.phase = phaseEcho
		m.waiter = w
		m.mu.Unlock()
		*last = time.Now()
		if _, err := m.port.Write(r.frame); err != nil {
			return result{err: fmt.Errorf("%w: writing to the modem: %v", plc.ErrNoAnswer, err)}
		}
		t := time.NewTimer(m.cfg.EchoTimeout)
		var echo Frame
		var got bool
		select {
		case echo = <-w.echo:
			got = true
		case err := <-w.fail:
			t.Stop()
			return result{err: err}
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
			return result{err: fmt.Errorf("%w: %v", plc.ErrNoAnswer, r.ctx.Err())}
		case <-m.closing:
			t.Stop()
			return result{err: ErrClosed}
		}
		t.Stop()
		if !got {
			silent++
			m.log.Warn("insteon: no echo from the modem", "cmd", CmdName(r.frame[1]), "attempt", silent)
			if !r.idempotent || silent > 2 {
				return result{err: fmt.Errorf("%w: the modem did not echo %s (is it plugged in and powered?)", plc.ErrNoAnswer, CmdName(r.frame[1]))}
			}
			continue
		}
		if echo.Kind == KindBusy || (!echo.Acked() && !r.nakIsAnswer) {
			busy++
			if busy > m.cfg.BusyRetries {
				return result{err: ErrBusy}
			}
			m.log.Info("insteon: modem busy (NAK), sending again", "cmd", CmdName(r.frame[1]), "attempt", busy, "backoff", backoff)
			if err := sleepCtx(r.ctx, m.closing, backoff); err != nil {
				return result{err: err}
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		if !echo.Acked() || r.replies == nil {
			return result{echo: echo}
		}
		m.mu.Lock()
		w.phase = phaseReply
		m.mu.Unlock()
		replies, err := r.replies(r.ctx, w, r.timeout)
		return result{echo: echo, replies: replies, err: err}
	}
}

// oneReply waits for a single reply.
func (m *Modem) oneReply(ctx context.Context, w *waiter, timeout time.Duration) ([]Frame, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case f := <-w.reply:
		return []Frame{f}, nil
	case err := <-w.fail:
		return nil, err
	case <-t.C:
		return nil, errTimeout
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %v", plc.ErrNoAnswer, ctx.Err())
	case <-m.closing:
		return nil, ErrClosed
	}
}

var errTimeout = fmt.Errorf("%w: timed out", plc.ErrNoAnswer)

// Open opens the modem's serial port (path, or the first device under
// /dev/serial/by-id/ or /dev/ttyUSB* when path is empty) with a
// serialport.Port, which survives the modem being unplugged, and starts
// the driver on it.
func Open(path string, cfg Config) (*Modem, error) {
	pc := serialport.Config{Path: path, Baud: Baud, Logger: cfg.Logger}
	p, err := serialport.Open(pc)
	if err != nil {
		return nil, fmt.Errorf("insteon: opening the modem: %w", err)
	}
	return New(p, cfg), nil
}
