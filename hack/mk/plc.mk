# Home automation (issue 11): the Insteon driver on the simulated modem
# (real 19200 baud and power-line timing): command latency from the API
# call to the device's ACK, beside a bare host on a second line in the same
# run and the physical limit, and commands/s through one modem.
.PHONY: bench-plc
BENCH_TARGETS += bench-plc

bench-plc:
	$(GO) test -run '^$$' -bench . -benchtime 20x ./plc/insteon/
