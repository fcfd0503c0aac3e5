# hdrlog's benchmark suite (bench/), included from the top-level Makefile.
#
#   make bench        full run (~10-20 min): regenerates bench/REPORT.md
#   make bench-quick  smoke run (< 2 min, CI): everything loads and runs;
#                     writes bench/out/REPORT-quick.md, asserts no timing
#
# Needs root, clang, libbpf-dev (bpf/bpf_helpers.h), tcpdump and iproute2;
# bench-deps installs what is missing with apt-get when run as root.
# Nothing here is part of the product: the C baselines are built only here.

BENCH_OUT    := bench/out
BENCH_CFLAGS := -O2 -g -target bpf -Wall -I/usr/include/$(shell uname -m)-linux-gnu
BENCH_C_SRCS := $(wildcard bench/c/s*.c)
BENCH_C_OBJS := $(patsubst bench/c/%.c,$(BENCH_OUT)/c/%.o,$(BENCH_C_SRCS)) \
                $(patsubst bench/c/%.c,$(BENCH_OUT)/c/%_nowake.o,$(BENCH_C_SRCS)) \
                $(BENCH_OUT)/c/s1_miss.o \
                $(BENCH_OUT)/c/twin_ssh_syn.o $(BENCH_OUT)/c/twin_ssh_syn_miss.o

.PHONY: bench bench-quick bench-build bench-deps bench-rules100k

bench-deps:
	@missing=""; \
	command -v clang >/dev/null || missing="$$missing clang"; \
	command -v llvm-objdump >/dev/null || missing="$$missing llvm"; \
	test -f /usr/include/bpf/bpf_helpers.h || missing="$$missing libbpf-dev"; \
	command -v tcpdump >/dev/null || missing="$$missing tcpdump"; \
	command -v ip >/dev/null || test -x /usr/sbin/ip || missing="$$missing iproute2"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "bench: installing$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "bench: missing$$missing (apt-get install$$missing)"; exit 1; \
		fi; \
	fi

$(BENCH_OUT)/c/%.o: bench/c/%.c bench/c/common.h | bench-deps
	@mkdir -p $(@D)
	clang $(BENCH_CFLAGS) -c $< -o $@

# The per-packet table uses twins whose wake-up threshold is out of reach
# (as hdrlog's with compiler.Options.WakeupBytes = 1<<30): see REPORT.md.
$(BENCH_OUT)/c/%_nowake.o: bench/c/%.c bench/c/common.h | bench-deps
	@mkdir -p $(@D)
	clang $(BENCH_CFLAGS) '-DWAKEUP_BYTES=(1<<30)' -c $< -o $@

# S1's twin for the event-cost benchmark: same tests, a match that never holds.
$(BENCH_OUT)/c/s1_miss.o: bench/c/s1.c bench/c/common.h | bench-deps
	@mkdir -p $(@D)
	clang $(BENCH_CFLAGS) '-DWAKEUP_BYTES=(1<<30)' -DSSH_PORT=23 -c $< -o $@

# The independent twin of S1 (its own event layout and wake-up batching)
# and its miss twin: same tests, port 23.
$(BENCH_OUT)/c/twin_ssh_syn_miss.o: bench/c/twin_ssh_syn.c | bench-deps
	@mkdir -p $(@D)
	clang $(BENCH_CFLAGS) -DDPORT=23 -c $< -o $@

bench-build: bench-deps $(BENCH_C_OBJS)
	@mkdir -p $(BENCH_OUT)/listings
	@for o in $(BENCH_C_OBJS); do llvm-objdump -d --no-show-raw-insn $$o > $(BENCH_OUT)/listings/$$(basename $$o .o).clang.txt; done
	go build -o $(BENCH_OUT)/benchreport ./bench/cmd/benchreport
	@rm -f $(BENCH_OUT)/hdrlog
	@go build -o $(BENCH_OUT)/hdrlog ./cmd/hdrlog || echo "bench: cmd/hdrlog does not build; the streaming benchmark will be skipped"

bench: bench-build otelcol bench-rules100k
	$(BENCH_OUT)/benchreport -out bench/REPORT.md -otelcol $(OTELCOL_BIN)

# 100,000 generated rules (the scaling table's shape) load, and the kernel
# logs what the reference does on frames hitting a sample of them (a few
# minutes, mostly parsing; `make test` runs the same test with 40,000).
bench-rules100k:
	$(GO) test -count=1 -timeout 30m -run '^TestKernelGeneratedRules$$' ./bench/internal/scale -v -rules 100000

bench-quick: bench-build
	$(BENCH_OUT)/benchreport -quick -out $(BENCH_OUT)/REPORT-quick.md
