package box

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"time"

	"oepc.dev/oepcos/packages/home/homeapi"
	"oepc.dev/oepcos/packages/home/mdns"
	"oepc.dev/oepcos/packages/localapi"
	"oepc.dev/oepcos/packages/version"
)

// mountHome serves homed's API (/v1/home/...) by proxying it to homed's
// unix socket, behind the box's token: the CLI and the web UI reach homed
// through oepcd.
//
// With Advertise it also makes the box findable on the home LAN over mDNS
// (packages/home/mdns): _oepc._tcp at the API's port, and oepc.local,
// and browses for the other boxes there (browseLAN).
func mountHome(b *Box, api *localapi.Server) error {
	if b.Cfg.HomedSocket != "" {
		api.Handle(homeapi.Prefix, HomeProxy(b.Cfg.HomedSocket))
		if b.UI != nil {
			sock := b.Cfg.HomedSocket
			b.Go(func(ctx context.Context) error { followHome(ctx, b, homeapi.NewUnix(sock)); return nil })
		}
	}
	if !b.Cfg.Advertise {
		return nil
	}
	if b.Cfg.LoopbackOnly {
		return fmt.Errorf("--advertise multicasts on the LAN; it cannot go with --loopback-only")
	}
	_, ps, err := net.SplitHostPort(b.Cfg.APIAddr)
	port, perr := strconv.Atoi(ps)
	if err != nil || perr != nil || port <= 0 {
		return fmt.Errorf("--advertise needs a fixed API port, not %q", b.Cfg.APIAddr)
	}
	cfg := advertiseConfig(b, port, b.Node.Host.ID().String())
	cfg.P2PPort = b.p2pPort()
	b.Go(func(ctx context.Context) error { return mdns.Run(ctx, cfg) })
	b.browseLAN(api, cfg.ID)
	return nil
}

// advertiseConfig is what the box advertises over mDNS: paired=yes once
// the owner has set the web UI's password.
func advertiseConfig(b *Box, port int, id string) mdns.Config {
	cfg := mdns.Config{Instance: "OEPC " + b.Cfg.Name, Port: port, ID: id,
		Version: version.Version, Interfaces: b.Cfg.AdvertiseInterfaces, Logger: b.Log}
	if b.UI != nil {
		cfg.Paired = b.UI.Auth().HasPassword
	}
	return cfg
}

// HomeProxy is a reverse proxy to homed's API on socket. Event streams
// are flushed as they come; a homed that is not running is a 503 that says
// so.
func HomeProxy(socket string) http.Handler {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: 2 * time.Second}
			return d.DialContext(ctx, "unix", socket)
		},
		// A scene switched member by member over X10 takes seconds each.
		ResponseHeaderTimeout: 2 * time.Minute,
		MaxIdleConns:          8,
		IdleConnTimeout:       time.Minute,
	}
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host, r.Out.Host = "http", "homed", "homed"
			r.Out.Header.Del("Authorization") // the box's token stays in oepcd
		},
		Transport:     tr,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			localapi.WriteError(w, http.StatusServiceUnavailable,
				fmt.Errorf("home automation is not available: homed does not answer on %s (%v)", socket, err))
		},
	}
}

// followHome passes homed's events (a switch pressed by hand, a scene, a
// schedule) to the web UI's open tabs as "home" events, following homed
// across its restarts. After a gap the tabs are told to reload (a "lost"
// event), since they may have missed changes.
func followHome(ctx context.Context, b *Box, c *homeapi.Client) {
	wait := time.Second
	gap := false
	for ctx.Err() == nil {
		started := time.Now()
		err := c.Events(ctx, func(e homeapi.Event) error {
			if gap {
				gap = false
				b.UI.Publish("home", homeapi.Event{Kind: homeapi.EventLost, Time: time.Now()})
			}
			b.UI.Publish("home", e)
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		gap = true
		if time.Since(started) > time.Minute {
			wait = time.Second
		}
		b.Log.Debug("homed's event stream broke; following it again", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, 30*time.Second)
	}
}
