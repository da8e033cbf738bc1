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

// peakRSS samples pid's resident set every 20 ms until stop is closed and
// returns the largest.
func peakRSS(pid int, stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var peak int64
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
				sc := bufio.NewScanner(strings.NewReader(string(b)))
				for sc.Scan() {
					if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "VmRSS:" {
						if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil && kb<<10 > peak {
							peak = kb << 10
						}
					}
				}
			}
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// measure runs f while sampling pid's RSS.
func measure(pid int, f func() error) (time.Duration, int64, error) {
	stop := make(chan struct{})
	peak := peakRSS(pid, stop)
	start := time.Now()
	err := f()
	el := time.Since(start)
	close(stop)
	return el, <-peak, err
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
	dir := filepath.Join(tmp, "net")
	dn := exec.CommandContext(ctx, filepath.Join(tmp, "devnet"), "--boxes", "6", "--supernodes", "1", "--dir", dir)
	dn.Cancel = func() error { return dn.Process.Signal(syscall.SIGTERM) }
	dn.WaitDelay = 15 * time.Second
	if err := dn.Start(); err != nil {
		return err
	}
	defer dn.Wait()
	defer cancel()
	var st devnet.State
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if st, err = devnet.Load(dir); err == nil && len(st.Boxes) == 6 {
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

	// oepc cloud put.
	cliTime, cliRSS, err := measure(b1.PID, func() error {
		c := exec.Command(filepath.Join(tmp, "oepc"), "--box", b1.API, "--token", b1.Token, "cloud", "put", file, "/cli.bin")
		c.Stderr = os.Stderr
		return c.Run()
	})
	if err != nil {
		return fmt.Errorf("oepc cloud put: %w", err)
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
	// The browser: upload, then the pages.
	var out strings.Builder
	_, browserRSS, err := measure(b1.PID, func() error {
		node := exec.CommandContext(ctx, "node", "hack/webuitest/bench-files.mjs", file)
		node.Env = append(os.Environ(), "OEPC_WEBUI_DEVNET="+dir, fmt.Sprint("OEPC_BENCH_ITEMS=", items))
		node.Stdout, node.Stderr = &out, os.Stderr
		return node.Run()
	})
	if err != nil {
		return fmt.Errorf("browser: %w\n%s", err, out.String())
	}
	var res struct {
		UploadMS    float64            `json:"upload_ms"`
		FirstRender map[string]float64 `json:"first_render_ms"`
		Bytes       map[string]int64   `json:"bytes"`
	}
	if err := json.Unmarshal([]byte(lastLine(out.String())), &res); err != nil {
		return fmt.Errorf("browser's answer %q: %w", out.String(), err)
	}
	browserTime := time.Duration(res.UploadMS * float64(time.Millisecond))
	cliMBs := size / cliTime.Seconds() / 1e6
	brMBs := size / browserTime.Seconds() / 1e6
	fmt.Printf("files bench (%d MiB, 6-box loopback devnet, one run)\n", mib)
	fmt.Printf("  oepc cloud put:        %7.1f MB/s  box 1 peak RSS %6.1f MiB\n", cliMBs, float64(cliRSS)/(1<<20))
	fmt.Printf("  browser (Files page):  %7.1f MB/s  box 1 peak RSS %6.1f MiB (whole browser run)\n", brMBs, float64(browserRSS)/(1<<20))
	fmt.Printf("  browser / CLI throughput ratio: %.2f (goal ≥ 0.8)\n", brMBs/cliMBs)
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
