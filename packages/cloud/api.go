package cloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/packages/cloud/keys"
	"oepc.dev/oepcos/packages/localapi"
)

// Handler serves the cloud's part of the local API: routes under
// /v1/cloud/ and /v1/send (see API.md). Authentication is the local API
// server's job.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/cloud/put", s.apiPut)
	mux.HandleFunc("GET /v1/cloud/get", s.apiGet)
	mux.HandleFunc("GET /v1/cloud/ls", s.apiLs)
	mux.HandleFunc("GET /v1/cloud/stat", s.apiStat)
	mux.HandleFunc("POST /v1/cloud/mkdir", s.apiMkdir)
	mux.HandleFunc("POST /v1/cloud/rm", s.apiRm)
	mux.HandleFunc("POST /v1/cloud/mv", s.apiMv)
	mux.HandleFunc("GET /v1/cloud/health", s.apiHealth)
	mux.HandleFunc("POST /v1/cloud/repair", s.apiRepair)
	mux.HandleFunc("POST /v1/cloud/share", s.apiShare)
	mux.HandleFunc("GET /v1/cloud/hosted", s.apiHosted)
	mux.HandleFunc("GET /v1/cloud/status", s.apiStatus)
	mux.HandleFunc("POST /v1/cloud/setup", s.apiSetup)
	mux.HandleFunc("POST /v1/cloud/recover", s.apiRecover)
	mux.HandleFunc("POST /v1/cloud/backup", s.apiBackup)
	mux.HandleFunc("GET /v1/cloud/received", s.apiDeliveries)
	mux.HandleFunc("POST /v1/cloud/received/quota", s.apiDeliveryQuota)
	mux.HandleFunc("POST /v1/send", s.apiSend)
	return mux
}

// Mount registers the handler on the box's local API server.
func (s *Service) Mount(api interface{ Handle(string, http.Handler) }) {
	h := s.Handler()
	api.Handle("/v1/cloud/", h)
	api.Handle("/v1/send", h)
}

func errStatus(err error) int {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrExists), errors.Is(err, ErrNotEmpty):
		return http.StatusConflict
	case errors.Is(err, ErrTooFewBoxes), errors.Is(err, ErrNoKey):
		return http.StatusPreconditionFailed
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrRefused):
		return http.StatusForbidden
	case errors.Is(err, ErrBadPath), errors.Is(err, keys.ErrPhrase):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func fail(w http.ResponseWriter, err error) { localapi.WriteError(w, errStatus(err), err) }

func badRequest(w http.ResponseWriter, format string, a ...any) {
	localapi.WriteError(w, http.StatusBadRequest, fmt.Errorf(format, a...))
}

func (s *Service) resolveFriend(name string) (peer.ID, error) {
	if s.cfg.ResolveFriend != nil {
		return s.cfg.ResolveFriend(name)
	}
	p, err := peer.Decode(name)
	if err != nil {
		return "", fmt.Errorf("%w: unknown friend %q", ErrNotFound, name)
	}
	return p, nil
}

func (s *Service) apiPut(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var o PutOptions
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
	e, err := s.Put(r.Context(), q.Get("path"), r.Body, o)
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, e)
}

func ref(r *http.Request) string {
	q := r.URL.Query()
	for _, k := range []string{"path", "id", "ref"} {
		if v := q.Get(k); v != "" {
			return v
		}
	}
	return ""
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

func (s *Service) apiGet(w http.ResponseWriter, r *http.Request) {
	ref := ref(r)
	if ref == "" {
		badRequest(w, "give path, id or ref")
		return
	}
	if !strings.HasPrefix(ref, sharePrefix) {
		man, err := s.Manifest(ref)
		if err != nil {
			fail(w, err)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(man.Size, 10))
		w.Header().Set("X-Oepc-File-Id", man.File.String())
	}
	lw := &lazyWriter{w: w}
	_, err := s.Get(r.Context(), ref, lw)
	if err == nil && !lw.started {
		lw.Write(nil) // an empty file
	}
	if err == nil && !strings.HasPrefix(ref, sharePrefix) {
		if man, merr := s.Manifest(ref); merr == nil {
			s.lookedAt(man.File) // a delivery the owner has looked at is no longer pending
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
		s.log.Warn("get failed mid-stream", "ref", ref, "err", err)
		panic(http.ErrAbortHandler)
	}
}

func (s *Service) apiLs(w http.ResponseWriter, r *http.Request) {
	dir := r.URL.Query().Get("dir")
	if dir == "" {
		dir = "/"
	}
	items, err := s.List(dir)
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, map[string]any{"dir": dir, "items": items})
}

func (s *Service) apiStat(w http.ResponseWriter, r *http.Request) {
	e, err := s.Stat(r.URL.Query().Get("path"))
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, e)
}

func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := localapi.ReadJSON(r, 64<<10, v); err != nil {
		badRequest(w, "%v", err)
		return false
	}
	return true
}

func (s *Service) apiMkdir(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Path string `json:"path"`
	}
	if !readBody(w, r, &req) {
		return
	}
	if err := s.Mkdir(req.Path); err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, map[string]string{"path": req.Path})
}

func (s *Service) apiRm(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Path      string `json:"path"`
		Recursive bool   `json:"recursive"`
	}
	if !readBody(w, r, &req) {
		return
	}
	n, err := s.Remove(r.Context(), req.Path, req.Recursive)
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, map[string]int{"removed_files": n})
}

func (s *Service) apiMv(w http.ResponseWriter, r *http.Request) {
	var req struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	if !readBody(w, r, &req) {
		return
	}
	p, err := s.Move(req.From, req.To)
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, map[string]string{"path": p})
}

func (s *Service) apiHealth(w http.ResponseWriter, r *http.Request) {
	health := s.Health
	if deep, _ := strconv.ParseBool(r.URL.Query().Get("deep")); deep {
		health = s.Verify
	}
	h, err := health(r.Context(), ref(r))
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, h)
}

func (s *Service) apiRepair(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Path string `json:"path,omitempty"`
	}
	if r.ContentLength != 0 && !readBody(w, r, &req) {
		return
	}
	if req.Path == "" {
		rep, err := s.RepairAll(r.Context())
		if err != nil {
			fail(w, err)
			return
		}
		localapi.WriteJSON(w, http.StatusOK, rep)
		return
	}
	man, err := s.Manifest(req.Path)
	if err != nil {
		fail(w, err)
		return
	}
	n, f, err := s.RepairFile(r.Context(), man.File)
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, RepairReport{Files: 1, Repaired: n, Failed: f})
}

func (s *Service) apiShare(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Path   string `json:"path"`
		Friend string `json:"friend"`
	}
	if !readBody(w, r, &req) {
		return
	}
	p, err := s.resolveFriend(req.Friend)
	if err != nil {
		fail(w, err)
		return
	}
	addr, err := s.Share(r.Context(), req.Path, p)
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, map[string]string{"address": addr, "friend": p.String()})
}

func (s *Service) apiSend(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := s.resolveFriend(q.Get("friend"))
	if err != nil {
		fail(w, err)
		return
	}
	// The size, when the client gave it, lets the friend's box refuse a
	// file over its limits before any byte is sent.
	path, err := s.SendFile(r.Context(), p, q.Get("name"), r.Body, SendOptions{Size: max(r.ContentLength, -1), FriendName: q.Get("friend")})
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, map[string]string{"friend": p.String(), "path": path})
}

func (s *Service) apiHosted(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Hosted == nil {
		localapi.WriteJSON(w, http.StatusOK, map[string]any{"shards": []any{}})
		return
	}
	v, err := s.cfg.Hosted.Hosted(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, v)
}

// Status is the cloud's summary.
type Status struct {
	OwnerKey   bool   `json:"owner_key"`
	Boxes      int    `json:"boxes"`
	Files      int    `json:"files"`
	Bytes      int64  `json:"bytes"`
	K          int    `json:"k"`
	M          int    `json:"m"`
	BackupSeq  uint64 `json:"backup_seq,omitempty"`
	BackupHeld int    `json:"backup_friends,omitempty"`
}

// Status summarizes the cloud.
func (s *Service) Status() Status {
	st := Status{OwnerKey: s.owner.Load() != nil, Boxes: len(s.peers()), K: s.cfg.K, M: s.cfg.M}
	if files, err := s.Files(); err == nil {
		st.Files = len(files)
		for _, f := range files {
			st.Bytes += f.Size
		}
	}
	var b backupState
	if s.cfg.KV != nil {
		if raw, err := s.cfg.KV.Get(keyBackup); err == nil && json.Unmarshal(raw, &b) == nil {
			st.BackupSeq, st.BackupHeld = b.Seq, b.Pushed
		}
	}
	return st
}

func (s *Service) apiStatus(w http.ResponseWriter, r *http.Request) {
	localapi.WriteJSON(w, http.StatusOK, s.Status())
}

func (s *Service) apiSetup(w http.ResponseWriter, r *http.Request) {
	phrase, err := s.Setup()
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, map[string]string{
		"phrase": phrase,
		"note":   "Write these words down and keep them safe. They are shown only once; with them and your friends' boxes, your files come back on a new box.",
	})
}

func (s *Service) apiRecover(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Phrase string `json:"phrase"`
	}
	if !readBody(w, r, &req) {
		return
	}
	n, err := s.Recover(r.Context(), req.Phrase)
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, map[string]int{"files": n})
}

func (s *Service) apiBackup(w http.ResponseWriter, r *http.Request) {
	n, err := s.Backup(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, map[string]int{"friends": n})
}
