package webui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"

	"oepc.dev/oepcos/packages/apitype"
	"oepc.dev/oepcos/packages/localapi"
)

// The Files page (/files) and a file's page (/files/item): the personal
// cloud through the typed local API client (Ctx.Client), like the CLI.
// Uploads go from the page's JS straight to /v1/cloud/put with a transfer
// ID; the box's progress comes back as "transfers" events (oepcd
// publishes the cloud's transfers to the tabs' event streams).

func filesPages() []Page {
	return []Page{
		{Path: "/files", Title: "Files", Nav: "Files", Role: RoleOwner, Template: "files.html", Load: loadFiles, Actions: fileActions},
		{Path: "/files/item", Title: "File", Role: RoleOwner, Template: "file.html", Live: []string{"repairs"}, Load: loadItem, Actions: fileActions},
	}
}

// filesWindow is how many items of a folder one page shows: a folder of
// 10,000 files is drawn a window at a time.
const filesWindow = 100

// Client is the box's typed local API client, calling the API in-process
// with the box's token (streaming both ways: a page can send a stored
// file on to a friend without holding it).
func (c *Ctx) Client() *localapi.Client {
	return &localapi.Client{Base: "http://box", Token: c.ui.cfg.Token,
		HTTP: &http.Client{Transport: handlerTransport{h: c.ui.cfg.API, remote: c.R.RemoteAddr}}}
}

// handlerTransport runs requests on an http.Handler in this process; the
// answer streams through a pipe as the handler writes it.
type handlerTransport struct {
	h      http.Handler
	remote string
}

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.RemoteAddr = t.remote
	req.RequestURI = req.URL.RequestURI()
	if req.Body == nil {
		req.Body = http.NoBody
	}
	pr, pw := io.Pipe()
	w := &pipeResponse{h: http.Header{}, pw: pw, ready: make(chan struct{})}
	go func() {
		defer func() {
			if v := recover(); v != nil {
				pw.CloseWithError(fmt.Errorf("the box's API aborted the answer: %v", v))
			}
			w.start(http.StatusOK)
		}()
		t.h.ServeHTTP(w, req)
		w.start(http.StatusOK)
		pw.Close()
	}()
	select {
	case <-w.ready:
	case <-req.Context().Done():
		pr.CloseWithError(req.Context().Err())
		return nil, req.Context().Err()
	}
	resp := &http.Response{StatusCode: w.code, Status: http.StatusText(w.code), Header: w.sent, Body: pr,
		ContentLength: -1, Request: req, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	if n, err := strconv.ParseInt(w.sent.Get("Content-Length"), 10, 64); err == nil {
		resp.ContentLength = n
	}
	return resp, nil
}

// pipeResponse is the handler's side of handlerTransport.
type pipeResponse struct {
	h     http.Header
	sent  http.Header
	pw    *io.PipeWriter
	once  sync.Once
	code  int
	ready chan struct{}
}

func (w *pipeResponse) Header() http.Header { return w.h }

func (w *pipeResponse) start(code int) {
	w.once.Do(func() {
		w.code, w.sent = code, w.h.Clone()
		close(w.ready)
	})
}

func (w *pipeResponse) WriteHeader(code int) { w.start(code) }

func (w *pipeResponse) Write(b []byte) (int, error) {
	w.start(http.StatusOK)
	return w.pw.Write(b)
}

func (w *pipeResponse) Flush() { w.start(http.StatusOK) }

// fileRow is an item of the listing, with what the template needs.
type fileRow struct {
	apitype.Item
	Q string // the item's path, query-escaped
}

type filesData struct {
	Dir     string
	Crumbs  []crumb
	Rows    []fileRow
	Listing apitype.Listing
	Prev    int
	HasPrev bool
	First   int // 1-based number of the first row shown
	Last    int
	Cloud   *apitype.CloudStatus
	Friends []apitype.FriendStatus
	Hosted  *apitype.Hosted
	Recv    *apitype.Received
	Names   map[string]string // peer ID → friend name
	Pending int               // deliveries not yet looked at
	Others  int64             // bytes hosted for friends
}

type crumb struct{ Name, Path string }

// crumbs are the folders from / down to dir.
func crumbs(dir string) []crumb {
	out := []crumb{{"Files", "/"}}
	p := ""
	for _, part := range strings.Split(strings.Trim(dir, "/"), "/") {
		if part == "" {
			continue
		}
		p += "/" + part
		out = append(out, crumb{part, p})
	}
	return out
}

func loadFiles(c *Ctx) (any, error) {
	q := c.R.URL.Query()
	dir := q.Get("dir")
	if c.Result != nil {
		if r, ok := c.Result.(*fileResult); ok && r.Dir != "" {
			dir = r.Dir
		}
	}
	if dir == "" {
		dir = "/"
	}
	offset, _ := strconv.Atoi(q.Get("offset"))
	offset = max(offset, 0)
	api := c.Client()
	d := &filesData{Dir: dir, Crumbs: crumbs(dir), Names: map[string]string{}}
	// The page's five answers are asked for at once (in-process calls,
	// each independent): the page takes the longest of them, not the sum.
	var (
		wg                sync.WaitGroup
		cloudErr, listErr error
		l                 *apitype.Listing
	)
	wg.Add(5)
	go func() { defer wg.Done(); d.Cloud, cloudErr = api.CloudStatus(c.Context()) }()
	go func() { defer wg.Done(); d.Friends, _ = api.Friends(c.Context()) }()
	go func() { defer wg.Done(); d.Hosted, _ = api.Hosted(c.Context()) }()
	go func() { defer wg.Done(); d.Recv, _ = api.Received(c.Context()) }()
	go func() { defer wg.Done(); l, listErr = api.List(c.Context(), dir, offset, filesWindow) }()
	wg.Wait()
	if cloudErr != nil {
		return d, friendly(cloudErr, "")
	}
	for _, f := range d.Friends {
		d.Names[f.ID.String()] = f.Name
	}
	if d.Hosted != nil {
		for _, o := range d.Hosted.Owners {
			d.Others += o.Bytes
		}
	}
	if d.Recv != nil {
		for _, f := range d.Recv.Friends {
			d.Pending += f.PendingFiles
		}
	}
	err := listErr
	var ae *localapi.APIError
	if err != nil && dir == apitype.ReceivedDir && errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		l, err = &apitype.Listing{Dir: dir}, nil // nothing received yet
	}
	if err != nil {
		return d, friendly(err, "")
	}
	d.Listing = *l
	for _, it := range l.Items {
		d.Rows = append(d.Rows, fileRow{Item: it, Q: url.QueryEscape(it.Path)})
	}
	if offset > 0 {
		d.HasPrev, d.Prev = true, max(0, offset-filesWindow)
	}
	if len(l.Items) > 0 {
		d.First, d.Last = offset+1, offset+len(l.Items)
	}
	return d, nil
}

type itemData struct {
	Entry   *apitype.Entry
	Q       string
	Dir     string
	Health  *apitype.Health
	Friends []apitype.FriendStatus
	Grid    [][]apitype.ShardHealth // segments × shards
	Counts  []stateCount
	Total   int
}

type stateCount struct {
	State string
	N     int
}

func loadItem(c *Ctx) (any, error) {
	p := c.R.URL.Query().Get("path")
	if r, ok := c.Result.(*fileResult); ok && r.Path != "" {
		p = r.Path
	}
	if p == "" {
		return nil, &UserError{Status: http.StatusBadRequest, Msg: "No file named: open a file from the Files page."}
	}
	api := c.Client()
	d := &itemData{Q: url.QueryEscape(p), Dir: path.Dir(p)}
	var err error
	if d.Entry, err = api.Stat(c.Context(), p); err != nil {
		return d, friendly(err, "")
	}
	d.Friends, _ = api.Friends(c.Context())
	if d.Health, err = api.FileHealth(c.Context(), p, false); err != nil {
		return d, friendly(err, "")
	}
	for _, sg := range d.Health.Segments {
		d.Grid = append(d.Grid, sg.Shards)
	}
	for _, st := range []string{apitype.ShardOK, apitype.ShardRepairing, apitype.ShardUnreachable, apitype.ShardMissing, apitype.ShardCorrupt, apitype.ShardUnplaced} {
		if n := d.Health.Shards[st]; n > 0 {
			d.Counts = append(d.Counts, stateCount{st, n})
			d.Total += n
		}
	}
	return d, nil
}

// fileResult is what a Files action leaves for the page.
type fileResult struct {
	Dir     string // the folder to show after it
	Path    string // the file page to show after it
	Confirm *deleteConfirm
	Phrase  string // cloud setup: shown this once
	Share   string // a share address
}

type deleteConfirm struct {
	Path    string
	Dir     bool
	Files   int
	Bytes   int64
	AtLeast bool // the count stopped at its bound
}

var fileActions = map[string]Action{
	"mkdir":          actMkdir,
	"rename":         actRename,
	"move":           actMove,
	"confirm-delete": actConfirmDelete,
	"delete":         actDelete,
	"share":          actShare,
	"send":           actSend,
	"setup":          actSetup,
	"recover":        actRecover,
	"repair":         actRepair,
}

// join is dir/name for a name typed into a form, refusing names that
// would leave the folder.
func join(dir, name string) (string, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\") || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", &UserError{Status: http.StatusBadRequest, Msg: fmt.Sprintf("%q cannot be a name: use no slashes, no control characters, and not . or ..; nothing was changed.", name)}
	}
	return path.Join("/", dir, name), nil
}

func actMkdir(c *Ctx) (string, error) {
	f, err := c.Need("dir", "The folder", "name", "The new folder's name")
	if err != nil {
		return "", err
	}
	p, err := join(f[0], f[1])
	if err != nil {
		return "", err
	}
	c.Result = &fileResult{Dir: f[0]}
	if err := c.Client().Mkdir(c.Context(), p); err != nil {
		return "", friendly(err, "")
	}
	return "Folder " + p + " made.", nil
}

func actRename(c *Ctx) (string, error) {
	f, err := c.Need("path", "The file", "name", "The new name")
	if err != nil {
		return "", err
	}
	to, err := join(path.Dir(f[0]), f[1])
	if err != nil {
		return "", err
	}
	c.Result = &fileResult{Path: f[0], Dir: path.Dir(f[0])}
	final, err := c.Client().Move(c.Context(), f[0], to)
	if err != nil {
		return "", friendly(err, "")
	}
	c.Result = &fileResult{Path: final, Dir: path.Dir(final)}
	return "Renamed to " + path.Base(final) + ".", nil
}

func actMove(c *Ctx) (string, error) {
	f, err := c.Need("path", "The file", "to", "The folder to move it to")
	if err != nil {
		return "", err
	}
	to := f[1]
	if !strings.HasPrefix(to, "/") {
		to = "/" + to
	}
	c.Result = &fileResult{Path: f[0], Dir: path.Dir(f[0])}
	final, err := c.Client().Move(c.Context(), f[0], to)
	if err != nil {
		return "", friendly(err, "")
	}
	c.Result = &fileResult{Path: final, Dir: path.Dir(final)}
	return "Moved to " + final + ".", nil
}

// countBound bounds the walk that says what a folder's delete loses.
const countBound = 10000

// count walks p (a file or folder) and says how many files and bytes it
// holds, up to countBound files.
func count(ctx context.Context, api *localapi.Client, p string) (*deleteConfirm, error) {
	d := &deleteConfirm{Path: p}
	if e, err := api.Stat(ctx, p); err == nil {
		d.Files, d.Bytes = 1, e.Size
		return d, nil
	}
	d.Dir = true
	dirs := []string{p}
	for len(dirs) > 0 && !d.AtLeast {
		dir := dirs[0]
		dirs = dirs[1:]
		for off := 0; ; {
			l, err := api.List(ctx, dir, off, 1000)
			if err != nil {
				return nil, err
			}
			for _, it := range l.Items {
				if it.Dir {
					dirs = append(dirs, it.Path)
					continue
				}
				d.Files++
				d.Bytes += it.Size
			}
			if d.Files >= countBound {
				d.AtLeast = true
				break
			}
			if l.Next == 0 {
				break
			}
			off = l.Next
		}
	}
	return d, nil
}

func actConfirmDelete(c *Ctx) (string, error) {
	f, err := c.Need("path", "The file or folder")
	if err != nil {
		return "", err
	}
	d, err := count(c.Context(), c.Client(), f[0])
	c.Result = &fileResult{Dir: path.Dir(f[0]), Path: f[0], Confirm: d}
	if err != nil {
		return "", friendly(err, "")
	}
	return "", nil
}

func actDelete(c *Ctx) (string, error) {
	f, err := c.Need("path", "The file or folder")
	if err != nil {
		return "", err
	}
	if c.Form("confirm") != "yes" {
		return "", &UserError{Status: http.StatusBadRequest, Msg: "Deleting needs the confirmation: press Delete, then confirm; nothing was deleted."}
	}
	c.Result = &fileResult{Dir: path.Dir(f[0])}
	n, err := c.Client().Remove(c.Context(), f[0], c.Form("recursive") == "1")
	if err != nil {
		return "", friendly(err, "")
	}
	return fmt.Sprintf("Deleted %s (%d files).", f[0], n), nil
}

func actShare(c *Ctx) (string, error) {
	f, err := c.Need("path", "The file", "friend", "The friend")
	if err != nil {
		return "", err
	}
	c.Result = &fileResult{Path: f[0]}
	a, err := c.Client().Share(c.Context(), f[0], f[1])
	if err != nil {
		return "", friendly(err, f[1])
	}
	c.Result = &fileResult{Path: f[0], Share: a.Address}
	return "Shared with " + f[1] + ": give them the address below (their box can also fetch it while yours is off).", nil
}

// actSend delivers a stored file to a friend's Received folder: the get
// streams into the send, in this process, never held whole.
func actSend(c *Ctx) (string, error) {
	f, err := c.Need("path", "The file", "friend", "The friend")
	if err != nil {
		return "", err
	}
	c.Result = &fileResult{Path: f[0]}
	api := c.Client()
	resp, err := api.CloudGet(c.Context(), f[0])
	if err != nil {
		return "", friendly(err, "")
	}
	defer resp.Body.Close()
	a, err := api.SendFile(c.Context(), f[1], path.Base(f[0]), resp.Body, resp.ContentLength, localapi.NewTransferID())
	if err != nil {
		return "", friendly(err, f[1])
	}
	return fmt.Sprintf("Sent to %s: it is in their %s.", f[1], a.Path), nil
}

func actSetup(c *Ctx) (string, error) {
	a, err := c.Client().Setup(c.Context())
	if err != nil {
		return "", friendly(err, "")
	}
	c.Result = &fileResult{Phrase: a.Phrase}
	return "", nil
}

func actRecover(c *Ctx) (string, error) {
	f, err := c.Need("phrase", "The recovery phrase")
	if err != nil {
		return "", err
	}
	n, err := c.Client().Recover(c.Context(), f[0])
	if err != nil {
		return "", friendly(err, "")
	}
	return fmt.Sprintf("Recovered: the owner key and %d files are back.", n), nil
}

func actRepair(c *Ctx) (string, error) {
	f, err := c.Need("path", "The file")
	if err != nil {
		return "", err
	}
	c.Result = &fileResult{Path: f[0]}
	r, err := c.Client().Repair(c.Context(), f[0])
	if err != nil {
		return "", friendly(err, "")
	}
	if r.Failed > 0 {
		return "", &UserError{Status: http.StatusServiceUnavailable, Msg: fmt.Sprintf("%d shards repaired, %d could not be: too few friends' boxes are online to hold them; try again when more are.", r.Repaired, r.Failed)}
	}
	return fmt.Sprintf("Checked: %d shards repaired.", r.Repaired), nil
}

// friendly turns a local API error into one that says what to do (friend:
// the friend a share or send went to, for the message).
func friendly(err error, friend string) error {
	var ae *localapi.APIError
	if !errors.As(err, &ae) {
		return err
	}
	msg, m := ae.Message, strings.ToLower(ae.Message)
	switch {
	case ae.Status == http.StatusPreconditionFailed && strings.Contains(m, "boxes"):
		msg += ". Too few boxes are online to keep the file as 4+2 (each of its six pieces on a different box). Wait for friends' boxes to come online, make more friends, or upload with “place anyway”: then some boxes hold several pieces, and losing one of them can lose the file."
	case ae.Status == http.StatusPreconditionFailed:
		msg += ". Set the cloud up first (Set up, on the Files page), or recover it with your phrase."
	case ae.Status == http.StatusInsufficientStorage:
		msg += ". A disk is full: free space on the box (or ask the friend to), or delete files you no longer need, then try again."
	case ae.Status == http.StatusServiceUnavailable:
		msg += ". Not enough of the boxes that hold it are online: try again when your friends' boxes are back."
	case friend != "" && (strings.Contains(m, "dial") || strings.Contains(m, "no addresses") || strings.Contains(m, "offline") || strings.Contains(m, "connect")):
		msg = fmt.Sprintf("%s's box is offline or cannot be reached (%s): try again when it is online.", friend, ae.Message)
	case ae.Status == http.StatusNotFound:
		msg += ". It may have been moved or deleted: go back to the folder and look again."
	case ae.Status == http.StatusConflict:
		msg += ". Pick another name; nothing was changed."
	}
	return &UserError{Status: ae.Status, Msg: msg}
}
