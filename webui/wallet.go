package webui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"oepc.dev/oepcos/packages/apitype"
	"oepc.dev/oepcos/packages/chain/tx"
)

// The Wallet page: the box's OEChain wallet and its light node, from the
// local API's /v1/wallet and /v1/chain routes (packages/chain/walletapi),
// every value proven by the light node. Owner only.

func walletPage() Page {
	return Page{Path: "/wallet", Title: "Wallet", Nav: "Wallet", Role: RoleOwner, Template: "wallet.html", Load: loadWallet, Actions: walletActions}
}

type walletData struct {
	// Off says why there is no light node (nothing else is shown then).
	Off    string
	Chain  *apitype.ChainStatus
	Wallet *apitype.WalletAnswer
	// NoKey says why there is no wallet (no personal cloud yet).
	NoKey   string
	History *apitype.WalletHistoryAnswer
	Supers  *apitype.ChainSuperNodesAnswer
	// Errs are the parts that could not load, by part.
	Errs    map[string]string
	MinFee  uint64
	Balance uint64
}

// walletConfirm is the send's confirmation step (the action's .Result).
type walletConfirm struct {
	To                       string
	Amount, Fee, Total, Left uint64
	Nonce                    uint64 // the wallet's nonce at the review
	AmountIn, FeeIn          string // as typed, for the form sent back
}

// walletLoadTimeout bounds the page's proven queries together, so that a
// slow super node makes a page that says so rather than one that hangs.
const walletLoadTimeout = 45 * time.Second

func loadWallet(c *Ctx) (any, error) {
	ctx, cancel := context.WithTimeout(c.Context(), walletLoadTimeout)
	defer cancel()
	orig := c.R
	c.R = c.R.WithContext(ctx)
	defer func() { c.R = orig }()
	d := &walletData{Errs: map[string]string{}, MinFee: 1}
	var st apitype.ChainStatus
	if err := c.API("GET", "/v1/chain/status", nil, &st); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && (ae.Status == http.StatusServiceUnavailable || ae.Status == http.StatusNotFound) {
			d.Off = strings.TrimPrefix(ae.Message, "the light node is not running: ")
			if ae.Status == http.StatusNotFound {
				d.Off = "this box's oepcd has no wallet routes"
			}
			return d, nil
		}
		d.Errs["chain"] = err.Error()
	} else {
		d.Chain = &st
	}
	var w apitype.WalletAnswer
	if err := c.API("GET", "/v1/wallet", nil, &w); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusConflict {
			d.NoKey = ae.Message
		} else {
			d.Errs["wallet"] = err.Error()
		}
	} else {
		d.Wallet, d.Balance = &w, w.Balance
		var h apitype.WalletHistoryAnswer
		if err := c.API("GET", "/v1/wallet/history?limit=20", nil, &h); err != nil {
			d.Errs["history"] = err.Error()
		} else {
			d.History = &h
		}
	}
	var sn apitype.ChainSuperNodesAnswer
	if err := c.API("GET", "/v1/chain/supernodes", nil, &sn); err != nil {
		d.Errs["supers"] = err.Error()
	} else {
		d.Supers = &sn
		d.MinFee = max(sn.MinFee, 1)
	}
	return d, nil
}

// decimals is how many digits follow an OEC amount's point.
var decimals = len(strconv.Itoa(apitype.BaseUnitsPerOEC)) - 1

// parseOEC reads an amount of OEC ("12", "0.5", "1,25") into base units,
// exactly (no floating point).
func parseOEC(s string) (uint64, error) {
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", ".")
	whole, frac, _ := strings.Cut(s, ".")
	if s == "" || (whole == "" && frac == "") || strings.ContainsAny(whole+frac, "+-. ") {
		return 0, fmt.Errorf("%q is not an amount of OEC (write it like 12 or 0.5)", s)
	}
	if len(frac) > decimals {
		return 0, fmt.Errorf("%q has more than %d digits after the point (1 base unit is 0.%0*d1 OEC)", s, decimals, decimals-1, 0)
	}
	w := uint64(0)
	if whole != "" {
		var err error
		if w, err = strconv.ParseUint(whole, 10, 64); err != nil {
			return 0, fmt.Errorf("%q is not an amount of OEC", s)
		}
	}
	f := uint64(0)
	if frac != "" {
		var err error
		if f, err = strconv.ParseUint(frac+strings.Repeat("0", decimals-len(frac)), 10, 64); err != nil {
			return 0, fmt.Errorf("%q is not an amount of OEC", s)
		}
	}
	if w > (^uint64(0)-f)/apitype.BaseUnitsPerOEC {
		return 0, fmt.Errorf("%q is more OEC than there can be", s)
	}
	return w*apitype.BaseUnitsPerOEC + f, nil
}

// oec shows base units as OEC, exactly.
func oec(n uint64) string {
	return fmt.Sprintf("%d.%0*d", n/apitype.BaseUnitsPerOEC, decimals, n%apitype.BaseUnitsPerOEC)
}

// sendForm reads and checks the send form against the wallet's balance.
func sendForm(c *Ctx) (walletConfirm, error) {
	v, err := c.Need("to", "The recipient's address", "amount", "The amount")
	if err != nil {
		return walletConfirm{}, err
	}
	to := strings.ToLower(strings.TrimPrefix(v[0], "0x"))
	if _, err := tx.ParseAddress(to); err != nil {
		return walletConfirm{}, &UserError{Status: http.StatusBadRequest, Msg: fmt.Sprintf("The recipient's address %q is not an OEChain address: it is 40 hexadecimal digits (0-9, a-f), as `oepc wallet address` prints it. Nothing was sent.", v[0])}
	}
	amount, err := parseOEC(v[1])
	if err != nil || amount == 0 {
		if err == nil {
			err = errors.New("the amount is 0")
		}
		return walletConfirm{}, &UserError{Status: http.StatusBadRequest, Msg: "The amount: " + err.Error() + ". Nothing was sent."}
	}
	feeIn := c.Form("fee")
	fee := uint64(1)
	if feeIn != "" {
		if fee, err = parseOEC(feeIn); err != nil || fee == 0 {
			if err == nil {
				err = errors.New("the fee is 0")
			}
			return walletConfirm{}, &UserError{Status: http.StatusBadRequest, Msg: "The fee: " + err.Error() + ". Nothing was sent."}
		}
	}
	var w apitype.WalletAnswer
	if err := c.API("GET", "/v1/wallet", nil, &w); err != nil {
		return walletConfirm{}, err
	}
	if to == w.Address {
		return walletConfirm{}, &UserError{Status: http.StatusBadRequest, Msg: "That is this wallet's own address: send to another one. Nothing was sent."}
	}
	total := amount + fee
	if total < amount || total > w.Balance {
		return walletConfirm{}, &UserError{Status: http.StatusUnprocessableEntity, Msg: fmt.Sprintf("%s OEC and the fee of %s OEC is more than the balance of %s OEC. Nothing was sent.", oec(amount), oec(fee), oec(w.Balance))}
	}
	return walletConfirm{To: to, Amount: amount, Fee: fee, Total: total, Left: w.Balance - total, Nonce: w.Nonce, AmountIn: v[1], FeeIn: oec(fee)}, nil
}

var walletActions = map[string]Action{
	// review is the send's first step: it checks the form and shows
	// what will be sent, for the owner to confirm.
	"review": func(c *Ctx) (string, error) {
		cf, err := sendForm(c)
		if err != nil {
			return "", err
		}
		c.Result = cf
		return "", nil
	},
	"send": func(c *Ctx) (string, error) {
		cf, err := sendForm(c)
		if err != nil {
			return "", err
		}
		if c.Form("confirm") != "yes" {
			c.Result = cf
			return "", &UserError{Status: http.StatusBadRequest, Msg: "Confirm the transfer first. Nothing was sent."}
		}
		req := apitype.WalletSendRequest{To: cf.To, Amount: cf.Amount, Fee: cf.Fee}
		if n, err := strconv.ParseUint(c.Form("nonce"), 10, 64); err == nil {
			req.Nonce = &n
		}
		var a apitype.WalletSendAnswer
		if err := c.API("POST", "/v1/wallet/send", req, &a); err != nil {
			return "", err
		}
		c.ui.log.Info("web UI: wallet transfer sent", "to", cf.To, "amount", cf.Amount, "fee", cf.Fee, "tx", a.Hash, "height", a.Height)
		return fmt.Sprintf("Sent %s OEC to %s (fee %s OEC): transaction %s, proven in block %d.", oec(cf.Amount), cf.To, oec(cf.Fee), a.Hash, a.Height), nil
	},
}
