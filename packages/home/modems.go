package home

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"oepc.dev/oepcos/packages/home/homeapi"
	"oepc.dev/oepcos/plc"
)

// modemSlot is one configured modem: open, or why not.
type modemSlot struct {
	cfg ModemConfig

	mu  sync.Mutex
	op  *Opened
	err error
}

func (s *modemSlot) get() (plc.Modem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.op == nil {
		if s.err == nil {
			return nil, fmt.Errorf("the %s is not open yet; try again in a moment", s.cfg)
		}
		return nil, fmt.Errorf("the %s is missing (%v): check that it is plugged in", s.cfg, s.err)
	}
	if s.op.Present != nil && !s.op.Present() {
		return nil, fmt.Errorf("the %s was unplugged: plug it back in", s.cfg)
	}
	return s.op.Modem, nil
}

func (s *modemSlot) info() homeapi.Modem {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := homeapi.Modem{Protocol: string(s.cfg.Protocol), Port: s.cfg.Path}
	switch {
	case s.op == nil && s.err != nil:
		m.Error = s.err.Error()
	case s.op == nil:
		m.Error = "not open yet"
	case s.op.Present != nil && !s.op.Present():
		m.Error = "unplugged"
	default:
		m.Present = true
	}
	return m
}

func (h *Home) modemList() []homeapi.Modem {
	out := make([]homeapi.Modem, 0, len(h.modems))
	for _, s := range h.modems {
		out = append(out, s.info())
	}
	return out
}

// slotFor is the modem a device is driven through.
func (h *Home) slotFor(d homeapi.Device) (*modemSlot, error) {
	for _, s := range h.modems {
		if string(s.cfg.Protocol) == d.Protocol && (d.Port == "" || d.Port == s.cfg.Path) {
			return s, nil
		}
	}
	if d.Port != "" {
		return nil, fmt.Errorf("device %q: no %s modem is configured on %s", d.Name, d.Protocol, d.Port)
	}
	return nil, fmt.Errorf("device %q: no %s modem is configured (homed --modem %s:/dev/...)", d.Name, d.Protocol, d.Protocol)
}

// runModem opens the modem, retrying with backoff while it is missing,
// and turns its events into state changes until ctx ends.
func (h *Home) runModem(ctx context.Context, s *modemSlot) {
	log := h.log.With("modem", s.cfg.Path, "protocol", s.cfg.Protocol)
	wait := time.Second
	var lastErr string
	for ctx.Err() == nil {
		op, err := h.cfg.Open(ctx, s.cfg, log)
		if err != nil {
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			if err.Error() != lastErr {
				log.Warn("modem missing; retrying", "err", err, "retry_in", wait)
				lastErr = err.Error()
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			wait = min(wait*2, h.cfg.OpenRetry)
			continue
		}
		wait, lastErr = time.Second, ""
		s.mu.Lock()
		s.op, s.err = &op, nil
		s.mu.Unlock()
		log.Info("modem open")
		h.enqueuePort(s.cfg.Path)
		stop := context.AfterFunc(ctx, func() { op.Modem.Close() })
		for ev := range op.Modem.Events() {
			h.deviceEvent(s, ev)
		}
		stop()
		op.Modem.Close()
		s.mu.Lock()
		s.op, s.err = nil, fmt.Errorf("the driver stopped")
		s.mu.Unlock()
		if ctx.Err() == nil {
			log.Warn("modem driver stopped; opening it again")
		}
	}
}

func sameAddress(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

// deviceEvent: a device said something by itself (a switch pressed by
// hand, a keypad button, a scene's controller).
func (h *Home) deviceEvent(s *modemSlot, ev plc.Event) {
	now := h.clock.Now()
	h.mu.Lock()
	var dev *homeapi.Device
	for _, d := range h.devices {
		if d.Protocol == string(s.cfg.Protocol) && (d.Port == "" || d.Port == s.cfg.Path) && sameAddress(d.Address, string(ev.Address)) {
			dev = d
			break
		}
	}
	if dev == nil {
		h.mu.Unlock()
		h.log.Info("event from a device not in the list", "address", ev.Address, "kind", ev.Kind, "group", ev.Group, "command", ev.Command)
		return
	}
	name := dev.Name
	var on, switched bool
	switch {
	case ev.Kind == plc.EventState:
		on, switched = ev.Level > 0, true
	case ev.Command == "on" || ev.Command == "fast-on":
		on, switched = true, true
	case ev.Command == "off" || ev.Command == "fast-off":
		on, switched = false, true
	}
	var changed []homeapi.Event
	if ev.Kind == plc.EventState && ev.Group <= 1 {
		st := stateOf(int(ev.Level), now)
		dev.State = st
		h.persistDeviceLocked(dev)
		changed = append(changed, homeapi.Event{Time: now, Kind: homeapi.EventState, Device: name, State: &st, Source: "hand"})
	}
	group := max(ev.Group, 1)
	var fired []string
	var groups []string // scenes whose modem group homed fires for the button
	if switched {
		for _, sc := range h.scenes {
			if sc.Removing {
				continue
			}
			for _, tr := range sc.Triggers {
				if tr.Device == name && tr.Group == group {
					fired = append(fired, sc.Name)
					if sc.Group > 0 && len(sc.Links) > 0 {
						// homed linked the members to the modem, not to the
						// button: the modem fires the group for it.
						groups = append(groups, sc.Name)
						continue
					}
					changed = append(changed, h.followSceneLocked(sc, on, now, name)...)
				}
			}
		}
	}
	h.mu.Unlock()
	for _, sc := range groups {
		go func() {
			if _, err := h.FireScene(h.ctx, sc, on, "hand"); err != nil {
				h.log.Warn("scene fired by a button: not every member confirmed", "scene", sc, "device", name, "err", err)
			}
		}()
	}
	h.log.Info("device event", "device", name, "kind", ev.Kind, "group", ev.Group, "command", ev.Command, "level", ev.Level, "scenes", fired)
	if len(fired) == 0 && ev.Kind == plc.EventButton {
		changed = append(changed, homeapi.Event{Time: now, Kind: homeapi.EventButton, Device: name, Group: ev.Group, On: on, Source: "hand"})
	}
	for _, e := range changed {
		h.hub.publish(e)
	}
}

// followSceneLocked sets the members' states as the devices themselves
// set them when their controller fires the scene: no command is sent, the
// members were linked to the controller. Returns the events to publish.
func (h *Home) followSceneLocked(sc homeapi.Scene, on bool, now time.Time, by string) []homeapi.Event {
	evs := []homeapi.Event{{Time: now, Kind: homeapi.EventScene, Scene: sc.Name, On: on, Device: by, Source: "hand"}}
	for _, m := range sc.Members {
		d := h.devices[m.Device]
		if d == nil || m.Device == by {
			continue
		}
		l := 0
		if on {
			l = m.Level
		}
		st := stateOf(l, now)
		d.State = st
		h.persistDeviceLocked(d)
		evs = append(evs, homeapi.Event{Time: now, Kind: homeapi.EventState, Device: d.Name, State: &st, Source: "scene"})
	}
	return evs
}

func stateOf(level int, now time.Time) homeapi.State {
	if level > 0 {
		return homeapi.State{State: homeapi.StateOn, Level: level, Updated: now}
	}
	return homeapi.State{State: homeapi.StateOff, Level: 0, Updated: now}
}
