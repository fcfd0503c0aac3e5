# hdrlog: build, test, demo. The kernel tests and the demo need root.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
FUZZTIME ?= 20s

.PHONY: build test demo clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/hdrlog ./cmd/hdrlog

# vet, every test, then a short fuzzing run of the DSL parser.
test:
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	@if grep -qs '^func FuzzParseDSL' lang/*_test.go; then \
		echo "$(GO) test ./lang -run='^$$' -fuzz=FuzzParseDSL -fuzztime=$(FUZZTIME)"; \
		$(GO) test ./lang -run='^$$' -fuzz=FuzzParseDSL -fuzztime=$(FUZZTIME); \
	fi

demo: build
	./bin/hdrlog demo

clean:
	rm -rf bin

# Benchmarks (bench/): `make bench` regenerates bench/REPORT.md (~10-20 min, root);
# `make bench-quick` is the smoke run (< 2 min) that checks everything loads and runs.
include bench/bench.mk
