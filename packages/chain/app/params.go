package app

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
)

// BaseUnitsPerOEC is how many base units make one OECoin. Every amount on the
// chain is an integer number of base units.
const BaseUnitsPerOEC = 1_000_000

// Params are the chain's rules, fixed at genesis.
type Params struct {
	EpochLength     uint64 `json:"epoch_length"`     // blocks per epoch; the validator set is elected at each epoch's last block
	MaxValidators   uint64 `json:"max_validators"`   // the top N candidates by stake validate
	UnbondingBlocks uint64 `json:"unbonding_blocks"` // undelegated coins return this many blocks later
	PowerUnit       uint64 `json:"power_unit"`       // base units of stake per unit of voting power
	MinFee          uint64 `json:"min_fee"`          // the smallest fee a transaction may carry
	// Rewards: R(n) = R0·√n0/√n base units per super node per block (see BlockReward).
	RewardR0 uint64 `json:"reward_r0"`
	RewardN0 uint64 `json:"reward_n0"`
	// Downtime: a validator that misses more than MaxMissed of the blocks of a
	// window of DowntimeWindow blocks is slashed DowntimeSlashBP basis points and
	// jailed for JailBlocks blocks.
	DowntimeWindow  uint64 `json:"downtime_window"`
	MaxMissed       uint64 `json:"max_missed"`
	DowntimeSlashBP uint64 `json:"downtime_slash_bp"`
	JailBlocks      uint64 `json:"jail_blocks"`
	// Double signing: slashed DoubleSignSlashBP basis points, jailed for good.
	DoubleSignSlashBP uint64 `json:"double_sign_slash_bp"`
	// CommissionBP is the operator's cut, in basis points, of its
	// validator's block reward; the rest is shared among the candidate's
	// delegators (the operator's own stake among them) pro rata to stake.
	// Absent from a genesis or a state of before it: 0.
	CommissionBP uint64 `json:"commission_bp,omitempty"`
}

// DefaultParams are the devnet's: short epochs so that elections are seen.
func DefaultParams() Params {
	return Params{
		EpochLength:       20,
		MaxValidators:     21, // EOS's 21 producers
		UnbondingBlocks:   100,
		PowerUnit:         BaseUnitsPerOEC,
		MinFee:            1,
		RewardR0:          10 * BaseUnitsPerOEC,
		RewardN0:          4,
		DowntimeWindow:    50,
		MaxMissed:         25,
		DowntimeSlashBP:   100, // 1%
		JailBlocks:        50,
		DoubleSignSlashBP: 500,  // 5%
		CommissionBP:      1000, // 10%
	}
}

func (p Params) encode() []byte {
	var b []byte
	for _, f := range (&p).ptrs() {
		b = binary.BigEndian.AppendUint64(b, *f)
	}
	return b
}

func decodeParams(b []byte) (Params, error) {
	var p Params
	fs := (&p).ptrs()
	// A state of before CommissionBP holds one field fewer.
	if len(b) == 8*(len(fs)-1) {
		fs = fs[:len(fs)-1]
	}
	if len(b) != 8*len(fs) {
		return p, errors.New("chain state: malformed params")
	}
	for i, f := range fs {
		*f = binary.BigEndian.Uint64(b[8*i:])
	}
	return p, nil
}

func (p *Params) ptrs() []*uint64 {
	return []*uint64{&p.EpochLength, &p.MaxValidators, &p.UnbondingBlocks, &p.PowerUnit, &p.MinFee,
		&p.RewardR0, &p.RewardN0, &p.DowntimeWindow, &p.MaxMissed, &p.DowntimeSlashBP, &p.JailBlocks,
		&p.DoubleSignSlashBP, &p.CommissionBP}
}

// Validate says what is wrong with p.
func (p Params) Validate() error {
	switch {
	case p.EpochLength == 0:
		return errors.New("params: epoch_length must be at least 1")
	case p.MaxValidators == 0 || p.MaxValidators > math.MaxUint16:
		return errors.New("params: max_validators must be 1..65535")
	case p.PowerUnit < 32:
		// Keeps the total voting power of any uint64 stake under CometBFT's
		// limit (MaxInt64/8).
		return errors.New("params: power_unit must be at least 32")
	case p.RewardN0 == 0:
		return errors.New("params: reward_n0 must be at least 1")
	case p.DowntimeWindow == 0 || p.MaxMissed >= p.DowntimeWindow:
		return errors.New("params: need 0 <= max_missed < downtime_window")
	case p.DowntimeSlashBP > 10000 || p.DoubleSignSlashBP > 10000:
		return errors.New("params: slash fractions are basis points, at most 10000")
	case p.CommissionBP > 10000:
		return errors.New("params: commission_bp is basis points, at most 10000")
	}
	if _, err := BlockReward(p.RewardR0, p.RewardN0, 1); err != nil {
		return fmt.Errorf("params: %w", err)
	}
	return nil
}

// ErrRewardOverflow is returned when R(n) does not fit 64 bits.
var ErrRewardOverflow = errors.New("block reward overflows 64 bits")

// BlockReward is the white paper's anti-inflation rule: the reward each super
// node earns per block shrinks as the number of super nodes grows,
//
//	R(n) = R0 · √n0 / √n        (base units, rounded down)
//
// where R0 is the reward per node when there are n0 of them. It is computed
// exactly in integers as R(n) = ⌊√(R0²·n0 / n)⌋ (⌊√⌊x⌋⌋ = ⌊√x⌋, so the one
// integer division loses nothing), with math/big, which is deterministic on
// every platform: no floating point touches an amount. The total minted per
// block, n·R(n) ≈ R0·√(n0·n), still grows with n, but only as √n.
func BlockReward(r0, n0, n uint64) (uint64, error) {
	if n == 0 || n0 == 0 {
		return 0, errors.New("block reward: n and n0 must be at least 1")
	}
	x := new(big.Int).SetUint64(r0)
	x.Mul(x, x)
	x.Mul(x, new(big.Int).SetUint64(n0))
	x.Quo(x, new(big.Int).SetUint64(n))
	x.Sqrt(x)
	if !x.IsUint64() {
		return 0, ErrRewardOverflow
	}
	return x.Uint64(), nil
}

// mulBP returns ⌊v·bp/10000⌋ without overflow (bp ≤ 10000).
func mulBP(v, bp uint64) uint64 {
	x := new(big.Int).SetUint64(v)
	x.Mul(x, new(big.Int).SetUint64(bp))
	x.Quo(x, big.NewInt(10000))
	return x.Uint64()
}

// SplitReward divides a validator's block reward r between its operator
// and its delegations (amounts dels, the operator's own among them):
//
//	commission = ⌊r · commissionBP / 10000⌋
//	share_i    = ⌊(r − commission) · d_i / Σd⌋
//	operator   = commission + (r − commission − Σ share_i)
//
// in integer arithmetic (128-bit products). The operator takes what the
// floors leave, fewer base units than there are delegations, so the shares
// and the operator's part add up to r exactly: no dust is lost. With no
// stake at all the operator takes r.
func SplitReward(r, commissionBP uint64, dels []uint64) (operator uint64, shares []uint64) {
	commission := mulBP(r, min(commissionBP, 10000))
	rest := r - commission
	var stake uint64
	for _, d := range dels {
		var ok bool
		if stake, ok = add(stake, d); !ok {
			// Σd overflows 64 bits: every amount would be past the
			// supply; pay the operator.
			return r, make([]uint64, len(dels))
		}
	}
	shares = make([]uint64, len(dels))
	if stake == 0 {
		return r, shares
	}
	paid := uint64(0)
	for i, d := range dels {
		hi, lo := bits.Mul64(rest, d)
		q, _ := bits.Div64(hi, lo, stake) // hi < stake since d ≤ stake
		shares[i] = q
		paid += q
	}
	return commission + (rest - paid), shares
}
