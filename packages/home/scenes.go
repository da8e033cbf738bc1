package home

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"

	"oepc.dev/oepcos/packages/home/homeapi"
	"oepc.dev/oepcos/packages/store"
	"oepc.dev/oepcos/plc"
	"oepc.dev/oepcos/plc/insteon"
)

// maxMembers bounds a scene (an Insteon group holds far fewer in practice).
const maxMembers = 64

// groupFirer is a driver that fires its modem's ALL-Link groups
// (plc/insteon).
type groupFirer interface {
	Scene(ctx context.Context, g byte, on bool) (insteon.SceneResult, error)
}

// Scenes lists the scenes by name.
func (h *Home) Scenes() []homeapi.Scene {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]homeapi.Scene, 0, len(h.scenes))
	for _, s := range h.scenes {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// PutScene adds or changes a scene.
func (h *Home) PutScene(s homeapi.Scene) (homeapi.Scene, error) {
	if err := homeapi.ValidName("scene", s.Name); err != nil {
		return s, errf(http.StatusBadRequest, "%v", err)
	}
	if len(s.Members) == 0 || len(s.Members) > maxMembers {
		return s, errf(http.StatusBadRequest, "scene %q: give 1 to %d members", s.Name, maxMembers)
	}
	if s.Group < 0 || s.Group > 255 {
		return s, errf(http.StatusBadRequest, "scene %q: ALL-Link group %d: use 1-255, or 0 for none", s.Name, s.Group)
	}
	if len(s.Triggers) > 16 {
		return s, errf(http.StatusBadRequest, "scene %q: at most 16 triggers", s.Name)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.scenes[s.Name]; !ok && len(h.scenes) >= h.cfg.MaxScenes {
		return s, errf(http.StatusConflict, "already %d scenes, the most homed keeps", len(h.scenes))
	}
	seen := map[string]bool{}
	var port string
	for i, m := range s.Members {
		d := h.devices[m.Device]
		if d == nil {
			return s, errf(http.StatusBadRequest, "scene %q: no device %q", s.Name, m.Device)
		}
		if seen[m.Device] {
			return s, errf(http.StatusBadRequest, "scene %q: device %q listed twice", s.Name, m.Device)
		}
		seen[m.Device] = true
		if m.Level < 0 || m.Level > 255 {
			return s, errf(http.StatusBadRequest, "scene %q: device %q: level %d: use 0 (off) to 255 (full)", s.Name, m.Device, m.Level)
		}
		if !homeapi.Dimmable(d.Kind) && m.Level != 0 && m.Level != 255 {
			s.Members[i].Level = 255 // a switch is on or off
		}
		if s.Group > 0 {
			if d.Protocol != string(plc.Insteon) {
				return s, errf(http.StatusBadRequest, "scene %q has ALL-Link group %d but device %q is %s: groups are Insteon only", s.Name, s.Group, m.Device, d.Protocol)
			}
			slot, err := h.slotFor(*d)
			if err != nil {
				return s, errf(http.StatusBadRequest, "scene %q: %v", s.Name, err)
			}
			if port != "" && slot.cfg.Path != port {
				return s, errf(http.StatusBadRequest, "scene %q: an ALL-Link group lives on one modem, but its members are on %s and %s", s.Name, port, slot.cfg.Path)
			}
			port = slot.cfg.Path
		}
	}
	old := h.scenes[s.Name]
	s.Removing = false
	s.Links = h.reconcileLocked(old.Links, s, port)
	for _, t := range s.Triggers {
		if h.devices[t.Device] == nil {
			return s, errf(http.StatusBadRequest, "scene %q: trigger: no device %q", s.Name, t.Device)
		}
		if t.Group < 1 || t.Group > 255 {
			return s, errf(http.StatusBadRequest, "scene %q: trigger %q: button %d: use 1-255", s.Name, t.Device, t.Group)
		}
	}
	if err := store.PutJSON(h.kv, []byte(keyScene+s.Name), s); err != nil {
		return s, errf(http.StatusInternalServerError, "saving scene %q: %v", s.Name, err)
	}
	h.scenes[s.Name] = s
	h.linkGen[s.Name]++
	if linkWork(s) {
		h.enqueueLinkLocked(s.Name)
	}
	h.log.Info("scene saved", "scene", s.Name, "members", len(s.Members), "group", s.Group, "links", len(s.Links))
	return s, nil
}

// DeleteScene removes a scene no schedule uses, at once.
func (h *Home) DeleteScene(name string) error {
	_, err := h.RemoveScene(name, true)
	return err
}

// RemoveScene removes a scene no schedule uses. When homed linked its
// members into its group, it unlinks them first: the scene is returned,
// marked Removing, and disappears once they are unlinked (a member that
// does not answer keeps it, failed, until RelinkScene or a forced
// removal). force removes it at once and leaves the links.
func (h *Home) RemoveScene(name string, force bool) (*homeapi.Scene, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sc, ok := h.scenes[name]
	if !ok {
		return nil, errf(http.StatusNotFound, "no scene %q", name)
	}
	for _, s := range h.schedules {
		if s.Scene == name {
			return nil, errf(http.StatusConflict, "schedule %q fires scene %q: remove the schedule first", s.Name, name)
		}
	}
	if !force {
		sc.Removing = true
		sc.Links = h.reconcileLocked(sc.Links, sc, "")
		for i := range sc.Links {
			if sc.Links[i].State == homeapi.LinkUnlinkFailed {
				sc.Links[i].State = homeapi.LinkUnlinking // asked again: try again
			}
		}
		if len(sc.Links) > 0 {
			h.linkGen[name]++
			h.saveSceneLocked(sc)
			h.enqueueLinkLocked(name)
			h.log.Info("scene removed: unlinking its members first", "scene", name, "links", len(sc.Links))
			return &sc, nil
		}
	} else if len(sc.Links) > 0 {
		h.log.Warn("scene removed without unlinking its members", "scene", name, "links", sc.Links)
	}
	if err := h.kv.Delete([]byte(keyScene + name)); err != nil {
		return nil, errf(http.StatusInternalServerError, "removing scene %q: %v", name, err)
	}
	delete(h.scenes, name)
	h.linkGen[name]++
	return nil, nil
}

// FireScene sets every member of a scene: through the modem's ALL-Link
// group when the scene has one (one message, the members answer their
// cleanups), else one command per member. It returns the members after,
// and an error naming the members that did not confirm.
func (h *Home) FireScene(ctx context.Context, name string, on bool, source string) ([]homeapi.Device, error) {
	h.mu.Lock()
	sc, ok := h.scenes[name]
	h.mu.Unlock()
	if !ok {
		return nil, errf(http.StatusNotFound, "no scene %q (oepc home scene ls lists them)", name)
	}
	if sc.Removing {
		return nil, errf(http.StatusConflict, "scene %q is being removed (its members are being unlinked)", name)
	}
	now := h.clock.Now()
	var failed []string
	if sc.Group > 0 {
		f, err := h.fireGroup(ctx, sc, on, source)
		if err != nil {
			return h.members(sc), err
		}
		failed = f
	} else {
		for _, m := range sc.Members {
			var err error
			switch {
			case !on || m.Level == 0:
				_, err = h.Command(ctx, m.Device, opOff, 0, source)
			case m.Level == 255:
				_, err = h.Command(ctx, m.Device, opOn, 0, source)
			default:
				_, err = h.Command(ctx, m.Device, opDim, m.Level, source)
			}
			if err != nil {
				failed = append(failed, m.Device)
			}
		}
	}
	e := homeapi.Event{Time: now, Kind: homeapi.EventScene, Scene: name, On: on, Source: source}
	var err error
	if len(failed) > 0 {
		err = errf(http.StatusBadGateway, "scene %q: %d of %d members did not confirm: %v", name, len(failed), len(sc.Members), failed)
		e.Error = err.Error()
	}
	h.hub.publish(e)
	h.log.Info("scene fired", "scene", name, "on", on, "source", source, "failed", failed)
	return h.members(sc), err
}

func (h *Home) fireGroup(ctx context.Context, sc homeapi.Scene, on bool, source string) ([]string, error) {
	h.mu.Lock()
	first := h.devices[sc.Members[0].Device]
	var d homeapi.Device
	if first != nil {
		d = *first
	}
	h.mu.Unlock()
	if first == nil {
		return nil, errf(http.StatusConflict, "scene %q: member %q is gone", sc.Name, sc.Members[0].Device)
	}
	slot, err := h.slotFor(d)
	if err != nil {
		return nil, errf(http.StatusServiceUnavailable, "scene %q: %v", sc.Name, err)
	}
	m, err := slot.get()
	if err != nil {
		return nil, errf(http.StatusServiceUnavailable, "scene %q: %v", sc.Name, err)
	}
	gf, ok := m.(groupFirer)
	if !ok {
		return nil, errf(http.StatusBadRequest, "scene %q: the %s cannot fire ALL-Link groups", sc.Name, slot.cfg)
	}
	select {
	case h.inflight <- struct{}{}:
		defer func() { <-h.inflight }()
	default:
		return nil, errf(http.StatusServiceUnavailable, "%d commands are already waiting on the modems; try again in a moment", cap(h.inflight))
	}
	now := h.clock.Now()
	for _, mem := range sc.Members {
		h.mu.Lock()
		lvl := 0
		if dd := h.devices[mem.Device]; dd != nil {
			lvl = dd.State.Level
		}
		h.mu.Unlock()
		h.setState(mem.Device, homeapi.State{State: homeapi.StatePending, Level: lvl, Updated: now}, source)
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.CommandTimeout)
	defer cancel()
	res, err := gf.Scene(ctx, byte(sc.Group), on)
	now = h.clock.Now()
	if err != nil && !errors.Is(err, insteon.ErrCleanup) {
		xe := explain("scene "+sc.Name, err)
		for _, mem := range sc.Members {
			h.setState(mem.Device, homeapi.State{State: homeapi.StateError, Error: xe.Error(), Updated: now}, source)
		}
		return nil, xe
	}
	bad := map[string]bool{}
	for _, a := range res.Failed {
		bad[a.String()] = true
	}
	var failed []string
	for _, mem := range sc.Members {
		h.mu.Lock()
		dd := h.devices[mem.Device]
		addr := ""
		if dd != nil {
			addr = dd.Address
		}
		h.mu.Unlock()
		if bad[addr] {
			failed = append(failed, mem.Device)
			h.setState(mem.Device, homeapi.State{State: homeapi.StateError,
				Error: fmt.Sprintf("did not confirm scene %q: check that it is plugged in and linked to group %d", sc.Name, sc.Group), Updated: now}, source)
			continue
		}
		l := 0
		if on {
			l = mem.Level
		}
		h.setState(mem.Device, stateOf(l, now), source)
	}
	if err != nil && len(failed) == 0 {
		// The modem reported interrupted cleanups without naming anyone.
		return nil, errf(http.StatusBadGateway, "scene %q: %v", sc.Name, err)
	}
	return failed, nil
}

func (h *Home) members(sc homeapi.Scene) []homeapi.Device {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []homeapi.Device
	for _, m := range sc.Members {
		if d := h.devices[m.Device]; d != nil {
			out = append(out, *d)
		}
	}
	return out
}
