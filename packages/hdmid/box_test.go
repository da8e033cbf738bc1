package hdmid

import (
	"context"
	"image"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"oepc.dev/oepcos/hdmi/screen"
	"oepc.dev/oepcos/packages/apitype"
	"oepc.dev/oepcos/packages/box"
	"oepc.dev/oepcos/packages/health"
	"oepc.dev/oepcos/packages/localapi"
)

// hdmid against a real oepcd (packages/box on loopback): the screen shows
// the box's own name, network and storage from its local API, the pairing
// code from its data directory and the token it made; oepcd's aggregate
// health carries hdmid's report.
func TestRealBox(t *testing.T) {
	dir := shortTemp(t)
	boxDir := filepath.Join(dir, "oepcd")
	hdir := filepath.Join(dir, "h")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan box.Info, 1)
	boxDone := make(chan error, 1)
	go func() {
		boxDone <- box.Run(ctx, box.Config{DataDir: boxDir, Name: "den-box", APIListener: ln, LoopbackOnly: true,
			HealthDir: hdir, Quota: 5 << 30, Ready: func(i box.Info) { ready <- i }})
	}()
	var info box.Info
	select {
	case info = <-ready:
	case err := <-boxDone:
		t.Fatalf("box: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("box never became ready")
	}
	// The web UI (another change) keeps its pairing code here; until it
	// lands, the test writes one as it would.
	pairing := filepath.Join(boxDir, "pairing.code")
	if _, err := os.Stat(pairing); err != nil {
		if err := os.WriteFile(pairing, []byte("314-159\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	code, _ := os.ReadFile(pairing)

	h := newHarness(t, func(c *Config) {
		c.HealthDir = hdir
		c.Source = &APISource{
			Client:      &localapi.Client{Base: info.API},
			TokenFile:   filepath.Join(boxDir, "api.token"),
			PairingFile: pairing,
			WebURL:      info.API + "/",
		}
	})
	if err := h.sys.Connect("card0-HDMI-A-1", nil); err != nil {
		t.Fatal(err)
	}
	h.start()
	r := h.next("start")
	want := screen.Status{
		Name:    "den-box",
		Network: screen.Network{Known: true},
		Storage: screen.Storage{Known: true, Quota: 5 << 30},
		// This oepcd proxies no homed and follows no chain: the screen
		// says so.
		Home:        screen.Home{Reason: "home automation is not set up on this box"},
		Chain:       screen.Chain{Reason: "no chain configured on this box"},
		PairingCode: strings.TrimSpace(string(code)),
		WebURL:      info.API + "/",
		Display:     "HDMI-A-1",
	}
	if !r.st.Equal(want) {
		t.Fatalf("screen shows\n%+v\nwant\n%+v", r.st, want)
	}
	if r.img.Bounds().Size() != image.Pt(960, 540) {
		t.Fatalf("picture %v", r.img.Bounds())
	}

	// oepcd's aggregate health includes hdmid's own report.
	var ans box.HealthAnswer
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := (&localapi.Client{Base: info.API, Token: info.Token}).Do(ctx, "GET", "/v1/health", nil, &ans); err != nil {
			t.Fatal(err)
		}
		var rep apitype.HealthReport
		for _, x := range ans.Reports {
			if x.Name == Name {
				rep = x
			}
		}
		if rep.Status == string(health.OK) && strings.Contains(rep.Detail, "card0-HDMI-A-1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("oepcd reports hdmid as %+v", rep)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// oepcd stops: the screen says it cannot reach it and keeps the rest.
	cancel()
	if err := <-boxDone; err != nil {
		t.Fatalf("box: %v", err)
	}
	// (A poll caught half-way through oepcd's stop draws first what it
	// got: the home and chain then say they cannot ask.)
	for i := 0; i < 5; i++ {
		if r = h.next("oepcd stopped"); r.st.Problem != "" {
			break
		}
	}
	if !strings.Contains(r.st.Problem, "Cannot reach oepcd") || r.st.PairingCode != want.PairingCode {
		t.Fatalf("after oepcd stopped: %+v", r.st)
	}
}
