# Personal cloud (issue 4): the single-box pipeline beside raw AEAD, and put
# and get of a 1 GiB file on a 6-box loopback devnet (throughput, peak RSS
# of the uploading box).
.PHONY: bench-cloud
BENCH_TARGETS += bench-cloud

bench-cloud:
	$(GO) test -run '^$$' -bench PipelineVsAEAD -benchtime 3s ./packages/cloud/codec/
	OEPC_BENCH_SIZE=$${OEPC_BENCH_SIZE:-1073741824} $(GO) test -run '^$$' -bench CloudDevnet -benchtime 1x -timeout 30m ./hack/e2e/
