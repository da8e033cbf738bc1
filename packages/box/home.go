package box

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"time"

	"oepc.dev/oepcos/packages/home/homeapi"
	"oepc.dev/oepcos/packages/localapi"
)

// mountHome serves homed's API (/v1/home/...) by proxying it to homed's
// unix socket, behind the box's token: the CLI and the web UI reach homed
// through oepcd.
func mountHome(b *Box, api *localapi.Server) error {
	if b.Cfg.HomedSocket == "" {
		return nil
	}
	api.Handle(homeapi.Prefix, HomeProxy(b.Cfg.HomedSocket))
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
