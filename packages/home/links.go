package home

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"oepc.dev/oepcos/packages/home/homeapi"
	"oepc.dev/oepcos/packages/store"
	"oepc.dev/oepcos/plc"
	"oepc.dev/oepcos/plc/insteon"
)

// groupLinker is a driver that links devices into its modem's ALL-Link
// groups itself (plc/insteon).
type groupLinker interface {
	LinkResponder(ctx context.Context, dev insteon.Address, g byte, level, ramp byte) (insteon.ResponderLink, error)
	UnlinkResponder(ctx context.Context, dev insteon.Address, g byte) error
}

// How homed links a scene's members into its ALL-Link group. A scene's
// Links say, per member, what the device and the modem hold; saving the
// scene reconciles them with its members (a new member or level is
// pending, a removed one unlinking) and queues the scene for the linker,
// one goroutine that works through the queue one member at a time (the
// modem has one linking mode) and saves and publishes every step. A
// member that fails stays failed, with why, until POST .../link.

// reconcileLocked is the links scene s needs, given the links it had.
func (h *Home) reconcileLocked(old []homeapi.MemberLink, s homeapi.Scene, port string) []homeapi.MemberLink {
	now := h.clock.Now()
	used := make([]bool, len(old))
	var out []homeapi.MemberLink
	if s.Group > 0 && !s.Removing {
		for _, m := range s.Members {
			d := h.devices[m.Device]
			if d == nil || d.Protocol != string(plc.Insteon) {
				continue
			}
			addr := d.Address
			if a, err := insteon.ParseAddress(d.Address); err == nil {
				addr = a.String()
			}
			want := homeapi.MemberLink{Device: m.Device, Address: addr, Port: port, Group: s.Group, Level: m.Level,
				State: homeapi.LinkPending, Updated: now}
			for i, l := range old {
				if used[i] || l.Device != m.Device || !sameAddress(l.Address, addr) || l.Group != s.Group {
					continue
				}
				used[i] = true
				want.Touched = l.Touched
				if l.State == homeapi.LinkLinked && l.Level == m.Level {
					want = l
				}
				break
			}
			out = append(out, want)
		}
	}
	for i, l := range old {
		if used[i] || (!l.Touched && l.State != homeapi.LinkLinked) {
			continue // never linked: nothing to undo
		}
		if l.State != homeapi.LinkUnlinkFailed {
			l.State, l.Error, l.Updated = homeapi.LinkUnlinking, "", now
		}
		out = append(out, l)
	}
	return out
}

func linkWork(sc homeapi.Scene) bool {
	for _, l := range sc.Links {
		if l.State == homeapi.LinkPending || l.State == homeapi.LinkUnlinking {
			return true
		}
	}
	return false
}

// enqueueLinkLocked queues a scene for the linker (once).
func (h *Home) enqueueLinkLocked(name string) {
	if h.linkQueued[name] {
		return
	}
	select {
	case h.linkq <- name:
		h.linkQueued[name] = true
	default:
		h.log.Warn("link queue full; the scene's links wait for the next `oepc home scene link`", "scene", name)
	}
}

// enqueuePort queues the scenes with link work on one modem (it has just
// opened).
func (h *Home) enqueuePort(port string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for name, sc := range h.scenes {
		for _, l := range sc.Links {
			if (l.State == homeapi.LinkPending || l.State == homeapi.LinkUnlinking) && (l.Port == "" || l.Port == port) {
				h.enqueueLinkLocked(name)
				break
			}
		}
	}
}

// runLinker works through the link queue until ctx ends.
func (h *Home) runLinker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case name := <-h.linkq:
			h.mu.Lock()
			delete(h.linkQueued, name)
			h.mu.Unlock()
			h.linkPass(ctx, name)
		}
	}
}

func (h *Home) saveSceneLocked(sc homeapi.Scene) {
	if err := store.PutJSON(h.kv, []byte(keyScene+sc.Name), sc); err != nil {
		h.log.Error("saving a scene's links failed", "scene", sc.Name, "err", err)
	}
	h.scenes[sc.Name] = sc
}

func findLink(ls []homeapi.MemberLink, l homeapi.MemberLink) int {
	for i, x := range ls {
		if x.Device == l.Device && x.Group == l.Group && sameAddress(x.Address, l.Address) {
			return i
		}
	}
	return -1
}

// linkPass links or unlinks, one at a time, every member of a scene that
// needs it; a removed scene whose links are all gone is deleted.
func (h *Home) linkPass(ctx context.Context, name string) {
	for ctx.Err() == nil {
		h.mu.Lock()
		sc, ok := h.scenes[name]
		gen := h.linkGen[name]
		idx := -1
		for i, l := range sc.Links {
			if l.State == homeapi.LinkPending || l.State == homeapi.LinkUnlinking {
				idx = i
				break
			}
		}
		if !ok || idx < 0 {
			if ok && sc.Removing && len(sc.Links) == 0 {
				if err := h.kv.Delete([]byte(keyScene + name)); err != nil {
					h.log.Error("removing an unlinked scene failed", "scene", name, "err", err)
				} else {
					delete(h.scenes, name)
					h.log.Info("scene removed after unlinking its members", "scene", name)
				}
			}
			h.mu.Unlock()
			return
		}
		sc.Links = append([]homeapi.MemberLink(nil), sc.Links...)
		l := sc.Links[idx]
		unlink := l.State == homeapi.LinkUnlinking
		if !unlink {
			sc.Links[idx].State, sc.Links[idx].Touched, sc.Links[idx].Error = homeapi.LinkLinking, true, ""
			sc.Links[idx].Updated = h.clock.Now()
			h.saveSceneLocked(sc)
			l = sc.Links[idx]
		}
		h.mu.Unlock()
		h.publishLink(name, l)

		start := time.Now()
		err := h.linkOne(ctx, l, unlink)
		h.log.Info("scene member link", "scene", name, "device", l.Device, "group", l.Group, "level", l.Level,
			"unlink", unlink, "took", time.Since(start).Round(time.Millisecond), "err", err)

		h.mu.Lock()
		sc, ok = h.scenes[name]
		if !ok {
			h.mu.Unlock()
			return
		}
		if h.linkGen[name] != gen {
			// The scene changed meanwhile: its links were reconciled from
			// the state before this step; go on from there.
			h.mu.Unlock()
			continue
		}
		sc.Links = append([]homeapi.MemberLink(nil), sc.Links...)
		i := findLink(sc.Links, l)
		if i < 0 {
			h.mu.Unlock()
			continue
		}
		now := h.clock.Now()
		r := &sc.Links[i]
		away := errors.Is(err, errModemAway)
		switch {
		case away && unlink:
			r.State, r.Error, r.Updated = homeapi.LinkUnlinking, err.Error()+"; homed unlinks it when the modem is back", now
		case away:
			r.State, r.Error, r.Updated = homeapi.LinkPending, err.Error()+"; homed links it when the modem is back", now
		case unlink && err == nil:
			sc.Links = append(sc.Links[:i], sc.Links[i+1:]...)
			r = &homeapi.MemberLink{Device: l.Device, Address: l.Address, Group: l.Group, State: "unlinked", Updated: now}
		case unlink:
			r.State, r.Error, r.Updated = homeapi.LinkUnlinkFailed, err.Error(), now
		case err == nil:
			r.State, r.Error, r.Updated = homeapi.LinkLinked, "", now
		default:
			r.State, r.Error, r.Updated = homeapi.LinkFailed, err.Error(), now
		}
		done := *r
		h.saveSceneLocked(sc)
		h.mu.Unlock()
		h.publishLink(name, done)
		if away {
			return // the modem's opening queues the scene again
		}
	}
}

func (h *Home) publishLink(scene string, l homeapi.MemberLink) {
	h.hub.publish(homeapi.Event{Time: h.clock.Now(), Kind: homeapi.EventLink, Scene: scene, Device: l.Device, Link: &l, Error: l.Error})
}

// errModemAway: the member's modem is not open; its links wait for it.
var errModemAway = errors.New("waiting for the modem")

// linkOne links (or unlinks) one member through its modem, explaining a
// failure as the owner can act on it.
func (h *Home) linkOne(ctx context.Context, l homeapi.MemberLink, unlink bool) error {
	slot, err := h.slotFor(homeapi.Device{Name: l.Device, Protocol: string(plc.Insteon), Port: l.Port})
	if err != nil {
		return err
	}
	m, err := slot.get()
	if err != nil {
		return fmt.Errorf("%w: %v", errModemAway, err)
	}
	gl, ok := m.(groupLinker)
	if !ok {
		return fmt.Errorf("the %s cannot link ALL-Link groups", slot.cfg)
	}
	a, err := insteon.ParseAddress(l.Address)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.LinkTimeout)
	defer cancel()
	if unlink {
		err = gl.UnlinkResponder(ctx, a, byte(l.Group))
	} else {
		_, err = gl.LinkResponder(ctx, a, byte(l.Group), byte(l.Level), insteon.DefaultRamp)
	}
	if err == nil {
		return nil
	}
	what := "link it into"
	if unlink {
		what = "unlink it from"
	}
	switch {
	case errors.Is(err, plc.ErrNoAnswer), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("device %q (%s) did not answer when homed tried to %s group %d: check that it is plugged in and within range, then `oepc home scene link` (%v)", l.Device, l.Address, what, l.Group, err)
	case errors.Is(err, plc.ErrNAK):
		return fmt.Errorf("device %q (%s) refused to %s group %d (an older device without remote linking? link it by its SET button): %v", l.Device, l.Address, what, l.Group, err)
	}
	return fmt.Errorf("device %q (%s), group %d: %v", l.Device, l.Address, l.Group, err)
}

// RelinkScene queues every link of a scene that failed to be tried again
// and returns the scene.
func (h *Home) RelinkScene(name string) (homeapi.Scene, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sc, ok := h.scenes[name]
	if !ok {
		return sc, errf(http.StatusNotFound, "no scene %q", name)
	}
	if sc.Group == 0 && len(sc.Links) == 0 {
		return sc, errf(http.StatusBadRequest, "scene %q has no ALL-Link group: nothing to link (give it one with --group N)", name)
	}
	sc.Links = append([]homeapi.MemberLink(nil), sc.Links...)
	now := h.clock.Now()
	for i := range sc.Links {
		switch sc.Links[i].State {
		case homeapi.LinkFailed:
			sc.Links[i].State, sc.Links[i].Updated = homeapi.LinkPending, now
		case homeapi.LinkUnlinkFailed:
			sc.Links[i].State, sc.Links[i].Updated = homeapi.LinkUnlinking, now
		}
	}
	h.linkGen[name]++
	h.saveSceneLocked(sc)
	h.enqueueLinkLocked(name)
	return sc, nil
}

// loadLinks: a link cut short by a restart is tried again.
func resumeLinks(sc *homeapi.Scene) {
	for i := range sc.Links {
		if sc.Links[i].State == homeapi.LinkLinking {
			sc.Links[i].State = homeapi.LinkPending
		}
	}
}
