// Package walletapi is the box's wallet and chain routes of the local API
// (/v1/wallet..., /v1/chain/...), over its light node: it starts the light
// node, keeps it up to date, and answers with verified values only. When
// there is no light node it answers 503 saying why (no genesis configured,
// too few super nodes, an expired trusting period and what to do).
package walletapi

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"oepc.dev/oepcos/packages/apitype"
	"oepc.dev/oepcos/packages/chain/light"
	"oepc.dev/oepcos/packages/chain/tx"
	"oepc.dev/oepcos/packages/localapi"
)

// ErrNoKey is what Key returns while the box has no wallet key (no
// personal cloud yet); KeyError gives the status to answer with.
var ErrNoKey = errors.New("no wallet key")

// KeyError is a missing wallet key with the HTTP status to answer.
type KeyError struct {
	Status int
	Err    error
}

func (e *KeyError) Error() string { return e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// Config is the wallet service.
type Config struct {
	// Start starts the light node; nil: the box has none, and Off says
	// why. A failed start is retried every UpdateEvery.
	Start func(ctx context.Context) (*light.Client, error)
	Off   string
	// Key is the wallet key (from the cloud's recovery phrase); a
	// *KeyError says why there is none.
	Key func() (ed25519.PrivateKey, error)
	// UpdateEvery is how often the light node verifies the newest header
	// (default 5 s).
	UpdateEvery time.Duration
	Logger      *slog.Logger
}

// Service is the wallet's routes and the light node behind them.
type Service struct {
	cfg Config
	lc  atomic.Pointer[light.Client]

	mu      sync.Mutex
	last    light.Status
	lastErr string
	updated time.Time
}

// New makes the service; Run starts its light node.
func New(cfg Config) *Service {
	if cfg.UpdateEvery <= 0 {
		cfg.UpdateEvery = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg}
	if cfg.Start == nil {
		s.lastErr = cfg.Off
		if s.lastErr == "" {
			s.lastErr = "this box runs no light node"
		}
	}
	return s
}

// Run starts the light node (retrying) and verifies the newest header
// every UpdateEvery, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	if s.cfg.Start == nil {
		<-ctx.Done()
		return nil
	}
	defer func() {
		if c := s.lc.Load(); c != nil {
			c.Close()
		}
	}()
	for {
		if s.lc.Load() == nil {
			c, err := s.cfg.Start(ctx)
			if err != nil {
				s.setErr(err)
				s.cfg.Logger.Warn("light node not up", "err", err)
			} else {
				s.lc.Store(c)
			}
		}
		if c := s.lc.Load(); c != nil {
			uctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			st, err := c.Update(uctx)
			cancel()
			s.mu.Lock()
			s.last, s.updated = st, time.Now()
			s.lastErr = ""
			if err != nil {
				s.lastErr = err.Error()
			}
			s.mu.Unlock()
			if err != nil {
				s.cfg.Logger.Warn("light node update", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(s.cfg.UpdateEvery):
		}
	}
}

func (s *Service) setErr(err error) {
	s.mu.Lock()
	s.lastErr = err.Error()
	s.mu.Unlock()
}

// Client is the light node, or nil and why there is none.
func (s *Service) Client() (*light.Client, error) {
	if c := s.lc.Load(); c != nil {
		return c, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	why := s.lastErr
	if why == "" {
		why = "it is starting"
	}
	return nil, fmt.Errorf("the light node is not running: %s", why)
}

// Summary is the light node's last known state, for GET /v1/status.
func (s *Service) Summary() *apitype.ChainSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := &apitype.ChainSummary{Running: s.lc.Load() != nil, Error: s.lastErr}
	if cs.Running {
		cs.ChainID, cs.VerifiedHeight, cs.VerifiedTime, cs.Lag = s.last.ChainID, s.last.VerifiedHeight, s.last.VerifiedTime, s.last.Lag
	}
	return cs
}

// Mux is where the routes go (a *localapi.Server, an *http.ServeMux).
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Register adds the routes.
func (s *Service) Register(m Mux) {
	m.Handle("GET /v1/chain/status", http.HandlerFunc(s.handleStatus))
	m.Handle("GET /v1/chain/supernodes", http.HandlerFunc(s.handleSuperNodes))
	m.Handle("GET /v1/wallet", http.HandlerFunc(s.handleWallet))
	m.Handle("GET /v1/wallet/history", http.HandlerFunc(s.handleHistory))
	m.Handle("POST /v1/wallet/send", http.HandlerFunc(s.handleSend))
}

func (s *Service) client(w http.ResponseWriter) *light.Client {
	c, err := s.Client()
	if err != nil {
		localapi.WriteError(w, http.StatusServiceUnavailable, err)
	}
	return c
}

func (s *Service) key(w http.ResponseWriter) ed25519.PrivateKey {
	if s.cfg.Key == nil {
		localapi.WriteError(w, http.StatusServiceUnavailable, ErrNoKey)
		return nil
	}
	k, err := s.cfg.Key()
	if err != nil {
		code := http.StatusServiceUnavailable
		var ke *KeyError
		if errors.As(err, &ke) {
			code = ke.Status
		}
		localapi.WriteError(w, code, err)
		return nil
	}
	return k
}

// chainError is the status of a light node failure: 502 (the super nodes'
// answer was refused, or none came).
func chainError(w http.ResponseWriter, err error) {
	code := http.StatusBadGateway
	if errors.Is(err, light.ErrExpired) {
		code = http.StatusServiceUnavailable
	}
	localapi.WriteError(w, code, err)
}

func (s *Service) handleStatus(w http.ResponseWriter, r *http.Request) {
	c := s.client(w)
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	st := c.Status(ctx)
	a := apitype.ChainStatus{ChainID: st.ChainID, VerifiedHeight: st.VerifiedHeight, VerifiedTime: st.VerifiedTime,
		AppHash: st.AppHash, Latest: st.Latest, Lag: st.Lag, Primary: apitype.PeerID(st.Primary.String()), Stalled: st.Stalled}
	for _, p := range st.Witnesses {
		a.Witnesses = append(a.Witnesses, apitype.PeerID(p.String()))
	}
	localapi.WriteJSON(w, http.StatusOK, a)
}

func (s *Service) handleSuperNodes(w http.ResponseWriter, r *http.Request) {
	c := s.client(w)
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	nodes, reward, p, h, err := c.SuperNodesAndParams(ctx)
	if err != nil {
		chainError(w, err)
		return
	}
	a := apitype.ChainSuperNodesAnswer{Height: h, RewardPerBlock: reward, MinFee: p.MinFee, SuperNodes: []apitype.ChainSuperNode{}}
	for _, n := range nodes {
		a.SuperNodes = append(a.SuperNodes, apitype.ChainSuperNode(n))
	}
	localapi.WriteJSON(w, http.StatusOK, a)
}

func (s *Service) handleWallet(w http.ResponseWriter, r *http.Request) {
	k := s.key(w)
	if k == nil {
		return
	}
	c := s.client(w)
	if c == nil {
		return
	}
	addr := tx.AddressOf(k.Public().(ed25519.PublicKey))
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	acc, ok, h, err := c.Account(ctx, addr)
	if err != nil {
		chainError(w, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, apitype.WalletAnswer{Address: addr.String(), Balance: acc.Balance, Nonce: acc.Nonce, Exists: ok, Height: h})
}

func (s *Service) handleHistory(w http.ResponseWriter, r *http.Request) {
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > light.MaxHistory {
			localapi.WriteError(w, http.StatusBadRequest, fmt.Errorf("history: limit %q: want 1 to %d", v, light.MaxHistory))
			return
		}
		limit = n
	}
	k := s.key(w)
	if k == nil {
		return
	}
	c := s.client(w)
	if c == nil {
		return
	}
	addr := tx.AddressOf(k.Public().(ed25519.PublicKey))
	ctx, cancel := context.WithTimeout(r.Context(), 120*time.Second)
	defer cancel()
	blocks := r.URL.Query().Get("blocks") == "1"
	items, total, h, err := c.History(ctx, addr, light.HistoryOptions{Limit: limit, Blocks: blocks})
	if err != nil {
		chainError(w, err)
		return
	}
	a := apitype.WalletHistoryAnswer{Address: addr.String(), Total: total, Height: h, Items: []apitype.WalletHistoryItem{}}
	for _, it := range items {
		a.Items = append(a.Items, apitype.WalletHistoryItem(it))
	}
	localapi.WriteJSON(w, http.StatusOK, a)
}

func (s *Service) handleSend(w http.ResponseWriter, r *http.Request) {
	var req apitype.WalletSendRequest
	if err := localapi.ReadJSON(r, 4<<10, &req); err != nil {
		localapi.WriteError(w, http.StatusBadRequest, err)
		return
	}
	to, err := tx.ParseAddress(req.To)
	if err != nil || req.Amount == 0 {
		localapi.WriteError(w, http.StatusBadRequest, fmt.Errorf("send: want a recipient address (40 hex digits) and an amount above 0 (%v)", err))
		return
	}
	k := s.key(w)
	if k == nil {
		return
	}
	c := s.client(w)
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	sent, err := c.SendNonce(ctx, k, to, req.Amount, max(req.Fee, 1), req.Nonce)
	if err != nil {
		var ce *light.CheckError
		var fe *light.TxFailedError
		code := http.StatusBadGateway
		switch {
		case errors.Is(err, light.ErrNonceUsed):
			code = http.StatusConflict
		case errors.As(err, &ce) || errors.As(err, &fe) || errors.Is(err, light.ErrInsufficientFunds):
			code = http.StatusUnprocessableEntity
		}
		localapi.WriteError(w, code, err)
		return
	}
	localapi.WriteJSON(w, http.StatusOK, apitype.WalletSendAnswer{Hash: hex.EncodeToString(sent.Hash), Height: sent.Height, Nonce: sent.Nonce})
}
