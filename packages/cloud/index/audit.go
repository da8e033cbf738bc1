package index

import (
	"encoding/json"
	"fmt"
	"strings"

	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/store"
)

// Audit reads the whole index in kv and reports the first inconsistency:
// an entry that does not parse, sits under another path than it names,
// shares its file with another entry, or has no manifest. It also counts
// the entries under folder dir and the manifests, so a test can check
// what an interrupted operation left behind.
func Audit(kv store.KV, dir string) (under, manifests int, err error) {
	mans := map[string]bool{}
	if err := kv.Scan([]byte(prefixMan), func(k, v []byte) error { mans[string(k)] = true; return nil }); err != nil {
		return 0, 0, err
	}
	files := map[codec.FileID]string{}
	err = kv.Scan([]byte(prefixMeta+"/"), func(k, v []byte) error {
		var e Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("index: entry %s: %w", k, err)
		}
		if e.Path != string(k[len(prefixMeta):]) {
			return fmt.Errorf("index: entry %s says path %s", k, e.Path)
		}
		if other, ok := files[e.File]; ok {
			return fmt.Errorf("index: file %s indexed twice: %s and %s", e.File, other, e.Path)
		}
		files[e.File] = e.Path
		if strings.HasPrefix(e.Path, dir+"/") {
			under++
		}
		if !mans[string(manKey(e.File))] {
			return fmt.Errorf("index: %s: no manifest", e.Path)
		}
		return nil
	})
	return under, len(mans), err
}
