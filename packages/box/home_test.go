package box

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"oepc.dev/oepcos/packages/home"
	"oepc.dev/oepcos/packages/home/homeapi"
	"oepc.dev/oepcos/packages/localapi"
)

// TestHomeProxy: the CLI's and web UI's way to homed, through oepcd's
// token-checked API to homed's unix socket, event stream included.
func TestHomeProxy(t *testing.T) {
	dir, err := os.MkdirTemp("", "boxhome")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	socket := filepath.Join(dir, "h.sock")
	api := localapi.NewServer("tok", nil)
	api.Handle(homeapi.Prefix, HomeProxy(socket))
	srv := httptest.NewServer(api)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// homed not running: a 503 that says so.
	c := homeapi.New(srv.URL, "tok", nil)
	_, err = c.Devices(ctx)
	var ae *homeapi.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || !strings.Contains(ae.Message, "homed does not answer") {
		t.Fatalf("without homed: %v", err)
	}

	hctx, hcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- home.Run(hctx, home.Config{StateDir: filepath.Join(dir, "state"), Socket: socket}) }()
	defer func() { hcancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err = c.Devices(ctx); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("homed through the proxy: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The wrong token never reaches homed.
	if _, err := homeapi.New(srv.URL, "wrong", nil).Devices(ctx); !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Fatalf("wrong token: %v", err)
	}
	st, err := c.OpenEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := c.PutDevice(ctx, homeapi.Device{Name: "Lamp", Kind: "lamp", Protocol: "insteon", Address: "1A.2B.3C"}); err != nil {
		t.Fatal(err)
	}
	// No modem: the command fails with homed's own message, and the event
	// stream carries the error state through the proxy as it happens.
	if _, err := c.On(ctx, "Lamp"); err == nil || !strings.Contains(err.Error(), "no insteon modem") {
		t.Fatalf("on without a modem: %v", err)
	}
	ds, err := c.Devices(ctx)
	if err != nil || len(ds) != 1 || ds[0].Name != "Lamp" {
		t.Fatalf("devices through the proxy: %+v %v", ds, err)
	}
	if _, err := c.Dim(ctx, "Lamp", 999); err == nil || !strings.Contains(err.Error(), "level 999") {
		t.Fatalf("bad level through the proxy: %v", err)
	}
	if _, err := c.PutSettings(ctx, homeapi.Settings{TimeZone: "Asia/Tokyo"}); err != nil {
		t.Fatal(err)
	}
	got := make(chan homeapi.Event, 1)
	go func() {
		e, err := st.Next()
		if err == nil {
			got <- e
		}
	}()
	if _, err := c.PutSchedule(ctx, homeapi.Schedule{Name: "x", At: "07:00", Device: "Lamp", Action: "on"}); err != nil {
		t.Fatal(err)
	}
	// Saving publishes nothing; firing a scene does (its members fail
	// here: there is no modem).
	if _, err := c.PutScene(ctx, homeapi.Scene{Name: "s", Members: []homeapi.SceneMember{{Device: "Lamp", Level: 255}}}); err != nil {
		t.Fatal(err)
	}
	c.FireScene(ctx, "s", true)
	select {
	case e := <-got:
		if e.Kind != homeapi.EventScene || e.Scene != "s" {
			t.Fatalf("first event through the proxy: %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event through the proxy")
	}
}
