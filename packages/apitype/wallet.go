package apitype

import "time"

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
