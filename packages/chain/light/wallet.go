package light

import (
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"

	"oepc.dev/oepcos/packages/chain/tx"
	"oepc.dev/oepcos/packages/cloud/keys"
)

// walletSalt and walletInfo separate the wallet key's derivation from the
// cloud's own keys (salt "oepc-cloud-v1") made from the same secret.
const (
	walletSalt = "oechain-wallet-v1"
	walletInfo = "wallet-ed25519-seed"
)

// WalletKey derives the box's wallet key from the personal cloud's secret
// (the recovery phrase): HKDF-SHA256(secret, salt "oechain-wallet-v1",
// info "wallet-ed25519-seed") is the Ed25519 seed. `cloud recover` brings the
// secret back, and with it the wallet.
func WalletKey(o *keys.Owner) ed25519.PrivateKey {
	s := o.Secret()
	seed, err := hkdf.Key(sha256.New, s[:], []byte(walletSalt), walletInfo, ed25519.SeedSize)
	if err != nil {
		panic(err) // only for impossible lengths
	}
	return ed25519.NewKeyFromSeed(seed)
}

// ErrInsufficientFunds is a transfer of more than the verified balance.
var ErrInsufficientFunds = errors.New("insufficient funds")

// Sent is a transfer the wallet made, proven in a block.
type Sent struct {
	Hash   []byte `json:"hash"`
	Height int64  `json:"height"`
	Nonce  uint64 `json:"nonce"`
	// Code is the proven result (0: it succeeded); Reason its meaning. A
	// failed transfer is also Send's *TxFailedError.
	Code   uint32 `json:"code"`
	Reason string `json:"reason,omitempty"`
}

// Send signs a transfer of amount base units (plus fee) from key's account
// to to, with the account's verified nonce, broadcasts it and waits until
// its inclusion is proven against a verified header.
func (c *Client) Send(ctx context.Context, key ed25519.PrivateKey, to tx.Address, amount, fee uint64) (Sent, error) {
	return c.SendNonce(ctx, key, to, amount, fee, nil)
}

// ErrNonceUsed is a transfer asked for with a nonce the account has used
// already: it (or another transaction) was sent since.
var ErrNonceUsed = errors.New("nonce used already")

// SendNonce is Send with the nonce the transfer must carry (nil: the
// account's next). A form posted twice thus sends once: the second finds
// its nonce used (ErrNonceUsed), or the chain refuses it as a replay.
func (c *Client) SendNonce(ctx context.Context, key ed25519.PrivateKey, to tx.Address, amount, fee uint64, nonce *uint64) (Sent, error) {
	from := tx.AddressOf(key.Public().(ed25519.PublicKey))
	acc, _, _, err := c.Account(ctx, from)
	if err != nil {
		return Sent{}, fmt.Errorf("wallet: the account's nonce: %w", err)
	}
	if nonce != nil && *nonce != acc.Nonce {
		return Sent{}, fmt.Errorf("wallet: %w: the transfer was to carry nonce %d, the account's next is %d: it, or another transaction, was sent since (see the history); nothing was sent now", ErrNonceUsed, *nonce, acc.Nonce)
	}
	if amount > acc.Balance || fee > acc.Balance-amount {
		return Sent{}, fmt.Errorf("wallet: %w: %d + fee %d base units is more than the verified balance %d", ErrInsufficientFunds, amount, fee, acc.Balance)
	}
	t := &tx.Tx{ChainID: c.chainID, Nonce: acc.Nonce, Fee: fee, Msg: tx.Transfer{To: to, Amount: amount}}
	if err := t.Sign(key); err != nil {
		return Sent{}, err
	}
	raw, err := t.Encode()
	if err != nil {
		return Sent{}, err
	}
	hash, err := c.Broadcast(ctx, raw)
	if err != nil {
		return Sent{}, err
	}
	o, err := c.WaitTx(ctx, raw)
	return Sent{Hash: hash, Height: o.Height, Nonce: acc.Nonce, Code: o.Code, Reason: o.Reason}, err
}
