# HDMI (issue 13): the EDID parser, mode choice and the edid command.
#
#   make test-hdmi    installs Debian's edid-decode (the independent
#                     reference the corpus test compares against) and runs
#                     the hdmi tests with CI=true, so a missing edid-decode
#                     fails instead of skipping
#   make bench-hdmi   parse time per EDID over the corpus, beside a baseline
#                     that only reads the same bytes
#   make fuzz-hdmi    fuzzes the parser (FUZZTIME, default 60s per target);
#                     make test runs the fuzz seeds only
#
# The corpus is read in place from shared/testdata/edid beside the
# repository (../shared in the CI clone).
HDMI_DEPS += edid-decode
HDMI_PKGS := ./hdmi/edid/... ./hdmi/mode/... ./hdmi/cmd/edid/...
FUZZTIME ?= 60s

.PHONY: hdmi-deps test-hdmi bench-hdmi fuzz-hdmi
TEST_TARGETS += test-hdmi
BENCH_TARGETS += bench-hdmi

hdmi-deps:
	@hack/install-deps.sh $(HDMI_DEPS)

# test-unit runs the hdmi packages too: have edid-decode there first.
test-unit: hdmi-deps

test-hdmi: hdmi-deps
	CI=true $(GO) test -race -count=1 $(HDMI_PKGS)

bench-hdmi: hdmi-deps
	$(GO) test -run '^$$' -bench 'Parse' -benchtime 2s -count 3 ./hdmi/edid/

fuzz-hdmi:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./hdmi/edid/
	$(GO) test -run '^$$' -fuzz '^FuzzParseValidBlocks$$' -fuzztime $(FUZZTIME) ./hdmi/edid/
