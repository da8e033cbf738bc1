package cloud

import (
	"oepc.dev/oepcos/packages/store"
)

func putJSON(kv store.KV, k string, v any) error { return store.PutJSON(kv, []byte(k), v) }
