# The Files page (issue 10): a file uploaded through the browser beside the
# same file put with oepc (throughput ratio, box 1's peak RSS), the first
# render of a 10,000-item folder, and the bytes each page transfers. Needs
# chromium and hack/webuitest's npm packages (make test-webui installs them).
.PHONY: bench-files
BENCH_TARGETS += bench-files

bench-files: webuitest-deps
	$(GO) run ./hack/bench/files $(if $(MIB),-mib $(MIB)) $(if $(ITEMS),-items $(ITEMS))
