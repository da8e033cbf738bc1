package cloud

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"oepc.dev/oepcos/packages/cloud/keys"
)

// TestWriteFuzzCorpus regenerates testdata/fuzz (the seed corpus checked
// in beside the f.Add seeds), and index/testdata/fuzz/FuzzManifest (whose
// valid seed is a manifest the pipeline wrote), when OEPC_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("OEPC_WRITE_CORPUS") != "1" {
		t.Skip("set OEPC_WRITE_CORPUS=1 to regenerate")
	}
	write := func(fuzz, name string, b []byte) {
		dir := filepath.Join("testdata", "fuzz", fuzz)
		if fuzz == "FuzzManifest" {
			dir = filepath.Join("index", dir)
		}
		os.MkdirAll(dir, 0o755)
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	man := sampleManifest(t)
	write("FuzzManifest", "valid", man)
	write("FuzzManifest", "truncated", man[:len(man)/2])
	write("FuzzManifest", "empty-file", []byte(`{"v":1,"file":"00000000000000000000000000000000","k":4,"m":2,"seg":4096,"size":0,"wkey":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","segs":[{"len":16,"shards":[{},{},{},{},{},{}]}]}`))
	write("FuzzManifest", "huge-size", []byte(`{"v":1,"k":1,"m":0,"seg":4096,"size":1125899906842624,"segs":[]}`))
	tok := ShareToken{V: 1, ID: "00112233445566778899aabbccddeeff", Name: "a", Manifest: man, Key: make([]byte, 32)}
	tb, _ := json.Marshal(tok)
	write("FuzzShareToken", "valid", tb)
	write("FuzzShareToken", "short-key", []byte(`{"v":1,"id":"00112233445566778899aabbccddeeff","manifest":{},"key":"AAAA"}`))
	o := keys.New()
	r := &RootRecord{Pub: o.PublicKey(), Seq: 7, Blob: []byte("sealed")}
	r.Sig = signRoot(o, r)
	rb, _ := json.Marshal(r)
	write("FuzzRootRecord", "valid", rb)
	r.Seq++
	rb, _ = json.Marshal(r)
	write("FuzzRootRecord", "bad-sig", rb)
	hdr := frame(deliverHeader{Name: "photo.jpg"})
	write("FuzzDeliverStream", "valid", append(append(hdr, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'), 0, 0, 0, 0))
	write("FuzzDeliverStream", "no-end", append(hdr, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'))
	write("FuzzDeliverStream", "huge-chunk", append(hdr, 0x7f, 0xff, 0xff, 0xff))
	write("FuzzDeliverStream", "traversal", frame(deliverHeader{Name: "../../etc/passwd"}))
	write("FuzzDeliverStream", "huge-header", []byte{0xff, 0xff, 0xff, 0xff})
	write("FuzzMessages", "share-token", frame(shareReq{Op: "token", ID: "00112233445566778899aabbccddeeff"}))
	write("FuzzMessages", "share-offer", frame(shareReq{Op: "offer", Token: &tok}))
	write("FuzzMessages", "root-put", frame(rootReq{Op: "put", Record: r}))
	write("FuzzMessages", "share-address", []byte("oepc-share:12D3KooWGRUVh7Mf8N4mnRY5URGRbjBk5gnStL6T5bCJbSXoDzTL/00112233445566778899aabbccddeeff"))
}
