// Command putab compares the personal cloud's put between two commits on
// a shared, noisy machine: it builds both (devnet and oepc, each from its
// own checkout), runs a 6-box loopback devnet of each side by side, and
// puts one file (its page cache dropped before every put, as in make
// bench-cloud) alternately into each, in ABBA order, seconds apart. Each
// pair gives a ratio B/A measured under the same load; it prints the pairs
// and their geometric mean with a 95% interval.
//
//	go run ./hack/bench/putab -a 46f5abe -b main -pairs 20 -mib 256
//
// make bench-cloud alternated between checkouts gives pairs minutes apart,
// and the load of other work on the machine drifts in between.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"oepc.dev/oepcos/hack/devnet/devnet"
	"oepc.dev/oepcos/packages/directio"
)

func main() {
	a := flag.String("a", "", "commit A (the baseline)")
	b := flag.String("b", "HEAD", "commit B")
	pairs := flag.Int("pairs", 10, "pairs of puts")
	mib := flag.Int64("mib", 256, "MiB per put")
	flag.Parse()
	if *a == "" || *pairs < 2 || *mib <= 0 {
		fmt.Fprintln(os.Stderr, "usage: putab -a COMMIT [-b COMMIT] [-pairs N>=2] [-mib N]")
		os.Exit(2)
	}
	if err := run(*a, *b, *pairs, *mib<<20); err != nil {
		fmt.Fprintln(os.Stderr, "putab:", err)
		os.Exit(1)
	}
}

// side is one commit's programs and running devnet.
type side struct {
	rev, bin, dir string
	cmd           *exec.Cmd
	box           devnet.Box
}

func run(revA, revB string, pairs int, size int64) error {
	tmp, err := os.MkdirTemp("", "oepc-putab")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	sides := []*side{{rev: revA}, {rev: revB}}
	for i, s := range sides {
		s.dir = filepath.Join(tmp, string(rune('a'+i)))
		if err := s.build(); err != nil {
			return err
		}
	}
	for _, s := range sides {
		if err := s.start(); err != nil {
			return err
		}
		defer s.stop()
	}
	src := filepath.Join(tmp, "src.bin")
	if err := randomFile(src, size); err != nil {
		return err
	}
	fmt.Printf("put of %d MiB, A %s, B %s: pair, A MB/s, B MB/s, B/A, load\n", size>>20, revA, revB)
	var logs []float64
	for i := range pairs {
		order := []int{0, 1}
		if i%2 == 1 {
			order = []int{1, 0}
		}
		var d [2]time.Duration
		for _, k := range order {
			if d[k], err = sides[k].put(src); err != nil {
				return err
			}
		}
		mb := float64(size) / 1e6
		r := d[0].Seconds() / d[1].Seconds()
		logs = append(logs, math.Log(r))
		fmt.Printf("%d %.1f %.1f %.3f %s\n", i+1, mb/d[0].Seconds(), mb/d[1].Seconds(), r, loadavg())
	}
	m, lo, hi, med := summary(logs)
	fmt.Printf("B/A: geometric mean %.3f, median %.3f, 95%% interval %.3f-%.3f, B slower in %d of %d pairs\n",
		m, med, lo, hi, countBelow(logs), len(logs))
	return nil
}

// build builds devnet and oepc of s.rev from a checkout of its own.
func (s *side) build() error {
	wt := s.dir + "-src"
	if out, err := exec.Command("git", "worktree", "add", "--detach", wt, s.rev).CombinedOutput(); err != nil {
		return fmt.Errorf("checkout of %s: %v: %s", s.rev, err, out)
	}
	defer exec.Command("git", "worktree", "remove", "--force", wt).Run()
	s.bin = filepath.Join(s.dir, "bin")
	cmd := exec.Command("go", "build", "-o", s.bin+"/", "./hack/devnet", "./appliance/oepc")
	cmd.Dir = wt
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %v: %s", s.rev, err, out)
	}
	return nil
}

// start runs a 6-box devnet with one super node and sets up box 1's cloud.
func (s *side) start() error {
	net := filepath.Join(s.dir, "net")
	log, err := os.Create(filepath.Join(s.dir, "devnet.log"))
	if err != nil {
		return err
	}
	s.cmd = exec.Command(filepath.Join(s.bin, "devnet"), "--boxes", "6", "--supernodes", "1", "--dir", net)
	s.cmd.Stdout, s.cmd.Stderr = log, log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return err
	}
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		if st, err := devnet.Load(net); err == nil && len(st.Boxes) == 6 {
			s.box = st.Boxes[0]
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the devnet of %s did not come up (log: %s)", s.rev, log.Name())
		}
	}
	_, err = s.oepc("cloud", "setup")
	return err
}

func (s *side) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
	}
}

func (s *side) oepc(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, "oepc"), append([]string{"--box", s.box.API, "--token", s.box.Token}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: oepc %s: %v: %s", s.rev, strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// put times one put of src from a cold page cache, then removes the file
// again so the holders' disks do not fill.
func (s *side) put(src string) (time.Duration, error) {
	f, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	err = directio.Evict(f)
	f.Close()
	if err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return 0, err
	}
	t0 := time.Now()
	if _, err := s.oepc("cloud", "put", src, "/putab.bin"); err != nil {
		return 0, err
	}
	d := time.Since(t0)
	if _, err := s.oepc("cloud", "rm", "/putab.bin"); err != nil {
		return 0, err
	}
	time.Sleep(time.Second) // the holders' deletes settle
	return d, nil
}

// randomFile writes size random bytes to p and syncs them.
func randomFile(p string, size int64) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		return err
	}
	return f.Sync()
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// summary returns the geometric mean of the ratios whose logs are l, its
// 95% interval (Student's t) and the median ratio.
func summary(l []float64) (mean, lo, hi, median float64) {
	n := float64(len(l))
	var sum, sq float64
	for _, x := range l {
		sum += x
	}
	m := sum / n
	for _, x := range l {
		sq += (x - m) * (x - m)
	}
	se := math.Sqrt(sq/(n-1)) / math.Sqrt(n)
	t := tQuantile(len(l) - 1)
	s := slices.Sorted(slices.Values(l))
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return math.Exp(m), math.Exp(m - t*se), math.Exp(m + t*se), math.Exp(med)
}

// tQuantile is the two-sided 95% quantile of Student's t with df degrees
// of freedom.
func tQuantile(df int) float64 {
	table := []float64{12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
		2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
		2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042}
	switch {
	case df < 1:
		return math.Inf(1)
	case df <= len(table):
		return table[df-1]
	case df <= 60:
		return 2.000
	}
	return 1.96
}

func countBelow(l []float64) int {
	n := 0
	for _, x := range l {
		if x < 0 {
			n++
		}
	}
	return n
}
