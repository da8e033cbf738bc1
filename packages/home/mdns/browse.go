package mdns

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grandcat/zeroconf"
)

// Peer is another box the browser saw on the LAN.
type Peer struct {
	// ID is the box's libp2p peer ID (TXT id=).
	ID       string
	Version  string
	Paired   bool
	Instance string
	// Port is the web UI's port; P2PPort the libp2p TCP port (TXT p2p=),
	// 0 when the box did not advertise one.
	Port, P2PPort int
	// Addrs are the box's advertised addresses, IPv4 first.
	Addrs []net.IP
	// Seen is when it was last heard of; it is dropped at Expires.
	Seen, Expires time.Time
}

// BrowseConfig says where to look for other boxes and what to tell.
type BrowseConfig struct {
	// Interfaces to browse on, by name; empty: every up, multicast,
	// non-loopback interface (as Config.Interfaces).
	Interfaces []string
	// Self is this box's own ID: its own advertisement is ignored.
	Self string
	// Max bounds the boxes kept (default 64); further ones are ignored
	// until an entry goes stale.
	Max int
	// Round is how long one browse (a query, then listening) lasts before
	// the next one asks again (default 10 s).
	Round time.Duration
	// StaleAfter drops a box not heard of for this long, or for its
	// record's TTL if that is shorter (default 3 rounds).
	StaleAfter time.Duration
	// Found is called (on the browser's goroutine) for a box that appears,
	// or whose addresses, ports or version changed. Nil: none.
	Found  func(Peer)
	Logger *slog.Logger
}

// Browser finds other boxes advertising Service.
type Browser struct {
	cfg BrowseConfig
	mu  sync.Mutex
	m   map[string]Peer // by ID
}

// NewBrowser makes a browser; Run it.
func NewBrowser(cfg BrowseConfig) *Browser {
	if cfg.Max <= 0 {
		cfg.Max = 64
	}
	if cfg.Round <= 0 {
		cfg.Round = 10 * time.Second
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 3 * cfg.Round
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Browser{cfg: cfg, m: map[string]Peer{}}
}

// Browse browses until ctx ends (NewBrowser(cfg).Run(ctx)).
func Browse(ctx context.Context, cfg BrowseConfig) error { return NewBrowser(cfg).Run(ctx) }

// Peers are the boxes seen and not yet stale, by ID.
func (b *Browser) Peers() []Peer {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire(time.Now())
	ps := make([]Peer, 0, len(b.m))
	for _, p := range b.m {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
	return ps
}

func (b *Browser) expire(now time.Time) {
	for id, p := range b.m {
		if !now.Before(p.Expires) {
			delete(b.m, id)
			b.cfg.Logger.Info("box on the LAN gone", "id", id)
		}
	}
}

// Run browses in rounds until ctx ends. zeroconf's resolver reports each
// instance once per browse, so a fresh one every Round keeps Seen current.
func (b *Browser) Run(ctx context.Context) error {
	warned := false
	for ctx.Err() == nil {
		v, err := look(b.cfg.Interfaces)
		if err != nil || len(v.ifaces) == 0 {
			if !warned {
				b.cfg.Logger.Warn("mdns: not browsing: no interface with an address", "interfaces", b.cfg.Interfaces, "err", err)
				warned = true
			}
		} else if err := b.round(ctx, v.ifaces); err != nil && ctx.Err() == nil {
			b.cfg.Logger.Warn("mdns: browsing failed; trying again", "err", err)
		} else {
			warned = false
		}
		b.mu.Lock()
		b.expire(time.Now())
		b.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(b.cfg.Round / 4):
		}
	}
	return nil
}

func (b *Browser) round(ctx context.Context, ifaces []net.Interface) error {
	r, err := zeroconf.NewResolver(zeroconf.SelectIfaces(ifaces))
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, b.cfg.Round)
	defer cancel()
	entries := make(chan *zeroconf.ServiceEntry, 16)
	if err := r.Browse(rctx, Service, "local.", entries); err != nil {
		return err
	}
	for {
		select {
		case <-rctx.Done():
			return nil
		case e, ok := <-entries:
			if !ok {
				return nil
			}
			b.saw(e)
		}
	}
}

// saw records an entry; it is a parse of untrusted TXT records, bounded.
func (b *Browser) saw(e *zeroconf.ServiceEntry) {
	p, ok := parseEntry(e)
	if !ok || p.ID == b.cfg.Self {
		return
	}
	now := time.Now()
	p.Seen = now
	life := b.cfg.StaleAfter
	if ttl := time.Duration(e.TTL) * time.Second; ttl > 0 && ttl < life {
		life = ttl
	}
	p.Expires = now.Add(life)
	b.mu.Lock()
	old, had := b.m[p.ID]
	if !had && len(b.m) >= b.cfg.Max {
		b.expire(now)
		if len(b.m) >= b.cfg.Max {
			b.mu.Unlock()
			b.cfg.Logger.Debug("mdns: too many boxes on the LAN; ignoring one", "id", p.ID, "max", b.cfg.Max)
			return
		}
	}
	b.m[p.ID] = p
	b.mu.Unlock()
	if had && old.Port == p.Port && old.P2PPort == p.P2PPort && old.Version == p.Version &&
		old.Paired == p.Paired && slices.EqualFunc(old.Addrs, p.Addrs, net.IP.Equal) {
		return
	}
	if b.cfg.Found != nil {
		b.cfg.Found(p)
	}
}

// maxTXT bounds what is read of another box's TXT records.
const maxTXT = 16

func parseEntry(e *zeroconf.ServiceEntry) (Peer, bool) {
	p := Peer{Instance: unescape(e.Instance), Port: e.Port}
	for i, kv := range e.Text {
		if i >= maxTXT {
			break
		}
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "id":
			p.ID = v
		case "version":
			p.Version = v
		case "paired":
			p.Paired = v == "yes"
		case "p2p":
			if n, err := strconv.Atoi(v); err == nil && n > 0 && n <= 65535 {
				p.P2PPort = n
			}
		}
	}
	if p.ID == "" || len(p.ID) > 128 {
		return Peer{}, false
	}
	for _, ip := range e.AddrIPv4 {
		if len(p.Addrs) < 8 && !slices.ContainsFunc(p.Addrs, ip.Equal) {
			p.Addrs = append(p.Addrs, ip)
		}
	}
	for _, ip := range e.AddrIPv6 {
		if len(p.Addrs) < 16 && !slices.ContainsFunc(p.Addrs, ip.Equal) {
			p.Addrs = append(p.Addrs, ip)
		}
	}
	return p, true
}

// unescape undoes DNS presentation escapes (`\ `, `\DDD`) in a name label.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			out = append(out, s[i])
			continue
		}
		if i+3 < len(s) {
			if n, err := strconv.Atoi(s[i+1 : i+4]); err == nil && n < 256 {
				out = append(out, byte(n))
				i += 3
				continue
			}
		}
		out = append(out, s[i+1])
		i++
	}
	return string(out)
}
