// Package devnet starts and supervises a loopback OE network: super nodes
// and boxes as child processes (the devnet binary running itself in a child
// role), makes every box friends with every other, and records the network
// in DIR/devnet.json. Tests and benchmarks read that file through State.
package devnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/box"
	"oepc.dev/oepcos/packages/friends"
	"oepc.dev/oepcos/packages/identity"
	"oepc.dev/oepcos/packages/localapi"
	"oepc.dev/oepcos/packages/store"

	"oepc.dev/oepcos/packages/atomicfile"
)

// ChildEnv tells the devnet binary which role a child process plays.
const ChildEnv = "OEPC_DEVNET_CHILD"

// Config is one devnet.
type Config struct {
	Dir        string
	Boxes      int
	SuperNodes int
	Private    int  // the last Private boxes are behind "NAT"
	Profile    bool // serve each box's Go profiler on a loopback port
	NoFriends  bool // leave the boxes strangers (the web UI test makes friends itself)
	// BoxArgs are more oepcd flags for every box (the web UI test points
	// them at a stand-in for gokrazy).
	BoxArgs []string
	// Chain makes the super nodes the validators of an OEChain devnet
	// (CometBFT needs more than 2/3 of the voting power: with 4, one may
	// be down; with fewer, every one is needed). With at least 3 super
	// nodes (a primary and two witnesses) the boxes run their light nodes,
	// and the devnet's faucet pays each box's wallet once it has one.
	Chain  bool
	Exe    string // the devnet binary
	Logger *slog.Logger
	Ready  func(State)
}

// Box is one box as devnet.json lists it.
type Box struct {
	Name    string `json:"name"`
	API     string `json:"api"`
	Token   string `json:"token"`
	PeerID  string `json:"peer_id"`
	PID     int    `json:"pid"`
	DataDir string `json:"data_dir"`
	Private bool   `json:"private,omitempty"`
	Debug   string `json:"debug,omitempty"` // http://... of the Go profiler, with --profile
	// PairingCode is the code the web UI's first sign-in needs (read
	// when the box came up; a used code is replaced: see PairingCode()).
	PairingCode string `json:"pairing_code,omitempty"`
	P2PPort     int    `json:"p2p_port"`
}

// relayArgs raise the super nodes' relay limits above production's
// (p2p.DefaultRelay): every devnet box shares 127.0.0.1, and a box behind the
// devnet's "NAT" has no direct path to punch, so its shards and deliveries
// all cross a relay.
func relayArgs() []string {
	return []string{
		"--relay-circuit-duration=1h", "--relay-circuit-data=4294967296",
		"--relay-reservations=1024", "--relay-reservations-per-ip=256", "--relay-reservations-per-asn=1024",
		"--relay-circuits=64", "--relay-buffer=32768",
	}
}

// SuperNode is one super node as devnet.json lists it.
type SuperNode struct {
	Name    string   `json:"name"`
	PeerID  string   `json:"peer_id"`
	Addrs   []string `json:"addrs"`
	PID     int      `json:"pid"`
	DataDir string   `json:"data_dir"`
	P2PPort int      `json:"p2p_port"`
	// ChainRPC is the CometBFT RPC (tcp://127.0.0.1:port) of its validator.
	ChainRPC string `json:"chain_rpc,omitempty"`
}

// State is DIR/devnet.json.
type State struct {
	Boxes      []Box       `json:"boxes"`
	SuperNodes []SuperNode `json:"supernodes"`
}

// Load reads DIR/devnet.json.
func Load(dir string) (State, error) {
	var st State
	b, err := os.ReadFile(filepath.Join(dir, "devnet.json"))
	if err != nil {
		return st, err
	}
	return st, store.GetJSONBytes(b, &st)
}

// Bootstrap is the super nodes' addresses, as a box's --bootstrap flag.
func (st State) Bootstrap() string {
	var all []string
	for _, s := range st.SuperNodes {
		all = append(all, s.Addrs...)
	}
	return strings.Join(all, ",")
}

// Client is a local API client for box b.
func (b Box) Client() *localapi.Client {
	return &localapi.Client{Base: b.API, Token: b.Token, HTTP: nil}
}

// layout is what must stay the same across restarts of one devnet: ports.
type layout struct {
	SuperNodePorts []int `json:"supernode_ports"`
	BoxP2PPorts    []int `json:"box_p2p_ports"`
	BoxAPIPorts    []int `json:"box_api_ports"`
	ChainP2PPorts  []int `json:"chain_p2p_ports,omitempty"`
	ChainRPCPorts  []int `json:"chain_rpc_ports,omitempty"`
}

// Run starts (or resumes) the devnet in cfg.Dir and supervises it until ctx
// ends, then stops every process (SIGTERM, then SIGKILL after 10s).
func Run(ctx context.Context, cfg Config) error {
	if cfg.Boxes < 1 || cfg.SuperNodes < 1 || cfg.Private < 0 || cfg.Private > cfg.Boxes {
		return errors.New("devnet: need at least one box and one super node, and at most --boxes private boxes")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	lay, err := loadLayout(dir, cfg)
	if err != nil {
		return err
	}
	var st State
	sup := &supervisor{log: log, exe: cfg.Exe, ctx: ctx}
	defer sup.stopAll()

	for i := range cfg.SuperNodes {
		name := fmt.Sprintf("super%d", i+1)
		ddir := filepath.Join(dir, name)
		key, err := identity.LoadOrCreateKey(ddir)
		if err != nil {
			return err
		}
		id, _ := peerID(key)
		p := lay.SuperNodePorts[i]
		st.SuperNodes = append(st.SuperNodes, SuperNode{
			Name: name, PeerID: id, DataDir: ddir, P2PPort: p,
			Addrs: []string{
				fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", p, id),
				fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1/p2p/%s", p, id),
			},
		})
	}
	chain, err := setupChain(dir, cfg, lay, st.SuperNodes)
	if err != nil {
		return err
	}
	for i, sn := range st.SuperNodes {
		if cfg.Chain {
			st.SuperNodes[i].ChainRPC = fmt.Sprintf("tcp://127.0.0.1:%d", lay.ChainRPCPorts[i])
		}
		var peers []string
		for j, o := range st.SuperNodes {
			if j != i {
				peers = append(peers, o.Addrs...)
			}
		}
		args := []string{"--data", sn.DataDir, "--loopback-only",
			"--listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d,/ip4/127.0.0.1/udp/%d/quic-v1", sn.P2PPort, sn.P2PPort),
			"--peers", strings.Join(peers, ",")}
		args = append(args, relayArgs()...)
		if cfg.Chain {
			args = append(args, chain.superArgs[i]...)
		}
		if err := sup.start(sn.Name, "supernode", sn.DataDir, args); err != nil {
			return err
		}
	}
	var boxChain []string
	if cfg.Chain {
		if boxChain, err = chain.boxArgs(ctx, log, st.SuperNodes[0].ChainRPC, len(st.SuperNodes)); err != nil {
			return err
		}
	}
	for i := range cfg.Boxes {
		name := fmt.Sprintf("box%d", i+1)
		ddir := filepath.Join(dir, name)
		key, err := identity.LoadOrCreateKey(ddir)
		if err != nil {
			return err
		}
		id, _ := peerID(key)
		b := Box{Name: name, PeerID: id, DataDir: ddir, P2PPort: lay.BoxP2PPorts[i],
			API: fmt.Sprintf("http://127.0.0.1:%d", lay.BoxAPIPorts[i]), Private: i >= cfg.Boxes-cfg.Private}
		listen := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d,/ip4/127.0.0.1/udp/%d/quic-v1", b.P2PPort, b.P2PPort)
		if b.Private {
			listen = "none"
		}
		args := []string{"--data", ddir, "--name", name, "--loopback-only", "--mdns=false", "--health-dir=",
			"--api", strings.TrimPrefix(b.API, "http://"), "--listen", listen, "--bootstrap", st.Bootstrap(),
			"--private=" + strconv.FormatBool(b.Private),
			// A box stopped for good is re-placed within a test's patience.
			"--repair-grace=15s"}
		args = append(args, boxChain...)
		if cfg.Profile {
			p, err := FreePort()
			if err != nil {
				return err
			}
			b.Debug = fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", p)
			args = append(args, "--debug-addr", fmt.Sprintf("127.0.0.1:%d", p))
		}
		if i == 0 {
			// Box 1 has lights: homed on a simulated Insteon modem
			// (packages/home/homesim), proxied at /v1/home/.
			hdir, sock := filepath.Join(ddir, "homed"), filepath.Join(ddir, "homed.sock")
			if err := sup.start(name+"-homed", "homed", hdir, []string{"--data", hdir, "--socket", sock}); err != nil {
				return err
			}
			args = append(args, "--homed-socket", sock)
		} else {
			args = append(args, "--homed-socket=")
		}
		args = append(args, cfg.BoxArgs...)
		if err := sup.start(name, "box", ddir, args); err != nil {
			return err
		}
		st.Boxes = append(st.Boxes, b)
	}

	// Wait for every box's API, then make the friendships that are missing.
	for i := range st.Boxes {
		b := &st.Boxes[i]
		if err := waitAPI(ctx, b); err != nil {
			return fmt.Errorf("devnet: %s did not come up: %w (see %s/log)", b.Name, err, b.DataDir)
		}
	}
	if !cfg.NoFriends {
		if err := makeFriends(ctx, st.Boxes); err != nil {
			return err
		}
	}
	sup.onRestart = func() { sup.writeState(dir, &st) }
	sup.writeState(dir, &st)
	if boxChain != nil {
		var rpcs []string
		for _, sn := range st.SuperNodes {
			rpcs = append(rpcs, sn.ChainRPC)
		}
		go chain.runFaucet(ctx, log, rpcs, st.Boxes)
	}
	log.Info("devnet up", "boxes", len(st.Boxes), "supernodes", len(st.SuperNodes), "dir", dir)
	if cfg.Ready != nil {
		cfg.Ready(st)
	}
	<-ctx.Done()
	return nil
}

func peerID(key crypto.PrivKey) (string, error) {
	id, err := peer.IDFromPrivateKey(key)
	return id.String(), err
}

func loadLayout(dir string, cfg Config) (layout, error) {
	path := filepath.Join(dir, "layout.json")
	var lay layout
	if b, err := os.ReadFile(path); err == nil {
		if err := store.GetJSONBytes(b, &lay); err != nil {
			return lay, fmt.Errorf("devnet: %s: %w", path, err)
		}
	}
	grow := func(ports []int, n int) ([]int, error) {
		for len(ports) < n {
			p, err := FreePort()
			if err != nil {
				return nil, err
			}
			ports = append(ports, p)
		}
		return ports, nil
	}
	var err error
	if lay.SuperNodePorts, err = grow(lay.SuperNodePorts, cfg.SuperNodes); err != nil {
		return lay, err
	}
	if lay.BoxP2PPorts, err = grow(lay.BoxP2PPorts, cfg.Boxes); err != nil {
		return lay, err
	}
	if lay.BoxAPIPorts, err = grow(lay.BoxAPIPorts, cfg.Boxes); err != nil {
		return lay, err
	}
	if cfg.Chain {
		if lay.ChainP2PPorts, err = grow(lay.ChainP2PPorts, cfg.SuperNodes); err != nil {
			return lay, err
		}
		if lay.ChainRPCPorts, err = grow(lay.ChainRPCPorts, cfg.SuperNodes); err != nil {
			return lay, err
		}
	}
	b, _ := store.MarshalJSON(lay)
	return lay, atomicfile.Write(path, b, 0o600)
}

// FreePort finds a port free for both TCP and UDP on 127.0.0.1 below the
// kernel's ephemeral range: a port from that range could be taken by some
// outgoing connection (another box dialing out) between the moment it is
// picked and the moment its process binds it.
func FreePort() (int, error) {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 12000 {
				low = n
			}
		}
	}
	for range 200 {
		port := 10000 + rand.IntN(low-10000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port, nil
		}
	}
	return 0, errors.New("devnet: no free port")
}

func waitAPI(ctx context.Context, b *Box) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		tok, err := os.ReadFile(filepath.Join(b.DataDir, "api.token"))
		if err == nil {
			b.Token = strings.TrimSpace(string(tok))
			var st box.Status
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err = b.Client().Do(cctx, "GET", "/v1/status", nil, &st)
			cancel()
			if err == nil {
				if st.PeerID != b.PeerID {
					return fmt.Errorf("answers as %s, want %s", st.PeerID, b.PeerID)
				}
				if code, err := os.ReadFile(filepath.Join(b.DataDir, "pairing.code")); err == nil {
					b.PairingCode = strings.TrimSpace(string(code))
				}
				return nil
			}
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// makeFriends makes every box friends with every other, skipping pairs that
// already are (a resumed devnet).
func makeFriends(ctx context.Context, boxes []Box) error {
	for i := range boxes {
		var have []box.FriendStatus
		if err := boxes[i].Client().Do(ctx, "GET", "/v1/friends", nil, &have); err != nil {
			return err
		}
		known := map[string]bool{}
		for _, f := range have {
			known[f.ID.String()] = true
		}
		for j := i + 1; j < len(boxes); j++ {
			if known[boxes[j].PeerID] {
				continue
			}
			var inv friends.Invite
			if err := boxes[i].Client().Do(ctx, "POST", "/v1/friends/invite", box.InviteRequest{}, &inv); err != nil {
				return fmt.Errorf("devnet: invite from %s: %w", boxes[i].Name, err)
			}
			var err error
			for try := 0; try < 20; try++ {
				// A box behind "NAT" is reached once it holds its relay
				// reservation; retry until then.
				if err = boxes[j].Client().Do(ctx, "POST", "/v1/friends/accept", box.AcceptRequest{Invite: inv.URI}, nil); err == nil {
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
			if err != nil {
				return fmt.Errorf("devnet: %s accepting %s's invite: %w", boxes[j].Name, boxes[i].Name, err)
			}
		}
	}
	return nil
}

// supervisor runs child processes and restarts those that die, unless
// their data directory holds a "disabled" file.
type supervisor struct {
	log       *slog.Logger
	exe       string
	ctx       context.Context
	onRestart func()

	stopping atomic.Bool
	mu       sync.Mutex
	procs    map[string]*exec.Cmd
	wg       sync.WaitGroup
}

func (s *supervisor) start(name, role, dir string, args []string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	os.Remove(filepath.Join(dir, "disabled"))
	cmd, err := s.spawn(name, role, dir, args)
	if err != nil {
		return err
	}
	s.wg.Add(1)
	go s.watch(name, role, dir, args, cmd)
	return nil
}

func (s *supervisor) spawn(name, role, dir string, args []string) (*exec.Cmd, error) {
	logf, err := os.OpenFile(filepath.Join(dir, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.exe, args...)
	cmd.Env = append(os.Environ(), ChildEnv+"="+role)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Children die with the devnet, even if it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("devnet: start %s: %w", name, err)
	}
	logf.Close()
	s.mu.Lock()
	if s.procs == nil {
		s.procs = map[string]*exec.Cmd{}
	}
	s.procs[name] = cmd
	s.mu.Unlock()
	s.log.Info("process started", "name", name, "pid", cmd.Process.Pid)
	return cmd, nil
}

func (s *supervisor) watch(name, role, dir string, args []string, cmd *exec.Cmd) {
	defer s.wg.Done()
	for {
		err := cmd.Wait()
		if s.stopping.Load() || s.ctx.Err() != nil {
			return
		}
		if _, serr := os.Stat(filepath.Join(dir, "disabled")); serr == nil {
			s.log.Info("process stopped for good", "name", name, "err", err)
			return
		}
		s.log.Warn("process died; restarting", "name", name, "err", err)
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(time.Second):
		}
		if s.stopping.Load() {
			return
		}
		var serr error
		if cmd, serr = s.spawn(name, role, dir, args); serr != nil {
			s.log.Error("restart failed", "name", name, "err", serr)
			return
		}
		if s.onRestart != nil {
			s.onRestart()
		}
	}
}

func (s *supervisor) writeState(dir string, st *State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range st.Boxes {
		if c := s.procs[st.Boxes[i].Name]; c != nil {
			st.Boxes[i].PID = c.Process.Pid
		}
	}
	for i := range st.SuperNodes {
		if c := s.procs[st.SuperNodes[i].Name]; c != nil {
			st.SuperNodes[i].PID = c.Process.Pid
		}
	}
	b, _ := store.MarshalJSON(st)
	if err := atomicfile.Write(filepath.Join(dir, "devnet.json"), b, 0o600); err != nil {
		s.log.Error("cannot write devnet.json", "err", err)
	}
}

// stopAll sends SIGTERM to every child and SIGKILL to those still running
// after 10 seconds.
func (s *supervisor) stopAll() {
	s.stopping.Store(true)
	s.mu.Lock()
	for _, c := range s.procs {
		c.Process.Signal(syscall.SIGTERM)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.mu.Lock()
		for _, c := range s.procs {
			c.Process.Kill()
		}
		s.mu.Unlock()
		<-done
	}
}
