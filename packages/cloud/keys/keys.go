// Package keys holds the owner's key material: a 256-bit secret written
// down once as a recovery phrase, and the keys derived from it that wrap
// file keys, encrypt the index backup and sign the backup's root record.
//
// The phrase is 17 five-letter "proquint" words (consonant-vowel-consonant-
// vowel-consonant, 16 bits each; see https://arxiv.org/html/0901.4016): 16
// words carry the secret and the 17th is a checksum (the first 16 bits of
// SHA-256 of the secret), so a mistyped word is caught before anything is
// derived from it. The alphabet is built in; there is no word list to ship.
package keys

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// SecretSize is the size of the owner's secret.
const SecretSize = 32

// Words is the number of words in a recovery phrase.
const Words = SecretSize/2 + 1

const (
	consonants = "bdfghjklmnprstvz"
	vowels     = "aiou"
)

// ErrPhrase is wrapped by every error parsing a phrase.
var ErrPhrase = errors.New("keys: bad recovery phrase")

// ErrChecksum is returned for a phrase whose words are valid but whose
// checksum word does not match (a word mistyped or out of order).
var ErrChecksum = fmt.Errorf("%w: the checksum does not match: a word is wrong or out of order", ErrPhrase)

// Owner is the owner's key material.
type Owner struct {
	secret [SecretSize]byte
	wrap   [32]byte
	index  [32]byte
	sign   ed25519.PrivateKey
}

// New returns fresh key material.
func New() *Owner {
	var s [SecretSize]byte
	rand.Read(s[:])
	return FromSecret(s)
}

// FromSecret derives the owner's keys from the secret.
func FromSecret(secret [SecretSize]byte) *Owner {
	o := &Owner{secret: secret}
	derive := func(info string, n int) []byte {
		k, err := hkdf.Key(sha256.New, secret[:], []byte("oepc-cloud-v1"), info, n)
		if err != nil {
			panic(err) // only for impossible lengths
		}
		return k
	}
	copy(o.wrap[:], derive("file-key-wrap", 32))
	copy(o.index[:], derive("index-backup", 32))
	o.sign = ed25519.NewKeyFromSeed(derive("index-root-sign", ed25519.SeedSize))
	return o
}

// Secret returns the raw secret (to persist it on the box).
func (o *Owner) Secret() [SecretSize]byte { return o.secret }

// Phrase returns the recovery phrase for the secret.
func (o *Owner) Phrase() string { return EncodePhrase(o.secret) }

// IndexKey is the key the encrypted index backup is sealed with.
func (o *Owner) IndexKey() []byte { return o.index[:] }

// SigningKey signs the index backup's root record; its public half is
// the name under which friends keep that record.
func (o *Owner) SigningKey() ed25519.PrivateKey { return o.sign }

// PublicKey is the public half of SigningKey.
func (o *Owner) PublicKey() ed25519.PublicKey { return o.sign.Public().(ed25519.PublicKey) }

// Wrap encrypts a file key for storage in a manifest, bound to ctx (the
// file ID), so a wrapped key cannot be moved to another file's manifest.
func (o *Owner) Wrap(fileKey, ctx []byte) []byte { return Seal(o.wrap[:], fileKey, ctx) }

// Unwrap reverses Wrap.
func (o *Owner) Unwrap(wrapped, ctx []byte) ([]byte, error) {
	k, err := Open(o.wrap[:], wrapped, ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: file key does not unwrap with this owner's key")
	}
	return k, nil
}

// Seal encrypts msg with key (XChaCha20-Poly1305, random nonce prepended),
// authenticating ad.
func Seal(key, msg, ad []byte) []byte {
	a, err := chacha20poly1305.NewX(key)
	if err != nil {
		panic(err) // keys here are always 32 bytes
	}
	out := make([]byte, a.NonceSize(), a.NonceSize()+len(msg)+a.Overhead())
	rand.Read(out)
	return a.Seal(out, out, msg, ad)
}

// Open reverses Seal.
func Open(key, box, ad []byte) ([]byte, error) {
	a, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	if len(box) < a.NonceSize()+a.Overhead() {
		return nil, errors.New("keys: sealed box too short")
	}
	return a.Open(nil, box[:a.NonceSize()], box[a.NonceSize():], ad)
}

func checksum(secret [SecretSize]byte) uint16 {
	h := sha256.Sum256(secret[:])
	return binary.BigEndian.Uint16(h[:2])
}

func word(v uint16) string {
	return string([]byte{
		consonants[v>>12&15], vowels[v>>10&3], consonants[v>>6&15], vowels[v>>4&3], consonants[v&15],
	})
}

// EncodePhrase writes the secret as a recovery phrase.
func EncodePhrase(secret [SecretSize]byte) string {
	w := make([]string, 0, Words)
	for i := 0; i < SecretSize; i += 2 {
		w = append(w, word(binary.BigEndian.Uint16(secret[i:])))
	}
	w = append(w, word(checksum(secret)))
	return strings.Join(w, " ")
}

func parseWord(s string) (uint16, bool) {
	if len(s) != 5 {
		return 0, false
	}
	var v uint16
	for i := range 5 {
		set := consonants
		if i%2 == 1 {
			set = vowels
		}
		j := strings.IndexByte(set, s[i])
		if j < 0 {
			return 0, false
		}
		if i%2 == 1 {
			v = v<<2 | uint16(j)
		} else {
			v = v<<4 | uint16(j)
		}
	}
	return v, true
}

// ParsePhrase reads a recovery phrase. Case, spaces, commas and hyphens
// between words do not matter.
func ParsePhrase(p string) ([SecretSize]byte, error) {
	var secret [SecretSize]byte
	f := strings.FieldsFunc(strings.ToLower(p), func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == ',' || r == '-'
	})
	if len(f) != Words {
		return secret, fmt.Errorf("%w: it has %d words, got %d", ErrPhrase, Words, len(f))
	}
	var vals [Words]uint16
	for i, w := range f {
		v, ok := parseWord(w)
		if !ok {
			return secret, fmt.Errorf("%w: word %d (%.12q) is not a recovery word (five letters: consonant, vowel, consonant, vowel, consonant)", ErrPhrase, i+1, w)
		}
		vals[i] = v
	}
	for i := 0; i < SecretSize/2; i++ {
		binary.BigEndian.PutUint16(secret[2*i:], vals[i])
	}
	if checksum(secret) != vals[Words-1] {
		return [SecretSize]byte{}, ErrChecksum
	}
	return secret, nil
}
