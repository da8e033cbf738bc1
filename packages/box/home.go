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
// (packages/home/mdns): _oepc._tcp at the API's port, and oepc.local.
func mountHome(b *Box, api *localapi.Server) error {
	if b.Cfg.HomedSocket != "" {
		api.Handle(homeapi.Prefix, HomeProxy(b.Cfg.HomedSocket))
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
	cfg := mdns.Config{Instance: "OEPC " + b.Cfg.Name, Port: port, ID: b.Node.Host.ID().String(),
		Version: version.Version, Interfaces: b.Cfg.AdvertiseInterfaces, Logger: b.Log}
	b.Go(func(ctx context.Context) error { return mdns.Run(ctx, cfg) })
	return nil
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
