package shard

import (
	"bufio"
	"bytes"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestStoreSIGKILL kills a process that is busy putting and deleting shards
// at a random moment, several times, and checks after each kill that the
// store reopens consistent: no temp files, no unindexed files, and every
// indexed shard present and matching its hash.
func TestStoreSIGKILL(t *testing.T) {
	if dir := os.Getenv("SHARD_KILL_HELPER_DIR"); dir != "" {
		killHelper(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestStoreSIGKILL$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SHARD_KILL_HELPER_DIR="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		for sc.Scan() && sc.Text() != "ready" {
		}
		time.Sleep(time.Duration(50+rand.IntN(250)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()

		s := openTestStore(t, dir, 1<<40)
		if tmp := s.tmpFiles(t); len(tmp) != 0 {
			t.Fatalf("round %d: temp files after reopen: %v", round, tmp)
		}
		var n int
		var sum int64
		err = s.Each(func(id ID, size int64) error {
			b, err := s.Get(id)
			if err != nil || int64(len(b)) != size {
				t.Errorf("round %d: shard %s: %v", round, id, err)
			}
			n++
			sum += size
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		filepath.WalkDir(s.shardsDir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(s.shardsDir, p)
				id, perr := ParseID(filepath.Dir(rel) + filepath.Base(rel))
				if ok, _ := s.Has(id); perr != nil || !ok {
					t.Errorf("round %d: unindexed file %s", round, rel)
				}
			}
			return nil
		})
		var hosted int64
		for _, h := range s.Hosted() {
			hosted += h.Bytes
		}
		if used, _ := s.Usage(); used != sum || hosted != sum {
			t.Errorf("round %d: usage %d, hosted %d, shards sum to %d", round, used, hosted, sum)
		}
		t.Logf("round %d: %d shards, %d bytes consistent after SIGKILL", round, n, sum)
		s.db.Close()
	}
}

func killHelper(t *testing.T, dir string) {
	s := openTestStore(t, dir, 1<<40)
	owner := newOwner(t)
	var ids []ID
	for i := 0; ; i++ {
		data := randBytes(t, 1+rand.IntN(256<<10))
		id := Sum(data)
		if err := s.Put(owner, id, bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		if i == 0 {
			os.Stdout.WriteString("ready\n")
		}
		if i%3 == 2 {
			k := rand.IntN(len(ids))
			if err := s.Delete(owner, ids[k]); err != nil {
				t.Fatal(err)
			}
			ids = append(ids[:k], ids[k+1:]...)
		}
	}
}
