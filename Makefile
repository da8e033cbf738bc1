# OEPC OS. `make run` starts a whole OE network on loopback; `make test` runs
# every test. See README.md.
GO ?= go
DEVNET_DIR ?= .devnet
BOXES ?= 6

# Each hack/mk/*.mk adds its own targets and appends to TEST_TARGETS and
# BENCH_TARGETS.
TEST_TARGETS :=
BENCH_TARGETS :=
include $(wildcard hack/mk/*.mk)

.PHONY: all build run test lint test-unit test-e2e bench tidy-check
all: build

build:
	$(GO) build -o bin/ ./appliance/... ./hack/devnet

run:
	$(GO) run ./hack/devnet --boxes $(BOXES) --dir $(DEVNET_DIR)

lint:
	@bad=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

tidy-check:
	@cp go.mod /tmp/oepc-go.mod.bak; cp go.sum /tmp/oepc-go.sum.bak; \
	  $(GO) mod tidy; \
	  if ! cmp -s go.mod /tmp/oepc-go.mod.bak || ! cmp -s go.sum /tmp/oepc-go.sum.bak; then \
	    echo "go mod tidy changes go.mod/go.sum"; cp /tmp/oepc-go.mod.bak go.mod; cp /tmp/oepc-go.sum.bak go.sum; exit 1; fi

# Libraries run under the race detector; the multi-process end-to-end tests
# in hack/ build real binaries and run without it. The image boot test runs
# from its own target (hack/mk/image.mk).
UNIT_PKGS = $$($(GO) list ./... | grep -v '/hack/')
E2E_PKGS = $$($(GO) list ./hack/... | grep -v '/hack/imagetest')

test-unit:
	$(GO) test -race -timeout 15m $(UNIT_PKGS)

test-e2e:
	$(GO) test -timeout 20m $(E2E_PKGS)

test: tidy-check lint test-unit test-e2e $(TEST_TARGETS)

bench: $(BENCH_TARGETS)
