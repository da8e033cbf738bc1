# The OE network benchmark (issue 3).
BENCH_TARGETS += bench-network
.PHONY: bench-network
bench-network:
	$(GO) run ./hack/bench/network
