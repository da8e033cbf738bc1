package cli

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"text/tabwriter"

	"oepc.dev/oepcos/packages/apitype"
)

func walletCommands() map[string]Command {
	return map[string]Command{
		"wallet address": {"wallet address [--json]", "the box's OEChain address (its key comes from the cloud's recovery phrase)", cmdWalletAddress},
		"wallet balance": {"wallet balance [--json]", "the wallet's balance, proven against a verified block", cmdWalletBalance},
		"wallet send":    {"wallet send [--fee N] [--json] ADDRESS AMOUNT", "send AMOUNT base units; waits until the transfer is proven in a block", cmdWalletSend},
		"wallet history": {"wallet history [--limit N] [--blocks] [--json]", "the wallet's sent and received transactions, newest first, proven in the verified state (--blocks: each also in its block)", cmdWalletHistory},
		"chain status":   {"chain status [--json]", "the light node: verified height, lag, primary and witnesses", cmdChainStatus},
	}
}

func wallet(ctx context.Context, c *Ctx) (apitype.WalletAnswer, error) {
	var a apitype.WalletAnswer
	err := c.API.Do(ctx, "GET", "/v1/wallet", nil, &a)
	return a, err
}

func cmdWalletAddress(ctx context.Context, c *Ctx, args []string) error {
	var asJSON bool
	if _, err := flags("wallet address", args, func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "") }); err != nil {
		return err
	}
	a, err := wallet(ctx, c)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.Stdout, map[string]string{"address": a.Address})
	}
	_, err = fmt.Fprintln(c.Stdout, a.Address)
	return err
}

func oec(n uint64) string {
	return fmt.Sprintf("%d.%0*d OEC", n/apitype.BaseUnitsPerOEC, len(strconv.FormatUint(apitype.BaseUnitsPerOEC, 10))-1, n%apitype.BaseUnitsPerOEC)
}

func cmdWalletBalance(ctx context.Context, c *Ctx, args []string) error {
	var asJSON bool
	if _, err := flags("wallet balance", args, func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "") }); err != nil {
		return err
	}
	a, err := wallet(ctx, c)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.Stdout, a)
	}
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "address\t%s\n", a.Address)
	fmt.Fprintf(w, "balance\t%s (%d base units)\n", oec(a.Balance), a.Balance)
	fmt.Fprintf(w, "proven at\theight %d\n", a.Height)
	return w.Flush()
}

func cmdWalletSend(ctx context.Context, c *Ctx, args []string) error {
	var asJSON bool
	var fee uint64
	rest, err := flags("wallet send", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "")
		fs.Uint64Var(&fee, "fee", 1, "fee in base units")
	})
	if err != nil {
		return err
	}
	if len(rest) != 2 {
		return Usagef("wallet send: want ADDRESS AMOUNT")
	}
	amount, err := strconv.ParseUint(rest[1], 10, 64)
	if err != nil || amount == 0 {
		return Usagef("wallet send: AMOUNT %q: want a whole number of base units above 0", rest[1])
	}
	var s apitype.WalletSendAnswer
	if err := c.API.Do(ctx, "POST", "/v1/wallet/send", apitype.WalletSendRequest{To: rest[0], Amount: amount, Fee: fee}, &s); err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.Stdout, s)
	}
	_, err = fmt.Fprintf(c.Stdout, "sent %d base units to %s: transaction %s, proven in block %d\n", amount, rest[0], s.Hash, s.Height)
	return err
}

func cmdChainStatus(ctx context.Context, c *Ctx, args []string) error {
	var asJSON bool
	if _, err := flags("chain status", args, func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "") }); err != nil {
		return err
	}
	var st apitype.ChainStatus
	if err := c.API.Do(ctx, "GET", "/v1/chain/status", nil, &st); err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.Stdout, st)
	}
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "chain\t%s\n", st.ChainID)
	fmt.Fprintf(w, "verified height\t%d (%s), %d behind the primary\n", st.VerifiedHeight, st.VerifiedTime.Format("2006-01-02 15:04:05Z07:00"), st.Lag)
	fmt.Fprintf(w, "primary\t%s\n", st.Primary)
	for _, p := range st.Witnesses {
		fmt.Fprintf(w, "witness\t%s\n", p)
	}
	if st.Stalled != "" {
		fmt.Fprintf(w, "stalled\t%s\n", st.Stalled)
	}
	return w.Flush()
}

func cmdWalletHistory(ctx context.Context, c *Ctx, args []string) error {
	var asJSON bool
	var limit int
	var blocks bool
	if _, err := flags("wallet history", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "")
		fs.BoolVar(&blocks, "blocks", false, "prove each transaction in its block too (slower for old blocks)")
		fs.IntVar(&limit, "limit", 20, "how many of the newest (1 to 100)")
	}); err != nil {
		return err
	}
	if limit < 1 || limit > 100 {
		return Usagef("wallet history: --limit %d: want 1 to 100", limit)
	}
	var h apitype.WalletHistoryAnswer
	q := "/v1/wallet/history?limit=" + strconv.Itoa(limit)
	if blocks {
		q += "&blocks=1"
	}
	if err := c.API.Do(ctx, "GET", q, nil, &h); err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.Stdout, h)
	}
	fmt.Fprintf(c.Stdout, "%s: %d transactions, proven at height %d\n", h.Address, h.Total, h.Height)
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "BLOCK\tDIRECTION\tTYPE\tAMOUNT\tFEE\tOTHER PARTY\tRESULT\tHASH")
	for _, it := range h.Items {
		other := it.To
		if it.Direction == "received" {
			other = it.From
		}
		result := "ok"
		if it.Code != 0 {
			result = fmt.Sprintf("failed: code %d (%s)", it.Code, it.Reason)
		}
		fee := oec(it.Fee)
		if it.Direction == "received" {
			fee = "-"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Height, it.Direction, it.Type, oec(it.Amount), fee, other, result, it.Hash)
	}
	return w.Flush()
}

// chainLine is the light node in `oepc status`.
func chainLine(ch *apitype.ChainSummary) string {
	if !ch.Running {
		return "not running: " + ch.Error
	}
	s := fmt.Sprintf("verified height %d, %d behind", ch.VerifiedHeight, ch.Lag)
	if ch.Error != "" {
		s += "; last update: " + ch.Error
	}
	return s
}
