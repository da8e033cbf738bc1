package light

import (
	"context"
	"fmt"

	"oepc.dev/oepcos/packages/chain/app"
)

// SuperNode is one elected validator with its candidate record and its
// operator's account, all proven at one height.
type SuperNode struct {
	Operator string `json:"operator"`
	Moniker  string `json:"moniker"`
	Power    int64  `json:"power"`
	// Stake is delegated to it (its operator's own included).
	Stake  uint64 `json:"stake"`
	Jailed bool   `json:"jailed"`
	// Balance is the operator's account, where its rewards are paid.
	Balance uint64 `json:"balance"`
}

// SuperNodes is the elected validator set with each member's stake and
// its operator's balance, and the reward each earns per signed block
// (R(n) from the proven parameters), proven against one verified app
// hash.
func (c *Client) SuperNodes(ctx context.Context) (nodes []SuperNode, rewardPerBlock uint64, height int64, err error) {
	nodes, rewardPerBlock, _, height, err = c.SuperNodesAndParams(ctx)
	return nodes, rewardPerBlock, height, err
}

// SuperNodesAndParams is SuperNodes with the proven chain parameters.
func (c *Client) SuperNodesAndParams(ctx context.Context) (nodes []SuperNode, rewardPerBlock uint64, params app.Params, height int64, err error) {
	qh, err := c.queryHeight(ctx)
	if err != nil {
		return nil, 0, app.Params{}, 0, err
	}
	get := func(path string, data []byte) ([]byte, error) {
		key, err := app.QueryKey(path, data)
		if err != nil {
			return nil, err
		}
		v, _, err := c.queryAt(ctx, path, data, key, qh)
		return v, err
	}
	pv, err := get(app.PathStore, app.ParamsKey())
	if err != nil {
		return nil, 0, app.Params{}, 0, err
	}
	p, err := app.DecodeParams(pv)
	if err != nil {
		return nil, 0, app.Params{}, 0, fmt.Errorf("%w: proven parameters: %v", ErrRefused, err)
	}
	vv, err := get(app.PathValidators, nil)
	if err != nil {
		return nil, 0, app.Params{}, 0, err
	}
	var vs []app.Validator
	if vv != nil {
		if vs, err = app.DecodeValidators(vv); err != nil {
			return nil, 0, app.Params{}, 0, fmt.Errorf("%w: proven validator set: %v", ErrRefused, err)
		}
	}
	for _, v := range vs {
		n := SuperNode{Operator: v.Operator.String(), Power: v.Power}
		cv, err := get(app.PathCandidate, v.Operator[:])
		if err != nil {
			return nil, 0, app.Params{}, 0, err
		}
		if cv != nil {
			cand, err := app.DecodeCandidate(cv)
			if err != nil {
				return nil, 0, app.Params{}, 0, fmt.Errorf("%w: proven candidate: %v", ErrRefused, err)
			}
			n.Moniker, n.Stake, n.Jailed = cand.Moniker, cand.Stake, cand.Jailed
		}
		av, err := get(app.PathAccount, v.Operator[:])
		if err != nil {
			return nil, 0, app.Params{}, 0, err
		}
		if av != nil {
			acc, err := app.DecodeAccount(av)
			if err != nil {
				return nil, 0, app.Params{}, 0, fmt.Errorf("%w: proven account: %v", ErrRefused, err)
			}
			n.Balance = acc.Balance
		}
		nodes = append(nodes, n)
	}
	if len(vs) > 0 {
		rewardPerBlock, _ = app.BlockReward(p.RewardR0, p.RewardN0, uint64(len(vs)))
	}
	return nodes, rewardPerBlock, p, qh, nil
}
