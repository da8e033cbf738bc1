# X10 CM11A (issue 11): command latency and commands/s through plc/x10
# against x10sim in real time (4800 baud, 60 Hz power line), beside the
# physical limit of the line and a raw hand-written exchange. The driver's
# tests run under make test-unit with every library.
.PHONY: bench-x10
BENCH_TARGETS += bench-x10

bench-x10:
	$(GO) test -run '^$$' -bench 'Command' -benchtime 10x ./plc/x10/
