package cloud

import (
	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/store"
)

func putJSON(kv store.KV, k string, v any) error { return store.PutJSON(kv, []byte(k), v) }

// The index's KV layout (packages/cloud/index), for the tests here that
// write or check the KV beneath it: it is on every box's disk, so it is
// spelled out rather than borrowed.
const (
	prefixMeta    = "cloud/meta" // + path → entry
	prefixMan     = "cloud/man/" // + file ID → manifest
	keyRecovering = "cloud/recovering"
)

func metaKey(p string) []byte      { return []byte(prefixMeta + p) }
func manKey(f codec.FileID) []byte { return []byte(prefixMan + f.String()) }
