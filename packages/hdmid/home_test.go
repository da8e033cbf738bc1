package hdmid

import (
	"context"
	"fmt"
	"net"
	"oepc.dev/oepcos/packages/chain/light/lighttest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"oepc.dev/oepcos/hdmi/screen"
	"oepc.dev/oepcos/packages/box"
	"oepc.dev/oepcos/packages/chain/chaintest"
	"oepc.dev/oepcos/packages/chain/node"
	"oepc.dev/oepcos/packages/home"
	"oepc.dev/oepcos/packages/home/homeapi"
	"oepc.dev/oepcos/packages/home/hometest"
	"oepc.dev/oepcos/packages/localapi"
	"oepc.dev/oepcos/plc"
	"oepc.dev/oepcos/plc/insteon/insteonsim"
)

// hdmid against a real oepcd with a real homed on a simulated Insteon modem
// (a pseudo-terminal) and a real light node following a three-validator
// CometBFT chain: the screen lists the home's devices with their states
// and the light node's verified height; a lamp switched through the API
// reaches the screen through homed's event stream, long before the next
// poll.
func TestRealBoxHomeAndChain(t *testing.T) {
	dir := shortTemp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// homed on a simulated modem.
	line := hometest.NewInsteonLine(t, dir, insteonsim.Config{})
	sock := filepath.Join(dir, "homed.sock")
	homeDone := make(chan error, 1)
	hctx, hcancel := context.WithCancel(ctx)
	defer func() { hcancel(); <-homeDone }()
	go func() {
		homeDone <- home.Run(hctx, home.Config{StateDir: filepath.Join(dir, "homed"), Socket: sock,
			Modems: []home.ModemConfig{{Protocol: plc.Insteon, Path: line.Link, Patterns: []string{}}}})
	}()

	// The chain and super nodes serving the light protocol.
	cn := chaintest.Start(t, chaintest.Options{Nodes: 3})
	var boot, supers []string
	for _, h := range lighttest.SuperNodes(t, cn) {
		boot = append(boot, fmt.Sprintf("%s/p2p/%s", h.Addrs()[0], h.ID()))
		supers = append(supers, h.ID().String())
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	boxDir := filepath.Join(dir, "oepcd")
	ready := make(chan box.Info, 1)
	boxDone := make(chan error, 1)
	bctx, bcancel := context.WithCancel(ctx)
	defer func() { bcancel(); <-boxDone }()
	go func() {
		boxDone <- box.Run(bctx, box.Config{DataDir: boxDir, Name: "den-box", APIListener: ln, LoopbackOnly: true,
			ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: boot, HomedSocket: sock,
			Chain: box.ChainConfig{Genesis: node.GenesisPath(cn.Homes[0]), SuperNodes: supers, TrustingPeriod: time.Minute},
			Ready: func(i box.Info) { ready <- i }})
	}()
	var info box.Info
	select {
	case info = <-ready:
	case err := <-boxDone:
		t.Fatalf("box: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("box never became ready")
	}
	hc := homeapi.New(info.API, info.Token, nil)
	for _, d := range []homeapi.Device{
		{Name: "Floor lamp", Kind: homeapi.KindLamp, Protocol: "insteon", Address: hometest.LampA.String()},
		{Name: "Ceiling", Kind: homeapi.KindDimmer, Protocol: "insteon", Address: hometest.DimmerB.String()},
	} {
		if err := waitOK(ctx, func() error { _, err := hc.PutDevice(ctx, d); return err }); err != nil {
			t.Fatalf("adding %s through oepcd: %v", d.Name, err)
		}
	}
	if _, err := hc.Dim(ctx, "Ceiling", 102); err != nil {
		t.Fatal(err)
	}
	if _, err := hc.Off(ctx, "Floor lamp"); err != nil {
		t.Fatal(err)
	}

	// A slow poll: a change seen within it came through the event stream.
	const poll = time.Hour
	h := newHarness(t, func(c *Config) {
		c.PollStatus = poll
		c.Source = &APISource{
			Client:      &localapi.Client{Base: info.API},
			TokenFile:   filepath.Join(boxDir, "api.token"),
			PairingFile: filepath.Join(boxDir, "pairing.code"),
			WebURL:      info.API + "/",
		}
	})
	if err := h.sys.Connect("card0-HDMI-A-1", nil); err != nil {
		t.Fatal(err)
	}
	h.start()
	r := h.next("start")
	wantHome := screen.Home{Enabled: true, Devices: []screen.Device{{Name: "Ceiling", State: "40%"}, {Name: "Floor lamp", State: "off"}}}
	if !homeEqual(r.st.Home, wantHome) {
		t.Fatalf("home section %+v, want %+v", r.st.Home, wantHome)
	}
	if r.st.PairingCode == "" || len(strings.TrimSpace(r.st.PairingCode)) < 6 {
		t.Errorf("pairing code %q: oepcd's %s not shown", r.st.PairingCode, filepath.Join(boxDir, "pairing.code"))
	}
	// The light node may not have verified a header at the first poll;
	// the event stream's redraws (and the lamp below) poll it again.
	t.Logf("first screen: chain %+v, home %+v", r.st.Chain, r.st.Home)

	// The lamp, switched through oepcd, reaches the screen through
	// homed's events (the poll is an hour away).
	t0 := time.Now()
	if _, err := hc.On(ctx, "Floor lamp"); err != nil {
		t.Fatal(err)
	}
	if lv := line.Level(t, hometest.LampA); lv != 255 {
		t.Fatalf("simulated lamp at level %d after on", lv)
	}
	for {
		r = h.next("lamp switched on")
		if len(r.st.Home.Devices) == 2 && r.st.Home.Devices[1].State == "on" {
			break
		}
	}
	t.Logf("lamp on the screen %v after the command", time.Since(t0).Round(time.Millisecond))

	// The light node's height: the chain grows, and each event polls;
	// switch until the screen shows a verified height.
	deadline := time.Now().Add(90 * time.Second)
	for on := false; !r.st.Chain.Enabled; on = !on {
		if time.Now().After(deadline) {
			t.Fatalf("the screen never showed the light node's height: %+v", r.st.Chain)
		}
		time.Sleep(2 * time.Second)
		if on {
			_, err = hc.On(ctx, "Floor lamp")
		} else {
			_, err = hc.Off(ctx, "Floor lamp")
		}
		if err != nil {
			t.Fatal(err)
		}
		r = h.next("lamp switched")
	}
	var cs struct {
		VerifiedHeight int64 `json:"verified_height"`
	}
	if err := (&localapi.Client{Base: info.API, Token: info.Token}).Do(ctx, "GET", "/v1/chain/status", nil, &cs); err != nil {
		t.Fatal(err)
	}
	if r.st.Chain.Height <= 0 || r.st.Chain.Height > cs.VerifiedHeight {
		t.Errorf("screen shows height %d, oepcd's light node has verified %d", r.st.Chain.Height, cs.VerifiedHeight)
	}
	t.Logf("screen shows light node height %d (oepcd now at %d)", r.st.Chain.Height, cs.VerifiedHeight)
}

func homeEqual(a, b screen.Home) bool {
	return screen.Status{Home: a}.Equal(screen.Status{Home: b})
}

// waitOK retries fn until it succeeds or 30 s pass (homed starting).
func waitOK(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := fn()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
