package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"oepc.dev/oepcos/packages/apitype"
	"oepc.dev/oepcos/packages/directio"
	"oepc.dev/oepcos/packages/localapi"
)

// cloudCommands are the personal cloud's commands (issue 4).
func cloudCommands() map[string]Command {
	return map[string]Command{
		"cloud put":            {"cloud put [--k N --m N] [--force] LOCAL [REMOTE]", "store a file in the personal cloud (REMOTE defaults to /NAME; a REMOTE ending in / is a folder)", cmdCloudPut},
		"cloud get":            {"cloud get REMOTE|ID|SHARE-ADDRESS LOCAL", "fetch a file (LOCAL - writes to stdout)", cmdCloudGet},
		"cloud ls":             {"cloud ls [DIR] [--json]", "list a folder", cmdCloudLs},
		"cloud rm":             {"cloud rm [-r] PATH", "delete a file (and its shards on the holders) or a folder", cmdCloudRm},
		"cloud mv":             {"cloud mv FROM TO", "rename or move a file or folder", cmdCloudMv},
		"cloud mkdir":          {"cloud mkdir PATH", "create a folder", cmdCloudMkdir},
		"cloud health":         {"cloud health PATH|ID [--json] [--deep]", "which boxes hold which shards, per segment (--deep reads every shard back)", cmdCloudHealth},
		"cloud repair":         {"cloud repair [PATH]", "check and repair now (every file, or one)", cmdCloudRepair},
		"cloud share":          {"cloud share PATH FRIEND", "let a friend fetch a file; prints the address for their cloud get", cmdCloudShare},
		"cloud hosted":         {"cloud hosted [--json]", "the shards this box keeps for friends, and its own apart", cmdCloudHosted},
		"cloud setup":          {"cloud setup", "create the owner key and print the recovery phrase (once)", cmdCloudSetup},
		"cloud recover":        {"cloud recover [PHRASE...]", "restore the owner key and file index from the phrase and the friends' boxes (phrase read from stdin if not given)", cmdCloudRecover},
		"cloud backup":         {"cloud backup", "back the file index up to the friends' boxes now", cmdCloudBackup},
		"cloud status":         {"cloud status [--json]", "owner key, boxes, files, last index backup", cmdCloudStatus},
		"cloud received":       {"cloud received [--json]", "deliveries from friends not yet looked at, and how much each friend may deliver", cmdCloudReceived},
		"cloud received-quota": {"cloud received-quota [FRIEND] SIZE|default", "how much a friend may have delivered and pending at once (without FRIEND: every friend without a quota of its own; SIZE like 2GiB, 500MB, 0; default: back to the default)", cmdCloudReceivedQuota},
		"send":                 {"send FRIEND FILE", "deliver a file straight to a friend's Received folder", cmdSend},
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress counts bytes through a reader and, on a terminal, redraws a
// progress line at most a few times a second.
type progress struct {
	r     io.Reader
	w     io.Writer
	total int64
	start time.Time

	mu   sync.Mutex
	done int64
	last time.Time
	box  *apitype.Transfer // the box's own progress of a put, if known
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += int64(n)
	if p.w != nil && (time.Since(p.last) > 200*time.Millisecond || err == io.EOF) {
		p.last = time.Now()
		p.draw()
	}
	return n, err
}

// setBox shows the box's progress of the put (its transfer events).
func (p *progress) setBox(t apitype.Transfer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.box = &t
	if p.w != nil {
		p.draw()
	}
}

func (p *progress) draw() {
	el := time.Since(p.start).Seconds()
	rate := float64(p.done) / max(el, 1e-3) / 1e6
	pct := ""
	if p.total > 0 {
		pct = fmt.Sprintf(" %3.0f%%", 100*float64(p.done)/float64(p.total))
	}
	box := ""
	if t := p.box; t != nil && t.SegmentsTotal > 0 {
		box = fmt.Sprintf("  box: %d/%d segments sealed, %d placed", t.SegmentsSealed, t.SegmentsTotal, t.SegmentsPlaced)
	}
	fmt.Fprintf(p.w, "\r%s / %s%s  %.1f MB/s%s ", mib(p.done), mib(p.total), pct, rate, box)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func cmdCloudPut(ctx context.Context, c *Ctx, args []string) error {
	var k, m int
	var force bool
	pos, err := flags("cloud put", args, func(fs *flag.FlagSet) {
		fs.IntVar(&k, "k", 0, "")
		fs.IntVar(&m, "m", 0, "")
		fs.BoolVar(&force, "force", false, "")
	})
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return Usagef("want LOCAL [REMOTE]")
	}
	local := pos[0]
	remote := "/" + filepath.Base(local)
	if len(pos) == 2 {
		remote = pos[1]
		if strings.HasSuffix(remote, "/") {
			remote = path.Join(remote, filepath.Base(local))
		}
	}
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	start := time.Now()
	e, err := upload(ctx, c, f, true, func(body io.Reader, size int64, transfer string) (*apitype.Entry, error) {
		return c.API.CloudPut(ctx, remote, body, size, localapi.PutOptions{K: k, M: m, Force: force, Transfer: transfer})
	})
	if err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(c.Stdout, "%s  %s  %d+%d  id %s  (%.1f MB/s)\n", e.Path, mib(e.Size), e.K, e.M, e.ID, float64(e.Size)/el.Seconds()/1e6)
	return nil
}

func cmdCloudGet(ctx context.Context, c *Ctx, args []string) error {
	pos, err := flags("cloud get", args, func(*flag.FlagSet) {})
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return Usagef("want REMOTE|ID LOCAL")
	}
	resp, err := c.API.CloudGet(ctx, pos[0])
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	pr := &progress{r: resp.Body, total: resp.ContentLength, start: time.Now()}
	if isTerminal(c.Stderr) && pos[1] != "-" {
		pr.w = c.Stderr
		defer fmt.Fprintln(pr.w)
	}
	if pos[1] == "-" {
		_, err := io.Copy(c.Stdout, pr)
		return err
	}
	// Write beside the target and rename, so a failed get never leaves a
	// partial file under the real name.
	dst := pos[1]
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		dst = filepath.Join(dst, path.Base(pos[0]))
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".oepc-get-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	dw := newDownloadWriter(tmp)
	n, err := io.CopyBuffer(dw, pr, make([]byte, 1<<20))
	if ferr := dw.finish(); err == nil {
		err = ferr
	}
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("short read: %d of %d bytes", n, resp.ContentLength)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("get failed: %w", err)
	}
	return os.Rename(tmp.Name(), dst)
}

// downloadWriter writes a download to its file. Where the file system
// allows it, the file is written with O_DIRECT in whole aligned pieces by a
// goroutine of its own, so the download keeps arriving while the disk
// writes: no copy into the page cache and no page per 4 KiB to allocate (on
// a VM, fresh memory the host may first have to fault in), and the closing
// fsync finds nothing left but the last partial block. Otherwise it writes
// through the cache and starts the disk writes every few MiB (see
// startWriteback). As a plain io.Writer it also makes io.CopyBuffer use its
// large buffer rather than the file's ReadFrom.
type downloadWriter struct {
	f       *os.File
	off     int64 // bytes written (through the cache)
	flushed int64 // bytes whose writeback has been started

	direct bool
	cur    []byte        // the piece being filled
	free   chan []byte   // pieces to fill
	full   chan []byte   // pieces to write
	done   chan struct{} // closed when the writer has stopped
	mu     sync.Mutex
	werr   error // the writer's first error
}

const (
	downloadPiece  = 4 << 20 // a multiple of any disk's block size
	downloadPieces = 3
)

func newDownloadWriter(f *os.File) *downloadWriter {
	w := &downloadWriter{f: f}
	if directio.SetDirect(f, true) != nil {
		return w
	}
	w.direct = true
	w.free = make(chan []byte, downloadPieces)
	w.full = make(chan []byte, downloadPieces)
	w.done = make(chan struct{})
	for range downloadPieces {
		w.free <- directio.Buffer(downloadPiece)[:0]
	}
	go w.writer()
	return w
}

// writer writes the pieces in order, falling back to the cache if the
// file system refuses direct I/O after all.
func (w *downloadWriter) writer() {
	defer close(w.done)
	for b := range w.full {
		if w.err() == nil {
			_, err := w.f.Write(b)
			if err != nil && errors.Is(err, syscall.EINVAL) {
				if err = directio.SetDirect(w.f, false); err == nil {
					_, err = w.f.Write(b)
				}
			}
			if err != nil {
				w.mu.Lock()
				w.werr = err
				w.mu.Unlock()
			}
		}
		w.free <- b[:0]
	}
}

func (w *downloadWriter) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.werr
}

func (w *downloadWriter) Write(p []byte) (int, error) {
	if !w.direct {
		n, err := w.f.Write(p)
		w.off += int64(n)
		if w.off-w.flushed >= 8<<20 {
			directio.StartWriteback(w.f, w.flushed, w.off-w.flushed)
			w.flushed = w.off
		}
		return n, err
	}
	if err := w.err(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		if w.cur == nil {
			w.cur = <-w.free
		}
		c := copy(w.cur[len(w.cur):cap(w.cur)], p)
		w.cur, p = w.cur[:len(w.cur)+c], p[c:]
		if len(w.cur) == cap(w.cur) {
			w.full <- w.cur
			w.cur = nil
		}
	}
	return n, nil
}

// finish writes what is left and stops the writer; the caller still
// fsyncs.
func (w *downloadWriter) finish() error {
	if !w.direct {
		return nil
	}
	tail := w.cur
	if a := len(tail) / directio.Align * directio.Align; a > 0 {
		w.full <- tail[:a]
		tail = tail[a:]
	}
	close(w.full)
	<-w.done
	if err := w.err(); err != nil {
		return err
	}
	if len(tail) == 0 {
		return nil
	}
	// The last partial block goes through the cache.
	if err := directio.SetDirect(w.f, false); err != nil {
		return err
	}
	_, err := w.f.Write(tail)
	return err
}

func cmdCloudLs(ctx context.Context, c *Ctx, args []string) error {
	var asJSON bool
	pos, err := flags("cloud ls", args, func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "") })
	if err != nil {
		return err
	}
	dir := "/"
	if len(pos) > 1 {
		return Usagef("want [DIR]")
	} else if len(pos) == 1 {
		dir = pos[0]
	}
	out, err := c.API.List(ctx, dir, 0, 0)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.Stdout, out)
	}
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	for _, it := range out.Items {
		if it.Dir {
			fmt.Fprintf(w, "%s/\t\t\t\n", it.Name)
			continue
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", it.Name, it.Size, it.Created.Local().Format("2006-01-02 15:04"), it.ID)
	}
	return w.Flush()
}

func cmdCloudRm(ctx context.Context, c *Ctx, args []string) error {
	var rec bool
	pos, err := flags("cloud rm", args, func(fs *flag.FlagSet) { fs.BoolVar(&rec, "r", false, "") })
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return Usagef("want PATH")
	}
	n, err := c.API.Remove(ctx, pos[0], rec)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Stdout, "removed %s (%d files)\n", pos[0], n)
	return nil
}

func cmdCloudMv(ctx context.Context, c *Ctx, args []string) error {
	if len(args) != 2 {
		return Usagef("want FROM TO")
	}
	to, err := c.API.Move(ctx, args[0], args[1])
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Stdout, "%s -> %s\n", args[0], to)
	return nil
}

func cmdCloudMkdir(ctx context.Context, c *Ctx, args []string) error {
	if len(args) != 1 {
		return Usagef("want PATH")
	}
	return c.API.Mkdir(ctx, args[0])
}

func cmdCloudHealth(ctx context.Context, c *Ctx, args []string) error {
	var asJSON, deep bool
	pos, err := flags("cloud health", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "")
		fs.BoolVar(&deep, "deep", false, "")
	})
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return Usagef("want PATH|ID")
	}
	h, err := c.API.FileHealth(ctx, pos[0], deep)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.Stdout, h)
	}
	state := "complete"
	if !h.Complete {
		state = "degraded (readable)"
		if !h.Readable {
			state = "UNREADABLE"
		}
	}
	fmt.Fprintf(c.Stdout, "%s  id %s  %s  %d+%d  %d segments  %s (fewest healthy shards in a segment: %d)\n",
		h.Path, h.ID, mib(h.Size), h.K, h.M, len(h.Segments), state, h.MinHealthy)
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "segment\tshard\tholder\tstate\tid")
	for _, sg := range h.Segments {
		for _, sh := range sg.Shards {
			holder := sh.Name
			if holder == "" {
				holder = sh.Holder.String()
			}
			fmt.Fprintf(w, "%d\t%d\t%s\t%s\t%.16s\n", sg.Index, sh.Index, holder, sh.State, sh.ID)
		}
	}
	return w.Flush()
}

func cmdCloudRepair(ctx context.Context, c *Ctx, args []string) error {
	var p string
	if len(args) == 1 {
		p = args[0]
	} else if len(args) > 1 {
		return Usagef("want [PATH]")
	}
	r, err := c.API.Repair(ctx, p)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Stdout, "checked %d files: %d shards repaired, %d could not be\n", r.Files, r.Repaired, r.Failed)
	return nil
}

func cmdCloudShare(ctx context.Context, c *Ctx, args []string) error {
	if len(args) != 2 {
		return Usagef("want PATH FRIEND")
	}
	out, err := c.API.Share(ctx, args[0], args[1])
	if err != nil {
		return err
	}
	fmt.Fprintln(c.Stdout, out.Address)
	fmt.Fprintln(c.Stderr, "On the friend's box: oepc cloud get", out.Address, "LOCAL")
	return nil
}

func cmdCloudHosted(ctx context.Context, c *Ctx, args []string) error {
	var asJSON bool
	if _, err := flags("cloud hosted", args, func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "") }); err != nil {
		return err
	}
	out, err := c.API.Hosted(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.Stdout, out)
	}
	var others int64
	for _, o := range out.Owners {
		others += o.Bytes
	}
	fmt.Fprintf(c.Stdout, "hosted for others: %s in %d owners\n", mib(others), len(out.Owners))
	fmt.Fprintf(c.Stdout, "this box's own shards: %s (%d shards)\n", mib(out.Own.Bytes), out.Own.Shards)
	fmt.Fprintf(c.Stdout, "space used: %s of %s\n", mib(out.Used), mib(out.Quota))
	if len(out.Owners) == 0 {
		return nil
	}
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "owner\tboxes\tshards\tsize\tsince\tevicted")
	for _, o := range out.Owners {
		var boxes []string
		for _, b := range o.Boxes {
			if b.Name != "" {
				boxes = append(boxes, b.Name)
			} else {
				boxes = append(boxes, b.Peer.String())
			}
		}
		evict := "-"
		if !o.EvictAt.IsZero() {
			evict = o.EvictAt.Local().Format("2006-01-02 15:04") + " (no longer a friend)"
		}
		key := o.Owner
		if len(key) > 16 {
			key = key[:16]
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\n", key, strings.Join(boxes, ","), o.Shards, mib(o.Bytes),
			o.Since.Local().Format("2006-01-02 15:04"), evict)
	}
	return w.Flush()
}

func cmdCloudSetup(ctx context.Context, c *Ctx, args []string) error {
	out, err := c.API.Setup(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Stdout, "Recovery phrase:\n\n    %s\n\n%s\n", out.Phrase, out.Note)
	return nil
}

func cmdCloudRecover(ctx context.Context, c *Ctx, args []string) error {
	phrase := strings.Join(args, " ")
	if phrase == "" {
		b, err := io.ReadAll(io.LimitReader(c.Stdin, 4096))
		if err != nil {
			return err
		}
		phrase = string(b)
	}
	n, err := c.API.Recover(ctx, phrase)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Stdout, "recovered the owner key and %d files\n", n)
	return nil
}

func cmdCloudBackup(ctx context.Context, c *Ctx, args []string) error {
	n, err := c.API.Backup(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Stdout, "index backed up; %d friends keep its root record\n", n)
	return nil
}

func cmdCloudStatus(ctx context.Context, c *Ctx, args []string) error {
	var asJSON bool
	if _, err := flags("cloud status", args, func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "") }); err != nil {
		return err
	}
	st, err := c.API.CloudStatus(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.Stdout, st)
	}
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "owner key\t%v\n", st.OwnerKey)
	fmt.Fprintf(w, "boxes\t%d (default %d+%d)\n", st.Boxes, st.K, st.M)
	fmt.Fprintf(w, "files\t%d (%s)\n", st.Files, mib(st.Bytes))
	if st.BackupSeq > 0 {
		fmt.Fprintf(w, "index backup\t%s, on %d friends\n", time.Unix(0, int64(st.BackupSeq)).Local().Format(time.DateTime), st.BackupHeld)
	}
	return w.Flush()
}

func cmdSend(ctx context.Context, c *Ctx, args []string) error {
	if len(args) != 2 {
		return Usagef("want FRIEND FILE")
	}
	f, err := os.Open(args[1])
	if err != nil {
		return err
	}
	defer f.Close()
	out, err := upload(ctx, c, f, false, func(body io.Reader, size int64, _ string) (*apitype.SendAnswer, error) {
		return c.API.SendFile(ctx, args[0], filepath.Base(args[1]), body, size, "")
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Stdout, "delivered to %s: %s\n", args[0], out.Path)
	return nil
}

// upload sends a file's bytes with send, with progress on a terminal (with
// watch, also the box's own: segments sealed and placed, from its transfer
// events). A regular file goes with its size, straight from the page
// cache to the socket when there is no progress to draw.
func upload[T any](ctx context.Context, c *Ctx, f *os.File, watch bool, send func(body io.Reader, size int64, transfer string) (T, error)) (T, error) {
	size := int64(-1)
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	if !isTerminal(c.Stderr) {
		return send(f, size, "")
	}
	pr := &progress{r: f, w: c.Stderr, total: max(size, 0), start: time.Now()}
	transfer := ""
	stop := func() {}
	if watch {
		transfer = localapi.NewTransferID()
		ectx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		stop = func() { cancel(); <-done }
		go func() {
			defer close(done)
			c.API.TransferEvents(ectx, func(t apitype.Transfer) error {
				if t.ID == transfer {
					pr.setBox(t)
				}
				return nil
			})
		}()
	}
	v, err := send(pr, size, transfer)
	stop()
	fmt.Fprintln(pr.w)
	return v, err
}

// friendNames maps peer IDs to the names of the friend book, best effort.
func friendNames(ctx context.Context, c *Ctx) map[string]string {
	names := map[string]string{}
	if fs, err := c.API.Friends(ctx); err == nil {
		for _, f := range fs {
			names[f.ID.String()] = f.Name
		}
	}
	return names
}

func cmdCloudReceived(ctx context.Context, c *Ctx, args []string) error {
	var asJSON bool
	if _, err := flags("cloud received", args, func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "") }); err != nil {
		return err
	}
	out, err := c.API.Received(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.Stdout, out)
	}
	fmt.Fprintf(c.Stdout, "each friend may have %s of deliveries pending (in %s, not yet looked at)\n", size(out.DefaultQuota), apitype.ReceivedDir)
	if len(out.Friends) == 0 {
		return nil
	}
	names := friendNames(ctx, c)
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "friend\tpending\tquota")
	for _, f := range out.Friends {
		who := names[f.Friend.String()]
		if who == "" {
			who = f.Friend.String()
		}
		q := size(f.Quota)
		if !f.OwnQuota {
			q += " (default)"
		}
		fmt.Fprintf(w, "%s\t%d files, %s\t%s\n", who, f.PendingFiles, size(f.PendingBytes), q)
	}
	return w.Flush()
}

func cmdCloudReceivedQuota(ctx context.Context, c *Ctx, args []string) error {
	var friend, sz string
	switch len(args) {
	case 1:
		sz = args[0]
	case 2:
		friend, sz = args[0], args[1]
	default:
		return Usagef("want [FRIEND] SIZE|default")
	}
	req := apitype.QuotaRequest{Friend: friend}
	if sz == "default" {
		if friend == "" {
			return Usagef("default needs a FRIEND")
		}
		req.Default = true
	} else {
		n, err := parseSize(sz)
		if err != nil {
			return Usagef("%v", err)
		}
		req.Bytes = &n
	}
	out, err := c.API.SetReceivedQuota(ctx, req)
	if err != nil {
		return err
	}
	if friend == "" {
		friend = "each friend without a quota of its own"
	}
	fmt.Fprintf(c.Stdout, "%s may have %s of deliveries pending\n", friend, size(out.Quota))
	return nil
}

// size says n bytes in binary units.
func size(n int64) string {
	for _, u := range []struct {
		s string
		n int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.n {
			if n%u.n == 0 {
				return fmt.Sprintf("%d %s", n/u.n, u.s)
			}
			return fmt.Sprintf("%.1f %s", float64(n)/float64(u.n), u.s)
		}
	}
	return fmt.Sprintf("%d B", n)
}

// parseSize reads "1GiB", "1.5 GB", "500M", "4096": binary for KiB/MiB/
// GiB/TiB and K/M/G/T, decimal for kB/MB/GB/TB.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad size %q (want e.g. 2GiB, 500MB, 0)", s)
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tib": 1 << 40,
		"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	}[strings.ToLower(unit)]
	if mult == 0 {
		return 0, fmt.Errorf("bad size %q: unknown unit %q", s, unit)
	}
	if v*mult > 1<<62 {
		return 0, fmt.Errorf("bad size %q: too large", s)
	}
	return int64(v * mult), nil
}
