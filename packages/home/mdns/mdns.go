// Package mdns makes the box findable on the home LAN: it advertises the
// box's web UI as _oepc._tcp over DNS-SD (github.com/grandcat/zeroconf),
// with TXT records carrying the box's ID, its version and whether it is
// paired (never a secret), and answers A queries for its name, oepc.local,
// so a phone's browser can open http://oepc.local/.
//
// zeroconf takes the addresses once, at Register: Run watches the
// interfaces' addresses and registers again when they change (DHCP renews
// to a new address, a cable moves). zeroconf v1.0.0 answers only service
// queries, not a plain A query for the host name, so Run has its own small
// responder for that, on the same multicast group and port.
//
// Browse (a Browser) finds the other boxes on the LAN by the same
// advertisement: their ID, version, addresses and ports (TXT p2p= is the
// libp2p TCP port), bounded in number and dropped when stale.
//
// Multicast goes out only on the interfaces Run is given (or, when none
// are named, every up, multicast-capable, non-loopback one): the box's LAN
// interface, or the loopback of a network namespace a test made.
package mdns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/grandcat/zeroconf"
	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// Service is the DNS-SD service type of an OEPC box.
const Service = "_oepc._tcp"

// Config is what Run advertises, and where.
type Config struct {
	// Instance is the service instance name, e.g. "OEPC kitchen". Default
	// "OEPC box".
	Instance string
	// Host is the box's mDNS name without ".local". Default "oepc".
	Host string
	// Port is the web UI's TCP port.
	Port int
	// ID and Version go into the TXT records (id=, version=).
	ID, Version string
	// P2PPort is the box's libp2p TCP port (p2p=), so another box on the
	// LAN can dial it; 0: not advertised.
	P2PPort int
	// Paired says whether the box has been paired (paired=yes|no); nil:
	// never. Asked again every Poll.
	Paired func() bool
	// Interfaces to advertise on, by name; empty: every up, multicast,
	// non-loopback interface.
	Interfaces []string
	// Poll is how often the addresses (and Paired) are looked at again.
	// Default 5 s.
	Poll   time.Duration
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.Instance == "" {
		c.Instance = "OEPC box"
	}
	if c.Host == "" {
		c.Host = "oepc"
	}
	if c.Poll <= 0 {
		c.Poll = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// TXT is the TXT record set Run advertises.
func TXT(id, version string, paired bool) []string {
	p := "no"
	if paired {
		p = "yes"
	}
	return []string{"id=" + id, "version=" + version, "paired=" + p}
}

func (c *Config) txt(paired bool) []string {
	t := TXT(c.ID, c.Version, paired)
	if c.P2PPort > 0 && c.P2PPort <= 65535 {
		t = append(t, "p2p="+strconv.Itoa(c.P2PPort))
	}
	return t
}

// view is what the interfaces look like now.
type view struct {
	ifaces []net.Interface
	ips    []string
}

func (v view) same(o view) bool {
	if !slices.Equal(v.ips, o.ips) || len(v.ifaces) != len(o.ifaces) {
		return false
	}
	for i := range v.ifaces {
		if v.ifaces[i].Index != o.ifaces[i].Index {
			return false
		}
	}
	return true
}

func look(names []string) (view, error) {
	all, err := net.Interfaces()
	if err != nil {
		return view{}, err
	}
	var v view
	for _, ifi := range all {
		if len(names) > 0 {
			if !slices.Contains(names, ifi.Name) {
				continue
			}
		} else if ifi.Flags&net.FlagLoopback != 0 {
			continue
		}
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagMulticast == 0 {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		n := 0
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.IsLinkLocalUnicast() && ipn.IP.To4() == nil {
				continue // IPv6 link-local needs a zone a browser URL cannot carry
			}
			v.ips = append(v.ips, ipn.IP.String())
			n++
		}
		if n > 0 {
			v.ifaces = append(v.ifaces, ifi)
		}
	}
	sort.Strings(v.ips)
	return v, nil
}

// Run advertises until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	cfg.defaults()
	if cfg.Port <= 0 || cfg.Port > 65535 {
		return fmt.Errorf("mdns: port %d", cfg.Port)
	}
	log := cfg.Logger.With("mdns", cfg.Host+".local")
	paired := func() bool { return cfg.Paired != nil && cfg.Paired() }
	hr := &hostResponder{name: dns.Fqdn(cfg.Host + ".local"), log: log}
	defer hr.close()

	var srv *zeroconf.Server
	defer func() {
		if srv != nil {
			srv.Shutdown()
		}
	}()
	var cur view
	var curPaired bool
	tick := time.NewTicker(cfg.Poll)
	defer tick.Stop()
	warned := ""
	for {
		v, err := look(cfg.Interfaces)
		p := paired()
		switch {
		case err != nil || len(v.ips) == 0:
			msg := "no interface with an address to advertise on"
			if err != nil {
				msg = err.Error()
			}
			if srv != nil {
				srv.Shutdown()
				srv = nil
				hr.close()
				log.Info("mdns: addresses gone; advertisement withdrawn")
			}
			if msg != warned {
				log.Warn("mdns: not advertising", "why", msg, "interfaces", cfg.Interfaces)
				warned = msg
			}
			cur = view{}
		case srv == nil || !v.same(cur) || p != curPaired:
			// A change of pairing registers again too: zeroconf's SetText
			// races with its own announcing goroutine.
			if srv != nil {
				srv.Shutdown()
				srv = nil
			}
			hr.close()
			s, err := zeroconf.RegisterProxy(cfg.Instance, Service, "local.", cfg.Port, cfg.Host, v.ips,
				cfg.txt(p), v.ifaces)
			if err != nil {
				log.Warn("mdns: registering failed; trying again", "err", err)
				break
			}
			srv, cur, curPaired, warned = s, v, p, ""
			if err := hr.start(v); err != nil {
				log.Warn("mdns: the host name responder failed; the service is still advertised", "err", err)
			}
			log.Info("mdns: advertising", "service", Service, "instance", cfg.Instance, "port", cfg.Port, "addresses", v.ips, "paired", p)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// hostResponder answers A (and AAAA) queries for name with the addresses of
// the interface the query came in on.
type hostResponder struct {
	name string
	log  *slog.Logger

	mu   sync.Mutex
	conn *ipv4.PacketConn
	raw  *net.UDPConn
	done chan struct{}
}

var group = net.IPv4(224, 0, 0, 251)

func (h *hostResponder) start(v view) error {
	// zeroconf holds 5353 too: share it (SO_REUSEADDR; every socket bound
	// to the port gets each multicast packet).
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		})
		return errors.Join(err, serr)
	}}
	pconn, err := lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:5353")
	if err != nil {
		return err
	}
	raw := pconn.(*net.UDPConn)
	pc := ipv4.NewPacketConn(raw)
	joined := 0
	for i := range v.ifaces {
		if err := pc.JoinGroup(&v.ifaces[i], &net.UDPAddr{IP: group}); err == nil {
			joined++
		}
	}
	if joined == 0 {
		raw.Close()
		return errors.New("joining 224.0.0.251 failed on every interface")
	}
	pc.SetControlMessage(ipv4.FlagInterface, true)
	pc.SetMulticastTTL(255)
	done := make(chan struct{})
	h.mu.Lock()
	h.conn, h.raw, h.done = pc, raw, done
	h.mu.Unlock()
	go h.serve(pc, done)
	return nil
}

func (h *hostResponder) close() {
	h.mu.Lock()
	raw, done := h.raw, h.done
	h.raw, h.conn, h.done = nil, nil, nil
	h.mu.Unlock()
	if raw != nil {
		raw.Close()
		<-done
	}
}

func (h *hostResponder) serve(pc *ipv4.PacketConn, done chan struct{}) {
	defer close(done)
	buf := make([]byte, 9000)
	for {
		n, cm, src, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		var q dns.Msg
		if q.Unpack(buf[:n]) != nil || q.Response || q.Opcode != dns.OpcodeQuery {
			continue
		}
		ifIndex := 0
		if cm != nil {
			ifIndex = cm.IfIndex
		}
		resp := h.answer(&q, ifIndex)
		if resp == nil {
			continue
		}
		udp, _ := src.(*net.UDPAddr)
		var dst net.Addr = &net.UDPAddr{IP: group, Port: 5353}
		unicast := false
		for _, qq := range q.Question {
			unicast = unicast || qq.Qclass&0x8000 != 0
		}
		if udp != nil && udp.Port != 5353 {
			// Legacy unicast (RFC 6762 §6.7): a plain DNS resolver asking;
			// answer it alone, with its ID and question, short TTLs and no
			// cache-flush bit.
			resp.Id, resp.Question = q.Id, q.Question
			for _, rr := range resp.Answer {
				rr.Header().Class &^= 0x8000
				rr.Header().Ttl = 10
			}
			dst = udp
		} else if udp != nil && unicast {
			dst = udp // a QU question
		}
		out, err := resp.Pack()
		if err != nil {
			continue
		}
		var wcm *ipv4.ControlMessage
		if ifIndex != 0 {
			wcm = &ipv4.ControlMessage{IfIndex: ifIndex}
			if ifi, err := net.InterfaceByIndex(ifIndex); err == nil {
				pc.SetMulticastInterface(ifi)
			}
		}
		pc.WriteTo(out, wcm, dst)
	}
}

// answer is the response to q's questions about h.name, or nil.
func (h *hostResponder) answer(q *dns.Msg, ifIndex int) *dns.Msg {
	var ips []net.IP
	if ifIndex != 0 {
		if ifi, err := net.InterfaceByIndex(ifIndex); err == nil {
			if addrs, err := ifi.Addrs(); err == nil {
				for _, a := range addrs {
					if ipn, ok := a.(*net.IPNet); ok {
						ips = append(ips, ipn.IP)
					}
				}
			}
		}
	}
	resp := new(dns.Msg)
	resp.Response, resp.Authoritative = true, true
	for _, qq := range q.Question {
		if !strings.EqualFold(qq.Name, h.name) {
			continue
		}
		for _, ip := range ips {
			hdr := dns.RR_Header{Name: h.name, Class: dns.ClassINET | 0x8000, Ttl: 120}
			if ip4 := ip.To4(); ip4 != nil && (qq.Qtype == dns.TypeA || qq.Qtype == dns.TypeANY) {
				hdr.Rrtype = dns.TypeA
				resp.Answer = append(resp.Answer, &dns.A{Hdr: hdr, A: ip4})
			} else if ip.To4() == nil && (qq.Qtype == dns.TypeAAAA || qq.Qtype == dns.TypeANY) {
				hdr.Rrtype = dns.TypeAAAA
				resp.Answer = append(resp.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip})
			}
		}
	}
	if len(resp.Answer) == 0 {
		return nil
	}
	return resp
}
