package home

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"oepc.dev/oepcos/packages/home/homeapi"
)

// maxBody bounds a request body.
const maxBody = 64 << 10

// Handler is homed's API (routes under homeapi.Prefix). oepcd serves the
// same paths by proxying them, behind its own authentication.
func (h *Home) Handler() http.Handler {
	mux := http.NewServeMux()
	p := "/v1/home/"
	mux.HandleFunc("GET "+p+"devices", func(w http.ResponseWriter, r *http.Request) { reply(w, h.Devices(), nil) })
	mux.HandleFunc("GET "+p+"devices/{name}", func(w http.ResponseWriter, r *http.Request) {
		d, err := h.Device(r.PathValue("name"))
		reply(w, d, err)
	})
	mux.HandleFunc("PUT "+p+"devices/{name}", func(w http.ResponseWriter, r *http.Request) {
		var d homeapi.Device
		if !decode(w, r, &d) {
			return
		}
		if err := sameName(r, d.Name); err != nil {
			reply(w, nil, err)
			return
		}
		d, err := h.PutDevice(d)
		reply(w, d, err)
	})
	mux.HandleFunc("DELETE "+p+"devices/{name}", func(w http.ResponseWriter, r *http.Request) {
		replyEmpty(w, h.DeleteDevice(r.PathValue("name")))
	})
	mux.HandleFunc("POST "+p+"devices/{name}/{op}", func(w http.ResponseWriter, r *http.Request) {
		op := r.PathValue("op")
		var dr homeapi.DimRequest
		if op == opDim && !decode(w, r, &dr) {
			return
		}
		d, err := h.Command(r.Context(), r.PathValue("name"), op, dr.Level, "api")
		reply(w, d, err)
	})
	mux.HandleFunc("GET "+p+"scenes", func(w http.ResponseWriter, r *http.Request) { reply(w, h.Scenes(), nil) })
	mux.HandleFunc("PUT "+p+"scenes/{name}", func(w http.ResponseWriter, r *http.Request) {
		var s homeapi.Scene
		if !decode(w, r, &s) {
			return
		}
		if err := sameName(r, s.Name); err != nil {
			reply(w, nil, err)
			return
		}
		s, err := h.PutScene(s)
		reply(w, s, err)
	})
	mux.HandleFunc("DELETE "+p+"scenes/{name}", func(w http.ResponseWriter, r *http.Request) {
		force := r.URL.Query().Get("force") != ""
		sc, err := h.RemoveScene(r.PathValue("name"), force)
		if err != nil || sc == nil {
			replyEmpty(w, err)
			return
		}
		// Unlinking its members first: the scene, marked removing.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(sc)
	})
	mux.HandleFunc("POST "+p+"scenes/{name}/link", func(w http.ResponseWriter, r *http.Request) {
		sc, err := h.RelinkScene(r.PathValue("name"))
		reply(w, sc, err)
	})
	mux.HandleFunc("POST "+p+"scenes/{name}/{op}", func(w http.ResponseWriter, r *http.Request) {
		op := r.PathValue("op")
		if op != "on" && op != "off" {
			reply(w, nil, errf(http.StatusNotFound, "a scene fires on or off, not %q", op))
			return
		}
		ds, err := h.FireScene(r.Context(), r.PathValue("name"), op == "on", "api")
		if err != nil && ds != nil {
			// Some members did not confirm: say so, with everyone's state.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(statusOf(err))
			json.NewEncoder(w).Encode(struct {
				Error   string           `json:"error"`
				Devices []homeapi.Device `json:"devices"`
			}{err.Error(), ds})
			return
		}
		reply(w, ds, err)
	})
	mux.HandleFunc("GET "+p+"schedules", func(w http.ResponseWriter, r *http.Request) { reply(w, h.Schedules(), nil) })
	mux.HandleFunc("PUT "+p+"schedules/{name}", func(w http.ResponseWriter, r *http.Request) {
		var s homeapi.Schedule
		if !decode(w, r, &s) {
			return
		}
		if err := sameName(r, s.Name); err != nil {
			reply(w, nil, err)
			return
		}
		s, err := h.PutSchedule(s)
		reply(w, s, err)
	})
	mux.HandleFunc("DELETE "+p+"schedules/{name}", func(w http.ResponseWriter, r *http.Request) {
		replyEmpty(w, h.DeleteSchedule(r.PathValue("name")))
	})
	mux.HandleFunc("GET "+p+"settings", func(w http.ResponseWriter, r *http.Request) { reply(w, h.Settings(), nil) })
	mux.HandleFunc("PUT "+p+"settings", func(w http.ResponseWriter, r *http.Request) {
		var s homeapi.Settings
		if !decode(w, r, &s) {
			return
		}
		s, err := h.PutSettings(s)
		reply(w, s, err)
	})
	mux.HandleFunc("GET "+p+"modems", func(w http.ResponseWriter, r *http.Request) { reply(w, h.modemList(), nil) })
	mux.HandleFunc("GET "+p+"events", h.serveEvents)
	mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
		reply(w, nil, errf(http.StatusNotFound, "no route %s %s (see packages/home/homeapi)", r.Method, r.URL.Path))
	})
	return mux
}

func sameName(r *http.Request, name string) error {
	if name != r.PathValue("name") {
		return errf(http.StatusBadRequest, "the name in the body (%q) differs from the path's (%q)", name, r.PathValue("name"))
	}
	return nil
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			reply(w, nil, errf(http.StatusRequestEntityTooLarge, "request body over %d bytes", maxBody))
		} else {
			reply(w, nil, errf(http.StatusBadRequest, "bad JSON body: %v", err))
		}
		return false
	}
	if dec.More() {
		reply(w, nil, errf(http.StatusBadRequest, "bad JSON body: more than one value"))
		return false
	}
	return true
}

func reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(statusOf(err))
		json.NewEncoder(w).Encode(homeapi.Error{Error: err.Error()})
		return
	}
	json.NewEncoder(w).Encode(v)
}

func replyEmpty(w http.ResponseWriter, err error) {
	if err != nil {
		reply(w, nil, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// serveEvents streams events as server-sent events: one "data:" line of
// JSON per event, a comment every 15 s to keep proxies from closing the
// stream, and every write with a deadline so a stuck reader is dropped.
func (h *Home) serveEvents(w http.ResponseWriter, r *http.Request) {
	s, err := h.hub.subscribe()
	if err != nil {
		reply(w, nil, errf(http.StatusServiceUnavailable, "%v", err))
		return
	}
	defer h.hub.unsubscribe(s)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(f string, a ...any) bool {
		rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(w, f, a...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write("retry: 2000\n: homed events\n\n") {
		return
	}
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-ping.C:
			if !write(": ping\n\n") {
				return
			}
		case e, ok := <-s.ch:
			if !ok {
				return
			}
			b, _ := json.Marshal(e)
			if !write("id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Kind, strings.ReplaceAll(string(b), "\n", "")) {
				return
			}
		}
	}
}
