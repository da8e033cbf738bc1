// Package syncthingbench measures the Syncthing baseline for the personal
// cloud benchmark: two Syncthing devices on 127.0.0.1 share one folder, a
// file is dropped into device A's copy, and we time how long device B takes
// to hold a complete, byte-identical copy.
//
// Both devices are configured so that they never talk to anything but each
// other over loopback: global and local discovery, relays, NAT traversal,
// STUN, QUIC, usage and crash reporting and automatic upgrades are all off,
// the GUI/REST API and the sync protocol listen on 127.0.0.1 only, and each
// device knows its peer by an explicit tcp://127.0.0.1:PORT address. The
// config.xml written here is for Debian bookworm's syncthing 1.19.2 (config
// version 36).
package syncthingbench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"oepc.dev/oepcos/packages/directio"
)

// Result is the outcome of one Sync.
type Result struct {
	// Duration runs from the POST /rest/db/scan on device A (issued right
	// after the source file was completely copied and fsynced into A's
	// folder and dropped from the page cache, so A reads it from disk, with
	// both devices connected and idle) until device B's REST
	// API first reports the folder complete: state "idle", needBytes == 0,
	// globalBytes == localBytes == inSyncBytes == Bytes. It therefore covers
	// A's hashing of the file, the transfer, and B's writing and hashing of
	// its copy. B's status is polled every pollInterval, which bounds the
	// measurement's resolution. The sha256 comparison that follows is not
	// timed.
	Duration time.Duration
	// Bytes is the size of the synced file.
	Bytes int64
	// PeakRSSA and PeakRSSB are the peak resident set sizes (VmHWM, bytes)
	// of the two syncthing processes, read just before they are killed.
	PeakRSSA, PeakRSSB int64
}

const (
	folderID     = "bench"
	pollInterval = 20 * time.Millisecond
	// requestTimeout bounds every single REST call.
	requestTimeout = 10 * time.Second
)

// EnsureInstalled returns the path of the syncthing binary. When it is
// missing and we are root, it installs Debian's syncthing package with
// apt-get (running apt-get update first); otherwise it returns an error that
// says how to install it.
func EnsureInstalled(ctx context.Context) (string, error) {
	if p, err := exec.LookPath("syncthing"); err == nil {
		return p, nil
	}
	if os.Geteuid() != 0 {
		return "", errors.New("syncthing is not installed and we are not root: run `apt-get install syncthing` as root")
	}
	for _, args := range [][]string{
		{"update"},
		{"install", "-y", "--no-install-recommends", "syncthing"},
	} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, tail(out, 2048))
		}
	}
	p, err := exec.LookPath("syncthing")
	if err != nil {
		return "", fmt.Errorf("syncthing still missing after apt-get install: %w", err)
	}
	return p, nil
}

// Sync starts two Syncthing devices on 127.0.0.1 with fresh homes in a
// temporary directory under workDir, shares one folder between them, copies
// srcFile into device A's folder, tells A to rescan, and waits until device
// B has the complete file. It then checks that B's copy has the same sha256
// as srcFile. See Result for exactly what Duration measures.
//
// The syncthing binary must be on PATH (see EnsureInstalled). Whatever
// happens, both syncthing processes are killed and the temporary directory
// is removed before Sync returns; ctx bounds the whole run.
func Sync(ctx context.Context, workDir, srcFile string, log *slog.Logger) (res Result, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bin, err := exec.LookPath("syncthing")
	if err != nil {
		return res, fmt.Errorf("syncthing not found (see EnsureInstalled): %w", err)
	}
	fi, err := os.Stat(srcFile)
	if err != nil {
		return res, err
	}
	if !fi.Mode().IsRegular() {
		return res, fmt.Errorf("%s is not a regular file", srcFile)
	}
	res.Bytes = fi.Size()
	name := filepath.Base(srcFile)

	root, err := os.MkdirTemp(workDir, "syncthing-")
	if err != nil {
		return res, err
	}
	defer func() {
		if rerr := os.RemoveAll(root); rerr != nil && err == nil {
			err = rerr
		}
	}()

	a, b := &device{name: "A", bin: bin, log: log}, &device{name: "B", bin: bin, log: log}
	defer a.kill()
	defer b.kill()
	for _, d := range []*device{a, b} {
		if err := d.prepare(ctx, filepath.Join(root, d.name)); err != nil {
			return res, err
		}
	}
	if err := writeConfig(a, b); err != nil {
		return res, err
	}
	if err := writeConfig(b, a); err != nil {
		return res, err
	}
	for _, d := range []*device{a, b} {
		if err := d.start(ctx); err != nil {
			return res, err
		}
	}
	defer func() {
		if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		if err != nil {
			err = fmt.Errorf("%w\n--- syncthing A log tail ---\n%s\n--- syncthing B log tail ---\n%s", err, a.logTail(), b.logTail())
		}
	}()

	// Wait for both APIs, the connection, and the initial (empty) scans.
	for _, d := range []*device{a, b} {
		if err := d.waitUp(ctx); err != nil {
			return res, err
		}
	}
	if err := waitConnected(ctx, a, b.id); err != nil {
		return res, err
	}
	if err := waitConnected(ctx, b, a.id); err != nil {
		return res, err
	}
	for _, d := range []*device{a, b} {
		if err := d.waitIdle(ctx); err != nil {
			return res, err
		}
	}
	log.Info("syncthing devices connected and idle", "a", a.id, "b", b.id)

	srcSum, err := copyFile(srcFile, filepath.Join(a.folder, name))
	if err != nil {
		return res, fmt.Errorf("copy into A's folder: %w", err)
	}

	start := time.Now()
	if err := a.do(ctx, http.MethodPost, "/rest/db/scan?folder="+folderID, nil); err != nil {
		return res, fmt.Errorf("rescan A: %w", err)
	}
	if err := b.waitComplete(ctx, res.Bytes); err != nil {
		return res, err
	}
	res.Duration = time.Since(start)
	log.Info("syncthing delivered", "bytes", res.Bytes, "duration", res.Duration)

	dstSum, err := hashFile(filepath.Join(b.folder, name))
	if err != nil {
		return res, fmt.Errorf("reading device B's copy: %w", err)
	}
	if dstSum != srcSum {
		return res, fmt.Errorf("device B's copy differs: sha256 %s, want %s", dstSum, srcSum)
	}
	res.PeakRSSA, err = peakRSS(a.cmd.Process.Pid)
	if err != nil {
		return res, err
	}
	res.PeakRSSB, err = peakRSS(b.cmd.Process.Pid)
	if err != nil {
		return res, err
	}
	return res, nil
}

// device is one syncthing instance.
type device struct {
	name, bin string
	log       *slog.Logger

	home, folder string
	id           string
	apiKey       string
	guiPort      int
	syncPort     int

	client  *http.Client
	cmd     *exec.Cmd
	logFile *os.File
	done    chan struct{} // closed when cmd has been waited for
}

// prepare creates the home and folder, generates keys and picks ports.
func (d *device) prepare(ctx context.Context, dir string) error {
	d.home = filepath.Join(dir, "home")
	d.folder = filepath.Join(dir, "folder")
	if err := os.MkdirAll(d.folder, 0o700); err != nil {
		return err
	}
	gctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(gctx, d.bin, "generate", "--home="+d.home, "--no-default-folder", "--skip-port-probing")
	cmd.Env = d.env(dir)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("syncthing generate (%s): %w\n%s", d.name, err, tail(out, 2048))
	}
	_, after, ok := strings.Cut(string(out), "Device ID: ")
	if !ok {
		return fmt.Errorf("syncthing generate (%s): no device ID in output:\n%s", d.name, tail(out, 2048))
	}
	d.id = strings.TrimSpace(strings.SplitN(after, "\n", 2)[0])
	key := make([]byte, 24)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	d.apiKey = hex.EncodeToString(key)
	if d.guiPort, err = freePort(); err != nil {
		return err
	}
	if d.syncPort, err = freePort(); err != nil {
		return err
	}
	d.client = &http.Client{
		Timeout: requestTimeout,
		Transport: &http.Transport{
			Proxy:       nil, // never go through a proxy
			DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		},
	}
	return nil
}

// env is a minimal environment: no proxy variables, HOME inside dir.
func (d *device) env(dir string) []string {
	return []string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + dir,
		"STNOUPGRADE=1",
		"STNORESTART=1",
		"STNODEFAULTFOLDER=1",
		// Run the real syncthing directly instead of under its monitor
		// process (which --no-restart alone does not prevent in 1.19), so
		// that the pid we hold, kill and measure is the one doing the work.
		"STMONITORED=1",
	}
}

const configXML = `<configuration version="36">
    <folder id="{{.Folder}}" label="{{.Folder}}" path="{{.Path}}" type="sendreceive" rescanIntervalS="86400" fsWatcherEnabled="false" fsWatcherDelayS="10" ignorePerms="false" autoNormalize="true">
        <filesystemType>basic</filesystemType>
        <device id="{{.Self}}" introducedBy=""><encryptionPassword></encryptionPassword></device>
        <device id="{{.Peer}}" introducedBy=""><encryptionPassword></encryptionPassword></device>
        <minDiskFree unit="%">1</minDiskFree>
        <versioning><cleanupIntervalS>3600</cleanupIntervalS><fsPath></fsPath><fsType>basic</fsType></versioning>
        <copiers>0</copiers>
        <pullerMaxPendingKiB>0</pullerMaxPendingKiB>
        <hashers>0</hashers>
        <order>random</order>
        <ignoreDelete>false</ignoreDelete>
        <scanProgressIntervalS>0</scanProgressIntervalS>
        <pullerPauseS>0</pullerPauseS>
        <maxConflicts>10</maxConflicts>
        <disableSparseFiles>false</disableSparseFiles>
        <disableTempIndexes>false</disableTempIndexes>
        <paused>false</paused>
        <weakHashThresholdPct>25</weakHashThresholdPct>
        <markerName>.stfolder</markerName>
        <copyOwnershipFromParent>false</copyOwnershipFromParent>
        <modTimeWindowS>0</modTimeWindowS>
        <maxConcurrentWrites>2</maxConcurrentWrites>
        <disableFsync>false</disableFsync>
        <blockPullOrder>standard</blockPullOrder>
        <copyRangeMethod>standard</copyRangeMethod>
        <caseSensitiveFS>false</caseSensitiveFS>
        <junctionsAsDirs>false</junctionsAsDirs>
    </folder>
    <device id="{{.Self}}" name="{{.SelfName}}" compression="metadata" introducer="false" skipIntroductionRemovals="false" introducedBy="">
        <address>tcp://127.0.0.1:{{.SelfPort}}</address>
        <paused>false</paused>
        <autoAcceptFolders>false</autoAcceptFolders>
    </device>
    <device id="{{.Peer}}" name="{{.PeerName}}" compression="metadata" introducer="false" skipIntroductionRemovals="false" introducedBy="">
        <address>tcp://127.0.0.1:{{.PeerPort}}</address>
        <paused>false</paused>
        <autoAcceptFolders>false</autoAcceptFolders>
    </device>
    <gui enabled="true" tls="false" debugging="false">
        <address>127.0.0.1:{{.GUIPort}}</address>
        <apikey>{{.APIKey}}</apikey>
        <theme>default</theme>
        <insecureSkipHostcheck>false</insecureSkipHostcheck>
    </gui>
    <ldap></ldap>
    <options>
        <listenAddress>tcp://127.0.0.1:{{.SelfPort}}</listenAddress>
        <globalAnnounceServer></globalAnnounceServer>
        <globalAnnounceEnabled>false</globalAnnounceEnabled>
        <localAnnounceEnabled>false</localAnnounceEnabled>
        <localAnnouncePort>0</localAnnouncePort>
        <localAnnounceMCAddr></localAnnounceMCAddr>
        <maxSendKbps>0</maxSendKbps>
        <maxRecvKbps>0</maxRecvKbps>
        <reconnectionIntervalS>1</reconnectionIntervalS>
        <relaysEnabled>false</relaysEnabled>
        <relayReconnectIntervalM>10</relayReconnectIntervalM>
        <startBrowser>false</startBrowser>
        <natEnabled>false</natEnabled>
        <natLeaseMinutes>60</natLeaseMinutes>
        <natRenewalMinutes>30</natRenewalMinutes>
        <natTimeoutSeconds>10</natTimeoutSeconds>
        <urAccepted>-1</urAccepted>
        <urSeen>3</urSeen>
        <urUniqueID></urUniqueID>
        <urURL></urURL>
        <urPostInsecurely>false</urPostInsecurely>
        <urInitialDelayS>1800</urInitialDelayS>
        <restartOnWakeup>false</restartOnWakeup>
        <autoUpgradeIntervalH>0</autoUpgradeIntervalH>
        <upgradeToPreReleases>false</upgradeToPreReleases>
        <keepTemporariesH>24</keepTemporariesH>
        <cacheIgnoredFiles>false</cacheIgnoredFiles>
        <progressUpdateIntervalS>5</progressUpdateIntervalS>
        <limitBandwidthInLan>false</limitBandwidthInLan>
        <minHomeDiskFree unit="%">1</minHomeDiskFree>
        <releasesURL></releasesURL>
        <overwriteRemoteDeviceNamesOnConnect>false</overwriteRemoteDeviceNamesOnConnect>
        <tempIndexMinBlocks>10</tempIndexMinBlocks>
        <trafficClass>0</trafficClass>
        <setLowPriority>false</setLowPriority>
        <maxFolderConcurrency>0</maxFolderConcurrency>
        <crashReportingURL></crashReportingURL>
        <crashReportingEnabled>false</crashReportingEnabled>
        <stunKeepaliveStartS>0</stunKeepaliveStartS>
        <stunKeepaliveMinS>0</stunKeepaliveMinS>
        <stunServer></stunServer>
        <databaseTuning>auto</databaseTuning>
        <maxConcurrentIncomingRequestKiB>0</maxConcurrentIncomingRequestKiB>
        <announceLANAddresses>false</announceLANAddresses>
        <sendFullIndexOnUpgrade>false</sendFullIndexOnUpgrade>
        <connectionLimitEnough>0</connectionLimitEnough>
        <connectionLimitMax>0</connectionLimitMax>
        <insecureAllowOldTLSVersions>false</insecureAllowOldTLSVersions>
    </options>
</configuration>
`

// writeConfig replaces self's generated config.xml with one that shares the
// bench folder with peer and talks to nothing but peer on loopback.
func writeConfig(self, peer *device) error {
	tmpl, err := template.New("config").Parse(configXML)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	err = tmpl.Execute(&buf, map[string]any{
		"Folder":   folderID,
		"Path":     self.folder,
		"Self":     self.id,
		"SelfName": self.name,
		"SelfPort": self.syncPort,
		"Peer":     peer.id,
		"PeerName": peer.name,
		"PeerPort": peer.syncPort,
		"GUIPort":  self.guiPort,
		"APIKey":   self.apiKey,
	})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(self.home, "config.xml"), buf.Bytes(), 0o600)
}

// start runs `syncthing serve`. The process gets its own process group and
// is killed (with the group) by kill, when ctx ends, or when we die.
func (d *device) start(ctx context.Context) error {
	f, err := os.Create(filepath.Join(filepath.Dir(d.home), "syncthing.log"))
	if err != nil {
		return err
	}
	d.logFile = f
	cmd := exec.Command(d.bin, "serve", "--home="+d.home, "--no-browser", "--no-restart", "--no-upgrade", "--no-default-folder", "--skip-port-probing", "--logflags=3")
	cmd.Env = d.env(filepath.Dir(d.home))
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start syncthing %s: %w", d.name, err)
	}
	d.cmd = cmd
	d.done = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(d.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			d.signal()
		case <-d.done:
		}
	}()
	d.log.Debug("syncthing started", "device", d.name, "pid", cmd.Process.Pid, "gui", d.guiPort, "sync", d.syncPort)
	return nil
}

func (d *device) signal() {
	if d.cmd != nil && d.cmd.Process != nil {
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// kill kills the process group and waits (bounded) for the process to exit.
func (d *device) kill() {
	if d.cmd == nil {
		return
	}
	d.signal()
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.log.Warn("syncthing did not exit after SIGKILL", "device", d.name, "pid", d.cmd.Process.Pid)
	}
	if d.logFile != nil {
		_ = d.logFile.Close()
	}
}

func (d *device) logTail() string {
	if d.logFile == nil {
		return ""
	}
	b, _ := os.ReadFile(d.logFile.Name())
	return string(tail(b, 4096))
}

// do sends one REST request and decodes a JSON answer into out (if non-nil).
func (d *device) do(ctx context.Context, method, path string, out any) error {
	select {
	case <-d.done:
		return fmt.Errorf("syncthing %s exited", d.name)
	default:
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://127.0.0.1:"+strconv.Itoa(d.guiPort)+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", d.apiKey)
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, tail(body, 512))
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

// poll calls cond every interval until it reports done, returns an error,
// or ctx ends. A *fatalError from cond ends the wait; other errors are
// remembered and retried.
func poll(ctx context.Context, what string, interval time.Duration, cond func() (done bool, err error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last error
	for {
		done, err := cond()
		if done {
			return nil
		}
		if err != nil {
			var fatal *fatalError
			if errors.As(err, &fatal) {
				return fmt.Errorf("%s: %w", what, fatal.err)
			}
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), last)
			}
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}

type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }

func (d *device) alive() error {
	select {
	case <-d.done:
		return &fatalError{fmt.Errorf("syncthing %s exited", d.name)}
	default:
		return nil
	}
}

func (d *device) waitUp(ctx context.Context) error {
	return poll(ctx, "syncthing "+d.name+" REST API", 100*time.Millisecond, func() (bool, error) {
		if err := d.alive(); err != nil {
			return false, err
		}
		var st struct {
			MyID string `json:"myID"`
		}
		if err := d.do(ctx, http.MethodGet, "/rest/system/status", &st); err != nil {
			return false, err
		}
		if st.MyID != d.id {
			return false, &fatalError{fmt.Errorf("REST API on port %d answers for device %s, want %s", d.guiPort, st.MyID, d.id)}
		}
		return true, nil
	})
}

func waitConnected(ctx context.Context, d *device, peer string) error {
	return poll(ctx, "syncthing "+d.name+" connecting to its peer", 100*time.Millisecond, func() (bool, error) {
		if err := d.alive(); err != nil {
			return false, err
		}
		var conns struct {
			Connections map[string]struct {
				Connected bool   `json:"connected"`
				Address   string `json:"address"`
			} `json:"connections"`
		}
		if err := d.do(ctx, http.MethodGet, "/rest/system/connections", &conns); err != nil {
			return false, err
		}
		return conns.Connections[peer].Connected, nil
	})
}

type folderStatus struct {
	State       string `json:"state"`
	Error       string `json:"error"`
	GlobalBytes int64  `json:"globalBytes"`
	GlobalFiles int64  `json:"globalFiles"`
	LocalBytes  int64  `json:"localBytes"`
	InSyncBytes int64  `json:"inSyncBytes"`
	NeedBytes   int64  `json:"needBytes"`
	NeedFiles   int64  `json:"needFiles"`
	PullErrors  int64  `json:"pullErrors"`
}

func (d *device) status(ctx context.Context) (folderStatus, error) {
	var st folderStatus
	err := d.do(ctx, http.MethodGet, "/rest/db/status?folder="+folderID, &st)
	return st, err
}

func (d *device) waitIdle(ctx context.Context) error {
	return poll(ctx, "syncthing "+d.name+" initial scan", 100*time.Millisecond, func() (bool, error) {
		if err := d.alive(); err != nil {
			return false, err
		}
		st, err := d.status(ctx)
		if err != nil {
			return false, err
		}
		if st.Error != "" {
			return false, &fatalError{fmt.Errorf("folder error: %s", st.Error)}
		}
		return st.State == "idle", nil
	})
}

// waitComplete waits until d's folder holds size bytes, all in sync.
func (d *device) waitComplete(ctx context.Context, size int64) error {
	var last folderStatus
	err := poll(ctx, "syncthing "+d.name+" receiving the file", pollInterval, func() (bool, error) {
		if err := d.alive(); err != nil {
			return false, err
		}
		st, err := d.status(ctx)
		if err != nil {
			return false, err
		}
		last = st
		return st.State == "idle" && st.NeedBytes == 0 && st.NeedFiles == 0 &&
			st.GlobalBytes == size && st.LocalBytes == size && st.InSyncBytes == size, nil
	})
	if err != nil {
		return fmt.Errorf("%w (last status %+v)", err, last)
	}
	return nil
}

// copyFile copies src to dst, fsyncs dst, drops it from the page cache
// and returns the hex sha256.
func copyFile(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		out.Close()
		return "", err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return "", err
	}
	// Cold, as the put's source and the get's shards: A hashes and sends
	// the file from disk.
	if err := directio.Evict(out); err != nil {
		out.Close()
		return "", err
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// peakRSS returns VmHWM of pid in bytes.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("pid %d: odd VmHWM line %q", pid, sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, err
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("pid %d: no VmHWM in /proc status", pid)
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
