package index

import (
	"bytes"
	"testing"
)

// sampleManifest is a valid manifest of three segments at 4+2.
func sampleManifest(t testing.TB) []byte {
	b, err := MarshalManifest(testManifest(2*seg+1, 4, 2))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestManifestValidate(t *testing.T) {
	b := sampleManifest(t)
	m, err := UnmarshalManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(m *Manifest){
		"version":  func(m *Manifest) { m.Version = 9 },
		"k":        func(m *Manifest) { m.K = 0 },
		"km":       func(m *Manifest) { m.M = 40 },
		"seg":      func(m *Manifest) { m.SegmentSize = 1 },
		"size":     func(m *Manifest) { m.Size++ },
		"negative": func(m *Manifest) { m.Size = -1 },
		"len":      func(m *Manifest) { m.Segments[0].Len-- },
		"shards":   func(m *Manifest) { m.Segments[1].Shards = m.Segments[1].Shards[:3] },
		"wkey":     func(m *Manifest) { m.WrappedKey = m.WrappedKey[:5] },
		"segments": func(m *Manifest) { m.Segments = m.Segments[:1] },
	} {
		c := m.Clone()
		mut(c)
		if c.Validate() == nil {
			t.Errorf("%s: invalid manifest accepted", name)
		}
	}
}

func FuzzManifest(f *testing.F) {
	f.Add(sampleManifest(f))
	f.Add([]byte(`{"v":1,"k":4,"m":2,"seg":4096,"size":0,"segs":[{"len":16,"shards":[{},{},{},{},{},{}]}]}`))
	f.Add([]byte(`{"v":1,"k":1,"m":0,"seg":4096,"size":1125899906842624,"segs":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := UnmarshalManifest(b)
		if err != nil {
			return
		}
		// Whatever validates must be safe to walk and re-encode.
		for i := range m.Segments {
			_ = m.ShardSize(i)
			_ = m.PlainLen(i)
		}
		b2, err := MarshalManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := UnmarshalManifest(b2)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		b3, _ := MarshalManifest(m2)
		if !bytes.Equal(b2, b3) {
			t.Fatal("not stable")
		}
	})
}
