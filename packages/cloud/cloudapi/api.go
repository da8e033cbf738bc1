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

	"oepc.dev/oepcos/packages/cloud"
	"oepc.dev/oepcos/packages/cloud/keys"
	"oepc.dev/oepcos/packages/localapi"
)

// Handler serves svc's routes under /v1/cloud/ and /v1/send.
func Handler(svc *cloud.Service) http.Handler {
	a := &api{s: svc}
	mux := http.NewServeMux()
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
	return mux
}

// Mount registers svc's handler on the box's local API server.
func Mount(api interface{ Handle(string, http.Handler) }, svc *cloud.Service) {
	h := Handler(svc)
	api.Handle("/v1/cloud/", h)
	api.Handle("/v1/send", h)
}

// api is the handlers' receiver.
type api struct {
	s *cloud.Service
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

func (a *api) put(w http.ResponseWriter, r *http.Request) {
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
	e, err := a.s.Put(r.Context(), q.Get("path"), r.Body, o)
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, e)
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

func (a *api) get(w http.ResponseWriter, r *http.Request) {
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

func (a *api) ls(w http.ResponseWriter, r *http.Request) {
	dir := r.URL.Query().Get("dir")
	if dir == "" {
		dir = "/"
	}
	items, err := a.s.List(dir)
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, map[string]any{"dir": dir, "items": items})
}

func (a *api) stat(w http.ResponseWriter, r *http.Request) {
	e, err := a.s.Stat(r.URL.Query().Get("path"))
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, e)
}

func (a *api) mkdir(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Path string `json:"path"`
	}
	if !readBody(w, r, &req) {
		return
	}
	if err := a.s.Mkdir(req.Path); err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, map[string]string{"path": req.Path})
}

func (a *api) rm(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Path      string `json:"path"`
		Recursive bool   `json:"recursive"`
	}
	if !readBody(w, r, &req) {
		return
	}
	n, err := a.s.Remove(r.Context(), req.Path, req.Recursive)
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, map[string]int{"removed_files": n})
}

func (a *api) mv(w http.ResponseWriter, r *http.Request) {
	var req struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	if !readBody(w, r, &req) {
		return
	}
	p, err := a.s.Move(req.From, req.To)
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, map[string]string{"path": p})
}

func (a *api) health(w http.ResponseWriter, r *http.Request) {
	health := a.s.Health
	if deep, _ := strconv.ParseBool(r.URL.Query().Get("deep")); deep {
		health = a.s.Verify
	}
	h, err := health(r.Context(), ref(r))
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, h)
}

func (a *api) repair(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Path string `json:"path,omitempty"`
	}
	if r.ContentLength != 0 && !readBody(w, r, &req) {
		return
	}
	if req.Path == "" {
		rep, err := a.s.RepairAll(r.Context())
		if err != nil {
			fail(w, err)
			return
		}
		localapi.WriteJSON(w, http.StatusOK, rep)
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
	localapi.WriteJSON(w, http.StatusOK, cloud.RepairReport{Files: 1, Repaired: n, Failed: f})
}

func (a *api) share(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Path   string `json:"path"`
		Friend string `json:"friend"`
	}
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
	localapi.WriteJSON(w, http.StatusOK, map[string]string{"address": addr, "friend": p.String()})
}

func (a *api) send(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := a.s.ResolveFriend(q.Get("friend"))
	if err != nil {
		fail(w, err)
		return
	}
	// The size, when the client gave it, lets the friend's box refuse a
	// file over its limits before any byte is sent.
	path, err := a.s.SendFile(r.Context(), p, q.Get("name"), r.Body, cloud.SendOptions{Size: max(r.ContentLength, -1), FriendName: q.Get("friend")})
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, map[string]string{"friend": p.String(), "path": path})
}

func (a *api) hosted(w http.ResponseWriter, r *http.Request) {
	v, ok, err := a.s.Hosted(r.Context())
	if !ok {
		localapi.WriteJSON(w, http.StatusOK, map[string]any{"shards": []any{}})
		return
	}
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, v)
}

func (a *api) status(w http.ResponseWriter, r *http.Request) {
	localapi.WriteJSON(w, http.StatusOK, a.s.Status())
}

func (a *api) setup(w http.ResponseWriter, r *http.Request) {
	phrase, err := a.s.Setup()
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, map[string]string{
		"phrase": phrase,
		"note":   "Write these words down and keep them safe. They are shown only once; with them and your friends' boxes, your files come back on a new box.",
	})
}

func (a *api) recover(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Phrase string `json:"phrase"`
	}
	if !readBody(w, r, &req) {
		return
	}
	n, err := a.s.Recover(r.Context(), req.Phrase)
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, map[string]int{"files": n})
}

func (a *api) backup(w http.ResponseWriter, r *http.Request) {
	n, err := a.s.Backup(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, map[string]int{"friends": n})
}
