package mdns

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// inAvahiNetns is set in the copy of the test binary that runs inside the
// network and mount namespaces TestAvahiSeesAdvertisement made.
const inAvahiNetns = "OEPC_MDNS_TEST_AVAHI"

// The system bus of the namespace: only avahi-daemon and its tools use it.
const avahiDBusConf = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`

// avahi-daemon on the far end of the namespace's veth pair only.
const avahiConf = `[server]
host-name=avahitest
use-ipv4=yes
use-ipv6=no
allow-interfaces=oemb0
enable-dbus=yes
ratelimit-interval-usec=1000000
ratelimit-burst=1000
[wide-area]
enable-wide-area=no
[publish]
publish-addresses=yes
publish-hinfo=no
publish-workstation=no
[reflector]
enable-reflector=no
`

// TestAvahiSeesAdvertisement checks the advertisement with Debian's
// avahi-browse and avahi-resolve (avahi-utils), the implementation most
// Linux machines on a home LAN run. It runs inside network and mount
// namespaces of its own (unshare --net --mount): a veth pair, the
// advertiser on one end and avahi-daemon (with its own D-Bus system bus,
// on a private /run) on the other; nothing reaches the machine's
// interfaces or its D-Bus.
func TestAvahiSeesAdvertisement(t *testing.T) {
	if os.Getenv(inAvahiNetns) == "" {
		if os.Geteuid() != 0 {
			t.Skip("needs root to make network and mount namespaces")
		}
		for _, p := range []string{"unshare", "ip", "avahi-browse", "avahi-resolve", "avahi-daemon", "dbus-daemon"} {
			if _, err := exec.LookPath(p); err != nil {
				t.Skipf("needs %s (make test installs it: hack/install-deps.sh avahi-utils avahi-daemon dbus iproute2)", p)
			}
		}
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "unshare", "--net", "--mount", "--fork", "--kill-child", "--", exe, "-test.run", "^TestAvahiSeesAdvertisement$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), inAvahiNetns+"=1")
		out, err := cmd.CombinedOutput()
		t.Logf("inside the namespace:\n%s", out)
		if err != nil {
			t.Fatalf("the test inside the namespace failed: %v", err)
		}
		if !strings.Contains(string(out), "--- PASS: TestAvahiSeesAdvertisement") {
			t.Fatal("the test inside the namespace did not pass")
		}
		return
	}

	// Inside: a veth pair whose ends accept each other's packets (both
	// addresses are local to this one namespace).
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v %s", name, args, err, out)
		}
	}
	run("ip", "link", "set", "lo", "up")
	run("ip", "link", "add", "oema0", "type", "veth", "peer", "name", "oemb0")
	for _, k := range []string{"all", "default", "oema0", "oemb0"} {
		os.WriteFile("/proc/sys/net/ipv4/conf/"+k+"/accept_local", []byte("1"), 0o644)
		os.WriteFile("/proc/sys/net/ipv4/conf/"+k+"/rp_filter", []byte("0"), 0o644)
	}
	run("ip", "addr", "add", "10.78.0.1/24", "dev", "oema0")
	run("ip", "addr", "add", "10.78.0.2/24", "dev", "oemb0")
	run("ip", "link", "set", "oema0", "up", "multicast", "on")
	run("ip", "link", "set", "oemb0", "up", "multicast", "on")
	// A private /run: the namespace's own D-Bus socket and avahi's.
	run("mount", "-t", "tmpfs", "tmpfs", "/run")
	for _, d := range []string{"/run/dbus", "/run/avahi-daemon"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "dbus.conf"), []byte(avahiDBusConf), 0o644)
	os.WriteFile(filepath.Join(dir, "avahi.conf"), []byte(avahiConf), 0o644)
	daemon := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		logf, _ := os.Create(filepath.Join(dir, name+".log"))
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			logf.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("%s's log:\n%s", name, b)
			}
		})
	}
	daemon("dbus-daemon", "--nofork", "--nopidfile", "--config-file="+filepath.Join(dir, "dbus.conf"))
	waitFor(t, "the namespace's D-Bus socket", func() bool { _, err := os.Stat("/run/dbus/system_bus_socket"); return err == nil })
	daemon("avahi-daemon", "--no-drop-root", "--no-chroot", "--no-rlimits", "-f", filepath.Join(dir, "avahi.conf"))
	waitFor(t, "avahi-daemon to answer on D-Bus", func() bool {
		return exec.Command("avahi-browse", "-a", "-t", "-p", "-k").Run() == nil
	})

	var paired atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Instance: "OEPC kitchen", Port: 8443, ID: "12D3KooWtestbox", Version: "v0.test",
			Paired: paired.Load, Interfaces: []string{"oema0"}, Poll: 200 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	// browse returns the resolved _oepc._tcp instances avahi-browse sees,
	// as its parsable lines: =;IFACE;IPv4;NAME;TYPE;DOMAIN;HOST;ADDR;PORT;TXT.
	browse := func() [][]string {
		cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
		defer ccancel()
		out, err := exec.CommandContext(cctx, "avahi-browse", "-r", "-t", "-p", "-k", "_oepc._tcp").Output()
		if err != nil {
			t.Logf("avahi-browse: %v", err)
			return nil
		}
		var rs [][]string
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			if f := strings.Split(sc.Text(), ";"); len(f) == 10 && f[0] == "=" {
				rs = append(rs, f)
			}
		}
		return rs
	}
	var rs [][]string
	waitFor(t, "avahi-browse to resolve the box", func() bool { rs = browse(); return len(rs) > 0 })
	r := rs[0]
	if r[1] != "oemb0" || r[3] != `OEPC\032kitchen` || r[4] != "_oepc._tcp" || r[6] != "oepc.local" || r[7] != "10.78.0.1" || r[8] != "8443" {
		t.Fatalf("avahi-browse: %q", r)
	}
	for _, kv := range []string{`"id=12D3KooWtestbox"`, `"version=v0.test"`, `"paired=no"`} {
		if !strings.Contains(r[9], kv) {
			t.Fatalf("TXT %s lacks %s", r[9], kv)
		}
	}
	var resolved string
	waitFor(t, "avahi-resolve to resolve oepc.local", func() bool {
		cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
		defer ccancel()
		out, err := exec.CommandContext(cctx, "avahi-resolve", "-4", "-n", "oepc.local").Output()
		resolved = strings.TrimSpace(string(out))
		return err == nil && strings.HasSuffix(resolved, "10.78.0.1")
	})
	t.Logf("avahi-resolve: %s", resolved)

	paired.Store(true)
	waitFor(t, "avahi-browse to see paired=yes", func() bool {
		for _, r := range browse() {
			if strings.Contains(r[9], `"paired=yes"`) && !strings.Contains(r[9], `"paired=no"`) {
				return true
			}
		}
		return false
	})
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal(errors.New(what + ": not within 60 s"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
