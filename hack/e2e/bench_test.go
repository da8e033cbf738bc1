package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"oepc.dev/oepcos/hack/bench/syncthingbench"
	"oepc.dev/oepcos/hack/devnet/devnet"

	"oepc.dev/oepcos/packages/directio"
)

// BenchmarkCloudDevnet puts a file (OEPC_BENCH_SIZE bytes, default 1 GiB)
// from box 1 of a 6-box loopback devnet and gets it back, reporting put and
// get throughput and the uploading box's peak RSS; then, in the same run,
// Syncthing (Debian's package, installed when missing) delivers the same
// file between two loopback devices, and the put and the get are reported
// beside it as ratios. All three start from cold caches and end with their
// data on disk. It runs once whatever b.N is: the devnet's start-up dwarfs a loop.
func BenchmarkCloudDevnet(b *testing.B) {
	size := int64(1 << 30)
	if v := os.Getenv("OEPC_BENCH_SIZE"); v != "" {
		size, _ = strconv.ParseInt(v, 10, 64)
	}
	n := startDevnet(b, 6)
	work := b.TempDir()
	n.must(0, "cloud", "setup")
	src := filepath.Join(work, "big.bin")
	f, _ := os.Create(src)
	h := sha256.New()
	io.CopyN(io.MultiWriter(f, h), rand.Reader, size)
	// On disk before the clock starts: its writeback would otherwise run
	// under the put and get and slow them, while Syncthing, timed later,
	// found it long done.
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	// Cold caches for all three: the put reads the file from disk, as the
	// get reads its shards from the holders' disks (written with O_DIRECT)
	// and Syncthing its copy (evicted the same way). Every side's data is
	// on disk before its clock stops: holders fsync a shard before they
	// acknowledge it, the CLI fsyncs the download, Syncthing fsyncs.
	if err := directio.Evict(f); err != nil {
		b.Fatal(err)
	}
	f.Close()
	want := h.Sum(nil)
	for b.Loop() {
		t0 := time.Now()
		n.must(0, "cloud", "put", src, "/bench.bin")
		put := time.Since(t0)
		st, _ := devnet.Load(n.dir)
		rss := peakRSSKiB(st.Boxes[0].PID)
		dst := filepath.Join(work, "back.bin")
		os.Remove(dst)
		t0 = time.Now()
		n.must(0, "cloud", "get", "/bench.bin", dst)
		get := time.Since(t0)
		if string(fileSumB(dst)) != string(want) {
			b.Fatal("get differs")
		}
		mb := float64(size) / 1e6
		b.ReportMetric(mb/put.Seconds(), "put-MB/s")
		b.ReportMetric(mb/get.Seconds(), "get-MB/s")
		b.ReportMetric((mb/get.Seconds())/(mb/put.Seconds()), "get/put")
		b.ReportMetric(float64(rss)/1024, "peak-RSS-MiB")

		if _, err := syncthingbench.EnsureInstalled(b.Context()); err != nil {
			b.Fatalf("syncthing for the side-by-side baseline: %v", err)
		}
		res, err := syncthingbench.Sync(b.Context(), work, src, nil)
		if err != nil {
			b.Fatalf("syncthing: %v", err)
		}
		st2 := mb / res.Duration.Seconds()
		b.ReportMetric(st2, "syncthing-MB/s")
		b.ReportMetric((mb/put.Seconds())/st2, "put/syncthing")
		b.ReportMetric((mb/get.Seconds())/st2, "get/syncthing")
		// The load average beside the figures: on a shared machine they
		// are only comparable within one run.
		if la, err := os.ReadFile("/proc/loadavg"); err == nil {
			if l, err := strconv.ParseFloat(strings.Fields(string(la))[0], 64); err == nil {
				b.ReportMetric(l, "loadavg-1m")
			}
		}
	}
}

func fileSumB(p string) []byte {
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return h.Sum(nil)
}
