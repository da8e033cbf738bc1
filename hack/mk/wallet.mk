# The light node's and wallet's extras (issue 12): a minute of fuzzing of
# each light-protocol decoder (make test runs their seeds only), and the
# wallet's multi-process tests three times in a row to shake flakes.
.PHONY: fuzz-light test-wallet-flakes

fuzz-light:
	for f in FuzzReadRequest FuzzReadResponse FuzzDecodeLightBlock FuzzVerifyResult FuzzItemOf; do \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 60s ./packages/chain/light/ || exit 1; done

test-wallet-flakes:
	$(GO) test -count=3 -timeout 20m -run 'TestResultsAndHistory|TestExpiredTrustingPeriod|TestLightNodeEndToEnd' ./packages/chain/light/
	$(GO) test -count=3 -timeout 20m -run 'TestWalletPageOnARealChain' ./webui/
	$(GO) test -count=3 -timeout 20m -run 'TestBoxWallet|TestBoxWithoutChain' ./packages/box/
