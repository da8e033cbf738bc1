package hdmid

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"oepc.dev/oepcos/hdmi/screen"
	"oepc.dev/oepcos/packages/apitype"
	"oepc.dev/oepcos/packages/home/homeapi"
	"oepc.dev/oepcos/packages/localapi"
)

// Source tells what the screen shows. Status returns what it could learn;
// with an error, the Status still carries what it knows (e.g. the pairing
// code read from disk) and the error says what is missing.
type Source interface {
	Status(ctx context.Context) (screen.Status, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context) (screen.Status, error)

// Status calls f.
func (f SourceFunc) Status(ctx context.Context) (screen.Status, error) { return f(ctx) }

// APISource reads the box's state from oepcd's local API: GET /v1/status
// (name, network, friends), GET /v1/cloud/hosted (storage used and kept
// for others), GET /v1/home/devices (homed's devices, which oepcd
// proxies), GET /v1/chain/status (the light node's verified height) and
// the pairing code file oepcd keeps. Watch follows homed's event stream,
// so a lamp switched by hand is on the screen at once.
type APISource struct {
	Client *localapi.Client
	// TokenFile, read while Client.Token is empty, holds oepcd's API
	// token (/perm/home/oepcd/api.token on the box; oepcd makes it at
	// its first start, which may come after hdmid's).
	TokenFile string
	// PairingFile holds the web UI's one-time pairing code
	// (/perm/home/oepcd/pairing.code on the box); empty: none.
	PairingFile string
	// WebURL is the web UI's address for the QR code; empty: WebPort on
	// the box's first LAN address.
	WebURL  string
	WebPort int
	// Timeout bounds each call (default 3 s).
	Timeout time.Duration

	mu sync.Mutex // guards Client.Token's write against Watch's read
}

// apiStatus is the part of GET /v1/status the screen uses (packages/box
// Status); PairingCode is read when oepcd sends one.
type apiStatus struct {
	Name    string `json:"name"`
	Network struct {
		Joined  bool  `json:"joined"`
		Direct  int64 `json:"direct"`
		Relayed int64 `json:"relayed"`
	} `json:"network"`
	Friends []struct {
		Connected bool `json:"connected"`
	} `json:"friends"`
	FriendsConnected int    `json:"friends_connected"`
	PairingCode      string `json:"pairing_code"`
}

// apiHosted is GET /v1/cloud/hosted (cloud.HostedReport).
type apiHosted struct {
	Used   int64 `json:"used"`
	Quota  int64 `json:"quota"`
	Owners []struct {
		Bytes int64 `json:"bytes"`
	} `json:"owners"`
}

// Status asks oepcd.
func (s *APISource) Status(ctx context.Context) (screen.Status, error) {
	var st screen.Status
	st.PairingCode = s.pairingCode()
	st.WebURL = s.WebURL
	if st.WebURL == "" && s.WebPort > 0 {
		if ip := LANAddress(); ip != "" {
			host := net.JoinHostPort(ip, strconv.Itoa(s.WebPort))
			if s.WebPort == 80 {
				host = net.JoinHostPort(ip, "")
				host = strings.TrimSuffix(host, ":")
			}
			st.WebURL = "http://" + host + "/"
		}
	}
	to := s.Timeout
	if to <= 0 {
		to = 3 * time.Second
	}
	cctx, cancel := context.WithTimeout(ctx, to)
	defer cancel()
	if s.Client.Token == "" && s.TokenFile != "" {
		tok, err := ReadToken(s.TokenFile)
		if err != nil {
			return st, fmt.Errorf("no API token for oepcd yet: %w", err)
		}
		s.mu.Lock()
		s.Client.Token = tok // Watch reads it (under mu) in its own goroutine
		s.mu.Unlock()
	}
	var as apiStatus
	if err := s.Client.Do(cctx, "GET", "/v1/status", nil, &as); err != nil {
		return st, fmt.Errorf("oepcd status: %w", err)
	}
	st.Name = as.Name
	if as.PairingCode != "" {
		st.PairingCode = as.PairingCode
	}
	st.Network = screen.Network{Known: true, Joined: as.Network.Joined, Direct: int(as.Network.Direct),
		Relayed: int(as.Network.Relayed), Friends: len(as.Friends), FriendsOnline: as.FriendsConnected}
	var h apiHosted
	if err := s.Client.Do(cctx, "GET", "/v1/cloud/hosted", nil, &h); err != nil {
		var ae *localapi.APIError
		if errors.As(err, &ae) && ae.Status == 404 {
			st.Home, st.Chain = s.home(cctx), s.chain(cctx)
			return st, nil // a box without the cloud mounted
		}
		return st, fmt.Errorf("oepcd storage: %w", err)
	}
	st.Home = s.home(cctx)
	st.Chain = s.chain(cctx)
	st.Storage = screen.Storage{Known: true, Used: h.Used, Quota: h.Quota, HostedFor: len(h.Owners)}
	for _, o := range h.Owners {
		st.Storage.Hosted += o.Bytes
	}
	return st, nil
}

// home asks for homed's devices; a homed that is not there is a reason on
// the screen, not an error of the whole status.
func (s *APISource) home(ctx context.Context) screen.Home {
	var ds []homeapi.Device
	if err := s.Client.Do(ctx, "GET", homeapi.Prefix+"devices", nil, &ds); err != nil {
		var ae *localapi.APIError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
			return screen.Home{Reason: "home automation is not set up on this box"}
		case errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable:
			return screen.Home{Reason: "homed is not answering; it may still be starting"}
		default:
			return screen.Home{Reason: "cannot ask homed: " + short(err.Error())}
		}
	}
	h := screen.Home{Enabled: true}
	for _, d := range ds {
		h.Devices = append(h.Devices, screen.Device{Name: d.Name, State: DeviceState(d)})
	}
	return h
}

// DeviceState is a device's state as the screen shows it: on, off, a dim
// level in percent, "…" while a command waits for the device, "?" before
// anything is known, "error" after a command failed.
func DeviceState(d homeapi.Device) string {
	switch d.State.State {
	case homeapi.StateOn:
		if d.State.Level <= 0 || d.State.Level >= 255 || !homeapi.Dimmable(d.Kind) {
			return "on"
		}
		return fmt.Sprintf("%d%%", max(1, (d.State.Level*100+127)/255))
	case homeapi.StateOff:
		return "off"
	case homeapi.StatePending:
		return "…"
	case homeapi.StateError:
		return "error"
	default:
		return "?"
	}
}

// chain asks for the light node's status.
func (s *APISource) chain(ctx context.Context) screen.Chain {
	var cs apitype.ChainStatus
	if err := s.Client.Do(ctx, "GET", "/v1/chain/status", nil, &cs); err != nil {
		var ae *localapi.APIError
		switch {
		case errors.As(err, &ae) && (ae.Status == http.StatusNotFound ||
			ae.Status == http.StatusServiceUnavailable && strings.Contains(ae.Message, apitype.ChainNotConfigured)):
			return screen.Chain{Reason: "no chain configured on this box"}
		case errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable:
			return screen.Chain{Reason: short(ae.Message)}
		default:
			return screen.Chain{Reason: "cannot ask oepcd: " + short(err.Error())}
		}
	}
	if cs.VerifiedHeight <= 0 {
		return screen.Chain{Reason: "no header verified yet"}
	}
	return screen.Chain{Enabled: true, Height: cs.VerifiedHeight}
}

// short keeps a reason to one line of the screen's detail type.
func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 120 {
		return string(r[:119]) + "…"
	}
	return s
}

// Watch follows homed's event stream through oepcd and calls changed for
// every event, until ctx ends or the stream breaks (then it returns why).
func (s *APISource) Watch(ctx context.Context, changed func()) error {
	s.mu.Lock()
	tok := s.Client.Token
	s.mu.Unlock()
	if tok == "" && s.TokenFile != "" {
		t, err := ReadToken(s.TokenFile)
		if err != nil {
			return fmt.Errorf("no API token for oepcd yet: %w", err)
		}
		tok = t
	}
	// Its own client: the status client's overall timeout would end the
	// stream.
	return homeapi.New(s.Client.Base, tok, nil).Events(ctx, func(homeapi.Event) error {
		changed()
		return nil
	})
}

// Watcher is a Source that can say when something changed between polls.
type Watcher interface {
	// Watch calls changed whenever the state may have changed, until ctx
	// ends or it fails.
	Watch(ctx context.Context, changed func()) error
}

func (s *APISource) pairingCode() string {
	if s.PairingFile == "" {
		return ""
	}
	b, err := readSmall(s.PairingFile, 256)
	if err != nil {
		return "" // none yet, or unreadable: the screen says "none offered yet"
	}
	return strings.TrimSpace(string(b))
}

// LANAddress is the box's first global unicast IPv4 address on an
// interface that is up, or "" (then the first IPv6 one).
func LANAddress() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	var v6 string
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || !ipn.IP.IsGlobalUnicast() {
				continue
			}
			if ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
			if v6 == "" {
				v6 = ipn.IP.String()
			}
		}
	}
	return v6
}

// ReadToken reads oepcd's API token from path.
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return tok, nil
}
