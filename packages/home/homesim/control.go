package homesim

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"time"

	"oepc.dev/oepcos/plc/insteon"
	"oepc.dev/oepcos/plc/insteon/insteonsim"
)

// ControlSocket is the name, in homed's state directory, of the simulated
// power line's control socket: what the browser tests do by hand there.
//
//	GET  /devices                    [{"name", "address", "level"}]: the simulated devices' real levels
//	POST /press?device=NAME&on=1|0   press the device's paddle (button 1) by hand
//	POST /missing?device=NAME&on=1|0 unplug the device (it answers nothing) or plug it back
const ControlSocket = "sim.sock"

// SimDevice is one simulated device as the control socket reports it.
type SimDevice struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Level   int    `json:"level"`
}

func simAddress(name string) (insteon.Address, bool) {
	for _, d := range Devices {
		if d.Dev.Name == name {
			return d.Sim.Address, true
		}
	}
	return insteon.Address{}, false
}

func controlHandler(sim *insteonsim.Sim) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /devices", func(w http.ResponseWriter, r *http.Request) {
		out := []SimDevice{}
		for _, d := range Devices {
			l, _ := sim.Level(d.Sim.Address)
			out = append(out, SimDevice{Name: d.Dev.Name, Address: d.Sim.Address.String(), Level: int(l)})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	})
	device := func(w http.ResponseWriter, r *http.Request) (insteon.Address, bool, bool) {
		a, ok := simAddress(r.URL.Query().Get("device"))
		if !ok {
			http.Error(w, "no simulated device "+r.URL.Query().Get("device"), http.StatusNotFound)
			return a, false, false
		}
		return a, r.URL.Query().Get("on") == "1", true
	}
	mux.HandleFunc("POST /press", func(w http.ResponseWriter, r *http.Request) {
		a, on, ok := device(w, r)
		if !ok {
			return
		}
		if err := sim.Press(a, 1, on); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /missing", func(w http.ResponseWriter, r *http.Request) {
		a, on, ok := device(w, r)
		if !ok {
			return
		}
		sim.SetMissing(a, on)
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// serveControl serves the control socket at path until ctx ends.
func serveControl(ctx context.Context, path string, sim *insteonsim.Sim) error {
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: controlHandler(sim), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
