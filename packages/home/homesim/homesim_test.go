package homesim

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"oepc.dev/oepcos/packages/home/homeapi"
)

func TestRun(t *testing.T) {
	dir, err := os.MkdirTemp("", "homesim")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	socket := filepath.Join(dir, "h.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Config{StateDir: filepath.Join(dir, "state"), Socket: socket}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	c := homeapi.NewUnix(socket)
	cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ccancel()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ds, err := c.Devices(cctx)
		if err == nil && len(ds) == len(Devices) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("devices %+v %v", ds, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		ms, err := c.Modems(cctx)
		if err == nil && len(ms) == 1 && ms[0].Present {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("modem %+v %v", ms, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	d, err := c.Dim(cctx, "Ceiling", 60)
	if err != nil || d.State.State != homeapi.StateOn || d.State.Level != 60 {
		t.Fatalf("dim the simulated ceiling light: %+v %v", d, err)
	}

	// The control socket reports the simulated levels and presses by hand.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", filepath.Join(dir, "state", ControlSocket))
	}}}
	resp, err := hc.Get("http://sim/devices")
	if err != nil {
		t.Fatal(err)
	}
	var sds []SimDevice
	json.NewDecoder(resp.Body).Decode(&sds)
	resp.Body.Close()
	if len(sds) != len(Devices) || sds[1].Name != "Ceiling" || sds[1].Level != 60 {
		t.Fatalf("control /devices: %+v", sds)
	}
	resp, err = hc.Post("http://sim/press?device=Porch&on=1", "", nil)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("press: %v %v", resp, err)
	}
	resp.Body.Close()
	for {
		d, err := c.Device(cctx, "Porch")
		if err == nil && d.State.State == homeapi.StateOn {
			break
		}
		if time.Now().After(deadline.Add(15 * time.Second)) {
			t.Fatalf("the porch pressed by hand: %+v %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
