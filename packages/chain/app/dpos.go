package app

import (
	"bytes"
	"encoding/binary"
	"sort"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"

	"oepc.dev/oepcos/packages/chain/tx"
)

// Epoch is the epoch a height belongs to: heights 1..L are epoch 0, L+1..2L
// epoch 1, and so on. The set is elected at an epoch's last block.
func Epoch(height, epochLength uint64) uint64 {
	if height == 0 {
		return 0
	}
	return (height - 1) / epochLength
}

// elect returns the top MaxValidators unjailed candidates by stake (ties
// broken by operator address), each with power stake/PowerUnit ≥ 1, sorted
// by operator address.
func elect(s store, p Params) []Validator {
	var cs []Candidate
	s.each(prefixCandidate, func(_, v []byte) {
		c, err := DecodeCandidate(v)
		if err != nil {
			panic(err)
		}
		if !c.Jailed && c.Stake/p.PowerUnit >= 1 {
			cs = append(cs, c)
		}
	})
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].Stake != cs[j].Stake {
			return cs[i].Stake > cs[j].Stake
		}
		return bytes.Compare(cs[i].Operator[:], cs[j].Operator[:]) < 0
	})
	if uint64(len(cs)) > p.MaxValidators {
		cs = cs[:p.MaxValidators]
	}
	vs := make([]Validator, len(cs))
	for i, c := range cs {
		vs[i] = Validator{Operator: c.Operator, ConsPubKey: c.ConsPubKey, Power: int64(c.Stake / p.PowerUnit)}
	}
	sortValidators(vs)
	return vs
}

func sortValidators(vs []Validator) {
	sort.Slice(vs, func(i, j int) bool { return bytes.Compare(vs[i].Operator[:], vs[j].Operator[:]) < 0 })
}

// diffValidators is the CometBFT update that turns old into new: new powers
// for members whose power changed or who joined, power 0 for those who left.
// Both lists are sorted by operator; so is the result.
func diffValidators(old, new []Validator) []abci.ValidatorUpdate {
	type entry struct {
		v    Validator
		old  int64
		new  int64
		seen bool
	}
	var keys [][]byte
	m := map[string]*entry{}
	for _, v := range old {
		m[string(v.ConsPubKey)] = &entry{v: v, old: v.Power}
		keys = append(keys, v.ConsPubKey)
	}
	for _, v := range new {
		e, ok := m[string(v.ConsPubKey)]
		if !ok {
			e = &entry{v: v}
			m[string(v.ConsPubKey)] = e
			keys = append(keys, v.ConsPubKey)
		}
		e.new, e.seen = v.Power, true
	}
	sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 })
	var ups []abci.ValidatorUpdate
	for _, k := range keys {
		e := m[string(k)]
		if e.old != e.new {
			ups = append(ups, abci.Ed25519ValidatorUpdate(e.v.ConsPubKey, e.new))
		}
	}
	return ups
}

// slash burns bp basis points of every delegation to the candidate and of its
// pending unbondings, and returns what was burnt.
func slash(s store, c *Candidate, bp uint64) uint64 {
	if bp == 0 {
		return 0
	}
	var burnt uint64
	type kv struct {
		k []byte
		v uint64
	}
	var dels []kv
	s.each(prefixDelegation+string(c.Operator[:]), func(k, v []byte) {
		n, _ := DecodeUint64(v)
		dels = append(dels, kv{k, n})
	})
	var stake uint64
	for _, d := range dels {
		cut := mulBP(d.v, bp)
		burnt += cut
		stake += d.v - cut
		s.setUint(d.k, d.v-cut)
	}
	c.Stake = stake
	var unbs []kv
	s.each(prefixUnbonding, func(k, v []byte) {
		// key: prefix + done(8) + delegator(20) + candidate(20) + nonce(8)
		off := len(prefixUnbonding) + 8 + tx.AddressLen
		if bytes.Equal(k[off:off+tx.AddressLen], c.Operator[:]) {
			n, _ := DecodeUint64(v)
			unbs = append(unbs, kv{k, n})
		}
	})
	for _, u := range unbs {
		cut := mulBP(u.v, bp)
		burnt += cut
		s.setUint(u.k, u.v-cut)
	}
	s.setUint([]byte(keySupply), s.uint([]byte(keySupply))-burnt)
	return burnt
}

// punish handles the block's evidence and its last commit's votes: slashing
// and jailing for double signing and for downtime. It returns the operators
// jailed in this block.
func (a *App) punish(s store, p Params, h uint64, req *abci.RequestFinalizeBlock) []tx.Address {
	var jailed []tx.Address
	for _, ev := range req.Misbehavior {
		op, ok := s.operatorOf(ev.Validator.Address)
		if !ok {
			continue
		}
		c, ok := s.candidate(op)
		if !ok || c.Tombstoned {
			continue // punished once per offender
		}
		burnt := slash(s, &c, p.DoubleSignSlashBP)
		c.Jailed, c.Tombstoned = true, true
		s.setCandidate(c)
		jailed = append(jailed, op)
		a.log.Warn("validator slashed for double signing", "operator", op, "height", ev.Height,
			"type", ev.Type.String(), "burnt", burnt)
	}
	for _, v := range req.DecidedLastCommit.Votes {
		op, ok := s.operatorOf(v.Validator.Address)
		if !ok {
			continue
		}
		// The window slides: block k of the window lands on bit k mod W,
		// replacing the block W before it.
		si, bits := s.signInfo(op), s.signBits(op, p.DowntimeWindow)
		i := si.Seen % p.DowntimeWindow
		was := bits[i/8]&(1<<(i%8)) != 0
		missed := v.BlockIdFlag != cmtproto.BlockIDFlagCommit
		switch {
		case missed && !was:
			bits[i/8] |= 1 << (i % 8)
			si.Missed++
		case !missed && was:
			bits[i/8] &^= 1 << (i % 8)
			si.Missed--
		}
		si.Seen++
		if si.Missed > p.MaxMissed {
			c, ok := s.candidate(op)
			if ok && !c.Jailed {
				burnt := slash(s, &c, p.DowntimeSlashBP)
				c.Jailed, c.JailedUntil = true, h+p.JailBlocks
				s.setCandidate(c)
				jailed = append(jailed, op)
				a.log.Warn("validator slashed for downtime", "operator", op, "missed", si.Missed,
					"window", p.DowntimeWindow, "burnt", burnt, "jailed_until", c.JailedUntil)
			}
			s.clearSignInfo(op)
			continue
		}
		s.setSignInfo(op, si)
		s.setSignBits(op, bits)
	}
	return jailed
}

// reward pays R(n) for every validator that signed the last block (n is
// the size of the set that signed it), split between its operator (the
// commission) and its delegators pro rata to stake (SplitReward), and the
// block's fees to its proposer. It walks the delegations of every signing
// validator: its work per block grows with their number.
func (a *App) reward(s store, p Params, req *abci.RequestFinalizeBlock) {
	votes := req.DecidedLastCommit.Votes
	if len(votes) == 0 {
		return
	}
	r, err := BlockReward(p.RewardR0, p.RewardN0, uint64(len(votes)))
	if err != nil {
		a.log.Error("no block reward", "err", err)
		return
	}
	supply := s.uint([]byte(keySupply))
	for _, v := range votes {
		if v.BlockIdFlag != cmtproto.BlockIDFlagCommit {
			continue
		}
		op, ok := s.operatorOf(v.Validator.Address)
		if !ok {
			continue
		}
		var dels []tx.Address
		var amounts []uint64
		pre := prefixDelegation + string(op[:])
		s.each(pre, func(k, v []byte) {
			var d tx.Address
			copy(d[:], k[len(pre):])
			n, _ := DecodeUint64(v)
			dels, amounts = append(dels, d), append(amounts, n)
		})
		opPart, shares := SplitReward(r, p.CommissionBP, amounts)
		ns, ok := add(supply, r)
		if !ok {
			a.log.Error("block reward would overflow the supply; not minted")
			return
		}
		// Every credit is checked before any is made.
		credits := map[tx.Address]uint64{op: opPart}
		for i, d := range dels {
			credits[d] += shares[i] // cannot overflow: the shares add up to r
		}
		newAccts := map[tx.Address]Account{}
		for who, n := range credits {
			acc := s.account(who)
			if acc.Balance, ok = add(acc.Balance, n); !ok {
				a.log.Error("block reward would overflow an account; not minted", "account", who)
				return
			}
			newAccts[who] = acc
		}
		for _, who := range append([]tx.Address{op}, dels...) {
			if acc, ok := newAccts[who]; ok {
				s.setAccount(who, acc)
				delete(newAccts, who)
			}
		}
		supply = ns
	}
	s.setUint([]byte(keySupply), supply)
}

// matureUnbondings returns to their delegators the unbondings due at or
// before h.
func matureUnbondings(s store, h uint64) {
	end := binary.BigEndian.AppendUint64([]byte(prefixUnbonding), h+1)
	it, err := s.t.Iterator([]byte(prefixUnbonding), end, true)
	if err != nil {
		panic(err)
	}
	type due struct {
		k   []byte
		del tx.Address
		n   uint64
	}
	var ds []due
	for ; it.Valid(); it.Next() {
		k := append([]byte{}, it.Key()...)
		var d tx.Address
		copy(d[:], k[len(prefixUnbonding)+8:])
		n, _ := DecodeUint64(it.Value())
		ds = append(ds, due{k, d, n})
	}
	it.Close()
	for _, d := range ds {
		acc := s.account(d.del)
		acc.Balance += d.n // cannot overflow: the coins were counted in the supply
		s.setAccount(d.del, acc)
		s.del(d.k)
	}
}

// updateValidators decides the set for this block: a new election at an
// epoch's last block, else the current set less those jailed now. It stores
// the set and returns the CometBFT updates (effective at height h+2).
func (a *App) updateValidators(s store, p Params, h uint64, jailed []tx.Address) []abci.ValidatorUpdate {
	cur := s.validators()
	var next []Validator
	if h%p.EpochLength == 0 {
		next = elect(s, p)
	} else {
		if len(jailed) == 0 {
			return nil
		}
		out := map[tx.Address]bool{}
		for _, op := range jailed {
			out[op] = true
		}
		for _, v := range cur {
			if !out[v.Operator] {
				next = append(next, v)
			}
		}
	}
	if len(next) == 0 {
		// CometBFT cannot run with no validators: keep the set and say so.
		a.log.Error("no eligible validators; keeping the current set", "height", h)
		return nil
	}
	ups := diffValidators(cur, next)
	if len(ups) > 0 {
		s.set([]byte(keyValidators), encodeValidators(next))
		a.log.Info("validator set changes", "height", h, "effective", h+2, "validators", len(next), "updates", len(ups))
	}
	return ups
}
