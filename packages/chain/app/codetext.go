package app

import "fmt"

var codeTexts = map[uint32]string{
	CodeOK:                "ok",
	CodeMalformed:         "malformed transaction",
	CodeWrongChain:        "signed for another chain",
	CodeBadSignature:      "bad signature",
	CodeReplay:            "nonce already used (replay)",
	CodeFutureNonce:       "nonce ahead of the account's next one",
	CodeInsufficientFunds: "insufficient funds",
	CodeFeeTooLow:         "fee below the chain's minimum",
	CodeInvalidMsg:        "invalid message",
	CodeUnknownCandidate:  "no such candidate",
	CodeCandidateExists:   "candidate exists already",
	CodeNoDelegation:      "no such delegation",
	CodeStillJailed:       "candidate still jailed",
	CodeNotJailed:         "candidate not jailed",
	CodeBadReceipt:        "bad receipt",
	CodeDuplicateReceipt:  "receipt credited before",
	CodeUnknownQuery:      "unknown query",
	CodeBadQuery:          "bad query",
}

// CodeText is what a result code means, for a user.
func CodeText(code uint32) string {
	if t, ok := codeTexts[code]; ok {
		return t
	}
	return fmt.Sprintf("unknown code %d", code)
}
