// Command files is the Files page's benchmark (make bench-files): in one
// run on a 6-box loopback devnet, a file uploaded through the browser
// (Playwright driving Chromium on the Files page) beside the same file put
// with `oepc cloud put`: throughput as a ratio, and box 1's peak RSS during
// each; then the time to first render of the Files page for a folder of
// 10,000 items, and the bytes each page transfers.
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
	"strconv"
	"strings"
	"syscall"
	"time"

	"oepc.dev/oepcos/hack/devnet/devnet"
	"oepc.dev/oepcos/packages/localapi"
)

func main() {
	mib := flag.Int("mib", 1024, "size of the uploaded file in MiB")
	items := flag.Int("items", 10000, "items in the folder whose first render is timed")
	flag.Parse()
	if err := run(*mib, *items); err != nil {
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
}

func sampleRSS(pid int, stop <-chan struct{}) <-chan []rssSample {
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
							all = append(all, rssSample{time.Now(), kb << 10})
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

// measure runs f while sampling pid's RSS.
func measure(pid int, f func() error) (time.Duration, []rssSample, error) {
	stop := make(chan struct{})
	samples := sampleRSS(pid, stop)
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
// from Go: the web UI's path without a browser.
func webPut(ctx context.Context, b devnet.Box, ck *http.Cookie, file, remote string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, _ := f.Stat()
	q := url.Values{"path": {remote}, "transfer": {localapi.NewTransferID()}}
	req, err := http.NewRequestWithContext(ctx, "POST", b.API+"/v1/cloud/put?"+q.Encode(), f)
	if err != nil {
		return err
	}
	req.ContentLength = st.Size()
	req.Header.Set("Content-Type", "application/octet-stream")
	req.AddCookie(ck)
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

func run(mib, items int) error {
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
	if err := webPut(ctx, b1, ck, warm, "/warm.bin"); err != nil {
		return err
	}
	cli := func(remote string) (time.Duration, int64, error) {
		el, samples, err := measure(b1.PID, func() error {
			c := exec.Command(filepath.Join(tmp, "oepc"), "--box", b1.API, "--token", b1.Token, "cloud", "put", file, remote)
			c.Stderr = os.Stderr
			return c.Run()
		})
		if err != nil {
			return 0, 0, fmt.Errorf("oepc cloud put: %w", err)
		}
		return el, peakIn(samples, time.Time{}, time.Time{}), nil
	}
	type upload struct {
		UploadMS    float64            `json:"upload_ms"`
		UploadStart float64            `json:"upload_start_epoch_ms"`
		UploadEnd   float64            `json:"upload_end_epoch_ms"`
		FirstRender map[string]float64 `json:"first_render_ms"`
		Bytes       map[string]int64   `json:"bytes"`
	}
	// browser uploads file through the Files page of folder dir, then
	// (pages) times the pages; nice runs the browser at nice 10.
	browser := func(dir string, pages, nice bool) (*upload, int64, error) {
		if err := api.Mkdir(ctx, dir); err != nil {
			return nil, 0, err
		}
		var out strings.Builder
		_, samples, err := measure(b1.PID, func() error {
			args := []string{"node", "hack/webuitest/bench-files.mjs", file}
			if nice {
				args = append([]string{"nice", "-n", "10"}, args...)
			}
			node := exec.CommandContext(ctx, args[0], args[1:]...)
			node.Env = append(os.Environ(), "OEPC_WEBUI_DEVNET="+dir0, fmt.Sprint("OEPC_BENCH_ITEMS=", items), "OEPC_BENCH_DIR="+dir, fmt.Sprint("OEPC_BENCH_PAGES=", pages))
			node.Stdout, node.Stderr = &out, os.Stderr
			return node.Run()
		})
		if err != nil {
			return nil, 0, fmt.Errorf("browser: %w\n%s", err, out.String())
		}
		var res upload
		if err := json.Unmarshal([]byte(lastLine(out.String())), &res); err != nil {
			return nil, 0, fmt.Errorf("browser's answer %q: %w", out.String(), err)
		}
		return &res, peakIn(samples, time.UnixMilli(int64(res.UploadStart)), time.UnixMilli(int64(res.UploadEnd))), nil
	}

	// In turn: oepc cloud put, the web UI's route from Go, the browser,
	// the browser at nice 10, oepc cloud put again.
	cli1, cliRSS1, err := cli("/cli.bin")
	if err != nil {
		return err
	}
	webTime, webSamples, err := measure(b1.PID, func() error { return webPut(ctx, b1, ck, file, "/web.bin") })
	if err != nil {
		return err
	}
	webRSS := peakIn(webSamples, time.Time{}, time.Time{})
	// A folder of many items (folders: one index write each).
	if err := api.Mkdir(ctx, "/many"); err != nil {
		return err
	}
	for i := range items {
		if err := api.Mkdir(ctx, fmt.Sprintf("/many/item-%05d", i)); err != nil {
			return err
		}
	}
	res, brRSS, err := browser("/browser", true, false)
	if err != nil {
		return err
	}
	resNice, brNiceRSS, err := browser("/browser-nice", false, true)
	if err != nil {
		return err
	}
	cli2, cliRSS2, err := cli("/cli2.bin")
	if err != nil {
		return err
	}
	mbs := func(d time.Duration) float64 { return size / d.Seconds() / 1e6 }
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	cliMBs := (mbs(cli1) + mbs(cli2)) / 2
	cliRSS := max(cliRSS1, cliRSS2)
	mib1 := func(n int64) float64 { return float64(n) / (1 << 20) }
	fmt.Printf("files bench (%d MiB, 6-box loopback devnet, one run; box 1's peak RSS during each upload)\n", mib)
	fmt.Printf("  oepc cloud put (first):     %7.1f MB/s  peak RSS %6.1f MiB\n", mbs(cli1), mib1(cliRSS1))
	fmt.Printf("  web UI route from Go:       %7.1f MB/s  peak RSS %6.1f MiB\n", mbs(webTime), mib1(webRSS))
	fmt.Printf("  browser (Files page):       %7.1f MB/s  peak RSS %6.1f MiB\n", mbs(ms(res.UploadMS)), mib1(brRSS))
	fmt.Printf("  browser at nice 10:         %7.1f MB/s  peak RSS %6.1f MiB\n", mbs(ms(resNice.UploadMS)), mib1(brNiceRSS))
	fmt.Printf("  oepc cloud put (last):      %7.1f MB/s  peak RSS %6.1f MiB\n", mbs(cli2), mib1(cliRSS2))
	fmt.Printf("  browser / CLI throughput (CLI: mean of both): %.2f, at nice 10 %.2f (goal ≥ 0.8)\n", mbs(ms(res.UploadMS))/cliMBs, mbs(ms(resNice.UploadMS))/cliMBs)
	fmt.Printf("  browser / CLI peak RSS (CLI: larger of both): %.2f, at nice 10 %.2f (goal ≤ 1)\n", float64(brRSS)/float64(cliRSS), float64(brNiceRSS)/float64(cliRSS))
	for _, k := range sortedKeys(res.FirstRender) {
		fmt.Printf("  first render %-28s %6.0f ms\n", k, res.FirstRender[k])
	}
	for _, k := range sortedKeys(res.Bytes) {
		fmt.Printf("  bytes transferred %-23s %8d\n", k, res.Bytes[k])
	}
	return nil
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
