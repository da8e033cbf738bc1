package keys

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestPhraseRoundTrip(t *testing.T) {
	for range 50 {
		o := New()
		p := o.Phrase()
		if n := len(strings.Fields(p)); n != Words {
			t.Fatalf("%d words", n)
		}
		s, err := ParsePhrase(strings.ToUpper(strings.ReplaceAll(p, " ", " - ")))
		if err != nil {
			t.Fatal(err)
		}
		if s != o.Secret() {
			t.Fatal("round trip differs")
		}
		o2 := FromSecret(s)
		if !bytes.Equal(o2.IndexKey(), o.IndexKey()) || !o2.PublicKey().Equal(o.PublicKey()) {
			t.Fatal("derived keys differ")
		}
	}
}

func TestPhraseChecksum(t *testing.T) {
	p := strings.Fields(New().Phrase())
	// Change one letter of the first word to another consonant.
	w := []byte(p[0])
	if w[0] == 'b' {
		w[0] = 'd'
	} else {
		w[0] = 'b'
	}
	p[0] = string(w)
	if _, err := ParsePhrase(strings.Join(p, " ")); !errors.Is(err, ErrChecksum) {
		t.Fatalf("got %v, want checksum error", err)
	}
	p = strings.Fields(New().Phrase())
	p[3], p[4] = p[4], p[3]
	if p[3] != p[4] {
		if _, err := ParsePhrase(strings.Join(p, " ")); !errors.Is(err, ErrChecksum) {
			t.Fatalf("swapped words: %v", err)
		}
	}
	for _, bad := range []string{"", "babab", strings.Repeat("babab ", 16) + "xxxxx", strings.Repeat("babab ", 18)} {
		if _, err := ParsePhrase(bad); err == nil {
			t.Fatalf("%q parsed", bad)
		}
	}
}

func TestWrap(t *testing.T) {
	o := New()
	fk := []byte("0123456789abcdef0123456789abcdef")
	w := o.Wrap(fk, []byte("file-1"))
	got, err := o.Unwrap(w, []byte("file-1"))
	if err != nil || !bytes.Equal(got, fk) {
		t.Fatal(err)
	}
	if _, err := o.Unwrap(w, []byte("file-2")); err == nil {
		t.Fatal("unwrapped under another file")
	}
	if _, err := New().Unwrap(w, []byte("file-1")); err == nil {
		t.Fatal("unwrapped with another owner")
	}
}

func FuzzParsePhrase(f *testing.F) {
	f.Add(New().Phrase())
	f.Add("babab dabab")
	f.Add(strings.Repeat("zuzuz ", 17))
	f.Fuzz(func(t *testing.T, p string) {
		s, err := ParsePhrase(p)
		if err != nil {
			return
		}
		// Whatever parses must re-encode to a phrase that parses to the
		// same secret.
		s2, err := ParsePhrase(EncodePhrase(s))
		if err != nil || s2 != s {
			t.Fatalf("re-encode: %v", err)
		}
	})
}

// TestWriteFuzzCorpus writes a valid phrase into the seed corpus when
// OEPC_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("OEPC_WRITE_CORPUS") != "1" {
		t.Skip("set OEPC_WRITE_CORPUS=1 to regenerate")
	}
	p := New().Phrase()
	os.WriteFile("testdata/fuzz/FuzzParsePhrase/valid", []byte(fmt.Sprintf("go test fuzz v1\nstring(%q)\n", p)), 0o644)
	os.WriteFile("testdata/fuzz/FuzzParsePhrase/upper-hyphens", []byte(fmt.Sprintf("go test fuzz v1\nstring(%q)\n", strings.ToUpper(strings.ReplaceAll(p, " ", "-")))), 0o644)
}
