# OEChain (issue 12): the chain's unit tests and its 4-node loopback network
# test run in test-unit (packages/chain/...). These are extras.
.PHONY: test-chain-flakes fuzz-chain

# The multi-node tests, five times under the race detector, to shake flakes.
test-chain-flakes:
	$(GO) test -race -count=5 -timeout 20m -run 'TestNetwork|TestSuperNodeValidator' ./packages/chain/node/ ./packages/supernode/

# A minute of fuzzing of each chain decoder (make test runs their seeds only).
fuzz-chain:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 60s ./packages/chain/tx/
	$(GO) test -run '^$$' -fuzz FuzzDecodeState -fuzztime 60s ./packages/chain/app/

# OEChain's benchmarks (figures in README.md, "OEChain"): the light node's
# sync from genesis to height 10,000 (time, bytes), a verified balance
# query's latency, the memory the light node adds to a process, and the
# transfers per second the 4-validator devnet sustains.
.PHONY: bench-chain
BENCH_TARGETS += bench-chain
bench-chain:
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m -v ./hack/bench/chain/
