package apitype

import "time"

// ChainNotConfigured is the reason /v1/chain/status and the wallet routes
// give (503) on a box whose oepcd has no chain configured, so the TV and
// other readers can tell "not set up" from "not working".
const ChainNotConfigured = "oepcd runs without --chain-genesis, so this box has no light node (the image's instance config or the devnet sets it)"

// The wallet's and the chain's routes (packages/box/wallet.go).

// BaseUnitsPerOEC is how many base units make one OECoin (chain/app's
// constant; packages/box checks they agree).
const BaseUnitsPerOEC = 1_000_000

// WalletAnswer is GET /v1/wallet: the balance and nonce proven against a
// verified app hash at Height.
type WalletAnswer struct {
	Address string `json:"address"`
	Balance uint64 `json:"balance"`
	Nonce   uint64 `json:"nonce"`
	Exists  bool   `json:"exists"`
	Height  int64  `json:"height"`
}

// WalletSendRequest is POST /v1/wallet/send.
type WalletSendRequest struct {
	To     string `json:"to"`
	Amount uint64 `json:"amount"` // base units
	Fee    uint64 `json:"fee"`
	// Nonce, when set, is the nonce the transfer must carry (the
	// wallet's nonce when the owner reviewed it): a second post of the
	// same transfer is refused (409) instead of sent again.
	Nonce *uint64 `json:"nonce,omitempty"`
}

// WalletSendAnswer is a transfer proven in a block.
type WalletSendAnswer struct {
	Hash   string `json:"hash"`
	Height int64  `json:"height"`
	Nonce  uint64 `json:"nonce"`
}

// ChainStatus is the light node's status (GET /v1/chain/status).
type ChainStatus struct {
	ChainID        string    `json:"chain_id"`
	VerifiedHeight int64     `json:"verified_height"`
	VerifiedTime   time.Time `json:"verified_time"`
	AppHash        []byte    `json:"verified_app_hash"`
	Latest         int64     `json:"latest"`
	Lag            int64     `json:"lag"`
	Primary        PeerID    `json:"primary"`
	Witnesses      []PeerID  `json:"witnesses"`
	// Stalled says why no newer header is verified, when the newest is
	// more than 30 s old.
	Stalled string `json:"stalled,omitempty"`
}

// WalletHistoryAnswer is GET /v1/wallet/history?limit=N[&blocks=1]: the wallet's
// newest transactions, newest first, proven at Height (the count and each
// entry are state values proven against a verified app hash; each
// transaction's bytes hash to its proven hash).
type WalletHistoryAnswer struct {
	Address string              `json:"address"`
	Total   uint64              `json:"total"`
	Height  int64               `json:"height"`
	Items   []WalletHistoryItem `json:"items"`
}

// WalletHistoryItem is one transaction of the wallet's history.
type WalletHistoryItem struct {
	Seq       uint64 `json:"seq"`
	Height    int64  `json:"height"`
	Hash      string `json:"hash"`
	Direction string `json:"direction"` // sent, received
	Type      string `json:"type"`      // transfer, delegate, ...
	From      string `json:"from"`
	To        string `json:"to,omitempty"`
	Amount    uint64 `json:"amount"`
	Fee       uint64 `json:"fee"`
	Nonce     uint64 `json:"nonce"`
	Code      uint32 `json:"code"` // 0: it succeeded
	Reason    string `json:"reason,omitempty"`
	// Proven is "state" (the entry, in the account's proven history) or
	// "state+block" (?blocks=1: also the transaction's inclusion and
	// result against its block's verified headers).
	Proven string `json:"proven"`
}

// ChainSuperNodesAnswer is GET /v1/chain/supernodes: the elected super
// nodes, their stake and their operators' balances (where rewards are
// paid), and the reward each earns per signed block, proven at Height.
type ChainSuperNodesAnswer struct {
	Height         int64            `json:"height"`
	RewardPerBlock uint64           `json:"reward_per_block"`
	MinFee         uint64           `json:"min_fee"` // the smallest fee a transaction may carry
	SuperNodes     []ChainSuperNode `json:"super_nodes"`
}

// ChainSuperNode is one elected super node.
type ChainSuperNode struct {
	Operator string `json:"operator"`
	Moniker  string `json:"moniker"`
	Power    int64  `json:"power"`
	Stake    uint64 `json:"stake"`
	Jailed   bool   `json:"jailed"`
	Balance  uint64 `json:"balance"`
}

// ChainSummary is the light node in GET /v1/status: Running false and
// Error say why there is none (no genesis configured, expired trusting
// period, too few super nodes).
type ChainSummary struct {
	Running        bool      `json:"running"`
	ChainID        string    `json:"chain_id,omitempty"`
	VerifiedHeight int64     `json:"verified_height"`
	VerifiedTime   time.Time `json:"verified_time,omitzero"`
	Lag            int64     `json:"lag"`
	Error          string    `json:"error,omitempty"`
}
