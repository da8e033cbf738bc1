package index

import (
	"strings"
	"testing"

	"oepc.dev/oepcos/packages/store"
)

// Audit counts a sound index and names each kind of damage it finds.
func TestAudit(t *testing.T) {
	kv := openKV(t)
	ix := New(Config{KV: kv})
	a := put(t, ix, "/docs/a")
	b := put(t, ix, "/docs/b")
	put(t, ix, "/c")
	if under, mans, err := Audit(kv, "/docs"); err != nil || under != 2 || mans != 3 {
		t.Fatalf("sound index: %d under /docs, %d manifests, %v", under, mans, err)
	}
	for _, c := range []struct {
		name, want string
		damage     func()
	}{
		{"entry at the wrong key", "says path", func() { putJSONRaw(t, kv, metaKey("/elsewhere"), a) }},
		{"one file, two entries", "indexed twice", func() {
			kv.Delete(metaKey("/elsewhere"))
			twin := *b
			twin.Path = "/docs/b2"
			putJSONRaw(t, kv, metaKey(twin.Path), &twin)
		}},
		{"no manifest", "no manifest", func() { kv.Delete(metaKey("/docs/b2")); kv.Delete(manKey(a.File)) }},
		{"garbage entry", "entry cloud/meta/junk", func() { kv.Delete(metaKey("/docs/a")); kv.Put(metaKey("/junk"), []byte("{")) }},
	} {
		c.damage()
		if _, _, err := Audit(kv, "/"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: Audit says %v, want %q", c.name, err, c.want)
		}
	}
}

func putJSONRaw(t *testing.T, kv store.KV, key []byte, v any) {
	t.Helper()
	if err := store.PutJSON(kv, key, v); err != nil {
		t.Fatal(err)
	}
}
