package app

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/cosmos/iavl"
	idb "github.com/cosmos/iavl/db"

	"oepc.dev/oepcos/packages/chain/tx"
)

// Genesis is the app_state of the chain's genesis file.
type Genesis struct {
	Params     Params             `json:"params"`
	Accounts   []GenesisAccount   `json:"accounts"`
	Candidates []GenesisCandidate `json:"candidates"`
}

// GenesisAccount funds an account at genesis.
type GenesisAccount struct {
	Address string `json:"address"` // hex
	Balance uint64 `json:"balance"` // base units
}

// GenesisCandidate is a super-node candidate at genesis, with its own stake
// bonded from the start (minted, not taken from an account).
type GenesisCandidate struct {
	Operator   string `json:"operator"`     // hex address
	ConsPubKey string `json:"cons_pub_key"` // hex Ed25519 public key of its validator
	Moniker    string `json:"moniker"`
	SelfStake  uint64 `json:"self_stake"`
}

// ParseGenesis reads and checks an app_state.
func ParseGenesis(b []byte) (Genesis, error) {
	var g Genesis
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&g); err != nil {
		return g, fmt.Errorf("genesis app_state: %w", err)
	}
	if err := g.Params.Validate(); err != nil {
		return g, fmt.Errorf("genesis app_state: %w", err)
	}
	if len(g.Candidates) == 0 {
		return g, fmt.Errorf("genesis app_state: no candidates: the chain needs at least one validator")
	}
	return g, nil
}

func (g Genesis) apply(s store) ([]Validator, error) {
	s.set([]byte(keyParams), g.Params.encode())
	var supply uint64
	seen := map[tx.Address]bool{}
	for _, ga := range g.Accounts {
		a, err := tx.ParseAddress(ga.Address)
		if err != nil {
			return nil, fmt.Errorf("genesis account: %w", err)
		}
		if seen[a] {
			return nil, fmt.Errorf("genesis account %s listed twice", a)
		}
		seen[a] = true
		var ok bool
		if supply, ok = add(supply, ga.Balance); !ok {
			return nil, fmt.Errorf("genesis: supply overflows")
		}
		s.setAccount(a, Account{Balance: ga.Balance})
	}
	seenCand := map[tx.Address]bool{}
	for _, gc := range g.Candidates {
		op, err := tx.ParseAddress(gc.Operator)
		if err != nil {
			return nil, fmt.Errorf("genesis candidate: %w", err)
		}
		pk, err := hex.DecodeString(gc.ConsPubKey)
		if err != nil || len(pk) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("genesis candidate %s: cons_pub_key must be a hex Ed25519 key", op)
		}
		if seenCand[op] || len(gc.Moniker) > tx.MaxMonikerLen {
			return nil, fmt.Errorf("genesis candidate %s: listed twice or moniker too long", op)
		}
		seenCand[op] = true
		consAddr := tx.AddressOf(pk)
		if _, dup := s.operatorOf(consAddr[:]); dup {
			return nil, fmt.Errorf("genesis candidate %s: its validator key is another's", op)
		}
		var ok bool
		if supply, ok = add(supply, gc.SelfStake); !ok {
			return nil, fmt.Errorf("genesis: supply overflows")
		}
		s.setCandidate(Candidate{Operator: op, ConsPubKey: pk, Moniker: gc.Moniker, Stake: gc.SelfStake})
		s.setUint(DelegationKey(op, op), gc.SelfStake)
		s.set(append([]byte(prefixConsIndex), consAddr[:]...), op[:])
	}
	s.setUint([]byte(keySupply), supply)
	vs := elect(s, g.Params)
	if len(vs) == 0 {
		return nil, fmt.Errorf("genesis: no candidate has stake of at least power_unit (%d)", g.Params.PowerUnit)
	}
	s.set([]byte(keyValidators), encodeValidators(vs))
	return vs, nil
}

// GenesisValidators is the validator set the application elects from an
// app_state at InitChain, for writing the same set into the genesis file.
func GenesisValidators(appState []byte) ([]Validator, error) {
	g, err := ParseGenesis(appState)
	if err != nil {
		return nil, err
	}
	t := iavl.NewMutableTree(idb.NewMemDB(), 100, true, iavl.NewNopLogger())
	return g.apply(store{t})
}
