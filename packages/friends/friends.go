// Package friends is the box's friend book (seed 000: two boxes "make
// friends" before one delivers files to the other). A friendship is made by
// a one-time invite and is mutual: both boxes sign the same statement and
// each keeps both signatures. Knowledge of the invite code is proved both
// ways (HMACs under a secret derived from the code, over both peer IDs and
// the time), so a peer that merely answers for a short code in the DHT
// cannot become a friend; an invite makes one friend, however many accept it
// at once. Strangers get a short deadline for their one message, a few slots
// per address, and a bounded count of wrong codes per peer and per address.
// Protocols that deliver or store data ask the book whether a peer is
// allowed before reading anything from it.
package friends

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	mh "github.com/multiformats/go-multihash"

	"oepc.dev/oepcos/packages/p2p"
	"oepc.dev/oepcos/packages/store"
	"oepc.dev/oepcos/packages/wire"
)

// Protocol is the friendship protocol. 2.0.0: the inviter proves the code
// too, so a 1.0.0 box and a 2.0.0 box cannot make friends and should not try.
const Protocol = "/oe/friends/2.0.0"

// DefaultInviteTTL is how long an invite stays valid.
const DefaultInviteTTL = 15 * time.Minute

// MaxInviteTTL bounds how long an invite may be made to live.
const MaxInviteTTL = 7 * 24 * time.Hour

const (
	maxMsg        = 8 << 10
	streamTimeout = 15 * time.Second
	maxFailures   = 5 // failed accepts per peer per window before refusing
	failureWindow = 10 * time.Minute
	maxNameLen    = 64
	// acceptTimeout bounds one accept, retries of a busy inviter included.
	acceptTimeout = 30 * time.Second
)

var (
	kvFriend = []byte("friends/peer/")
	kvInvite = []byte("friends/invite/")
)

// Errors a caller can test for.
var (
	ErrNotFound      = errors.New("friends: no such friend")
	ErrInviteExpired = errors.New("friends: invite expired")
	ErrInviteUsed    = errors.New("friends: invite already used or unknown")
	ErrBadCode       = errors.New("friends: invite code is wrong")
	ErrRefused       = errors.New("friends: refused")
	ErrSelf          = errors.New("friends: that is this box's own invite")
	// ErrNotInviter: the peer that answered did not prove it knows the
	// code, so it did not make the invite (it may be a DHT node that
	// answers for codes it saw).
	ErrNotInviter = errors.New("friends: the invite's answer did not prove knowledge of the code")
	// ErrBusy: the inviting box had no free slot for the request.
	ErrBusy = errors.New("friends: the inviting box is busy")
)

// Friend is one friendship as this box keeps it.
type Friend struct {
	ID        peer.ID   `json:"id"`
	Name      string    `json:"name"`       // what this box calls the friend
	TheirName string    `json:"their_name"` // the name the friend's box gave itself
	Since     time.Time `json:"since"`
	Blocked   bool      `json:"blocked"`
	Addrs     []string  `json:"addrs,omitempty"`
	// Both boxes' signatures over Statement(self, friend, Since).
	SigSelf   []byte `json:"sig_self"`
	SigFriend []byte `json:"sig_friend"`
}

// Invite is what `oepc friends invite` prints.
type Invite struct {
	Code    string    `json:"code"` // short, for typing: resolved through the DHT
	URI     string    `json:"uri"`  // carries peer ID and addresses: works without the DHT
	Expires time.Time `json:"expires"`
}

// Rendezvous finds an invite's box from its short code: the inviting box
// provides the code's rendezvous key in the DHT.
type Rendezvous interface {
	Provide(ctx context.Context, key cid.Cid) error
	FindProviders(ctx context.Context, key cid.Cid) ([]peer.AddrInfo, error)
}

// Options configure a Book.
type Options struct {
	Name       string // this box's own name, told to new friends
	Rendezvous Rendezvous
	Now        func() time.Time
	Logger     *slog.Logger
}

// Book is the friend book of one box.
type Book struct {
	h    host.Host
	kv   store.KV
	opts Options
	log  *slog.Logger

	mu          sync.Mutex
	friends     map[peer.ID]Friend
	failPeer    *failureCounter // wrong accepts per peer ID
	failAddr    *failureCounter // and per address: peer IDs cost nothing
	strangersAt map[string]int  // open streams from strangers per address
	strangers   chan struct{}   // slots for strangers' streams
	friendSlots chan struct{}   // slots for friends' streams, which strangers cannot take

	// inviteMu makes an invite's read, check and mark-used one step: two
	// correct accepts at once make one friend.
	inviteMu sync.Mutex
}

type storedInvite struct {
	Secret  []byte    `json:"secret"`
	Expires time.Time `json:"expires"`
	Used    bool      `json:"used"`
}

// New loads the book from kv and serves the friendship protocol on h.
func New(h host.Host, kv store.KV, opts Options) (*Book, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Book{h: h, kv: kv, opts: opts, log: opts.Logger,
		friends:     map[peer.ID]Friend{},
		failPeer:    newFailureCounter(maxFailures, failureWindow),
		failAddr:    newFailureCounter(maxAddrFailures, failureWindow),
		strangersAt: map[string]int{},
		strangers:   make(chan struct{}, maxStrangers),
		friendSlots: make(chan struct{}, maxFriendStreams),
	}
	err := kv.Scan(kvFriend, func(k, v []byte) error {
		var f Friend
		if err := store.GetJSONBytes(v, &f); err != nil {
			return fmt.Errorf("friends: corrupt record %q: %w", k, err)
		}
		b.friends[f.ID] = f
		if len(f.Addrs) > 0 {
			if infos, err := addrInfo(f.ID, f.Addrs); err == nil {
				h.Peerstore().AddAddrs(f.ID, infos.Addrs, time.Hour)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	h.SetStreamHandler(Protocol, b.handle)
	return b, nil
}

// Close stops serving the protocol.
func (b *Book) Close() { b.h.RemoveStreamHandler(Protocol) }

// Statement is the text both boxes sign to make a friendship.
func Statement(a, c peer.ID, since time.Time) []byte {
	lo, hi := a.String(), c.String()
	if hi < lo {
		lo, hi = hi, lo
	}
	return fmt.Appendf(nil, "oe-friendship-v1\n%s\n%s\n%d\n", lo, hi, since.Unix())
}

// Verify checks both signatures of f as kept by the box self.
func Verify(self peer.ID, f Friend) error {
	st := Statement(self, f.ID, f.Since)
	for _, c := range []struct {
		id  peer.ID
		sig []byte
	}{{self, f.SigSelf}, {f.ID, f.SigFriend}} {
		pk, err := c.id.ExtractPublicKey()
		if err != nil {
			return fmt.Errorf("friends: key of %s: %w", c.id, err)
		}
		ok, err := pk.Verify(st, c.sig)
		if err != nil || !ok {
			return fmt.Errorf("friends: bad signature by %s", c.id)
		}
	}
	return nil
}

// List returns every friend, sorted by name.
func (b *Book) List() []Friend {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Friend, 0, len(b.friends))
	for _, f := range b.friends {
		out = append(out, f)
	}
	slices.SortFunc(out, func(x, y Friend) int { return strings.Compare(x.Name+string(x.ID), y.Name+string(y.ID)) })
	return out
}

// Get returns one friend.
func (b *Book) Get(id peer.ID) (Friend, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.friends[id]
	return f, ok
}

// Lookup finds a friend by peer ID or by name.
func (b *Book) Lookup(s string) (Friend, error) {
	if id, err := peer.Decode(s); err == nil {
		if f, ok := b.Get(id); ok {
			return f, nil
		}
	}
	var found []Friend
	for _, f := range b.List() {
		if f.Name == s {
			found = append(found, f)
		}
	}
	switch len(found) {
	case 0:
		return Friend{}, fmt.Errorf("%w: %q", ErrNotFound, s)
	case 1:
		return found[0], nil
	}
	return Friend{}, fmt.Errorf("friends: %d friends are called %q; use the peer ID", len(found), s)
}

// IsFriend reports whether p is a friend (blocked or not).
func (b *Book) IsFriend(p peer.ID) bool {
	_, ok := b.Get(p)
	return ok
}

// Allowed reports whether p may use the box's data protocols: a friend
// that is not blocked.
func (b *Book) Allowed(p peer.ID) bool {
	f, ok := b.Get(p)
	return ok && !f.Blocked
}

// Peers returns the IDs of the friends that are not blocked.
func (b *Book) Peers() []peer.ID {
	var out []peer.ID
	for _, f := range b.List() {
		if !f.Blocked {
			out = append(out, f.ID)
		}
	}
	return out
}

func (b *Book) save(f Friend) error {
	if err := store.PutJSON(b.kv, append(slices.Clone(kvFriend), f.ID...), f); err != nil {
		return err
	}
	b.mu.Lock()
	b.friends[f.ID] = f
	b.mu.Unlock()
	return nil
}

// Rename changes what this box calls a friend.
func (b *Book) Rename(id peer.ID, name string) error {
	name, err := cleanName(name)
	if err != nil {
		return err
	}
	f, ok := b.Get(id)
	if !ok {
		return ErrNotFound
	}
	f.Name = name
	return b.save(f)
}

// SetBlocked blocks or unblocks a friend: a blocked friend is refused by
// every data protocol but stays in the book.
func (b *Book) SetBlocked(id peer.ID, blocked bool) error {
	f, ok := b.Get(id)
	if !ok {
		return ErrNotFound
	}
	f.Blocked = blocked
	return b.save(f)
}

// Remove ends a friendship here and tells the other box, if reachable.
func (b *Book) Remove(ctx context.Context, id peer.ID) error {
	if _, ok := b.Get(id); !ok {
		return ErrNotFound
	}
	if err := b.kv.Delete(append(slices.Clone(kvFriend), id...)); err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.friends, id)
	b.mu.Unlock()
	b.log.Info("friend removed", "peer", id)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var resp response
	if err := b.call(ctx, peer.AddrInfo{ID: id}, request{Type: "unfriend"}, &resp); err != nil {
		b.log.Info("could not tell former friend", "peer", id, "err", err)
	}
	return nil
}

// UpdateAddrs records where a friend was last seen.
func (b *Book) UpdateAddrs(id peer.ID, addrs []ma.Multiaddr) {
	f, ok := b.Get(id)
	if !ok || len(addrs) == 0 {
		return
	}
	var ss []string
	for _, a := range addrs {
		ss = append(ss, a.String())
	}
	slices.Sort(ss)
	if slices.Equal(ss, f.Addrs) {
		return
	}
	f.Addrs = ss
	if err := b.save(f); err != nil {
		b.log.Warn("could not record friend addresses", "peer", id, "err", err)
	}
}

// codeAlphabet is Crockford's base32: no I, L, O or U to misread.
var codeEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

func normalizeCode(s string) string {
	s = strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(s))
	return strings.NewReplacer("O", "0", "I", "1", "L", "1").Replace(s)
}

func derive(label, code string) []byte {
	sum := sha256.Sum256([]byte("oe/invite/v1/" + label + "/" + normalizeCode(code)))
	return sum[:]
}

// RendezvousKey is the DHT key under which an invite's box is found.
func RendezvousKey(code string) cid.Cid {
	h, _ := mh.Sum([]byte("oe/invite/v1/rendezvous/"+normalizeCode(code)), mh.SHA2_256, -1)
	return cid.NewCidV1(cid.Raw, h)
}

func inviteKey(code string) []byte {
	return append(slices.Clone(kvInvite), hex.EncodeToString(derive("id", code))...)
}

// proof is the acceptor's proof of the code, told to the inviter.
func proof(secret []byte, acceptor, inviter peer.ID, since int64) []byte {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "accept\n%s\n%s\n%d\n", acceptor, inviter, since)
	return m.Sum(nil)
}

// inviterProof is the inviter's answer: the other direction, under its own
// label so that an acceptor's proof can never be reflected back as one.
func inviterProof(secret []byte, inviter, acceptor peer.ID, since int64) []byte {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "invited\n%s\n%s\n%d\n", inviter, acceptor, since)
	return m.Sum(nil)
}

// Invite makes a one-time invite valid for ttl.
func (b *Book) Invite(ctx context.Context, ttl time.Duration) (Invite, error) {
	if ttl <= 0 {
		ttl = DefaultInviteTTL
	}
	if ttl > MaxInviteTTL {
		return Invite{}, fmt.Errorf("friends: an invite may live at most %s", MaxInviteTTL)
	}
	var raw [8]byte // 60 bits used: twelve base32 characters
	if _, err := rand.Read(raw[:]); err != nil {
		return Invite{}, err
	}
	c := codeEncoding.EncodeToString(raw[:])[:12]
	code := c[:4] + "-" + c[4:8] + "-" + c[8:]
	exp := b.opts.Now().Add(ttl).Truncate(time.Second)
	if err := store.PutJSON(b.kv, inviteKey(code), storedInvite{Secret: derive("secret", code), Expires: exp}); err != nil {
		return Invite{}, err
	}
	q := url.Values{}
	q.Set("code", code)
	q.Set("exp", strconv.FormatInt(exp.Unix(), 10))
	for _, a := range b.h.Addrs() {
		q.Add("addr", a.String())
	}
	inv := Invite{Code: code, URI: "oe://friend/" + b.h.ID().String() + "?" + q.Encode(), Expires: exp}
	if b.opts.Rendezvous != nil {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := b.opts.Rendezvous.Provide(pctx, RendezvousKey(code))
		for try := 1; err != nil && try < 3 && pctx.Err() == nil; try++ {
			time.Sleep(time.Duration(try) * 300 * time.Millisecond)
			err = b.opts.Rendezvous.Provide(pctx, RendezvousKey(code))
		}
		cancel()
		if err != nil {
			// The URI still works; only the short code needs the DHT.
			b.log.Warn("could not publish invite code in the DHT", "err", err)
		}
	}
	b.log.Info("invite created", "expires", exp)
	return inv, nil
}

// ParsedInvite is an invite as the accepting side reads it.
type ParsedInvite struct {
	Code    string
	Inviter peer.AddrInfo // ID empty when only a short code was given
	Expires time.Time     // zero when unknown
}

// ParseInvite reads a short code or an oe://friend URI.
func ParseInvite(s string) (ParsedInvite, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "oe://") {
		c := normalizeCode(s)
		if len(c) != 12 {
			return ParsedInvite{}, fmt.Errorf("%w: want 12 characters like ABCD-EFGH-JKMN", ErrBadCode)
		}
		if _, err := codeEncoding.DecodeString(c + "0000"); err != nil {
			return ParsedInvite{}, fmt.Errorf("%w: %q has characters that are not in invite codes", ErrBadCode, s)
		}
		return ParsedInvite{Code: c}, nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "oe" || u.Host != "friend" {
		return ParsedInvite{}, fmt.Errorf("%w: not an oe://friend/ URI", ErrBadCode)
	}
	id, err := peer.Decode(strings.TrimPrefix(u.Path, "/"))
	if err != nil {
		return ParsedInvite{}, fmt.Errorf("%w: bad peer ID: %v", ErrBadCode, err)
	}
	q := u.Query()
	p, err := ParseInvite(q.Get("code"))
	if err != nil {
		return ParsedInvite{}, err
	}
	ai, err := addrInfo(id, q["addr"])
	if err != nil {
		return ParsedInvite{}, err
	}
	p.Inviter = ai
	if e := q.Get("exp"); e != "" {
		sec, err := strconv.ParseInt(e, 10, 64)
		if err != nil {
			return ParsedInvite{}, fmt.Errorf("%w: bad expiry", ErrBadCode)
		}
		p.Expires = time.Unix(sec, 0)
	}
	return p, nil
}

func addrInfo(id peer.ID, addrs []string) (peer.AddrInfo, error) {
	ai := peer.AddrInfo{ID: id}
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return ai, fmt.Errorf("%w: bad address %q", ErrBadCode, s)
		}
		ai.Addrs = append(ai.Addrs, a)
	}
	return ai, nil
}

// Accept uses an invite (short code or URI) to make friends with its box.
// Whoever answers must prove it knows the code before anything is saved: of
// the DHT's providers of a short code (all asked at once), only the inviter
// can.
func (b *Book) Accept(ctx context.Context, invite string) (Friend, error) {
	p, err := ParseInvite(invite)
	if err != nil {
		return Friend{}, err
	}
	if !p.Expires.IsZero() && b.opts.Now().After(p.Expires) {
		return Friend{}, ErrInviteExpired
	}
	cands := []peer.AddrInfo{p.Inviter}
	if p.Inviter.ID == "" {
		if b.opts.Rendezvous == nil {
			return Friend{}, errors.New("friends: this box cannot look up short codes; use the invite URI")
		}
		// A code published a moment ago may not have reached the DHT
		// nodes this box asks first: look a few times.
		fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		for try := 0; try < 4; try++ {
			cands, err = b.opts.Rendezvous.FindProviders(fctx, RendezvousKey(p.Code))
			if len(cands) > 0 || fctx.Err() != nil {
				break
			}
			select {
			case <-fctx.Done():
			case <-time.After(time.Duration(try+1) * 500 * time.Millisecond):
			}
		}
		cancel()
		if err != nil || len(cands) == 0 {
			return Friend{}, fmt.Errorf("%w: no box on the network holds that code (%v)", ErrInviteUsed, err)
		}
	}
	return b.acceptFromAny(ctx, cands, p.Code)
}

// acceptFromAny asks every candidate at once: any DHT node can claim to
// provide a code, and one that stalls must not hold up the real inviter.
// Only the inviter can prove the code, so at most one answer verifies.
func (b *Book) acceptFromAny(ctx context.Context, cands []peer.AddrInfo, code string) (Friend, error) {
	ctx, cancel := context.WithTimeout(ctx, acceptTimeout)
	defer cancel()
	type result struct {
		f   Friend
		err error
	}
	results := make(chan result, len(cands))
	seen := map[peer.ID]bool{}
	n := 0
	for _, inviter := range cands {
		if seen[inviter.ID] {
			continue
		}
		seen[inviter.ID] = true
		n++
		if inviter.ID == b.h.ID() {
			results <- result{err: ErrSelf}
			continue
		}
		go func() {
			f, err := b.acceptFrom(ctx, inviter, code)
			results <- result{f, err}
		}()
	}
	var errs []error
	for range n {
		r := <-results
		if r.err == nil {
			return r.f, nil
		}
		errs = append(errs, r.err)
	}
	return Friend{}, mostTelling(errs)
}

// mostTelling picks the error that says most to the user: the inviter's
// own refusal, then a peer that was not the inviter, then any.
func mostTelling(errs []error) error {
	for _, want := range []error{ErrInviteUsed, ErrInviteExpired, ErrBadCode, ErrRefused, ErrBusy, ErrNotInviter, ErrSelf} {
		for _, err := range errs {
			if errors.Is(err, want) {
				return err
			}
		}
	}
	if len(errs) == 0 {
		return ErrInviteUsed
	}
	return errs[0]
}

func (b *Book) acceptFrom(ctx context.Context, inviter peer.AddrInfo, code string) (Friend, error) {
	since := b.opts.Now().Truncate(time.Second)
	sig, err := b.h.Peerstore().PrivKey(b.h.ID()).Sign(Statement(b.h.ID(), inviter.ID, since))
	if err != nil {
		return Friend{}, err
	}
	req := request{
		Type:  "accept",
		Key:   hex.EncodeToString(derive("id", code)),
		Proof: proof(derive("secret", code), b.h.ID(), inviter.ID, since.Unix()),
		Name:  b.opts.Name,
		Since: since.Unix(),
		Sig:   sig,
	}
	var resp response
	for try := 0; ; try++ {
		resp = response{}
		if err := b.call(ctx, inviter, req, &resp); err != nil {
			return Friend{}, err
		}
		if resp.Code != "busy" {
			break
		}
		// The inviter had no free slot (strangers hold them only for
		// firstMsgTimeout): try again while the accept has time.
		wait := min(time.Duration(100<<try)*time.Millisecond, 2*time.Second)
		select {
		case <-ctx.Done():
			return Friend{}, fmt.Errorf("%w: %s had no free slot until the accept gave up (%s)", ErrBusy, inviter.ID, resp.Error)
		case <-time.After(wait):
		}
	}
	f, err := checkAnswer(b.h.ID(), inviter.ID, code, since, sig, resp)
	if err != nil {
		if errors.Is(err, ErrNotInviter) {
			b.log.Warn("invite answer without proof of the code", "peer", inviter.ID)
		}
		return Friend{}, err
	}
	if old, ok := b.Get(f.ID); ok {
		f.Name, f.Blocked = old.Name, old.Blocked
	}
	f.Addrs = addrStrings(b.h.Peerstore().Addrs(f.ID))
	if err := b.save(f); err != nil {
		return Friend{}, err
	}
	b.log.Info("friendship made", "peer", f.ID, "name", f.Name, "as", "acceptor")
	return f, nil
}

// checkAnswer reads the inviter's answer to self's accept made at since
// with signature sig: the friend it makes, or why there is none. Nothing is
// saved before it has passed.
func checkAnswer(self, inviter peer.ID, code string, since time.Time, sig []byte, resp response) (Friend, error) {
	if resp.Error != "" {
		return Friend{}, remoteError(resp)
	}
	// Only the box that made the invite knows the code, and it proves so
	// over both peer IDs and the time.
	if !hmac.Equal(resp.Proof, inviterProof(derive("secret", code), inviter, self, since.Unix())) {
		return Friend{}, fmt.Errorf("%w: peer %s is not the inviter", ErrNotInviter, inviter)
	}
	f := Friend{ID: inviter, Since: since, SigSelf: sig, SigFriend: resp.Sig}
	f.TheirName, _ = cleanName(resp.Name)
	f.Name = f.TheirName
	if err := Verify(self, f); err != nil {
		return Friend{}, err
	}
	return f, nil
}

func addrStrings(as []ma.Multiaddr) []string {
	var ss []string
	for _, a := range as {
		ss = append(ss, a.String())
	}
	slices.Sort(ss)
	return ss
}

func remoteError(r response) error {
	base := ErrRefused
	switch r.Code {
	case "expired":
		base = ErrInviteExpired
	case "used":
		base = ErrInviteUsed
	case "bad-code":
		base = ErrBadCode
	case "busy":
		base = ErrBusy
	}
	return fmt.Errorf("%w (%s)", base, r.Error)
}

type request struct {
	Type  string `json:"type"` // "accept" or "unfriend"
	Key   string `json:"key,omitempty"`
	Proof []byte `json:"proof,omitempty"`
	Name  string `json:"name,omitempty"`
	Since int64  `json:"since,omitempty"`
	Sig   []byte `json:"sig,omitempty"`
}

type response struct {
	Error string `json:"error,omitempty"`
	Code  string `json:"code,omitempty"` // "expired", "used", "bad-code", "bad-request", "refused", "busy", "internal"
	Name  string `json:"name,omitempty"`
	Sig   []byte `json:"sig,omitempty"`
	Proof []byte `json:"proof,omitempty"` // inviterProof: the inviter knows the code
}

func (b *Book) call(ctx context.Context, to peer.AddrInfo, req request, resp *response) error {
	ctx, cancel := context.WithTimeout(ctx, streamTimeout)
	defer cancel()
	if len(to.Addrs) > 0 {
		b.h.Peerstore().AddAddrs(to.ID, to.Addrs, time.Hour)
	}
	s, err := b.h.NewStream(p2p.StreamContext(ctx), to.ID, Protocol)
	if err != nil {
		return fmt.Errorf("friends: cannot reach %s: %w", to.ID, err)
	}
	defer s.Close()
	dl, _ := ctx.Deadline()
	s.SetDeadline(dl)
	if err := wire.Write(s, req); err != nil {
		s.Reset()
		return err
	}
	if err := wire.Read(bufio.NewReader(s), maxMsg, resp); err != nil {
		s.Reset()
		return fmt.Errorf("friends: %s answered badly: %w", to.ID, err)
	}
	return nil
}

func (b *Book) handle(s network.Stream) {
	defer s.Close()
	from := s.Conn().RemotePeer()
	addr := addrKey(s.Conn().RemoteMultiaddr(), from)
	release, ok := b.admit(from, addr)
	if !ok {
		// Say so rather than reset: the acceptor waits and tries again.
		s.SetWriteDeadline(time.Now().Add(answerTimeout))
		wire.Write(s, response{Error: "the box is busy with other friend requests; try again shortly", Code: "busy"})
		return
	}
	defer release()
	// A real request is sent as the stream opens: a stranger that sends
	// nothing gives its slot back soon.
	s.SetReadDeadline(time.Now().Add(firstMsgTimeout))
	var req request
	err := wire.Read(bufio.NewReader(s), maxMsg, &req)
	s.SetDeadline(time.Now().Add(answerTimeout))
	if err != nil {
		b.log.Info("bad friends request", "peer", from, "addr", addr, "err", err)
		wire.Write(s, response{Error: "bad request: " + err.Error(), Code: "bad-request"})
		return
	}
	var resp response
	switch req.Type {
	case "accept":
		resp = b.handleAccept(from, addr, req)
	case "unfriend":
		if _, ok := b.Get(from); ok {
			if err := b.kv.Delete(append(slices.Clone(kvFriend), from...)); err != nil {
				resp = response{Error: "internal error", Code: "internal"}
				break
			}
			b.mu.Lock()
			delete(b.friends, from)
			b.mu.Unlock()
			b.log.Info("friend ended the friendship", "peer", from)
		}
	default:
		resp = response{Error: fmt.Sprintf("unknown request %q", req.Type), Code: "bad-request"}
	}
	wire.Write(s, resp)
}

// admit takes a slot for a stream from p at addr: friends have their own
// slots, strangers share maxStrangers with at most maxStrangersPerAddr from
// one address.
func (b *Book) admit(p peer.ID, addr string) (release func(), ok bool) {
	if b.IsFriend(p) {
		select {
		case b.friendSlots <- struct{}{}:
			return func() { <-b.friendSlots }, true
		default:
			return nil, false
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.strangersAt[addr] >= maxStrangersPerAddr {
		return nil, false
	}
	select {
	case b.strangers <- struct{}{}:
	default:
		return nil, false
	}
	b.strangersAt[addr]++
	return func() {
		<-b.strangers
		b.mu.Lock()
		if b.strangersAt[addr]--; b.strangersAt[addr] <= 0 {
			delete(b.strangersAt, addr)
		}
		b.mu.Unlock()
	}, true
}

// tooManyFailures reports whether p or addr has failed too often, first
// recording a failure of both when add is set.
func (b *Book) tooManyFailures(p peer.ID, addr string, add bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.opts.Now()
	if add {
		b.failPeer.add(string(p), now)
		b.failAddr.add(addr, now)
	}
	return b.failPeer.over(string(p), now) || b.failAddr.over(addr, now)
}

func (b *Book) handleAccept(from peer.ID, addr string, req request) response {
	if b.tooManyFailures(from, addr, false) {
		return response{Error: "too many failed attempts from this peer or its address; try later", Code: "refused"}
	}
	fail := func(code, msg string) response {
		b.tooManyFailures(from, addr, true)
		b.log.Info("friend request refused", "peer", from, "addr", addr, "reason", msg)
		return response{Error: msg, Code: code}
	}
	if len(req.Key) != 64 {
		return fail("bad-code", "malformed invite key")
	}
	key := append(slices.Clone(kvInvite), req.Key...)
	b.inviteMu.Lock()
	defer b.inviteMu.Unlock()
	var inv storedInvite
	if err := store.GetJSON(b.kv, key, &inv); err != nil {
		return fail("used", "no such invite")
	}
	if inv.Used {
		return fail("used", "invite already used")
	}
	now := b.opts.Now()
	if now.After(inv.Expires) {
		return fail("expired", "invite expired")
	}
	since := time.Unix(req.Since, 0)
	if d := now.Sub(since); d > 10*time.Minute || d < -10*time.Minute {
		return fail("bad-request", "clock skew too large between the boxes")
	}
	if !hmac.Equal(req.Proof, proof(inv.Secret, from, b.h.ID(), req.Since)) {
		return fail("bad-code", "wrong invite code")
	}
	f := Friend{ID: from, Since: since, SigFriend: req.Sig}
	f.TheirName, _ = cleanName(req.Name)
	f.Name = f.TheirName
	sig, err := b.h.Peerstore().PrivKey(b.h.ID()).Sign(Statement(b.h.ID(), from, since))
	if err != nil {
		return response{Error: "internal error", Code: "internal"}
	}
	f.SigSelf = sig
	if err := Verify(b.h.ID(), f); err != nil {
		return fail("bad-request", "bad signature")
	}
	if old, ok := b.Get(from); ok {
		f.Name, f.Blocked = old.Name, old.Blocked
	}
	f.Addrs = addrStrings(b.h.Peerstore().Addrs(from))
	// Mark the invite used and record the friend in one transaction: a
	// crash leaves either both or neither.
	inv.Used = true
	err = b.kv.Batch(func(bt *store.Batch) error {
		iv, err := store.MarshalJSON(inv)
		if err != nil {
			return err
		}
		fv, err := store.MarshalJSON(f)
		if err != nil {
			return err
		}
		bt.Put(key, iv)
		bt.Put(append(slices.Clone(kvFriend), from...), fv)
		return nil
	})
	if err != nil {
		return response{Error: "internal error", Code: "internal"}
	}
	b.mu.Lock()
	b.friends[from] = f
	b.mu.Unlock()
	b.log.Info("friendship made", "peer", from, "name", f.Name, "as", "inviter")
	return response{Name: b.opts.Name, Sig: sig, Proof: inviterProof(inv.Secret, b.h.ID(), from, req.Since)}
}

func cleanName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxNameLen {
		return "", fmt.Errorf("friends: name longer than %d bytes", maxNameLen)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "", errors.New("friends: name has control characters")
		}
	}
	return s, nil
}
