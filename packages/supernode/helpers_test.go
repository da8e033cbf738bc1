package supernode_test

import (
	"strconv"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
)

func itoa(n int) string { return strconv.Itoa(n) }

func rpchttpNew(addr string) (*rpchttp.HTTP, error) { return rpchttp.New(addr, "/websocket") }
