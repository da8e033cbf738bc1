# The web UI in real Chromium (issue 10): Debian's chromium driven by npm
# playwright-core (hack/webuitest/package.json and its lockfile, installed
# with npm ci when missing) against a two-box devnet. Screenshots of every
# page at phone and desktop size land in build/webui-screenshots/.
.PHONY: test-webui webuitest-deps
TEST_TARGETS += test-webui
WEBUI_DEPS := chromium

# Node and npm: Debian's packages only where no node/npm is on PATH (a
# machine may have them from elsewhere, e.g. NodeSource's nodejs with npm).
webuitest-deps:
	@hack/install-deps.sh $(WEBUI_DEPS)
	@command -v node >/dev/null || hack/install-deps.sh nodejs
	@command -v npm >/dev/null || hack/install-deps.sh npm
	@test -d hack/webuitest/node_modules/playwright-core -a -d hack/webuitest/node_modules/axe-core || \
	  (cd hack/webuitest && npm ci --no-audit --no-fund)

test-webui: webuitest-deps
	OEPC_WEBUI_TEST=1 $(GO) test -count=1 -timeout 12m -v -run 'TestWebUI' ./hack/webuitest
