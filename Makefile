# switchboard — hand-written Makefile.
#
#   make                      static + shared library and demos in $(BUILD)/
#   make check                build and run every Check suite (installs Check
#                             through apt-get when pkg-config cannot find it)
#   make run                  start sb-echod on 127.0.0.1:7777 (foreground)
#   make install PREFIX=/usr/local DESTDIR=
#   make SANITIZE=address,undefined check
#   make PORTABLE=1 check     every POSIX fallback of the OS seam (src/os.h)
#                             taken on Linux too: no accept4, pipe2, dup3,
#                             SOCK_NONBLOCK, MSG_NOSIGNAL, sendfile, epoll
#   make valgrind             the suites under valgrind (CK_FORK=no)
#   make GLIB=1 check         also glib-echo (demos/embed/, needs libglib2.0-dev)
#   make check-glib           install GLib when missing, test the embedding demos with it
#   make TLS=1                also libswitchboard_tls (over OpenSSL, libssl-dev) and
#                             the demos' --tls options
#   make check-tls            install OpenSSL when missing, build with TLS=1 in
#                             $(BUILD)/tls, run the TLS suites (the tls one on
#                             every backend)
#   make fuzz / fuzz-run      libFuzzer targets (clang): each framer, the connection
#                             state machine, sb-kvd's RESP, sb-httpd; bounded run
#   make coverage             line coverage of src/ (gcov + lcov)
#   make musl                 library + sb-echod with musl-gcc, smoke-tested
#   make TARGET=mingw check   the Windows build (mingw-w64) of the library, sb-echod,
#                             sb-echo, sb-chatd and the suites that apply, run
#                             under wine (mk/mingw.mk; installs them when missing)
#   make soak SOAK_SECONDS=300  churn 1,000 connections against sb-echod
#   make clean
#
# User CFLAGS/LDFLAGS are appended to, never overridden.

NAME      := switchboard
# The version has one source: the header's SB_VERSION_* lines.
version_part = $(shell sed -n 's/^\#define SB_VERSION_$(1) \([0-9]*\)$$/\1/p' include/switchboard.h)
VERSION_MAJOR := $(call version_part,MAJOR)
VERSION_MINOR := $(call version_part,MINOR)
VERSION_PATCH := $(call version_part,PATCH)
VERSION   := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)
# The soname carries the major version: libswitchboard.so.0.  Before 1.0 a
# minor version may still change the ABI (NEWS.md says when): rebuild.
SOVERSION := $(VERSION_MAJOR)

# TARGET=mingw: the Windows build (mingw-w64, run under wine) instead of
# everything below: make TARGET=mingw [check] (mk/mingw.mk).
ifeq ($(TARGET),mingw)
include mk/mingw.mk
else

PREFIX  ?= /usr/local
DESTDIR ?=
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin
PCDIR   ?= $(LIBDIR)/pkgconfig
MANDIR  ?= $(PREFIX)/share/man

CC      ?= cc
CFLAGS  ?= -O2 -g
PKG_CONFIG ?= pkg-config

# DEBUG=1: handles checked at every public entry, freed ones quarantined,
# misuse reported and aborted (src/debug.c); CI's sanitizer pass uses it.
ifdef SANITIZE
BUILD   ?= build/sanitize$(if $(DEBUG),-debug)$(if $(filter 0,$(THREADS)),-nothreads)$(if $(filter 1,$(PORTABLE)),-portable)
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD   ?= build$(if $(DEBUG),/debug)$(if $(filter 0,$(THREADS)),/nothreads)$(if $(filter 1,$(PORTABLE)),/portable)
SANFLAGS :=
endif
DEBUGFLAGS := $(if $(DEBUG),-DSB_DEBUG)

WARN     := -Wall -Wextra -Wpedantic -Wstrict-prototypes -Wwrite-strings -Wshadow \
            -Wmissing-prototypes -Wno-unused-parameter
# PORTABLE=1: the OS seam (src/os.h) takes every POSIX fallback, as if the
# Linux-only calls did not exist; the suites check that it does.
PORTFLAGS := $(if $(filter 1,$(PORTABLE)),-DSB_PORTABLE)
SB_CPPFLAGS := -D_GNU_SOURCE -Iinclude -Isrc $(DEBUGFLAGS) $(PORTFLAGS)
# THREADS=0: no worker threads; names are resolved blocking (src/resolve.c).
ifeq ($(THREADS),0)
THREADFLAGS := -DSB_NO_THREADS
else
THREADFLAGS := -pthread
endif
SB_CFLAGS   := -std=c11 -fPIC -fvisibility=hidden $(WARN) $(SANFLAGS) $(THREADFLAGS) -MMD -MP
SB_LDFLAGS  := $(SANFLAGS) $(filter -pthread,$(THREADFLAGS))

LIB_SRC  := $(wildcard src/*.c)
LIB_OBJ  := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRC))
# A demo is demos/sb-NAME.c or a folder demos/sb-NAME/; every demo links the
# shared daemon scaffolding in demos/common/.
DEMOS    := $(sort $(patsubst demos/%.c,%,$(wildcard demos/sb-*.c)) \
              $(patsubst demos/%/,%,$(wildcard demos/sb-*/)))
DEMO_BIN := $(addprefix $(BUILD)/,$(DEMOS))
DEMO_COMMON_OBJ := $(patsubst demos/%.c,$(BUILD)/demos/%.o,$(wildcard demos/common/*.c))
demo_objs = $(patsubst demos/%.c,$(BUILD)/demos/%.o,$(wildcard demos/$(1).c demos/$(1)/*.c))
DEMO_OBJ := $(foreach d,$(DEMOS),$(call demo_objs,$(d))) $(DEMO_COMMON_OBJ)
# (tests/check_tls*.c: the TLS suites, their own runner; TLS section below)
TEST_SRC := $(filter-out tests/check_tls%,$(wildcard tests/*.c))
TEST_OBJ := $(patsubst tests/%.c,$(BUILD)/tests/%.o,$(TEST_SRC))
TEST_BIN := $(BUILD)/tests/check_switchboard
# The suites link a second build of the library with the fault-injection
# seam on (-DSB_FAULTS, see src/internal.h and tests/fault.c).
TLIB_OBJ := $(patsubst src/%.c,$(BUILD)/tobj/%.o,$(LIB_SRC))
TLIB     := $(BUILD)/libswitchboard-faults.a

STATIC   := $(BUILD)/lib$(NAME).a
SHARED   := $(BUILD)/lib$(NAME).so.$(VERSION)
SONAME   := lib$(NAME).so.$(SOVERSION)

.PHONY: all check run install uninstall clean valgrind deps-check fuzz fuzz-run coverage musl soak bench bench-deps
.PRECIOUS: $(BUILD)/demos/%.o
all: $(STATIC) $(SHARED) $(DEMO_BIN)

$(BUILD)/obj/%.o: src/%.c | $(BUILD)/obj
	$(CC) $(SB_CPPFLAGS) $(CPPFLAGS) $(SB_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/tobj/%.o: src/%.c | $(BUILD)/tobj
	$(CC) $(SB_CPPFLAGS) -DSB_FAULTS $(CPPFLAGS) $(SB_CFLAGS) $(CFLAGS) -c $< -o $@

$(TLIB): $(TLIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(STATIC): $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(SHARED): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,$(SONAME) $(SB_LDFLAGS) $(LDFLAGS) -o $@ $^
	ln -sf lib$(NAME).so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf lib$(NAME).so.$(VERSION) $(BUILD)/lib$(NAME).so

# Demos link the static library: they run from the build folder as they are.
$(BUILD)/demos/%.o: demos/%.c $(BUILD)/tls-flag
	@mkdir -p $(@D)
	$(CC) -D_GNU_SOURCE -Iinclude -Idemos/common $(if $(TLS_ON),-DSB_WITH_TLS) $(CPPFLAGS) \
	    $(SB_CFLAGS) $(CFLAGS) -c $< -o $@

# ------------------------------------------------------------------- TLS
# TLS=1: libswitchboard_tls (src/tls/, include/switchboard_tls.h) over
# OpenSSL (Debian's libssl-dev), a library of its own beside the core, which
# still needs only libc; the demos get their --tls options (without TLS=1
# those options fail with a message saying so).  Its suites are a runner
# of their own, $(BUILD)/tests/check_tls, linked with the fault-injection
# build of the core: the TLS code does its socket I/O through the core.
TLS_ON     := $(filter 1,$(TLS))
TLS_SRC    := $(wildcard src/tls/*.c)
TLS_OBJ    := $(patsubst src/tls/%.c,$(BUILD)/obj/tls/%.o,$(TLS_SRC))
TLS_STATIC := $(BUILD)/lib$(NAME)_tls.a
TLS_SHARED := $(BUILD)/lib$(NAME)_tls.so.$(VERSION)
TLS_SONAME := lib$(NAME)_tls.so.$(SOVERSION)
SSL_CFLAGS  = $(shell $(PKG_CONFIG) --cflags openssl 2>/dev/null)
SSL_LIBS    = $(shell $(PKG_CONFIG) --libs openssl 2>/dev/null || echo -lssl -lcrypto)
TLS_TEST_SRC := $(wildcard tests/check_tls*.c)
TLS_TEST_OBJ := $(patsubst tests/%.c,$(BUILD)/tests/%.o,$(TLS_TEST_SRC))
TLS_TEST_BIN := $(BUILD)/tests/check_tls
TLS_CERTS    := $(BUILD)/tls-certs

ifneq ($(TLS_ON),)
all: $(TLS_STATIC) $(TLS_SHARED)
endif

# Objects that depend on TLS=1 are rebuilt when it changes.
$(BUILD)/tls-flag: FORCE | $(BUILD)
	@if [ "$$(cat $@ 2>/dev/null)" != '$(TLS_ON)' ]; then echo '$(TLS_ON)' > $@; fi

$(BUILD)/obj/tls/%.o: src/tls/%.c
	@mkdir -p $(@D)
	$(CC) -D_GNU_SOURCE -Iinclude $(SSL_CFLAGS) $(CPPFLAGS) $(SB_CFLAGS) $(CFLAGS) -c $< -o $@

$(TLS_STATIC): $(TLS_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(TLS_SHARED): $(TLS_OBJ) $(SHARED)
	$(CC) -shared -Wl,-soname,$(TLS_SONAME) $(SB_LDFLAGS) $(LDFLAGS) -o $@ $(TLS_OBJ) \
	    -L$(BUILD) -l$(NAME) $(SSL_LIBS)
	ln -sf lib$(NAME)_tls.so.$(VERSION) $(BUILD)/$(TLS_SONAME)
	ln -sf lib$(NAME)_tls.so.$(VERSION) $(BUILD)/lib$(NAME)_tls.so

$(TLS_TEST_OBJ): SB_CPPFLAGS += $(SSL_CFLAGS)

$(TLS_CERTS)/stamp: tests/tls/gen-certs.sh
	sh tests/tls/gen-certs.sh $(TLS_CERTS)

$(TLS_TEST_BIN): $(TLS_TEST_OBJ) $(BUILD)/tests/testutil.o $(BUILD)/tests/testutil_common.o $(BUILD)/tests/fault.o $(TLS_STATIC) $(TLIB)
	$(CC) $(SB_LDFLAGS) $(LDFLAGS) -o $@ $^ $(SSL_LIBS) $(CHECK_LIBS) $(LDLIBS)

.PHONY: check-tls tls-deps
tls-deps:
	@sh tests/install-deps.sh pkg-config:pkg-config /usr/include/openssl/ssl.h:libssl-dev \
	    openssl:openssl curl:curl redis-cli:redis-tools
# The TLS build in a folder of its own; the suites there, and the exports.
check-tls: tls-deps
	$(MAKE) TLS=1 BUILD='$(BUILD)/tls' check-tls-run
.PHONY: check-tls-run
check-tls-run: all $(TLS_TEST_BIN) $(TLS_CERTS)/stamp
	EXPORT_MACRO=SB_TLS_API sh tests/check-exports.sh $(TLS_SHARED) include/switchboard_tls.h $(TLS_OBJ)
	SB_TLS_CERTS='$(TLS_CERTS)' $(TLS_TEST_BIN)
	SB_BACKEND=poll CK_RUN_SUITE=tls SB_TLS_CERTS='$(TLS_CERTS)' $(TLS_TEST_BIN)
	SB_BACKEND=epoll CK_RUN_SUITE=tls SB_TLS_CERTS='$(TLS_CERTS)' $(TLS_TEST_BIN)
# The TLS suites under valgrind (OpenSSL's still-reachable allocations at
# exit are not leaks and are not counted; nothing needs suppressing).
.PHONY: valgrind-tls valgrind-tls-run
valgrind-tls: tls-deps
	$(MAKE) TLS=1 BUILD='$(BUILD)/tls' valgrind-tls-run
valgrind-tls-run: all $(TLS_TEST_BIN) $(TLS_CERTS)/stamp
	CK_FORK=no SB_UNDER_VALGRIND=1 SB_TLS_CERTS='$(TLS_CERTS)' valgrind --quiet --error-exitcode=99 \
	    --trace-children=yes --trace-children-skip='*/curl,*/openssl,*/redis-cli,*/wrk' \
	    --leak-check=full --show-leak-kinds=definite,indirect,possible \
	    --errors-for-leak-kinds=definite,indirect,possible $(TLS_TEST_BIN)

define demo_rule
$(BUILD)/$(1): $(call demo_objs,$(1)) $(DEMO_COMMON_OBJ) $(if $(TLS_ON),$(TLS_STATIC)) $(STATIC)
	$$(CC) $$(SB_LDFLAGS) $$(LDFLAGS) -o $$@ $$^ $$(if $$(TLS_ON),$$(SSL_LIBS)) $$(LDLIBS)
endef
$(foreach d,$(DEMOS),$(eval $(call demo_rule,$(d))))

# ------------------------------------------------------- embedding demos
# demos/embed/NAME.c: switchboard inside other event loops, one file each,
# linking the static library alone (docs/embedding.md).  glib-echo, the one
# with a dependency (GLib's main loop, Debian's libglib2.0-dev), is built
# and tested only with GLIB=1; `make check-glib` installs GLib when missing.
EMBED     := poll-echo thread-echo $(if $(GLIB),glib-echo)
EMBED_BIN := $(addprefix $(BUILD)/embed/,$(EMBED))
EMBED_OBJ := $(patsubst %,$(BUILD)/demos/embed/%.o,$(EMBED))

.PHONY: embed check-glib
all: $(EMBED_BIN)
embed: $(EMBED_BIN)

$(BUILD)/embed/%: $(BUILD)/demos/embed/%.o $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(SB_LDFLAGS) $(LDFLAGS) -o $@ $^ $(EMBED_LIBS) $(LDLIBS)
$(BUILD)/embed/thread-echo: EMBED_LIBS := -pthread

ifdef GLIB
# GLib's headers as system headers: our warnings are not theirs.
$(BUILD)/demos/embed/glib-echo.o: SB_CFLAGS += \
    $(patsubst -I%,-isystem %,$(shell $(PKG_CONFIG) --cflags glib-2.0))
$(BUILD)/embed/glib-echo: EMBED_LIBS := $(shell $(PKG_CONFIG) --libs glib-2.0)
$(BUILD)/tests/check_embed_demos.o: SB_CPPFLAGS += -DSB_HAVE_GLIB_DEMO
endif

# The suite's object is rebuilt when GLIB changes (it tests glib-echo or not).
$(BUILD)/embed-glib: FORCE | $(BUILD)
	@if [ "$$(cat $@ 2>/dev/null)" != '$(GLIB)' ]; then echo '$(GLIB)' > $@; fi
$(BUILD)/tests/check_embed_demos.o: $(BUILD)/embed-glib

# Every ```c block of docs/embedding.md is a complete program that must keep
# compiling against the real header, warnings as errors (unused parameters
# too: readers build them with plain -Wall -Wextra).
$(BUILD)/doc-embedding/stamp: docs/embedding.md $(STATIC)
	rm -rf $(@D) && mkdir -p $(@D)
	awk -v dir='$(@D)' '/^```c$$/ { n++; f = dir "/example" n ".c"; next } \
	    /^```/ { f = ""; next } f != "" { print > f } \
	    END { if (n < 3) { print "docs/embedding.md: " n + 0 " c blocks" > "/dev/stderr"; exit 1 } }' \
	    docs/embedding.md
	for f in $(@D)/example*.c; do \
	    $(CC) -D_GNU_SOURCE -Iinclude $(SB_CFLAGS) -Wunused-parameter -Werror $(CFLAGS) \
	        -o $${f%.c} $$f $(STATIC) $(SB_LDFLAGS) $(LDFLAGS) || exit 1; \
	done
	touch $@
check: $(BUILD)/doc-embedding/stamp

# GLIB=1 for glib-echo and the embedding suite only (the rest of the suite
# does not change with it).
check-glib:
	@sh tests/install-deps.sh pkg-config:pkg-config /usr/include/glib-2.0/glib.h:libglib2.0-dev
	$(MAKE) GLIB=1 BUILD='$(BUILD)' embed $(TEST_BIN)
	CK_RUN_SUITE=embed_demos $(TEST_BIN)

-include $(EMBED_OBJ:.o=.d)

# ------------------------------------------------------------------ tests

CHECK_CFLAGS = $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

deps-check:
	@sh tests/install-deps.sh

$(BUILD)/tests/%.o: tests/%.c | $(BUILD)/tests deps-check
	$(CC) $(SB_CPPFLAGS) -DSB_FAULTS -DSB_TEST_BUILD_DIR='"$(BUILD)"' $(CPPFLAGS) $(CHECK_CFLAGS) \
	    $(SB_CFLAGS) $(CFLAGS) -c $< -o $@

$(TEST_BIN): $(TEST_OBJ) $(TLIB)
	$(CC) $(SB_LDFLAGS) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

# The README's example must keep compiling against the real header.
$(BUILD)/readme-example: README.md $(STATIC) | $(BUILD)
	awk '/^```c$$/{on=1;next} /^```$$/{if(on)exit} on' README.md > $@.c
	$(CC) -D_GNU_SOURCE -Iinclude $(SB_CFLAGS) -Werror $(CFLAGS) -o $@ $@.c $(STATIC) $(SB_LDFLAGS) $(LDFLAGS)

check: all $(TEST_BIN) $(BUILD)/readme-example
	sh tests/check-exports.sh $(SHARED) include/switchboard.h $(LIB_OBJ)
	CC='$(CC) $(SANFLAGS) $(LDFLAGS)' sh tests/check-install.sh
	VERSION=$(VERSION) sh tests/man-check.sh $(BUILD)
	sh tests/doc-check.sh $(BUILD)
	$(if $(PORTFLAGS),sh tests/check-portable.sh $(STATIC))
	$(TEST_BIN)

.PHONY: check-backends
# The whole suite again on the poll and epoll backends (SB_BACKEND is read by
# sb_loop_new, so the daemons the suites start run on them too).
check-backends: all $(TEST_BIN)
	SB_BACKEND=poll $(TEST_BIN)
	SB_BACKEND=epoll $(TEST_BIN)

valgrind: all $(TEST_BIN)
	CK_FORK=no SB_UNDER_VALGRIND=1 valgrind --quiet --error-exitcode=99 --trace-children=yes \
	    --trace-children-skip='*/curl,*/wrk,*/redis-cli,*/redis-benchmark,*/redis-server' \
	    --leak-check=full --show-leak-kinds=definite,indirect,possible \
	    --errors-for-leak-kinds=definite,indirect,possible $(TEST_BIN)

run: $(BUILD)/sb-echod
	$(BUILD)/sb-echod --listen 127.0.0.1:7777

# ------------------------------------------------------------------- fuzz
# libFuzzer targets, built with clang: one per framer (framing.c alone);
# fuzz_conn, the connection state machine (the whole library with the
# fault seam on, -DSB_FAULTS + tests/fault.c); fuzz_resp, sb-kvd's RESP
# parser and commands, and fuzz_http, sb-httpd's request side (each runs
# its daemon's own main() on a parked thread: tests/fuzz/fuzz_daemon.h).
# `make fuzz-run` runs each for FUZZ_SECONDS (CI: 10 s each, 90 s in all).
# New finds go to build/fuzz/corpus_NAME, crashes to build/fuzz/; the seeds
# in tests/fuzz/corpus_NAME are read, never written.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 10
FUZZ_KINDS   := raw delim fixed prefix digits eof
FUZZ_NAMES   := $(FUZZ_KINDS) conn resp http
FUZZ_BIN     := $(addprefix build/fuzz/fuzz_,$(FUZZ_NAMES))
FUZZ_FLAGS   := -std=c11 -g -O1 -D_GNU_SOURCE -Iinclude -Isrc \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_LIB_DEP := $(LIB_SRC) src/internal.h include/switchboard.h tests/fuzz/fuzz_client.h
FUZZ_DEMO    := -pthread -Idemos/common
FUZZ_COMMON  := $(wildcard demos/common/*.c)
# sb-kvd's main.c is included by the harness itself (its static callbacks).
FUZZ_KVD     := $(filter-out demos/sb-kvd/main.c,$(wildcard demos/sb-kvd/*.c))

fuzz: $(FUZZ_BIN)

build/fuzz/fuzz_%: tests/fuzz/fuzz_framer.c src/framing.c src/error.c include/switchboard.h
	@mkdir -p build/fuzz/corpus_$*
	$(FUZZ_CC) $(FUZZ_FLAGS) -DFUZZ_KIND=SB_FRAMER_$(shell echo $* | tr a-z A-Z) \
	    -o $@ tests/fuzz/fuzz_framer.c src/framing.c src/error.c

build/fuzz/fuzz_conn: tests/fuzz/fuzz_conn.c tests/fault.c tests/fault.h $(FUZZ_LIB_DEP)
	@mkdir -p build/fuzz/corpus_conn
	$(FUZZ_CC) $(FUZZ_FLAGS) -DSB_FAULTS -Itests -o $@ tests/fuzz/fuzz_conn.c \
	    $(LIB_SRC) tests/fault.c

build/fuzz/fuzz_resp: tests/fuzz/fuzz_resp.c tests/fuzz/fuzz_daemon.h $(FUZZ_LIB_DEP) \
                      $(wildcard demos/sb-kvd/*.[ch] demos/common/*.[ch])
	@mkdir -p build/fuzz/corpus_resp
	$(FUZZ_CC) $(FUZZ_FLAGS) $(FUZZ_DEMO) -o $@ tests/fuzz/fuzz_resp.c $(FUZZ_KVD) \
	    $(FUZZ_COMMON) $(LIB_SRC)

build/fuzz/fuzz_http: tests/fuzz/fuzz_http.c tests/fuzz/fuzz_daemon.h $(FUZZ_LIB_DEP) \
                      demos/sb-httpd.c $(wildcard demos/common/*.[ch])
	@mkdir -p build/fuzz/corpus_http
	$(FUZZ_CC) $(FUZZ_FLAGS) $(FUZZ_DEMO) -o $@ tests/fuzz/fuzz_http.c $(FUZZ_COMMON) $(LIB_SRC)

fuzz-run: $(FUZZ_BIN)
	for k in $(FUZZ_NAMES); do \
	    seeds=; if [ -d tests/fuzz/corpus_$$k ]; then seeds=tests/fuzz/corpus_$$k; fi; \
	    if build/fuzz/fuzz_$$k -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=20 \
	        -artifact_prefix=build/fuzz/ build/fuzz/corpus_$$k $$seeds \
	        > build/fuzz/$$k.log 2>&1; then \
	        echo "fuzz_$$k: $$(grep -o 'Done [0-9]* runs' build/fuzz/$$k.log), no failure"; \
	    else \
	        tail -n 40 build/fuzz/$$k.log; echo "fuzz_$$k FAILED"; exit 1; \
	    fi; \
	done

# --------------------------------------------------------- coverage, musl
# Line coverage of src/ by the suites (gcov + lcov), and the library with
# sb-echod built against musl and smoke-tested.

coverage:
	@sh tests/install-deps.sh lcov:lcov
	$(MAKE) BUILD=build/coverage CFLAGS="-O0 -g --coverage" LDFLAGS="--coverage" check
	lcov -q --capture --directory build/coverage/tobj --output-file build/coverage/all.info
	lcov -q --extract build/coverage/all.info '*/src/*' --output-file build/coverage/src.info
	lcov --summary build/coverage/src.info 2>&1 | tee build/coverage/summary.txt
	@awk '/lines/ { sub("%", "", $$2); if ($$2 + 0 < $(COVERAGE_MIN)) { \
	    print "coverage " $$2 "% is below $(COVERAGE_MIN)%"; exit 1 } }' build/coverage/summary.txt

COVERAGE_MIN ?= 85

musl:
	@sh tests/install-deps.sh musl-gcc:musl-tools
	$(MAKE) CC=musl-gcc BUILD=build/musl LDFLAGS="-static" build/musl/libswitchboard.a build/musl/sb-echod
	bash tests/smoke-echod.sh build/musl/sb-echod

# ------------------------------------------------------------------- soak
# Not in CI by default: SOAK_SECONDS of churn against sb-echod.
SOAK_SECONDS ?= 300
SOAK_CONNS   ?= 1000

$(BUILD)/soak: tests/soak/soak.c $(STATIC) | $(BUILD)
	$(CC) -D_GNU_SOURCE -Iinclude $(SB_CFLAGS) $(CFLAGS) -o $@ $< $(STATIC) $(SB_LDFLAGS) $(LDFLAGS)

soak: $(BUILD)/sb-echod $(BUILD)/soak
	$(BUILD)/soak $(BUILD)/sb-echod $(SOAK_SECONDS) $(SOAK_CONNS)

# ------------------------------------------------------------------ bench
# sb-echod against a hand-tuned epoll echo server and echo servers on
# libevent, libuv and libev's select backend; sb-httpd against nginx (wrk);
# sb-kvd against redis-server (redis-benchmark); the epoll backend at 10,000
# connections (scale), embed/poll-echo in a host poll() loop (embed) and
# sb-proxyd against HAProxy (proxy).  Bulk echo loads come from epoll-pump, a
# plain epoll client.  Interleaved passes, server and load pinned to different
# cores; writes docs/benchmarks.md (about 20 minutes).  BENCH_QUICK=1: a
# 3-minute smoke run into build/bench/quick/.  Knobs: BENCH_PASSES,
# BENCH_SECONDS, BENCH_ONLY=echo,http,kv,scale,embed,proxy, BENCH_LOADS,
# BENCH_SERVERS (tests/bench/bench.py).  Installs its Debian packages when
# missing.

BENCH_DIR  := build/bench
BENCH_BIN  := $(addprefix $(BENCH_DIR)/,epoll-echo libevent-echo libuv-echo libev-echo)
# The load generator and upstream of the bulk and proxy loads.
BENCH_TOOLS := $(addprefix $(BENCH_DIR)/,epoll-pump bulk-source)
BENCH_DEPS := /usr/include/event2/bufferevent.h:libevent-dev /usr/include/uv.h:libuv1-dev \
              /usr/include/ev.h:libev-dev gnuplot:gnuplot-nox /usr/sbin/nginx:nginx \
              redis-server:redis-server wrk:wrk redis-benchmark:redis-tools taskset:util-linux \
              /usr/sbin/haproxy:haproxy \
              $(if $(TLS_ON),/usr/include/openssl/ssl.h:libssl-dev openssl:openssl)
BENCH_LIBS_epoll    :=
BENCH_LIBS_libevent := -levent
BENCH_LIBS_libuv    := -luv
BENCH_LIBS_libev    := -lev

bench-deps:
	@sh tests/install-deps.sh $(BENCH_DEPS)

$(BENCH_DIR)/%-echo: tests/bench/%_echo.c tests/bench/common.c tests/bench/common.h | bench-deps
	@mkdir -p $(BENCH_DIR)
	$(CC) -D_GNU_SOURCE -std=c11 $(WARN) $(CFLAGS) -o $@ $< tests/bench/common.c \
	    $(LDFLAGS) $(BENCH_LIBS_$*)

$(BENCH_DIR)/epoll-pump: tests/bench/epoll_pump.c tests/bench/pattern.h
$(BENCH_DIR)/bulk-source: tests/bench/bulk_source.c tests/bench/pattern.h
$(BENCH_TOOLS): tests/bench/common.c tests/bench/common.h
	@mkdir -p $(BENCH_DIR)
	$(CC) -D_GNU_SOURCE -std=c11 $(WARN) $(CFLAGS) -o $@ \
	    tests/bench/$(subst -,_,$(@F)).c tests/bench/common.c $(LDFLAGS)

# TLS=1: the tls part too (bench.py --tls; BENCH_ONLY=tls alone): the TLS load
# generator and the minimal epoll TLS echo server, over OpenSSL.
BENCH_TLS_TOOLS := $(addprefix $(BENCH_DIR)/,tls-epoll-echo tls-load)
$(BENCH_DIR)/tls-epoll-echo: tests/bench/tls_epoll_echo.c tests/bench/common.c tests/bench/common.h
	@mkdir -p $(BENCH_DIR)
	$(CC) -D_GNU_SOURCE -std=c11 $(WARN) $(SSL_CFLAGS) $(CFLAGS) -o $@ $< tests/bench/common.c \
	    $(LDFLAGS) $(SSL_LIBS)
$(BENCH_DIR)/tls-load: tests/bench/tls_load.c tests/bench/pattern.h
	@mkdir -p $(BENCH_DIR)
	$(CC) -D_GNU_SOURCE -std=c11 $(WARN) $(SSL_CFLAGS) $(CFLAGS) -o $@ $< $(LDFLAGS) $(SSL_LIBS)

# sb-httpd, sb-kvd, sb-proxyd and embed/poll-echo are optional here: their
# comparisons are skipped when they do not build.
bench: $(BUILD)/sb-echod $(BUILD)/sb-bench $(BENCH_BIN) $(BENCH_TOOLS) $(if $(TLS_ON),$(BENCH_TLS_TOOLS))
	-@$(MAKE) --no-print-directory $(BUILD)/sb-httpd $(BUILD)/sb-kvd \
	    $(filter $(BUILD)/sb-proxyd,$(DEMO_BIN))
	-@$(MAKE) --no-print-directory $(BUILD)/embed/poll-echo
	python3 tests/bench/bench.py --bin $(BUILD) --bench-bin $(BENCH_DIR) $(if $(TLS_ON),--tls)

# ------------------------------------------------------------------- man
# docs/man/*.[13] carry the placeholder @VERSION@; the pages built and
# installed are $(BUILD)/man/*, with the header's version filled in.
MAN1_SRC := $(wildcard docs/man/*.1)
MAN3_SRC := $(wildcard docs/man/*.3)
MAN1     := $(patsubst docs/man/%,$(BUILD)/man/%,$(MAN1_SRC))
MAN3     := $(patsubst docs/man/%,$(BUILD)/man/%,$(MAN3_SRC))

.PHONY: man
man: $(MAN1) $(MAN3)

$(BUILD)/man/%: docs/man/% include/switchboard.h
	@mkdir -p $(@D)
	sed 's/@VERSION@/$(VERSION)/g' $< > $@.tmp && mv $@.tmp $@

# ---------------------------------------------------------------- install
# switchboard.pc is written relative to ${prefix} wherever the directories
# lie under PREFIX, and rewritten whenever PREFIX, LIBDIR or INCDIR change
# (the stamp below holds their last values).  The core library needs only
# libc and its threads (-pthread: part of libc since glibc 2.34 and in musl;
# Libs.private says so for older systems' static links).

pc_rel = $(if $(filter $(PREFIX)/%,$(1)),$${prefix}$(patsubst $(PREFIX)%,%,$(1)),$(1))
INSTALL_VARS := $(PREFIX)|$(LIBDIR)|$(INCDIR)|$(VERSION)

$(BUILD)/install-vars: FORCE | $(BUILD)
	@if [ "$$(cat $@ 2>/dev/null)" != '$(INSTALL_VARS)' ]; then echo '$(INSTALL_VARS)' > $@; fi

$(BUILD)/$(NAME).pc: $(BUILD)/install-vars include/switchboard.h
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(call pc_rel,$(LIBDIR))' \
	    'includedir=$(call pc_rel,$(INCDIR))' '' 'Name: $(NAME)' \
	    'Description: single-threaded network servers and clients on one select() reactor' \
	    'Version: $(VERSION)' 'Libs: -L$${libdir} -l$(NAME)' \
	    $(if $(filter -pthread,$(THREADFLAGS)),'Libs.private: -pthread') 'Cflags: -I$${includedir}' > $@

# TLS=1: switchboard-tls.pc (Requires the core and OpenSSL).
$(BUILD)/$(NAME)-tls.pc: $(BUILD)/install-vars include/switchboard_tls.h
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(call pc_rel,$(LIBDIR))' \
	    'includedir=$(call pc_rel,$(INCDIR))' '' 'Name: $(NAME)-tls' \
	    'Description: TLS (OpenSSL) for switchboard connections' \
	    'Version: $(VERSION)' 'Requires: $(NAME) = $(VERSION)' 'Requires.private: openssl' \
	    'Libs: -L$${libdir} -l$(NAME)_tls' 'Cflags: -I$${includedir}' > $@

TLS_INSTALLED := $(if $(TLS_ON),$(INCDIR)/switchboard_tls.h $(LIBDIR)/lib$(NAME)_tls.a \
                 $(LIBDIR)/lib$(NAME)_tls.so.$(VERSION) $(LIBDIR)/$(TLS_SONAME) \
                 $(LIBDIR)/lib$(NAME)_tls.so $(PCDIR)/$(NAME)-tls.pc)

# Exactly what install puts in place; uninstall removes these and nothing else.
INSTALLED := $(TLS_INSTALLED) \
             $(INCDIR)/switchboard.h $(LIBDIR)/lib$(NAME).a $(LIBDIR)/lib$(NAME).so.$(VERSION) \
             $(LIBDIR)/$(SONAME) $(LIBDIR)/lib$(NAME).so $(PCDIR)/$(NAME).pc \
             $(addprefix $(BINDIR)/,$(DEMOS)) \
             $(addprefix $(MANDIR)/man1/,$(notdir $(MAN1_SRC))) \
             $(addprefix $(MANDIR)/man3/,$(notdir $(MAN3_SRC)))

install: all $(BUILD)/$(NAME).pc $(if $(TLS_ON),$(BUILD)/$(NAME)-tls.pc) $(MAN1) $(MAN3)
	install -d $(DESTDIR)$(INCDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(PCDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3
	install -m 644 include/switchboard.h $(DESTDIR)$(INCDIR)/
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/
	ln -sf lib$(NAME).so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf lib$(NAME).so.$(VERSION) $(DESTDIR)$(LIBDIR)/lib$(NAME).so
	install -m 644 $(BUILD)/$(NAME).pc $(DESTDIR)$(PCDIR)/
ifneq ($(TLS_ON),)
	install -m 644 include/switchboard_tls.h $(DESTDIR)$(INCDIR)/
	install -m 644 $(TLS_STATIC) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(TLS_SHARED) $(DESTDIR)$(LIBDIR)/
	ln -sf lib$(NAME)_tls.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(TLS_SONAME)
	ln -sf lib$(NAME)_tls.so.$(VERSION) $(DESTDIR)$(LIBDIR)/lib$(NAME)_tls.so
	install -m 644 $(BUILD)/$(NAME)-tls.pc $(DESTDIR)$(PCDIR)/
endif
	install -m 755 $(DEMO_BIN) $(DESTDIR)$(BINDIR)/
	install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	$(if $(MAN3),install -m 644 $(MAN3) $(DESTDIR)$(MANDIR)/man3/)

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))

.PHONY: FORCE
FORCE:

$(BUILD) $(BUILD)/obj $(BUILD)/tobj $(BUILD)/demos $(BUILD)/tests:
	mkdir -p $@

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(TLIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(DEMO_OBJ:.o=.d) \
    $(TLS_OBJ:.o=.d) $(TLS_TEST_OBJ:.o=.d)

endif # TARGET=mingw
