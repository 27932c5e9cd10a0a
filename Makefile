# Wacht build. `make` builds the BPF skeleton and wacht-sensor; `make test`
# runs every test (see tests/run). Debian packages: scripts/install-deps.sh.

ARCH ?= $(shell uname -m)
BPF_ARCH := $(subst x86_64,x86,$(subst aarch64,arm64,$(ARCH)))
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= gcc
BUILD ?= build
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.1.0)

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -Wall -Werror \
	-Ibpf -Ibpf/include -Ibpf/vmlinux/$(ARCH)
CFLAGS ?= -O2 -g
WFLAGS := -std=gnu11 -Wall -Wextra -Werror -Wno-missing-field-initializers
CPPFLAGS += -Ibpf -Iuserspace -I$(BUILD) -DWACHT_VERSION=\"$(VERSION)\" -D_GNU_SOURCE
PKGS := libbpf json-c yaml-0.1 libprotobuf-c sqlite3 openssl libpq libnats
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lbpf -ljson-c -lyaml -lprotobuf-c -lsqlite3 -lssl -lcrypto -lpq -lnats)
LDLIBS += $(PKG_LIBS) -lelf -lz -lpthread
# The aggregator's HTTP API (libmicrohttpd; token hashes with libcrypto) and
# wachtctl's client (libcurl): linked into the aggregator, wachtctl and the
# tests, never into the sensor.
API_PKGS := libmicrohttpd libcrypto libcurl
API_CFLAGS := $(shell pkg-config --cflags $(API_PKGS) 2>/dev/null)
API_LIBS := $(shell pkg-config --libs $(API_PKGS) 2>/dev/null || echo -lmicrohttpd -lcrypto -lcurl)
# The sensor's --health-listen endpoint (userspace/health.c): libmicrohttpd
# alone, none of the aggregator's API.
HEALTH_CFLAGS := $(shell pkg-config --cflags libmicrohttpd 2>/dev/null)
HEALTH_LIBS := $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)

# BPF: one object per concern, statically linked into one skeleton.
# maps.bpf.c first: the static linker resolves the other objects' extern
# maps against a definition it has already seen.
BPF_SRCS := bpf/maps.bpf.c $(filter-out bpf/maps.bpf.c,$(wildcard bpf/*.bpf.c))
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
BPF_HDRS := bpf/events.h bpf/enforce.h $(wildcard bpf/include/*.h)

# Userspace that needs neither root nor the kernel: unit-tested directly.
# Userspace that talks to the kernel or the system.
SYS_SRCS := userspace/loader.c userspace/containers.c userspace/enforcer.c userspace/file_guard.c \
	userspace/sysenv.c userspace/sensor.c userspace/sensor_rules.c userspace/health.c userspace/flow_reader.c
MAIN_SRC := userspace/main.c
# wacht-aggregator's event loop, NATS consumer thread and command line
# (sockets, threads, signals).
AGG_SRCS := userspace/aggregator.c userspace/agg_bus.c userspace/aggregator_main.c
# A simulated sensor for the scale-out path (NATS JetStream): load, and
# messages a real sensor never sends (duplicates, resends, garbage), for
# tests/integration/test_scaleout.py.
BUS_MAINS := userspace/bus_publish_main.c
BUS_BINS := $(BUILD)/wacht-bus-publish
# The HTTP API the aggregator embeds (api__start): no root, unit-tested, but
# not part of the sensor.
API_SRCS := userspace/api.c userspace/api_tokens.c userspace/api_metrics.c
WACHTCTL_SRC := userspace/wachtctl.c
# Everything else in userspace/ is pure logic (no root, no kernel) and is
# linked into every unit test.
PURE_SRCS := $(filter-out $(SYS_SRCS) $(MAIN_SRC) $(AGG_SRCS) $(BUS_MAINS) $(API_SRCS) $(WACHTCTL_SRC),$(wildcard userspace/*.c))

PURE_OBJS := $(patsubst userspace/%.c,$(BUILD)/%.o,$(PURE_SRCS))
SYS_OBJS := $(patsubst userspace/%.c,$(BUILD)/%.o,$(SYS_SRCS))
AGG_OBJS := $(patsubst userspace/%.c,$(BUILD)/%.o,$(AGG_SRCS))
API_OBJS := $(patsubst userspace/%.c,$(BUILD)/%.o,$(API_SRCS))

# The wire format: C generated from proto/wacht.proto at build time (never
# checked in, never edited). Linked wherever the pure sources are.
PB_SRC := $(BUILD)/wacht.pb-c.c
PB_HDR := $(BUILD)/wacht.pb-c.h
PB_OBJ := $(BUILD)/wacht.pb-c.o

# The web page (ui/*), embedded into the aggregator: C generated at build
# time by scripts/embed-ui.sh (never checked in, never edited), linked
# wherever the API is.
UI_FILES := $(sort $(wildcard ui/*))
UI_SRC := $(BUILD)/ui_files.c
UI_OBJ := $(BUILD)/ui_files.o

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))
SAN_BINS := $(patsubst tests/unit/%.c,$(BUILD)/unit-san/%,$(UNIT_SRCS))
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.PHONY: all clean unit unit-san test run install-deps vmlinux fuzz bench bench-rules bench-enforce bench-flows image \
	bench-aggregator bench-graph bus
all: $(BUILD)/wacht-sensor $(BUILD)/wacht-aggregator $(BUS_BINS) $(BUILD)/wachtctl \
	$(BUILD)/wacht-api-fixture $(BUILD)/wacht-peer-sensor
bus: $(BUS_BINS)

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) | $(BUILD)/bpf
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/wacht.bpf.o: $(BPF_OBJS)
	$(BPFTOOL) gen object $@ $^

$(BUILD)/wacht.skel.h: $(BUILD)/wacht.bpf.o
	$(BPFTOOL) gen skeleton $< name wacht_bpf > $@.tmp && mv $@.tmp $@

$(BUILD)/loader.o: $(BUILD)/wacht.skel.h

# Both files from one protoc-c run (a grouped target).
$(PB_SRC) $(PB_HDR) &: proto/wacht.proto | $(BUILD)
	protoc-c --proto_path=proto --c_out=$(BUILD) $<

# Any userspace object may include wire.h, hence wacht.pb-c.h.
$(PURE_OBJS) $(SYS_OBJS) $(AGG_OBJS) $(API_OBJS) $(BUILD)/main.o $(patsubst userspace/%.c,$(BUILD)/%.o,$(BUS_MAINS)): $(PB_HDR)

$(UI_SRC): $(UI_FILES) scripts/embed-ui.sh | $(BUILD)
	scripts/embed-ui.sh $(UI_FILES) > $@.tmp && mv $@.tmp $@

$(UI_OBJ): $(UI_SRC) userspace/ui_files.h
	$(CC) $(CPPFLAGS) $(WFLAGS) $(CFLAGS) -c $< -o $@

$(PB_OBJ): $(PB_SRC) $(PB_HDR)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(WFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/%.o: userspace/%.c $(wildcard userspace/*.h) bpf/events.h bpf/enforce.h | $(BUILD)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(WFLAGS) $(CFLAGS) -c $< -o $@

# rules/default.yaml, built in (.incbin; paths relative to the top directory)
$(BUILD)/default_rules.o: userspace/default_rules.S rules/default.yaml | $(BUILD)
	$(CC) -c $< -o $@

$(BUILD)/wacht-sensor: $(BUILD)/main.o $(BUILD)/default_rules.o $(SYS_OBJS) $(PURE_OBJS) $(PB_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) $(HEALTH_LIBS)

$(BUILD)/health.o: userspace/health.c $(wildcard userspace/*.h) | $(BUILD)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(HEALTH_CFLAGS) $(WFLAGS) $(CFLAGS) -c $< -o $@

# The aggregator links the pure modules (wire, store, ingest, tls), no BPF.
$(BUILD)/wacht-aggregator: $(AGG_OBJS) $(API_OBJS) $(UI_OBJ) $(PURE_OBJS) $(PB_OBJ)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS) $(API_LIBS)

$(BUILD)/wacht-bus-%: $(BUILD)/bus_%_main.o $(PURE_OBJS) $(PB_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(API_OBJS) $(BUILD)/wachtctl.o: $(BUILD)/%.o: userspace/%.c $(wildcard userspace/*.h) | $(BUILD)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(API_CFLAGS) $(WFLAGS) $(CFLAGS) -c $< -o $@

# wachtctl: the CLI, an HTTP client of the API (libcurl, json-c).
$(BUILD)/wachtctl: $(BUILD)/wachtctl.o
	$(CC) $(CFLAGS) -o $@ $^ $(shell pkg-config --libs json-c libcurl 2>/dev/null || echo -ljson-c -lcurl)

# The API alone over a fixture store, for wachtctl's integration test.
$(BUILD)/wacht-api-fixture: tests/integration/progs/api_fixture.c $(API_OBJS) $(UI_OBJ) $(PURE_OBJS) $(PB_OBJ)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(API_CFLAGS) $(WFLAGS) $(CFLAGS) -o $@ $^ $(LDLIBS) $(API_LIBS)

# A sensor of another node as far as the peer map goes (hello, endpoints,
# prints the PeerMaps it gets), for tests/integration/test_peermap.py.
$(BUILD)/wacht-peer-sensor: tests/integration/progs/peer_sensor.c $(PURE_OBJS) $(PB_OBJ)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(WFLAGS) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests and fuzzers link the pure modules (no root, no kernel) from an
# archive built once per flavour (plain, sanitized, fuzzing): each test
# pulls in what it uses, and no source is compiled once per test.
TEST_SRCS := $(PURE_SRCS) $(API_SRCS)
UNIT_LIB := $(BUILD)/libwacht-test.a
SAN_LIB := $(BUILD)/san/libwacht-test.a
FUZZ_LIB := $(BUILD)/fuzzobj/libwacht-test.a
SAN_OBJS := $(patsubst userspace/%.c,$(BUILD)/san/%.o,$(TEST_SRCS)) $(BUILD)/san/wacht.pb-c.o \
	$(BUILD)/san/ui_files.o
FUZZ_OBJS := $(patsubst userspace/%.c,$(BUILD)/fuzzobj/%.o,$(PURE_SRCS)) $(BUILD)/fuzzobj/wacht.pb-c.o
FUZZ_FLAGS := -std=gnu11 -g -O1 -fsanitize=fuzzer-no-link,address,undefined

$(UNIT_LIB): $(PURE_OBJS) $(API_OBJS) $(UI_OBJ) $(PB_OBJ)
	rm -f $@ && ar rcs $@ $^
$(SAN_LIB): $(SAN_OBJS)
	rm -f $@ && ar rcs $@ $^
$(FUZZ_LIB): $(FUZZ_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/san/%.o: userspace/%.c $(wildcard userspace/*.h) bpf/events.h bpf/enforce.h $(PB_HDR) | $(BUILD)/san
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(API_CFLAGS) $(WFLAGS) -O1 -g $(SAN_FLAGS) -c $< -o $@
$(BUILD)/san/wacht.pb-c.o: $(PB_SRC) $(PB_HDR) | $(BUILD)/san
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(WFLAGS) -O1 -g $(SAN_FLAGS) -c $< -o $@
$(BUILD)/san/ui_files.o: $(UI_SRC) userspace/ui_files.h | $(BUILD)/san
	$(CC) $(CPPFLAGS) $(WFLAGS) -O1 -g $(SAN_FLAGS) -c $< -o $@
$(BUILD)/fuzzobj/%.o: userspace/%.c $(wildcard userspace/*.h) bpf/events.h bpf/enforce.h $(PB_HDR) | $(BUILD)/fuzzobj
	clang $(CPPFLAGS) $(PKG_CFLAGS) $(FUZZ_FLAGS) -c $< -o $@
$(BUILD)/fuzzobj/wacht.pb-c.o: $(PB_SRC) $(PB_HDR) | $(BUILD)/fuzzobj
	clang $(CPPFLAGS) $(PKG_CFLAGS) $(FUZZ_FLAGS) -c $< -o $@

$(BUILD)/unit/%: tests/unit/%.c $(UNIT_LIB) $(wildcard userspace/*.h) bpf/events.h | $(BUILD)/unit
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(API_CFLAGS) $(WFLAGS) $(CFLAGS) -o $@ $< $(UNIT_LIB) -lcmocka $(PKG_LIBS) $(API_LIBS) -lpthread

$(BUILD)/unit-san/%: tests/unit/%.c $(SAN_LIB) $(wildcard userspace/*.h) bpf/events.h | $(BUILD)/unit-san
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(API_CFLAGS) $(WFLAGS) -O1 -g $(SAN_FLAGS) -o $@ $< $(SAN_LIB) -lcmocka $(PKG_LIBS) $(API_LIBS) -lpthread

unit: $(UNIT_BINS)
unit-san: $(SAN_BINS)

$(BUILD) $(BUILD)/bpf $(BUILD)/unit $(BUILD)/unit-san $(BUILD)/fuzz $(BUILD)/san $(BUILD)/fuzzobj:
	mkdir -p $@

# libFuzzer targets for every parser of untrusted input.
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB) $(wildcard userspace/*.h) | $(BUILD)/fuzz
	clang $(CPPFLAGS) $(PKG_CFLAGS) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_LIB) $(PKG_LIBS) -lpthread
fuzz: $(FUZZ_BINS)

test: all unit unit-san
	tests/run

run: all
	$(BUILD)/wacht-sensor

# Benchmarks (root; ~14 min; writes bench/RESULTS.md). Not part of `test`.
# Every bench target ends with bench/collect, which copies the tables of
# bench/RESULTS-*.md into RESULTS.md's last section.
bench: all
	scripts/install-deps.sh --bench
	$(MAKE) -C bench
	bench/run
	$(MAKE) bench-rules

# Protect-mode enforcement against Monitor and no sensor (root, ~3 min;
# writes bench/RESULTS-enforce.md).
bench-enforce: all
	bench/enforce
	bench/collect

# Flow accounting against no sensor on a bulk TCP transfer (root, ~2 min;
# writes bench/RESULTS-flows.md).
bench-flows: all
	bench/flows
	bench/collect

# Rule-matching throughput alone (no root, ~1 min; writes bench/RESULTS-rules.md).
bench-rules:
	$(MAKE) -C bench build/rules_bench
	{ echo "# rules_bench, $$(git describe --always --dirty), $$(uname -r), $$(nproc) CPUs, $$(date -u +%F)"; echo; \
	  bench/build/rules_bench --rules-file rules/default.yaml; } | tee bench/RESULTS-rules.md
	bench/collect

# Aggregator ingest: 100 simulated sensors over TLS against wacht-aggregator
# (no root, ~2 min; writes bench/RESULTS-aggregator.md).
$(BUILD)/aggload: bench/aggload.c $(PURE_SRCS) $(PB_SRC) $(PB_HDR) $(wildcard userspace/*.h) | $(BUILD)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(WFLAGS) $(CFLAGS) -o $@ $< $(PURE_SRCS) $(PB_SRC) $(PKG_LIBS)

bench-aggregator: $(BUILD)/wacht-aggregator $(BUILD)/aggload
	BUILD=$(BUILD) bench/aggregator
	bench/collect

# The conversation graph: merge and export of 10,000 endpoints and 100,000
# conversations per format (no root, ~1 min; writes bench/RESULTS-graph.md).
$(BUILD)/graph_bench: bench/graph_bench.c userspace/graph.c userspace/jsonw.c userspace/graph.h \
		userspace/jsonw.h | $(BUILD)
	$(CC) -Iuserspace $(WFLAGS) -D_GNU_SOURCE $(CFLAGS) -o $@ bench/graph_bench.c \
		userspace/graph.c userspace/jsonw.c

bench-graph: $(BUILD)/graph_bench
	{ echo "# bench-graph, $$(git describe --always --dirty), $$(uname -r), $$(nproc) CPUs" \
		"($$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)), $$(date -u +%F)"; echo; \
	  echo "Command: \`make bench-graph\` ($(BUILD)/graph_bench --check). Load average before:" \
		"$$(cut -d' ' -f1-3 /proc/loadavg) (a machine shared with other work)."; echo; \
	  $(BUILD)/graph_bench --check; } | tee bench/RESULTS-graph.md
	bench/collect

install-deps:
	scripts/install-deps.sh

vmlinux:
	scripts/gen-vmlinux.sh

# The container image of deploy/daemonset (Containerfile: sensor, aggregator
# and wachtctl), built with podman or docker, whichever is there and can
# reach its engine; ENGINE=... picks one, IMAGE=... names the result.
ENGINE ?= $(shell command -v podman 2>/dev/null || command -v docker 2>/dev/null)
IMAGE ?= wacht:$(VERSION)
image:
	@if [ -z "$(ENGINE)" ]; then \
		echo "make image: neither podman nor docker is installed: install one (apt-get install podman) to build the image from Containerfile" >&2; \
		exit 1; \
	fi; \
	if ! $(ENGINE) info >/dev/null 2>&1; then \
		echo "make image: $(ENGINE) is installed but cannot reach its engine ('$(ENGINE) info' fails: is the daemon running, may you use it?); no image built" >&2; \
		exit 1; \
	fi
	$(ENGINE) build -f Containerfile --build-arg VERSION=$(VERSION) -t $(IMAGE) .

clean:
	rm -rf $(BUILD)
