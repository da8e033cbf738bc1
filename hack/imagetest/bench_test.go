package imagetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"oepc.dev/oepcos/hack/image"
	"oepc.dev/oepcos/packages/health"
)

// Targets from issue 5.
const (
	targetBootRatio = 1.5
	targetIdleRSS   = 200 << 20
	idleSettle      = 20 * time.Second
)

// TestBench measures the image: its size, the boot time from QEMU start to
// a healthy local API beside a bare gokrazy image (gokrazy + hello) booted
// the same way in the same run, and the idle RSS of every process on the
// box. It prints the figures and writes them to <repo>/build/bench-image.md.
func TestBench(t *testing.T) {
	if os.Getenv("OEPC_IMAGE_BENCH") != "1" {
		t.Skip("builds and boots two images under QEMU; run with OEPC_IMAGE_BENCH=1 (make bench-image)")
	}
	requireTools(t, "qemu-system-x86_64", "mkfs.ext4")
	repo := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	logw := &testWriter{t: t, prefix: "build: "}

	boxIn, err := image.Prepare(image.Options{Repo: repo, Instance: "oepc-amd64", WorkDir: work, Version: "bench", Log: logw})
	if err != nil {
		t.Fatal(err)
	}
	defer boxIn.Close()
	boxImg := filepath.Join(dir, "oepc-amd64.img")
	boxRes, err := boxIn.Build(ctx, boxImg, 0)
	if err != nil {
		t.Fatal(err)
	}
	bareIn, err := image.Prepare(image.Options{Repo: repo, Instance: "bare-amd64", Source: filepath.Join(repo, "hack", "imagetest", "bare-amd64"),
		Programs: []string{}, WorkDir: work, Version: "bench", Log: logw})
	if err != nil {
		t.Fatal(err)
	}
	defer bareIn.Close()
	bareImg := filepath.Join(dir, "bare-amd64.img")
	bareRes, err := bareIn.Build(ctx, bareImg, 0)
	if err != nil {
		t.Fatal(err)
	}

	// Bare gokrazy: QEMU start until hello answers on :7070.
	bareBoot, _ := bootAndMeasure(t, ctx, dir, "bare", bareImg, nil, func(ctx context.Context, b *Box) error {
		_, err := b.APICall(ctx, "GET", "/", nil)
		return err
	}, nil)
	// The box: QEMU start until /v1/health lists every program and none is
	// in error (oepcd may be "degraded" here: the benchmark runs without a
	// super node, so it has no peers).
	var rss map[string]int64
	var reps []health.Report
	// The box's first boot makes its secrets and reboots; the measured
	// boot is the one after, as every later boot of the box.
	first, err := firstBoot(t, ctx, dir, boxImg)
	if err != nil {
		t.Fatal(err)
	}
	boxBoot, _ := bootAndMeasure(t, ctx, dir, "box", boxImg, first, func(ctx context.Context, b *Box) error {
		r, err := b.Health(ctx)
		if err != nil {
			return err
		}
		if len(r) != len(image.Programs) {
			return fmt.Errorf("%d of %d programs report", len(r), len(image.Programs))
		}
		for _, rep := range r {
			if rep.Status == health.Error {
				return fmt.Errorf("%s: error: %s", rep.Name, rep.Detail)
			}
		}
		return nil
	}, func(b *Box) {
		time.Sleep(idleSettle)
		var err error
		if rss, err = b.ServiceRSS(ctx); err != nil {
			t.Errorf("RSS: %v", err)
		}
		if reps, err = b.Health(ctx); err != nil {
			t.Errorf("health: %v", err)
		}
	})

	var total, oepc int64
	var lines []string
	names := make([]string, 0, len(rss))
	for n := range rss {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		total += rss[n]
		lines = append(lines, fmt.Sprintf("%s %.1f", strings.TrimPrefix(strings.TrimPrefix(n, "/user/"), "/gokrazy/"), mib(rss[n])))
	}
	for _, r := range reps {
		oepc += r.RSSBytes
	}
	ratio := boxBoot.Seconds() / bareBoot.Seconds()
	verdict := func(ok bool) string {
		if ok {
			return "meets target"
		}
		return "MISSES target"
	}
	report := fmt.Sprintf(`### Image figures (make bench, %s, QEMU TCG, 1 vCPU, 1 GiB)

| figure | value | target |
|---|---|---|
| oepc-amd64.img size | %.0f MiB file (sparse: %.1f MiB allocated), root file system %.1f MiB | |
| bare gokrazy + hello image | %.0f MiB file (%.1f MiB allocated), root file system %.1f MiB | |
| boot to healthy API, box | %.1f s | |
| boot to first HTTP answer of hello, bare gokrazy | %.1f s | |
| boot time ratio box / bare | %.2fx | <= %.1fx (%s) |
| idle RSS, all processes (gokrazy's count, init included) | %.1f MiB | < %d MiB (%s) |
| idle RSS, the six OEPC programs (their health reports) | %.1f MiB | |

Per process (MiB, after %v idle): %s
`, time.Now().UTC().Format("2006-01-02"),
		mib(boxRes.SizeBytes), mib(boxRes.AllocatedBytes), mib(boxRes.RootBytes),
		mib(bareRes.SizeBytes), mib(bareRes.AllocatedBytes), mib(bareRes.RootBytes),
		boxBoot.Seconds(), bareBoot.Seconds(), ratio, targetBootRatio, verdict(ratio <= targetBootRatio),
		mib(total), targetIdleRSS>>20, verdict(total < targetIdleRSS), mib(oepc), idleSettle, strings.Join(lines, ", "))
	t.Log("\n" + report)
	fmt.Println(report)
	if err := os.MkdirAll(filepath.Join(repo, "build"), 0o755); err == nil {
		os.WriteFile(filepath.Join(repo, "build", "bench-image.md"), []byte(report), 0o644)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// firstBoot boots a fresh box image until it shows its secrets (after its
// first-boot reboot), then stops it.
func firstBoot(t *testing.T, ctx context.Context, dir, img string) (*BoxSecrets, error) {
	t.Helper()
	vm, err := StartVM(ctx, VMConfig{Image: img, Log: filepath.Join(dir, "box-first-serial.log")})
	if err != nil {
		return nil, err
	}
	defer vm.Stop()
	s, err := vm.WaitSecrets(ctx, 0, 2*bootTimeout)
	if err != nil {
		return nil, fmt.Errorf("first boot: %w\nserial:\n%s", err, vm.Tail(4000))
	}
	return &s, nil
}

// bootAndMeasure boots img, waits for ready and returns the time from QEMU
// start until ready succeeded; then runs idle (if any) and stops the VM.
// sec are the box's secrets (nil for the bare image).
func bootAndMeasure(t *testing.T, ctx context.Context, dir, name, img string, sec *BoxSecrets, ready func(context.Context, *Box) error, idle func(*Box)) (time.Duration, *VM) {
	t.Helper()
	apiPort, _ := FreePort()
	gkPort, _ := FreePort()
	vm, err := StartVM(ctx, VMConfig{Image: img, Log: filepath.Join(dir, name+"-serial.log"), HostFwd: map[int]int{7070: apiPort, 80: gkPort}})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Stop()
	b := &Box{API: fmt.Sprintf("http://127.0.0.1:%d", apiPort), Gokrazy: fmt.Sprintf("http://127.0.0.1:%d", gkPort)}
	if sec != nil {
		b.Token, b.Password = sec.Token, sec.Password
	}
	err = WaitFor(ctx, bootTimeout, 250*time.Millisecond, func(ctx context.Context) error { return ready(ctx, b) })
	d := time.Since(vm.Started)
	if err != nil {
		t.Fatalf("%s did not become ready: %v\nserial:\n%s", name, err, vm.Tail(4000))
	}
	t.Logf("%s ready %.1f s after QEMU start", name, d.Seconds())
	if idle != nil {
		idle(b)
	}
	return d, vm
}
