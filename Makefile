# make test is what CI runs (.ci/run) and what a new contributor runs: it
# installs what the tests need that Go does not bring, then checks
# formatting, vets and runs every module's tests with the race detector
# (scripts/check): every step runs even when one fails, and the end prints
# each step's result and the failing tests. The targets below run one step
# alone, stopping at the first failure.

SHELL := /bin/bash
GO ?= go
# Every directory with a go.mod: the library and the benchmark module.
MODULES := $(sort $(dir $(shell find . -name go.mod -not -path './.git/*')))

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GREMLINS := github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0

.PHONY: test deps vet fmt-check staticcheck race bench-smoke bench mutate mutate-codec mutate-lua soak

test: deps
	@scripts/check

# From Debian's packages: redis-server for the Redis store's tests (the
# package also starts a system server on 6379, which the tests never use),
# chromium for the dashboard's browser test.
DEBIAN_PACKAGES := redis-server:redis-server chromium:chromium

deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
		command -v $${p%%:*} >/dev/null 2>&1 || missing="$$missing $${p#*:}"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi; \
	for p in $(DEBIAN_PACKAGES); do command -v $${p%%:*} >/dev/null || { echo "$${p%%:*} is missing"; exit 1; }; done

vet:
	@set -e; for m in $(MODULES); do echo "go vet $$m"; (cd $$m && $(GO) vet ./...); done

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi; echo "gofmt: ok"

staticcheck:
	@set -e; for m in $(MODULES); do echo "staticcheck $$m"; (cd $$m && GOFLAGS= $(GO) run $(STATICCHECK) ./...); done

race:
	@set -e; for m in $(MODULES); do echo "go test -race $$m"; (cd $$m && $(GO) test -race -count=1 ./...); done

# Every benchmark once, so none rots; the figures come from make bench.
bench-smoke:
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) test -short -run '^$$' -bench . -benchtime 1x ./... >/dev/null); done; echo "benchmarks: ok"

# The tables in docs/performance.md: the comparison (six runs of each benchmark),
# the fleet store at scale (one run of each size, about a minute), and the
# fleet's protection of a failing backend (three runs of each system,
# about two and a half minutes), and fleet-wide throttling against a
# backend of fixed capacity (8 members; 32 members of 5 calls a second,
# fleet-wide and per member).
bench:
	cd bench && $(GO) test -run '^$$' -bench . -skip 'FleetScale|FleetWindowCost|FleetProtection' -benchmem -count 6 . | tee bench.txt
	cd bench && $(GO) test -run '^$$' -bench 'FleetScale|FleetWindowCost' -benchtime 1x -count 1 . | tee scale.txt
	cd bench && $(GO) test -run '^$$' -bench FleetProtection -benchtime 1x -count 1 . | tee protection.txt
	cd redisstore && INFUSE_LONG=1 $(GO) test -count=1 -run 'FleetThrottle' -v . | grep -E 'members|^(ok|FAIL|---)' | tee ../bench/throttle.txt

# Mutation testing, not part of make test (about half an hour on 2 cores;
# the figures and the mutants that live are in docs/testing-mutants.md).
# First the Redis store's Lua scripts (mutate-lua). Then the core: the
# root package, the store contract (storage) and the core's internal
# packages (MUTATE_CORE), in one gremlins run whose other folders are
# excluded (the other modules, the integrations, the dev tools in
# internal/cmd). A mutant is tested by its own package's tests; -short
# skips the two tests that run the go command (they catch no mutant and
# cost a compile each), and vet is left to make vet. The coverage run that
# sets the timeout covers the whole module (the simulator's tests most of
# it), so a coefficient of 4 still gives a mutant more than ten times what
# its package's tests take. It runs in a copy of the tree: gremlins
# mutates the files where they are. At the end, the core's table: per
# package and in all, the mutants, the share covered by a test, and the
# share of those killed (internal/cmd/mutants; -lived lists the
# survivors). Gremlins counts the mutants of a switch's case expressions
# and of package-level declarations as not covered, since Go's coverage
# has no block there, whatever the tests do: internal/cmd/mutants -run
# tests those itself, as gremlins would, before it prints the table.
MUTATE_DIR := $(CURDIR)/.mutate
MUTATE_CORE := . storage internal/meter internal/coarse internal/shed
# The property tests (rapid) as make test runs them (-short would run a
# fifth of their cases), from one seed, so that a run is repeatable, and
# without shrinking a failure for long or writing it down: a mutant needs
# only to fail.
MUTATE_RAPID := RAPID_CHECKS=500 RAPID_SEED=27 RAPID_SHRINKTIME=100ms RAPID_NOFAILFILE=1
MUTATE_START := $(shell date +%s)
mutate: mutate-lua
	rm -rf $(MUTATE_DIR) && mkdir -p $(MUTATE_DIR)
	git ls-files -z | xargs -0 cp --parents -t $(MUTATE_DIR)
	exclude=$$(git ls-files '*.go' | xargs -n1 dirname | sort -u | grep -vxF $(addprefix -e ,$(MUTATE_CORE)) | sed 's|.*|--exclude-files=^&/|'); \
	cd $(MUTATE_DIR) && GOFLAGS='-count=1 -vet=off -short' GOWORK=off $(MUTATE_RAPID) $(GO) run $(GREMLINS) unleash --timeout-coefficient 4 \
		$$exclude -o $(MUTATE_DIR)/core.json .
	GOFLAGS='-count=1 -vet=off -short' $(MUTATE_RAPID) $(GO) run ./internal/cmd/mutants -run $(MUTATE_DIR) $(MUTATE_DIR)/core.json > $(MUTATE_DIR)/core.md
	@echo; echo "The core, at $$(git rev-parse --short HEAD) (make mutate took $$(( ($$(date +%s) - $(MUTATE_START)) / 60 )) minutes in all):"; \
		cat $(MUTATE_DIR)/core.md

# redisstore's decoders and key layout (codec.go, layout.go; every other
# file of the module is excluded) against their own tests (Decode, Escape,
# Keys and the fuzz targets' seeds): redisstore's whole suite takes
# minutes a run, too long for one run per mutant, and even these tests
# cost a compile of the module's test binary a mutant (about 20 minutes
# on 2 cores). In a copy of the tree whose redisstore/go.mod points at the
# core instead of the workspace: gremlins mutates a copy of one module,
# and the workspace would point the tests back at the unmutated one.
MUTATE_CODEC_DIR := $(CURDIR)/.mutate-codec
mutate-codec:
	rm -rf $(MUTATE_CODEC_DIR) && mkdir -p $(MUTATE_CODEC_DIR)
	git ls-files -z | xargs -0 cp --parents -t $(MUTATE_CODEC_DIR)
	exclude=$$(cd redisstore && git ls-files '*.go' | grep -vxF -e codec.go -e layout.go | sed 's|.*|--exclude-files=^&$$|'); \
	cd $(MUTATE_CODEC_DIR)/redisstore && GOWORK=off $(GO) mod edit -replace github.com/infuse-go/infuse=$(MUTATE_CODEC_DIR) && \
		INFUSE_TEST_RUN='Decode|Escape|Keys|Fuzz' GOFLAGS=-count=1 GOWORK=off $(GO) run $(GREMLINS) unleash --timeout-coefficient 10 \
		$$exclude -o $(MUTATE_CODEC_DIR)/codec.json .
	$(GO) run ./internal/cmd/mutants -root redisstore $(MUTATE_CODEC_DIR)/codec.json

# The Redis store's Lua scripts (redisstore/lua), which gremlins does not
# mutate: each mutant of a script's guards (a comparison flipped or
# negated, and/or swapped, a not or a guard's return dropped, a limit off
# by one) against that script's own test on a real Redis (about two and a
# half minutes on 2 cores). It prints killed/total per script and the
# survivors, and fails below 90 % killed; redisstore/lua/MUTANTS.md has
# the figure and why each survivor lives.
mutate-lua:
	cd redisstore && $(GO) test -tags luamutants -count=1 -timeout 60m -run '^TestLuaMutants$$' -v .

# make test, again and again from clean clones of HEAD, with a CPU hog per
# core beside it and without (SOAK_RUNS=10 of each, about an hour and a
# half on 2 cores): it prints passes/runs for each.
soak:
	scripts/soak
