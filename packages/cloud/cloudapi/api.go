// Package cloudapi serves the cloud's part of the box's local API: the
// routes under /v1/cloud/ and /v1/send (see ../API.md), on a
// *cloud.Service. It turns requests into Service calls and the cloud's
// errors into statuses; authentication is the local API server's job.
package cloudapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"oepc.dev/oepcos/packages/apitype"
	"oepc.dev/oepcos/packages/cloud"
	"oepc.dev/oepcos/packages/cloud/keys"
	"oepc.dev/oepcos/packages/localapi"
	"oepc.dev/oepcos/packages/shard"
)

// API serves a cloud service's routes; its answers are packages/apitype's.
type API struct {
	s   *cloud.Service
	mux *http.ServeMux
	tr  *Transfers
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Transfers are the uploads named with ?transfer=ID, under way and
// recently ended (for a page's progress bars).
func (a *API) Transfers() *Transfers { return a.tr }

// Handler serves svc's routes under /v1/cloud/ and /v1/send.
func Handler(svc *cloud.Service) *API {
	a := &API{s: svc, tr: NewTransfers()}
	mux := http.NewServeMux()
	a.mux = mux
	mux.HandleFunc("POST /v1/cloud/put", a.put)
	mux.HandleFunc("GET /v1/cloud/get", a.get)
	mux.HandleFunc("GET /v1/cloud/ls", a.ls)
	mux.HandleFunc("GET /v1/cloud/stat", a.stat)
	mux.HandleFunc("POST /v1/cloud/mkdir", a.mkdir)
	mux.HandleFunc("POST /v1/cloud/rm", a.rm)
	mux.HandleFunc("POST /v1/cloud/mv", a.mv)
	mux.HandleFunc("GET /v1/cloud/health", a.health)
	mux.HandleFunc("POST /v1/cloud/repair", a.repair)
	mux.HandleFunc("POST /v1/cloud/share", a.share)
	mux.HandleFunc("GET /v1/cloud/hosted", a.hosted)
	mux.HandleFunc("GET /v1/cloud/status", a.status)
	mux.HandleFunc("POST /v1/cloud/setup", a.setup)
	mux.HandleFunc("POST /v1/cloud/recover", a.recover)
	mux.HandleFunc("POST /v1/cloud/backup", a.backup)
	mux.HandleFunc("GET /v1/cloud/received", a.deliveries)
	mux.HandleFunc("POST /v1/cloud/received/quota", a.deliveryQuota)
	mux.HandleFunc("POST /v1/send", a.send)
	mux.HandleFunc("GET /v1/cloud/transfers", a.transferList)
	mux.HandleFunc("GET /v1/cloud/transfers/events", a.transferEvents)
	mux.HandleFunc("GET /v1/cloud/transfers/{id}", a.transferGet)
	return a
}

// Mount registers svc's handler on the box's local API server.
func Mount(api interface{ Handle(string, http.Handler) }, svc *cloud.Service) *API {
	h := Handler(svc)
	api.Handle("/v1/cloud/", h)
	api.Handle("/v1/send", h)
	return h
}

// errStatus is the status that answers err (see ../API.md).
func errStatus(err error) int {
	switch {
	case errors.Is(err, cloud.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, cloud.ErrExists), errors.Is(err, cloud.ErrNotEmpty):
		return http.StatusConflict
	case errors.Is(err, cloud.ErrTooFewBoxes), errors.Is(err, cloud.ErrNoKey):
		return http.StatusPreconditionFailed
	case errors.Is(err, cloud.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, cloud.ErrRefused):
		return http.StatusForbidden
	case errors.Is(err, cloud.ErrBadPath), errors.Is(err, keys.ErrPhrase):
		return http.StatusBadRequest
	case errors.Is(err, shard.ErrDiskFull):
		return http.StatusInsufficientStorage
	}
	return http.StatusInternalServerError
}

func fail(w http.ResponseWriter, err error) { localapi.WriteError(w, errStatus(err), err) }

func badRequest(w http.ResponseWriter, format string, a ...any) {
	localapi.WriteError(w, http.StatusBadRequest, fmt.Errorf(format, a...))
}

func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := localapi.ReadJSON(r, 64<<10, v); err != nil {
		badRequest(w, "%v", err)
		return false
	}
	return true
}

// ref is the file a request names: its path, id or ref parameter.
func ref(r *http.Request) string {
	q := r.URL.Query()
	for _, k := range []string{"path", "id", "ref"} {
		if v := q.Get(k); v != "" {
			return v
		}
	}
	return ""
}

func (a *API) put(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var o cloud.PutOptions
	var err error
	if v := q.Get("k"); v != "" {
		if o.K, err = strconv.Atoi(v); err != nil {
			badRequest(w, "bad k")
			return
		}
	}
	if v := q.Get("m"); v != "" {
		if o.M, err = strconv.Atoi(v); err != nil {
			badRequest(w, "bad m")
			return
		}
	}
	if (o.K == 0) != (q.Get("m") == "") {
		badRequest(w, "give both k and m, or neither")
		return
	}
	o.Force, _ = strconv.ParseBool(q.Get("force"))
	tr, ok := a.startTransfer(w, r, apitype.Transfer{Kind: apitype.TransferPut, Path: q.Get("path")})
	if !ok {
		return
	}
	if tr != nil {
		if seg := int64(a.s.SegmentSize()); r.ContentLength >= 0 && seg > 0 {
			tr.update(func(v *apitype.Transfer) { v.SegmentsTotal = int(max(1, (r.ContentLength+seg-1)/seg)) })
		}
		o.Sealed = func(int) { tr.update(func(v *apitype.Transfer) { v.SegmentsSealed++ }) }
		o.Progress = func(done int64) {
			tr.update(func(v *apitype.Transfer) { v.SegmentsPlaced++; v.Placed = max(v.Placed, done) })
		}
	}
	e, err := a.s.Put(r.Context(), q.Get("path"), r.Body, o)
	if err != nil {
		if tr != nil {
			tr.end(err, errStatus(err), nil)
		}
		fail(w, err)
		return
	}
	ae := apiEntry(e)
	if tr != nil {
		tr.end(nil, http.StatusOK, func(v *apitype.Transfer) { v.Entry = &ae; v.Path = ae.Path })
	}
	localapi.WriteJSON(w, http.StatusOK, ae)
}

// lazyWriter sends the response headers with the first byte, so an error
// before any data is still answered as JSON.
type lazyWriter struct {
	w       http.ResponseWriter
	started bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.w.Header().Set("Content-Type", "application/octet-stream")
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	ref := ref(r)
	if ref == "" {
		badRequest(w, "give path, id or ref")
		return
	}
	if !cloud.IsShareAddress(ref) {
		man, err := a.s.Manifest(ref)
		if err != nil {
			fail(w, err)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(man.Size, 10))
		w.Header().Set("X-Oepc-File-Id", man.File.String())
	}
	lw := &lazyWriter{w: w}
	_, err := a.s.Get(r.Context(), ref, lw)
	if err == nil && !lw.started {
		lw.Write(nil) // an empty file
	}
	if err == nil && !cloud.IsShareAddress(ref) {
		if man, merr := a.s.Manifest(ref); merr == nil {
			a.s.MarkLookedAt(man.File) // a delivery the owner has looked at is no longer pending
		}
	}
	if err != nil {
		if !lw.started {
			w.Header().Del("Content-Length")
			fail(w, err)
			return
		}
		// Mid-stream: abort so the client sees a truncated body, never a
		// short file that looks whole.
		a.s.Logger().Warn("get failed mid-stream", "ref", ref, "err", err)
		panic(http.ErrAbortHandler)
	}
}

func (a *API) ls(w http.ResponseWriter, r *http.Request) {
	dir := r.URL.Query().Get("dir")
	if dir == "" {
		dir = "/"
	}
	q := r.URL.Query()
	offset, limit := 0, 0
	for _, p := range []struct {
		name string
		v    *int
	}{{"offset", &offset}, {"limit", &limit}} {
		if s := q.Get(p.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				badRequest(w, "bad %s %q: want a whole number, 0 or more", p.name, s)
				return
			}
			*p.v = n
		}
	}
	items, err := a.s.List(dir)
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, listing(dir, items, offset, limit))
}

func (a *API) stat(w http.ResponseWriter, r *http.Request) {
	e, err := a.s.Stat(r.URL.Query().Get("path"))
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, apiEntry(e))
}

func (a *API) mkdir(w http.ResponseWriter, r *http.Request) {
	var req apitype.MkdirRequest
	if !readBody(w, r, &req) {
		return
	}
	if err := a.s.Mkdir(req.Path); err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, apitype.PathAnswer(req))
}

func (a *API) rm(w http.ResponseWriter, r *http.Request) {
	var req apitype.RemoveRequest
	if !readBody(w, r, &req) {
		return
	}
	n, err := a.s.Remove(r.Context(), req.Path, req.Recursive)
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, apitype.RemoveAnswer{RemovedFiles: n})
}

func (a *API) mv(w http.ResponseWriter, r *http.Request) {
	var req apitype.MoveRequest
	if !readBody(w, r, &req) {
		return
	}
	p, err := a.s.Move(req.From, req.To)
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, apitype.PathAnswer{Path: p})
}

func (a *API) health(w http.ResponseWriter, r *http.Request) {
	health := a.s.Health
	if deep, _ := strconv.ParseBool(r.URL.Query().Get("deep")); deep {
		health = a.s.Verify
	}
	h, err := health(r.Context(), ref(r))
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, apiHealth(h))
}

func (a *API) repair(w http.ResponseWriter, r *http.Request) {
	var req apitype.RepairRequest
	if r.ContentLength != 0 && !readBody(w, r, &req) {
		return
	}
	if req.Path == "" {
		rep, err := a.s.RepairAll(r.Context())
		if err != nil {
			fail(w, err)
			return
		}
		localapi.WriteJSON(w, http.StatusOK, apitype.RepairReport(rep))
		return
	}
	man, err := a.s.Manifest(req.Path)
	if err != nil {
		fail(w, err)
		return
	}
	n, f, err := a.s.RepairFile(r.Context(), man.File)
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, apitype.RepairReport{Files: 1, Repaired: n, Failed: f})
}

func (a *API) share(w http.ResponseWriter, r *http.Request) {
	var req apitype.ShareRequest
	if !readBody(w, r, &req) {
		return
	}
	p, err := a.s.ResolveFriend(req.Friend)
	if err != nil {
		fail(w, err)
		return
	}
	addr, err := a.s.Share(r.Context(), req.Path, p)
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, apitype.ShareAnswer{Address: addr, Friend: apitype.PeerID(p.String())})
}

func (a *API) send(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := a.s.ResolveFriend(q.Get("friend"))
	if err != nil {
		fail(w, err)
		return
	}
	tr, ok := a.startTransfer(w, r, apitype.Transfer{Kind: apitype.TransferSend, Path: q.Get("name"), Friend: q.Get("friend")})
	if !ok {
		return
	}
	// The size, when the client gave it, lets the friend's box refuse a
	// file over its limits before any byte is sent.
	path, err := a.s.SendFile(r.Context(), p, q.Get("name"), r.Body, cloud.SendOptions{Size: max(r.ContentLength, -1), FriendName: q.Get("friend")})
	if err != nil {
		if tr != nil {
			tr.end(err, errStatus(err), nil)
		}
		fail(w, err)
		return
	}
	if tr != nil {
		tr.end(nil, http.StatusOK, func(v *apitype.Transfer) { v.SentTo = path })
	}
	localapi.WriteJSON(w, http.StatusOK, apitype.SendAnswer{Friend: apitype.PeerID(p.String()), Path: path})
}

func (a *API) hosted(w http.ResponseWriter, r *http.Request) {
	v, ok, err := a.s.Hosted(r.Context())
	if !ok {
		localapi.WriteJSON(w, http.StatusOK, apitype.Hosted{Owners: []apitype.HostedOwner{}})
		return
	}
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, apiHosted(v))
}

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	localapi.WriteJSON(w, http.StatusOK, apitype.CloudStatus(a.s.Status()))
}

func (a *API) setup(w http.ResponseWriter, r *http.Request) {
	phrase, err := a.s.Setup()
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, apitype.SetupAnswer{
		Phrase: phrase,
		Note:   "Write these words down and keep them safe. They are shown only once; with them and your friends' boxes, your files come back on a new box.",
	})
}

func (a *API) recover(w http.ResponseWriter, r *http.Request) {
	var req apitype.RecoverRequest
	if !readBody(w, r, &req) {
		return
	}
	n, err := a.s.Recover(r.Context(), req.Phrase)
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, apitype.RecoverAnswer{Files: n})
}

func (a *API) backup(w http.ResponseWriter, r *http.Request) {
	n, err := a.s.Backup(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, apitype.BackupAnswer{Friends: n})
}
