// Command files is the Files page's benchmark (make bench-files): in one
// run on a 6-box loopback devnet, a file uploaded through the browser
// (Playwright driving Chromium on the Files page) beside the same file put
// with `oepc cloud put`: throughput as a ratio, and box 1's peak RSS during
// each; then the time to first render of the Files page for a folder of
// 10,000 items, and the bytes each page transfers.
//
// The uploads run in blocks, one per placement (-placements): "shared",
// no CPU affinity, the client sharing the box's cores; "pinned", the box
// side (devnet, super node, boxes) on CPU 0 and every client (oepc cloud
// put, node + Chromium, the Go control client) on CPU 1, as when the
// browser runs on a laptop or a phone. In each block the CLI's put comes
// before and after the others, and every client has the same placement.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"oepc.dev/oepcos/hack/devnet/devnet"
	"oepc.dev/oepcos/packages/localapi"
)

func main() {
	mib := flag.Int("mib", 1024, "size of the uploaded file in MiB")
	items := flag.Int("items", 10000, "items in the folder whose first render is timed")
	order := flag.String("placements", "shared,pinned", "blocks of uploads in this order, comma-separated: shared (no CPU affinity) or pinned (the box side on CPU 0, every client on CPU 1)")
	webput := flag.Bool("webput", false, "internal: be the Go control client: upload FILE to REMOTE on BASE with the session COOKIE (args: BASE COOKIE FILE REMOTE)")
	withVariants := flag.Bool("variants", false, "add, in each block, browser uploads with fetch(File) and with Chromium's network service in process (profiling)")
	flag.Parse()
	if !*withVariants {
		variants = nil
	}
	if *webput {
		a := flag.Args()
		if len(a) != 4 {
			fmt.Fprintln(os.Stderr, "bench-files -webput BASE COOKIE FILE REMOTE")
			os.Exit(2)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		err := webPut(ctx, a[0], a[1], a[2], a[3])
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench-files:", err)
			os.Exit(1)
		}
		return
	}
	var blocks []string
	for _, p := range strings.Split(*order, ",") {
		if _, ok := placements[p]; !ok {
			fmt.Fprintf(os.Stderr, "bench-files: -placements: %q is neither shared nor pinned\n", p)
			os.Exit(2)
		}
		blocks = append(blocks, p)
	}
	if runtime.NumCPU() < 2 {
		fmt.Fprintln(os.Stderr, "bench-files: the pinned placement needs 2 CPUs; this machine has", runtime.NumCPU())
		os.Exit(2)
	}
	if err := run(*mib, *items, blocks); err != nil {
		fmt.Fprintln(os.Stderr, "bench-files:", err)
		os.Exit(1)
	}
}

// rssSampler samples pid's resident set every 20 ms until stop is closed
// and returns every sample, so that a window of the run (the browser's
// upload, which its script times) can be picked out.
type rssSample struct {
	at  time.Time
	rss int64
	cpu float64 // CPU-s so far of the box side (cpuSeconds(box))
}

func sampleRSS(pid int, box []int, stop <-chan struct{}) <-chan []rssSample {
	out := make(chan []rssSample, 1)
	go func() {
		var all []rssSample
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
				sc := bufio.NewScanner(strings.NewReader(string(b)))
				for sc.Scan() {
					if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "VmRSS:" {
						if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
							all = append(all, rssSample{time.Now(), kb << 10, cpuSeconds(box)})
						}
					}
				}
			}
			select {
			case <-stop:
				out <- all
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// peakIn is the largest sample between from and to (all of them if both
// are zero).
func peakIn(all []rssSample, from, to time.Time) int64 {
	var peak int64
	for _, s := range all {
		if (from.IsZero() || !s.at.Before(from)) && (to.IsZero() || !s.at.After(to)) {
			peak = max(peak, s.rss)
		}
	}
	return peak
}

// cpuIn is the box side's CPU-s between the first and the last sample
// from from to to (all of them if both are zero).
func cpuIn(all []rssSample, from, to time.Time) float64 {
	first, last := -1.0, 0.0
	for _, s := range all {
		if (from.IsZero() || !s.at.Before(from)) && (to.IsZero() || !s.at.After(to)) {
			if first < 0 {
				first = s.cpu
			}
			last = s.cpu
		}
	}
	return max(last-first, 0)
}

// measure runs f while sampling pid's RSS and box's CPU time.
func measure(pid int, box []int, f func() error) (time.Duration, []rssSample, error) {
	stop := make(chan struct{})
	samples := sampleRSS(pid, box, stop)
	start := time.Now()
	err := f()
	el := time.Since(start)
	close(stop)
	return el, <-samples, err
}

// webSession sets box 1's web UI password with its pairing code (as the
// browser's first visit would) and returns the session cookie; the
// browser script then signs in with the same password (js/lib.mjs).
func webSession(ctx context.Context, b devnet.Box) (*http.Cookie, error) {
	code, err := os.ReadFile(filepath.Join(b.DataDir, "pairing.code"))
	if err != nil {
		return nil, err
	}
	const pw = "correct horse battery staple" // js/lib.mjs's PASSWORD
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: time.Minute}
	resp, err := c.PostForm(b.API+"/setup", url.Values{"code": {strings.TrimSpace(string(code))}, "password": {pw}, "password2": {pw}})
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "oepc_session" && ck.Value != "" {
			return ck, nil
		}
	}
	return nil, fmt.Errorf("setting the web UI's password: HTTP %d, no session", resp.StatusCode)
}

// webPut uploads file as the browser's page does (POST /v1/cloud/put with
// the session cookie and a transfer ID, through the web UI's handler),
// from Go: the web UI's path without a browser. It runs as its own
// process (bench-files -webput), so that it can be placed on a CPU as the
// other clients are.
func webPut(ctx context.Context, base, cookie, file, remote string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, _ := f.Stat()
	q := url.Values{"path": {remote}, "transfer": {localapi.NewTransferID()}}
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/cloud/put?"+q.Encode(), f)
	if err != nil {
		return err
	}
	req.ContentLength = st.Size()
	req.Header.Set("Content-Type", "application/octet-stream")
	req.AddCookie(&http.Cookie{Name: "oepc_session", Value: cookie})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("web UI put: HTTP %d %s", resp.StatusCode, body)
	}
	return nil
}

// A placement is where the processes of one block of uploads run.
// "shared": no affinity, the box side (devnet, super node, boxes) and the
// client share both cores, as when the browser runs on the box's own
// machine. "pinned": the box side on CPU 0, every client (oepc cloud put,
// node + Chromium, the Go control client, and this program's RSS sampler)
// on CPU 1, as when the browser runs on another device (a laptop, a
// phone). Each client of a block gets the same placement.
type placement struct {
	name      string
	boxCPUs   []int // nil: all
	clientCPU int   // -1: any
}

var placements = map[string]placement{
	"shared": {name: "shared", clientCPU: -1},
	"pinned": {name: "pinned", boxCPUs: []int{0}, clientCPU: 1},
}

// descendants is pid and every process below it.
func descendants(pid int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) >= 2 {
			if pp, err := strconv.Atoi(f[1]); err == nil {
				parent[p] = pp
			}
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		for c, pp := range parent {
			if pp == out[i] {
				out = append(out, c)
			}
		}
	}
	return out
}

// setAffinity sets the CPU affinity of every thread of every process in
// pids (cpus nil: all CPUs of the machine); new threads inherit it.
func setAffinity(pids []int, cpus []int) error {
	var set unix.CPUSet
	if cpus == nil {
		for i := range runtime.NumCPU() {
			set.Set(i)
		}
	}
	for _, c := range cpus {
		set.Set(c)
	}
	for _, pid := range pids {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			continue // exited
		}
		for _, t := range tasks {
			tid, _ := strconv.Atoi(t.Name())
			if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
				return fmt.Errorf("affinity of %d/%d: %w", pid, tid, err)
			}
		}
	}
	return nil
}

// allowed is each process's Cpus_allowed_list, to print what was set.
func allowed(pids []int) string {
	seen := map[string]int{}
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
				seen[strings.TrimSpace(v)]++
			}
		}
	}
	var parts []string
	for _, k := range sortedKeys(seen) {
		parts = append(parts, fmt.Sprintf("%d processes on CPU %s", seen[k], k))
	}
	return strings.Join(parts, ", ")
}

// cpuSeconds is the user+system CPU time so far of the processes in pids.
func cpuSeconds(pids []int) float64 {
	var ticks int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		// After the comm: state(0) ppid(1) ... utime(11) stime(12).
		if len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			ticks += u + s
		}
	}
	return float64(ticks) / 100 // USER_HZ
}

// clientCmd is args as a command on the placement's client CPU.
func clientCmd(ctx context.Context, pl placement, args ...string) *exec.Cmd {
	if pl.clientCPU >= 0 {
		args = append([]string{"taskset", "-c", strconv.Itoa(pl.clientCPU)}, args...)
	}
	return exec.CommandContext(ctx, args[0], args[1:]...)
}

// childCPU is the CPU time of a finished command and its waited-for
// children (Chromium is node's).
func childCPU(c *exec.Cmd) float64 {
	if c.ProcessState == nil {
		return 0
	}
	return (c.ProcessState.UserTime() + c.ProcessState.SystemTime()).Seconds()
}

// result is one upload of a block.
type result struct {
	what      string
	mbs       float64
	rss       int64   // box 1's peak during the upload
	boxCPU    float64 // CPU-s of the box side (devnet's processes) during it
	clientCPU float64 // CPU-s of the client process and its children (the browser's: all of node's run, launch and sign-in too)
}

// variants are more browser uploads in each block (-variants), to find
// what limits the browser: the same route with fetch(File) instead of the
// page's XHR, and Chromium with its network service in the browser's
// process (one process hop less for the upload's bytes).
var variants = [][]string{
	{"OEPC_BENCH_METHOD=fetch"},
	{"OEPC_BENCH_CHROMIUM_ARGS=--enable-features=NetworkServiceInProcess"},
}

func run(mib, items int, order []string) error {
	tmp, err := os.MkdirTemp("", "oepc-filesbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	build := exec.Command("go", "build", "-o", tmp+"/", "oepc.dev/oepcos/hack/devnet", "oepc.dev/oepcos/appliance/oepc")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir0 := filepath.Join(tmp, "net")
	dn := exec.CommandContext(ctx, filepath.Join(tmp, "devnet"), "--boxes", "6", "--supernodes", "1", "--dir", dir0)
	dn.Cancel = func() error { return dn.Process.Signal(syscall.SIGTERM) }
	dn.WaitDelay = 15 * time.Second
	if err := dn.Start(); err != nil {
		return err
	}
	defer dn.Wait()
	defer cancel()
	var st devnet.State
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if st, err = devnet.Load(dir0); err == nil && len(st.Boxes) == 6 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("devnet did not come up: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	b1 := st.Boxes[0]
	api := &localapi.Client{Base: b1.API, Token: b1.Token}
	if _, err := api.Setup(ctx); err != nil {
		return err
	}
	for deadline := time.Now().Add(time.Minute); ; {
		cs, err := api.CloudStatus(ctx)
		if err == nil && cs.Boxes >= 6 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("box 1 does not see 6 boxes: %+v %v", cs, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	boxSide := func() []int { return descendants(dn.Process.Pid) }
	file := filepath.Join(tmp, "bench.bin")
	if err := writeRandom(file, int64(mib)<<20); err != nil {
		return err
	}
	size := float64(int64(mib) << 20)

	ck, err := webSession(ctx, b1)
	if err != nil {
		return err
	}
	// A small put first, so that the first measured one does not pay for
	// the box's first connections to its friends.
	warm := filepath.Join(tmp, "warm.bin")
	if err := writeRandom(warm, 16<<20); err != nil {
		return err
	}
	if err := webPut(ctx, b1.API, ck.Value, warm, "/warm.bin"); err != nil {
		return err
	}
	// A folder of many items (folders: one index write each).
	if err := api.Mkdir(ctx, "/many"); err != nil {
		return err
	}
	for i := range items {
		if err := api.Mkdir(ctx, fmt.Sprintf("/many/item-%05d", i)); err != nil {
			return err
		}
	}

	// one runs a client command c and measures the upload: wall time of
	// the whole command unless window gives the upload's own start and
	// end (the browser's script times its upload, after launch and
	// sign-in).
	one := func(what string, c *exec.Cmd, window func() (time.Time, time.Time, error)) (result, error) {
		el, samples, err := measure(b1.PID, boxSide(), c.Run)
		if err != nil {
			return result{}, fmt.Errorf("%s: %w", what, err)
		}
		r := result{what: what, clientCPU: childCPU(c)}
		var from, to time.Time
		if window != nil {
			if from, to, err = window(); err != nil {
				return result{}, fmt.Errorf("%s: %w", what, err)
			}
			el = to.Sub(from)
		}
		r.mbs = size / el.Seconds() / 1e6
		r.rss = peakIn(samples, from, to)
		r.boxCPU = cpuIn(samples, from, to)
		return r, nil
	}
	type upload struct {
		UploadMS    float64            `json:"upload_ms"`
		UploadStart float64            `json:"upload_start_epoch_ms"`
		UploadEnd   float64            `json:"upload_end_epoch_ms"`
		FirstRender map[string]float64 `json:"first_render_ms"`
		Bytes       map[string]int64   `json:"bytes"`
	}
	var pagesRes *upload
	n := 0
	remote := func(kind string) string { n++; return fmt.Sprintf("/%s-%d.bin", kind, n) }
	cli := func(pl placement, what string) (result, error) {
		c := clientCmd(ctx, pl, filepath.Join(tmp, "oepc"), "--box", b1.API, "--token", b1.Token, "cloud", "put", file, remote("cli"))
		c.Stderr = os.Stderr
		return one(what, c, nil)
	}
	route := func(pl placement) (result, error) {
		c := clientCmd(ctx, pl, self, "-webput", b1.API, ck.Value, file, remote("web"))
		c.Stdout, c.Stderr = os.Stderr, os.Stderr
		return one("web UI route from Go", c, nil)
	}
	// browser uploads file through the Files page of a new folder, and
	// (the first time) times the pages; nice runs the browser at nice 10.
	browser := func(pl placement, nice bool, variant ...string) (result, error) {
		n++
		dir := fmt.Sprintf("/browser-%d", n)
		if err := api.Mkdir(ctx, dir); err != nil {
			return result{}, err
		}
		pages := pagesRes == nil
		args := []string{"node", "hack/webuitest/bench-files.mjs", file}
		if nice {
			args = append([]string{"nice", "-n", "10"}, args...)
		}
		var out strings.Builder
		c := clientCmd(ctx, pl, args...)
		c.Env = append(os.Environ(), variant...)
		c.Env = append(c.Env, "OEPC_WEBUI_DEVNET="+dir0, fmt.Sprint("OEPC_BENCH_ITEMS=", items), "OEPC_BENCH_DIR="+dir, fmt.Sprint("OEPC_BENCH_PAGES=", pages))
		c.Stdout, c.Stderr = &out, os.Stderr
		what := "browser (Files page)"
		if nice {
			what = "browser at nice 10"
		}
		if len(variant) > 0 {
			what = "browser, " + strings.Join(variant, " ")
		}
		return one(what, c, func() (time.Time, time.Time, error) {
			var res upload
			if err := json.Unmarshal([]byte(lastLine(out.String())), &res); err != nil {
				return time.Time{}, time.Time{}, fmt.Errorf("browser's answer %q: %w", out.String(), err)
			}
			if pages {
				pagesRes = &res
			}
			from := time.UnixMilli(int64(res.UploadStart))
			return from, from.Add(time.Duration(res.UploadMS * float64(time.Millisecond))), nil
		})
	}

	// Each block, in the order given: oepc cloud put, the web UI's route
	// from Go, the browser, (shared only) the browser at nice 10, oepc
	// cloud put again.
	type block struct {
		pl       placement
		affinity string
		load     [2]float64
		rs       []result
	}
	var blocks []block
	for _, name := range order {
		pl := placements[name]
		if err := setAffinity(boxSide(), pl.boxCPUs); err != nil {
			return err
		}
		self := []int{os.Getpid()}
		if pl.clientCPU >= 0 {
			err = setAffinity(self, []int{pl.clientCPU})
		} else {
			err = setAffinity(self, nil)
		}
		if err != nil {
			return err
		}
		b := block{pl: pl, affinity: "box side: " + allowed(boxSide()) + "; this program: " + allowed(self)}
		b.load[0] = loadavg()
		steps := []func() (result, error){
			func() (result, error) { return cli(pl, "oepc cloud put (first)") },
			func() (result, error) { return route(pl) },
			func() (result, error) { return browser(pl, false) },
		}
		if pl.name == "shared" {
			steps = append(steps, func() (result, error) { return browser(pl, true) })
		}
		for _, v := range variants {
			steps = append(steps, func() (result, error) { return browser(pl, false, v...) })
		}
		steps = append(steps, func() (result, error) { return cli(pl, "oepc cloud put (last)") })
		for _, f := range steps {
			r, err := f()
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "bench-files: %s: %s %.1f MB/s\n", name, r.what, r.mbs)
			b.rs = append(b.rs, r)
		}
		b.load[1] = loadavg()
		blocks = append(blocks, b)
	}
	if err := setAffinity([]int{os.Getpid()}, nil); err != nil {
		return err
	}

	mib1 := func(n int64) float64 { return float64(n) / (1 << 20) }
	fmt.Printf("files bench (%d MiB, 6-box loopback devnet, one run, %d CPUs; box 1's peak RSS during each upload; CPU-s of the box side (devnet, super node, boxes) and of the client (with its children) per upload)\n", mib, runtime.NumCPU())
	for _, b := range blocks {
		label := "client sharing the box's cores"
		if b.pl.name == "pinned" {
			label = fmt.Sprintf("client on its own core (as a phone or laptop would be): box side on CPU %v, client on CPU %d", b.pl.boxCPUs, b.pl.clientCPU)
		}
		fmt.Printf(" %s (load %.1f → %.1f)\n   affinity: %s\n", label, b.load[0], b.load[1], b.affinity)
		var cliSum float64
		var cliN int
		var cliRSS int64
		for _, r := range b.rs {
			fmt.Printf("  %-26s %7.1f MB/s  peak RSS %6.1f MiB  box CPU %5.1f s  client CPU %5.1f s\n", r.what+":", r.mbs, mib1(r.rss), r.boxCPU, r.clientCPU)
			if strings.HasPrefix(r.what, "oepc") {
				cliSum += r.mbs
				cliN++
				cliRSS = max(cliRSS, r.rss)
			}
		}
		cliMBs := cliSum / float64(cliN)
		for _, r := range b.rs {
			if strings.HasPrefix(r.what, "oepc") {
				continue
			}
			fmt.Printf("  %-26s / CLI throughput %.2f (CLI: mean of both; goal ≥ 0.8), peak RSS %.2f of the CLI's larger (goal ≤ 1)\n", r.what, r.mbs/cliMBs, float64(r.rss)/float64(cliRSS))
		}
	}
	if pagesRes != nil {
		for _, k := range sortedKeys(pagesRes.FirstRender) {
			fmt.Printf("  first render %-28s %6.0f ms\n", k, pagesRes.FirstRender[k])
		}
		for _, k := range sortedKeys(pagesRes.Bytes) {
			fmt.Printf("  bytes transferred %-23s %8d\n", k, pagesRes.Bytes[k])
		}
	}
	return nil
}

func loadavg() float64 {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

func writeRandom(path string, n int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.Reader, n); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
