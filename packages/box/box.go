// Package box is oepcd, the heart of an OEPC box: its identity, its place on
// the OE network (libp2p host and DHT), its friends, and the local API the
// CLI and web UI use. Run runs one box; the devnet runs several, each in its
// own process, and the image runs it as a gokrazy package.
package box

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"oepc.dev/oepcos/packages/chain/walletapi"
	"oepc.dev/oepcos/packages/cloud"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/sync/errgroup"

	"oepc.dev/oepcos/packages/friends"
	"oepc.dev/oepcos/packages/health"
	"oepc.dev/oepcos/packages/home/homeapi"
	"oepc.dev/oepcos/packages/identity"
	"oepc.dev/oepcos/packages/localapi"
	"oepc.dev/oepcos/packages/p2p"
	"oepc.dev/oepcos/packages/shard"
	"oepc.dev/oepcos/packages/store"
	"oepc.dev/oepcos/packages/version"

	"oepc.dev/oepcos/packages/bootguard"
	"oepc.dev/oepcos/packages/ota"
	"oepc.dev/oepcos/webui"
)

// Roles are the supervisors whose health the box reports beside its own.
var Roles = []string{"storaged", "minerd", "relayd", "homed", "hdmid"}

// Config is one box.
type Config struct {
	DataDir     string   // identity, token, database; on the box /perm/home/oepcd
	Name        string   // what friends see; default the host name
	APIAddr     string   // local API listen address
	ListenAddrs []string // libp2p multiaddrs; empty: dial out only (behind NAT)
	Bootstrap   []string // super node multiaddrs with /p2p/ID
	MDNS        bool
	Private     bool // announce only relay addresses (behind NAT)
	// LoopbackOnly confines networking to 127.0.0.1/::1 (devnet, tests).
	LoopbackOnly bool
	// HealthDir holds the role supervisors' health sockets; empty: report
	// only oepcd itself.
	HealthDir string
	// Quota is how many bytes of shards the box keeps for friends.
	Quota int64
	// ShardGrace is how long the shards of a removed or blocked friend
	// are kept before they are evicted (default shard.DefaultGrace).
	ShardGrace time.Duration
	// DebugAddr, if set, serves Go's profiler (net/http/pprof) there;
	// keep it on loopback.
	DebugAddr string
	// RepairGrace is how long a friend's box may be unreachable before
	// the cloud re-places the shards it holds; 0: the cloud's default.
	RepairGrace time.Duration
	// TokenFile, if set, is read for the API token instead of the one
	// created in DataDir (an image can bake one in for its owner).
	TokenFile string
	// HomedSocket is homed's API socket, proxied at /v1/home/; empty: none.
	HomedSocket string
	// Advertise makes the box findable on the LAN (_oepc._tcp, oepc.local)
	// on AdvertiseInterfaces (empty: every LAN interface).
	Advertise           bool
	AdvertiseInterfaces []string
	// WebAddr and WebTLSAddr, if set, serve the web UI over HTTP and
	// HTTPS (":80", ":443" on the box); it is always served on the API
	// address too.
	WebAddr, WebTLSAddr string
	// GokrazySocket, if set, is gokrazy's local web interface socket, used
	// to reboot and update (OTA) the box from the web UI; gokrazy's
	// password is the first of GokrazyPasswordFiles it accepts (default
	// bootguard.PasswordFiles).
	GokrazySocket        string
	GokrazyPasswordFiles []string

	// Chain is the light node and wallet (off without a genesis).
	Chain ChainConfig

	Logger *slog.Logger
	// APIListener, if set, is used instead of listening on APIAddr.
	APIListener net.Listener
	// Ready is called once the box serves its API.
	Ready func(Info)
	// Mounts add handlers to the local API (the personal cloud and later
	// roles plug in here) and pages to the web UI (Box.UI); they are
	// called once the box is up.
	Mounts []func(*Box, *localapi.Server) error
}

// Info is what a started box tells its starter.
type Info struct {
	PeerID peer.ID
	API    string // http://host:port
	Token  string
}

// Box is a running box, handed to Mounts.
type Box struct {
	Cfg     Config
	Log     *slog.Logger
	Node    *p2p.Node
	DB      *store.DB
	Friends *friends.Book
	Shards  *shard.Store
	// UI is the web UI: mounts add pages (UI.AddPage) and send live
	// events to open tabs (UI.Publish).
	UI      *webui.UI
	Cloud   *cloud.Service     // set by mountCloud (the wallet key comes from its owner)
	wallet  *walletapi.Service // set by mountWallet
	Started time.Time

	mu      sync.Mutex
	healthy map[string]health.Report // extra reports set by mounts
	runners []func(context.Context) error
	redial  *redialer // friends' dial schedule
	// sweep wakes the eviction of ex-friends' shards (friend removed or
	// blocked); set by mountCloud.
	sweep chan struct{}
}

// Go runs f for as long as the box runs (mounts start their background
// work with it); f must return when ctx ends.
func (b *Box) Go(f func(context.Context) error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.runners = append(b.runners, f)
}

// SetHealth lets a mounted service report its state under name.
func (b *Box) SetHealth(r health.Report) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.healthy[r.Name] = r
}

// ParseFlags reads a box's Config from command-line arguments (the
// gokrazy instance config passes them).
func ParseFlags(name string, args []string) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	host, _ := os.Hostname()
	fs.StringVar(&cfg.DataDir, "data", "/perm/home/oepcd", "data directory (identity, API token, database)")
	fs.StringVar(&cfg.Name, "name", host, "the box's name, as friends see it")
	fs.StringVar(&cfg.APIAddr, "api", ":7070", "local API listen address")
	listen := p2p.AddrList{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"}
	fs.Var(&listen, "listen", "comma-separated libp2p listen multiaddrs (\"none\": dial out only)")
	var boot p2p.AddrList
	fs.Var(&boot, "bootstrap", "comma-separated super node multiaddrs, each with /p2p/ID")
	fs.BoolVar(&cfg.MDNS, "mdns", true, "find boxes on the local network with mDNS")
	fs.BoolVar(&cfg.Private, "private", false, "behind NAT: be reached through a relay")
	fs.BoolVar(&cfg.LoopbackOnly, "loopback-only", false, "talk only on 127.0.0.1/::1 (devnet)")
	fs.StringVar(&cfg.HealthDir, "health-dir", health.DefaultDir, "directory of the role supervisors' health sockets (empty: none)")
	quota := byteSize(10 << 30)
	fs.Var(&quota, "quota", "space kept for friends' shards (e.g. 500GiB)")
	fs.DurationVar(&cfg.ShardGrace, "shard-grace", shard.DefaultGrace, "how long a removed or blocked friend's shards are kept before they are evicted")
	fs.StringVar(&cfg.DebugAddr, "debug-addr", "", "serve Go's profiler here (e.g. 127.0.0.1:6060; empty: off)")
	fs.DurationVar(&cfg.RepairGrace, "repair-grace", 24*time.Hour, "how long a friend's box may be unreachable before the shards it holds are re-placed")
	fs.StringVar(&cfg.Chain.Genesis, "chain-genesis", "", "OEChain genesis file: runs the light node and wallet (empty: off)")
	chainSupers := fs.String("chain-super-nodes", "", "comma-separated peer IDs of super nodes serving the chain (default: the bootstrap peers)")
	fs.StringVar(&cfg.Chain.Checkpoint, "chain-checkpoint", "", "trust root HEIGHT:HASH newer than the genesis (empty: the genesis)")
	fs.DurationVar(&cfg.Chain.TrustingPeriod, "chain-trusting-period", 0, "light node trusting period, shorter than unbonding (0: 2/3 of it)")
	fs.StringVar(&cfg.TokenFile, "token-file", "", "read the API token from this file instead of DATA/api.token")
	fs.StringVar(&cfg.HomedSocket, "homed-socket", homeapi.DefaultSocket, "homed's API socket, served at /v1/home/ (empty: none)")
	fs.BoolVar(&cfg.Advertise, "advertise", false, "advertise the box on the LAN over mDNS (_oepc._tcp, oepc.local)")
	fs.Func("advertise-if", "comma-separated interfaces to advertise on (default: every up multicast interface)", func(v string) error {
		cfg.AdvertiseInterfaces = strings.Split(v, ",")
		return nil
	})
	fs.StringVar(&cfg.WebAddr, "web", "", "also serve the web UI over HTTP here (e.g. :80; it is always on --api)")
	fs.StringVar(&cfg.WebTLSAddr, "web-tls", "", "also serve the web UI over HTTPS here, with a self-signed certificate made at first start (e.g. :443)")
	fs.StringVar(&cfg.GokrazySocket, "gokrazy-socket", "", "gokrazy's local web interface socket, to reboot and update from the web UI (e.g. /run/gokrazy-http.sock; empty: neither)")
	fs.Func("gokrazy-password-file", "a file holding gokrazy's web interface password (repeatable; default: where gokrazy looks, /perm/gokr-pw.txt first)", func(v string) error {
		cfg.GokrazyPasswordFiles = append(cfg.GokrazyPasswordFiles, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	cfg.ListenAddrs, cfg.Bootstrap, cfg.Quota = listen, boot, int64(quota)
	if *chainSupers != "" {
		cfg.Chain.SuperNodes = strings.Split(*chainSupers, ",")
	}
	return cfg, nil
}

// Run runs the box until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.DataDir == "" {
		return errors.New("box: no data directory")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("box: data directory: %w", err)
	}
	// The web UI's System page shows the recent log.
	logs := webui.NewLogRing(500)
	log = slog.New(logs.Handler(log.Handler()))
	started := time.Now()
	key, err := identity.LoadOrCreateKey(cfg.DataDir)
	if err != nil {
		return err
	}
	token, err := loadToken(cfg)
	if err != nil {
		return err
	}
	pid, _ := peer.IDFromPrivateKey(key)
	log = log.With("box", cfg.Name)
	log.Info("box starting", "peer", pid, "version", version.Version, "data", cfg.DataDir)
	if code, err := webui.LoadOrCreatePairingCode(filepath.Join(cfg.DataDir, pairingFile)); err != nil {
		log.Warn("no pairing code", "err", err)
	} else {
		log.Info("pairing code for phones and the web UI", "code", code)
	}

	ln := cfg.APIListener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.APIAddr); err != nil {
			return fmt.Errorf("box: local API: %w", err)
		}
	}
	defer ln.Close()
	api := localapi.NewServer(token, log)
	info := Info{PeerID: pid, API: "http://" + ln.Addr().String(), Token: token}

	db, err := store.Open(filepath.Join(cfg.DataDir, "db"), store.Options{Logger: log})
	if err != nil {
		// Not a boot loop: stay up, say what is wrong on the API and in
		// the log, and let the owner act.
		log.Error("database unusable; box runs degraded", "err", err)
		return degraded(ctx, cfg, api, ln, info, started, err)
	}
	defer db.Close()
	node, err := startNode(ctx, cfg, key, log)
	if err != nil {
		return err
	}
	defer node.Close()
	b := &Box{Cfg: cfg, Log: log, Node: node, DB: db, Started: started, healthy: map[string]health.Report{}, redial: newRedialer()}
	closeHolder, err := b.openFriendsAndShards()
	if err != nil {
		return err
	}
	defer closeHolder()
	b.routes(api)
	if b.UI, err = b.newUI(api, token, logs); err != nil {
		return err
	}
	for _, m := range append([]func(*Box, *localapi.Server) error{mountCloud, mountHome, mountWallet}, cfg.Mounts...) {
		if err := m(b, api); err != nil {
			return err
		}
	}
	return b.serve(ctx, ln, api, info)
}

// startNode starts the libp2p host and the OE DHT.
func startNode(ctx context.Context, cfg Config, key crypto.PrivKey, log *slog.Logger) (*p2p.Node, error) {
	bootInfos, err := p2p.ParseAddrInfos(cfg.Bootstrap)
	if err != nil {
		return nil, err
	}
	return p2p.New(ctx, p2p.Config{
		Key:          key,
		ListenAddrs:  cfg.ListenAddrs,
		Bootstrap:    bootInfos,
		Private:      cfg.Private,
		MDNS:         cfg.MDNS,
		LoopbackOnly: cfg.LoopbackOnly,
		Logger:       log,
	})
}

// openFriendsAndShards opens the friend book and the shard store and
// serves the shard protocol to friends; close undoes it.
func (b *Box) openFriendsAndShards() (func(), error) {
	h := b.Node.Host
	book, err := friends.New(h, b.DB, friends.Options{Name: b.Cfg.Name, Rendezvous: b.Node, Logger: b.Log})
	if err != nil {
		return nil, err
	}
	shards, err := shard.OpenStore(filepath.Join(b.Cfg.DataDir, "shards"), b.DB, b.Cfg.Quota, b.Log)
	if err != nil {
		book.Close()
		return nil, err
	}
	if b.Cfg.ShardGrace > 0 {
		shards.SetGrace(b.Cfg.ShardGrace)
	}
	srv := shard.NewServer(h, shards, book, b.Log)
	b.Friends, b.Shards = book, shards
	// A friend that connects is where it says it is, and no longer needs
	// redialling.
	h.Network().Notify(&network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		if book.IsFriend(c.RemotePeer()) {
			book.UpdateAddrs(c.RemotePeer(), []ma.Multiaddr{c.RemoteMultiaddr()})
			b.redial.reset(c.RemotePeer())
		}
	}})
	return func() { srv.Close(); book.Close() }, nil
}

// serve runs the network, the friends' redialling, the local API, the
// mounts' background work, the profiler and the health socket until ctx
// ends or one of them fails.
func (b *Box) serve(ctx context.Context, ln net.Listener, api *localapi.Server, info Info) error {
	cfg, log := b.Cfg, b.Log
	var dln net.Listener
	if cfg.DebugAddr != "" {
		var err error
		if dln, err = net.Listen("tcp", cfg.DebugAddr); err != nil {
			return fmt.Errorf("box: debug listener: %w", err)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return b.Node.Run(gctx) })
	g.Go(func() error { b.keepFriendsConnected(gctx); return nil })
	g.Go(func() error { return localapi.Serve(gctx, ln, b.UI) })
	g.Go(func() error { return b.UI.Run(gctx) })
	if dln != nil {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		g.Go(func() error { return localapi.Serve(gctx, dln, mux) })
	}
	b.mu.Lock()
	for _, f := range b.runners {
		g.Go(func() error { return f(gctx) })
	}
	b.mu.Unlock()
	if cfg.HealthDir != "" {
		g.Go(func() error {
			err := health.Serve(gctx, health.SocketPath(cfg.HealthDir, "oepcd"), func() health.Report { return b.selfReport() })
			if err != nil {
				log.Warn("health socket unavailable", "err", err)
			}
			return nil
		})
	}
	log.Info("box up", "api", info.API, "addrs", b.Node.Host.Addrs())
	if cfg.Ready != nil {
		cfg.Ready(info)
	}
	err := g.Wait()
	log.Info("box stopped")
	return err
}

func loadToken(cfg Config) (string, error) {
	if cfg.TokenFile != "" {
		b, err := os.ReadFile(cfg.TokenFile)
		if err == nil {
			tok := strings.TrimSpace(string(b))
			if len(tok) < 32 {
				return "", fmt.Errorf("box: token in %s is too short", cfg.TokenFile)
			}
			return tok, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	return identity.LoadOrCreateToken(cfg.DataDir)
}

// pairingFile holds the one-time code a phone or browser proves presence
// with; shown in the log (and on the TV, by hdmid).
const pairingFile = "pairing.code"

// newUI makes the web UI in front of the local API.
func (b *Box) newUI(api http.Handler, token string, logs *webui.LogRing) (*webui.UI, error) {
	cfg := b.Cfg
	var reboot func(context.Context) error
	var up *ota.Updater
	if s := cfg.GokrazySocket; s != "" {
		pw := func(ctx context.Context) (string, error) {
			return bootguard.GokrazyPassword(ctx, s, cfg.GokrazyPasswordFiles...)
		}
		reboot = bootguard.GokrazyReboot(s, pw)
		var err error
		if up, err = ota.New(ota.Config{Target: ota.Socket(s, pw), SpoolDir: cfg.DataDir, Logger: b.Log}); err != nil {
			return nil, err
		}
	}
	return webui.New(webui.Config{
		DataDir: filepath.Join(cfg.DataDir, "webui"), PairingFile: filepath.Join(cfg.DataDir, pairingFile),
		API: api, Token: token, Name: cfg.Name, Addr: cfg.WebAddr, TLSAddr: cfg.WebTLSAddr,
		Logs: logs, StorageDir: cfg.DataDir, Reboot: reboot, OTA: up, Logger: b.Log,
	})
}

func (b *Box) selfReport() health.Report {
	st := b.Node.Stats()
	if !st.Joined && len(b.Cfg.Bootstrap) > 0 {
		return health.Self("oepcd", health.Degraded, "not yet joined the OE network", b.Started)
	}
	return health.Self("oepcd", health.OK, fmt.Sprintf("%d peers, %d friends", len(st.Peers), len(b.Friends.Peers())), b.Started)
}

// degraded serves only status and health, explaining why the box cannot
// run, until ctx ends.
func degraded(ctx context.Context, cfg Config, api *localapi.Server, ln net.Listener, info Info, started time.Time, cause error) error {
	rep := func() health.Report {
		return health.Self("oepcd", health.Error, "database unusable: "+cause.Error(), started)
	}
	api.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		reps := append([]health.Report{rep()}, collectRoles(r.Context(), cfg)...)
		localapi.WriteJSON(w, http.StatusOK, HealthAnswer{Healthy: false, Reports: apiReports(reps)})
	})
	api.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		localapi.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{
			"name": cfg.Name, "version": version.Version, "peer_id": info.PeerID.String(), "error": rep().Detail})
	})
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return localapi.Serve(gctx, ln, api) })
	if cfg.HealthDir != "" {
		g.Go(func() error { return health.Serve(gctx, health.SocketPath(cfg.HealthDir, "oepcd"), rep) })
	}
	if cfg.Ready != nil {
		cfg.Ready(info)
	}
	return g.Wait()
}

func collectRoles(ctx context.Context, cfg Config) []health.Report {
	if cfg.HealthDir == "" {
		return nil
	}
	return health.Collect(ctx, cfg.HealthDir, Roles)
}

// byteSize is a flag holding a size like 512MiB, 10GiB or plain bytes.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

// Set parses a size.
func (b *byteSize) Set(v string) error {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}, {"", 1}}
	for _, u := range units {
		num, ok := strings.CutSuffix(v, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil || n < 0 || n > math.MaxInt64/u.mult {
			return fmt.Errorf("bad size %q (want e.g. 500GiB)", v)
		}
		*b = byteSize(n * u.mult)
		return nil
	}
	return fmt.Errorf("bad size %q", v)
}
