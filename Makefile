# hdrlog: build, test, demo. The kernel tests and the demo need root.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# Fuzzing budgets of `make test`, in executions (10-20 s each here). A
# count, not a duration: with -fuzztime=20s, Go's fuzzing coordinator can
# fail at the deadline with "context deadline exceeded" and no failing input
# (golang/go#75804), which made CI red at random. Inputs that find new code
# are minimized in 10 runs at most, so the budget stays a budget.
FUZZ_PARSE  ?= 80000x
FUZZ_KERNEL ?= 800x
FUZZ_FLAGS  := -fuzzminimizetime=10x

.PHONY: build test demo clean

# A static binary (no cgo: it runs on any Linux, in a FROM scratch image,
# and can drop capabilities in every thread) with the version stamped.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o bin/hdrlog ./cmd/hdrlog

# Debian packages the tests use: ip (namespaces), tcpdump (recording, classic
# BPF), tshark (the Wireshark oracle), real clients and servers for the live
# L7 tests (curl, nc, dig, ping, openssl, python3), a Prometheus server that
# scrapes --metrics-addr in the metrics test. test-deps installs what
# is missing when run as root on Debian; elsewhere it only lists it.
TEST_PKGS := iproute2:ip tcpdump:tcpdump tshark:tshark curl:curl netcat-openbsd:nc \
	dnsutils:dig iputils-ping:ping openssl:openssl python3:python3 prometheus:prometheus

.PHONY: test-deps
test-deps:
	@missing=""; for p in $(TEST_PKGS); do \
		cmd=$${p#*:}; pkg=$${p%%:*}; \
		command -v $$cmd >/dev/null || test -x /usr/sbin/$$cmd || test -x /sbin/$$cmd || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "test-deps: installing$$missing"; \
			echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else \
			echo "test-deps: missing$$missing (install them, or run as root on Debian)"; \
		fi; \
	fi

# The OpenTelemetry Collector of the OTLP tests (internal/otelcoltest, a
# module of its own: the OTLP receiver and the file exporter), built once per
# version of its sources into the Go cache's parent directory, where
# cmd/hdrlog/otlp_test.go looks for it (it builds it itself when missing,
# which can outlast a test timeout on a small machine: minutes).
OTELCOL_KEY := $(shell cat internal/otelcoltest/go.mod internal/otelcoltest/go.sum internal/otelcoltest/main.go | sha256sum | cut -c1-16)
OTELCOL_BIN := $(dir $(shell $(GO) env GOCACHE))hdrlog-otelcol/$(OTELCOL_KEY)/otelcoltest
.PHONY: otelcol
otelcol:
	@test -x $(OTELCOL_BIN) || { echo "building the test collector into $(OTELCOL_BIN) (once)"; \
		mkdir -p $(dir $(OTELCOL_BIN)) && cd internal/otelcoltest && $(GO) build -o $(OTELCOL_BIN).tmp . && mv $(OTELCOL_BIN).tmp $(OTELCOL_BIN); }

# vet, every test, short fuzzing runs of the parsers and of the kernel
# against the reference evaluator, then every example through the verifier.
test: test-deps otelcol
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then \
		echo "gofmt: not formatted (run gofmt -w on them):"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...
	@if grep -qs '^func FuzzParseDSL' lang/*_test.go; then \
		echo "$(GO) test ./lang -run='^$$' -fuzz=FuzzParseDSL -fuzztime=$(FUZZ_PARSE) $(FUZZ_FLAGS)"; \
		$(GO) test ./lang -run='^$$' -fuzz=FuzzParseDSL -fuzztime=$(FUZZ_PARSE) $(FUZZ_FLAGS); \
	fi
	$(GO) test ./lang -run='^$$' -fuzz=FuzzParseHCL -fuzztime=$(FUZZ_PARSE) $(FUZZ_FLAGS)
	$(GO) test ./runtime -run='^$$' -fuzz=FuzzKernelVsReference -fuzztime=$(FUZZ_KERNEL) $(FUZZ_FLAGS)
	$(MAKE) --no-print-directory check-examples
	$(MAKE) --no-print-directory test-packaging

# Every example, in both syntaxes, through `hdrlog check --strict`, kernel
# verifier included. Without root the verifier is skipped with a notice
# (under CI=true that fails instead, as the kernel tests do).
.PHONY: check-examples
check-examples: build
	@if [ "$$(id -u)" != 0 ] && [ "$$CI" != true ]; then \
		echo "check-examples: not root, checking without the kernel verifier (--no-kernel)"; kernel=--no-kernel; \
	fi; \
	for f in examples/*.rules examples/rules/*.rules examples/hcl/*.hcl examples/sets/*.rules examples/sets/*.hcl examples/rules examples/hcl; do \
		echo "bin/hdrlog check --strict $$kernel $$f"; \
		./bin/hdrlog check --strict $$kernel $$f || exit 1; \
	done

# The service files (packaging/): the Kubernetes manifest decoded strictly
# into the API types, the systemd unit through systemd-analyze verify. A
# module of its own, so that k8s.io/api is no dependency of hdrlog.
.PHONY: test-packaging
test-packaging:
	cd packaging && $(GO) vet ./... && $(GO) test -count=1 ./...

demo: build
	./bin/hdrlog demo

clean:
	rm -rf bin

# Differential test of the kernel programs against the reference evaluator
# (runtime/replay_fuzz_test.go; root): DIFFCASES seeded cases (a random rule
# set and 8 random frames each), then the coverage-guided fuzzer for
# DIFFFUZZTIME (inputs that find new code are minimized in 10 runs at most:
# a run loads programs, and the default minute of minimization stalls the
# search). A disagreement prints the rules and the frames: reduce it to a
# case in runtime/testdata/replay/regress.
DIFFCASES    ?= 20000
DIFFFUZZTIME ?= 5m
.PHONY: fuzz-diff
fuzz-diff:
	$(GO) test ./runtime -count=1 -run '^TestKernelVsReference$$' -diff.cases=$(DIFFCASES) -timeout 0
	$(GO) test ./runtime -run '^$$' -fuzz '^FuzzKernelVsReference$$' -fuzztime=$(DIFFFUZZTIME) -fuzzminimizetime=10x

# Benchmarks (bench/): `make bench` regenerates bench/REPORT.md (~10-20 min, root);
# `make bench-quick` is the smoke run (< 2 min) that checks everything loads and runs.
include bench/bench.mk
