package webui

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"

	"oepc.dev/oepcos/packages/atomicfile"
)

// Role is what a session may do. Owner includes everything a member may.
type Role int

const (
	// RoleMember is a household member: only the pages meant for the
	// whole house (the home issue adds them).
	RoleMember Role = 1
	// RoleOwner manages the box: files, friends, network, system.
	RoleOwner Role = 2
)

func (r Role) String() string {
	switch r {
	case RoleOwner:
		return "owner"
	case RoleMember:
		return "household member"
	}
	return "none"
}

// Allows reports whether a session of role r may use something that needs
// role need.
func (r Role) Allows(need Role) bool { return need != 0 && r >= need }

// Password hashing: argon2id with OWASP's smallest recommended cost (19
// MiB, 2 passes, 1 lane): a box keeps oepcd under a 100 MiB soft limit, and
// hashes run one at a time (hashSem), so a burst of sign-ins cannot take
// more than one hash's memory.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	// MinPassword is the shortest password accepted.
	MinPassword = 8
	// MaxPassword bounds what is hashed.
	MaxPassword = 256
)

var hashSem = make(chan struct{}, 1)

// HashPassword returns the PHC-style argon2id string of pw with a random
// salt.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	h := argonHash(pw, salt, argonTime, argonMemory, argonThreads)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(h)), nil
}

func argonHash(pw string, salt []byte, t, m uint32, p uint8) []byte {
	hashSem <- struct{}{}
	defer func() { <-hashSem }()
	return argon2.IDKey([]byte(pw), salt, t, m, p, argonKeyLen)
}

// CheckPassword reports whether pw matches the hash made by HashPassword.
// A malformed hash is an error (and never a match).
func CheckPassword(hash, pw string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("webui: stored password hash is not argon2id")
	}
	var v int
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, errors.New("webui: stored password hash has an unknown version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<20 || t == 0 || t > 16 || p == 0 {
		return false, errors.New("webui: stored password hash has bad parameters")
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) != argonKeyLen {
		return false, errors.New("webui: stored password hash is damaged")
	}
	return subtle.ConstantTimeCompare(argonHash(pw, salt, t, m, p), want) == 1, nil
}

// Session is one signed-in browser. The box keeps only the SHA-256 of the
// cookie's token.
type Session struct {
	ID       string    `json:"id"`   // public, for the Sessions list
	Hash     string    `json:"hash"` // hex SHA-256 of the token
	Role     Role      `json:"role"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
	Client   string    `json:"client"` // address it signed in from
	Agent    string    `json:"agent"`  // its User-Agent, cut short
	// Phone: a phone paired as a household member (phones.go), a
	// long-lived device session (PhoneTTL) that a new password keeps.
	Phone bool `json:"phone,omitempty"`
	// Name is what the owner calls it ("Anna's phone").
	Name string `json:"name,omitempty"`
}

// PhoneTTL is how long an unused paired phone stays paired.
const PhoneTTL = 365 * 24 * time.Hour

func (s *Session) ttl() time.Duration {
	if s.Phone {
		return PhoneTTL
	}
	return SessionTTL
}

// SessionTTL is how long an unused session stays valid.
const SessionTTL = 30 * 24 * time.Hour

// maxSessions bounds the list; the least recently used goes first.
const maxSessions = 64

// state is what auth.json holds.
type state struct {
	Password string     `json:"password,omitempty"` // argon2id hash
	Sessions []*Session `json:"sessions"`
	// ResetUntil: a password reset was asked for on the box itself; until
	// then the fresh pairing code sets a new password.
	ResetUntil time.Time `json:"reset_until,omitzero"`
}

// Auth holds the password hash and the sessions, in DIR/auth.json,
// written atomically on every change.
type Auth struct {
	path string
	now  func() time.Time

	mu sync.Mutex
	st state
}

// OpenAuth reads (or starts) the sign-in state in dir.
func OpenAuth(dir string, now func() time.Time) (*Auth, error) {
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	a := &Auth{path: filepath.Join(dir, "auth.json"), now: now}
	b, err := os.ReadFile(a.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(b, &a.st); err != nil {
			return nil, fmt.Errorf("webui: %s is damaged (%v); remove it to set a new password with the pairing code", a.path, err)
		}
	}
	return a, nil
}

func (a *Auth) saveLocked() error {
	b, err := json.MarshalIndent(a.st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(a.path, b, 0o600)
}

// HasPassword reports whether the owner has set a password.
func (a *Auth) HasPassword() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st.Password != ""
}

// SetupOpen reports whether the pairing code may set the password now:
// before the first password, and during a reset asked for on the box.
func (a *Auth) SetupOpen() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st.Password == "" || a.now().Before(a.st.ResetUntil)
}

// StartReset opens a password reset until the time given.
func (a *Auth) StartReset(until time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.st.ResetUntil = until
	return a.saveLocked()
}

// SetPassword stores the hash of pw, ends a reset and signs out every
// browser session (a new password is a fresh start); paired phones stay
// paired (the owner unpairs them on the Home page).
func (a *Auth) SetPassword(pw string) error {
	if err := checkNewPassword(pw); err != nil {
		return err
	}
	h, err := HashPassword(pw)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var phones []*Session
	for _, s := range a.st.Sessions {
		if s.Phone {
			phones = append(phones, s)
		}
	}
	a.st.Password, a.st.ResetUntil, a.st.Sessions = h, time.Time{}, phones
	return a.saveLocked()
}

func checkNewPassword(pw string) error {
	switch {
	case len(pw) < MinPassword:
		return fmt.Errorf("the password must have at least %d characters", MinPassword)
	case len(pw) > MaxPassword:
		return fmt.Errorf("the password must have at most %d characters", MaxPassword)
	}
	return nil
}

// ErrWrongPassword is a sign-in with the wrong password.
var ErrWrongPassword = errors.New("wrong password")

// CheckPassword compares pw with the owner's password.
func (a *Auth) CheckPassword(pw string) error {
	a.mu.Lock()
	h := a.st.Password
	a.mu.Unlock()
	if h == "" {
		return errors.New("no password is set yet: sign in with the pairing code first")
	}
	if len(pw) > MaxPassword {
		return ErrWrongPassword
	}
	ok, err := CheckPassword(h, pw)
	if err != nil {
		return err
	}
	if !ok {
		return ErrWrongPassword
	}
	return nil
}

// NewSession makes a session of role and returns its secret token (for
// the cookie) and the session.
func (a *Auth) NewSession(role Role, client, agent string) (string, *Session, error) {
	return a.newSession(role, client, agent, false, "")
}

// NewPhoneSession makes the long-lived session of a phone paired as a
// household member, named name.
func (a *Auth) NewPhoneSession(name, client, agent string) (string, *Session, error) {
	return a.newSession(RoleMember, client, agent, true, name)
}

func (a *Auth) newSession(role Role, client, agent string, phone bool, name string) (string, *Session, error) {
	tok := make([]byte, 32)
	id := make([]byte, 8)
	if _, err := rand.Read(tok); err != nil {
		return "", nil, err
	}
	if _, err := rand.Read(id); err != nil {
		return "", nil, err
	}
	token := base64.RawURLEncoding.EncodeToString(tok)
	if len(agent) > 120 {
		agent = agent[:120]
	}
	now := a.now()
	s := &Session{ID: hex.EncodeToString(id), Hash: tokenHash(token), Role: role, Created: now, LastSeen: now, Client: client, Agent: agent,
		Phone: phone, Name: name}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pruneLocked()
	if len(a.st.Sessions) >= maxSessions {
		sort.Slice(a.st.Sessions, func(i, j int) bool { return a.st.Sessions[i].LastSeen.After(a.st.Sessions[j].LastSeen) })
		a.st.Sessions = a.st.Sessions[:maxSessions-1]
	}
	a.st.Sessions = append(a.st.Sessions, s)
	if err := a.saveLocked(); err != nil {
		a.st.Sessions = a.st.Sessions[:len(a.st.Sessions)-1]
		return "", nil, err
	}
	cp := *s
	return token, &cp, nil
}

func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

func (a *Auth) pruneLocked() {
	now := a.now()
	keep := a.st.Sessions[:0]
	for _, s := range a.st.Sessions {
		if now.Sub(s.LastSeen) < s.ttl() {
			keep = append(keep, s)
		}
	}
	a.st.Sessions = keep
}

// Lookup returns the session of a cookie token, or nil. Its LastSeen is
// updated in memory (saved with the next change).
func (a *Auth) Lookup(token string) *Session {
	if token == "" || len(token) > 100 {
		return nil
	}
	h := tokenHash(token)
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	for _, s := range a.st.Sessions {
		if subtle.ConstantTimeCompare([]byte(s.Hash), []byte(h)) == 1 {
			if now.Sub(s.LastSeen) >= s.ttl() {
				return nil
			}
			s.LastSeen = now
			cp := *s
			return &cp
		}
	}
	return nil
}

// Sessions lists the sessions, most recently used first.
func (a *Auth) Sessions() []Session {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pruneLocked()
	out := make([]Session, 0, len(a.st.Sessions))
	for _, s := range a.st.Sessions {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LastSeen.After(out[j].LastSeen) })
	return out
}

// ErrNoSession is a sign-out of a session that does not exist.
var ErrNoSession = errors.New("no such session (it may have been signed out already)")

// EndSession signs out the session with the given public ID.
func (a *Auth) EndSession(id string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, s := range a.st.Sessions {
		if s.ID == id {
			a.st.Sessions = append(a.st.Sessions[:i], a.st.Sessions[i+1:]...)
			if err := a.saveLocked(); err != nil {
				return err
			}
			return nil
		}
	}
	return ErrNoSession
}

// RenameSession names the session with the given public ID.
func (a *Auth) RenameSession(id, name string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.st.Sessions {
		if s.ID == id {
			old := s.Name
			s.Name = name
			if err := a.saveLocked(); err != nil {
				s.Name = old
				return err
			}
			return nil
		}
	}
	return ErrNoSession
}
