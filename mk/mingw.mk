# The Windows build: make TARGET=mingw [BUILD=build/mingw] [target]
# (included by the Makefile in place of everything else it has).
#
# mingw-w64 cross-compiles the library, the demos that run on Windows
# (sb-echod, sb-echo, sb-chatd) and the test programs; wine64 runs them,
# with its prefix under $(BUILD), talked to from Linux over 127.0.0.1.
#
#   make TARGET=mingw             library and demos in build/mingw/
#   make TARGET=mingw check       the Check suites that apply (tests/wine/check_win32.c)
#                                 and the demos driven from Linux (tests/wine/run.sh;
#                                 the Linux suites echod, echo, chatd and shutdown
#                                 against the .exe demos: tests/wine/run-suites.sh),
#                                 under wine
#   make TARGET=mingw deps        installs mingw-w64, wine64 (tests/install-deps.sh)
#
# The source files are the same as on POSIX: os_posix.c and fdset.c
# compile to nothing here, os_win32.c and fdset_win32.c to nothing there
# (signal.c serves both).  src/win32/ stands in for the POSIX
# headers (sys/socket.h, netinet/in.h...) that Windows lacks.
NAME      := switchboard
MINGW     ?= x86_64-w64-mingw32
WCC       := $(MINGW)-gcc
WAR       := $(MINGW)-ar
BUILD     ?= build/mingw
WINE      ?= wine
CFLAGS    ?= -O2 -g

# winsock's socklen_t is a signed int (-Wno-sign-compare), and gcc checks
# printf formats against msvcrt's, not mingw's C99 printf that
# __USE_MINGW_ANSI_STDIO selects (-Wno-format); the Linux builds check both.
WARN      := -Wall -Wextra -Wpedantic -Wstrict-prototypes -Wwrite-strings -Wshadow \
             -Wmissing-prototypes -Wno-unused-parameter -Werror \
             -Wno-format -Wno-sign-compare
W_CPPFLAGS := -D_POSIX_C_SOURCE=200809L -D__USE_MINGW_ANSI_STDIO=1 -Iinclude -Isrc -Isrc/win32
W_CFLAGS  := -std=c11 -pthread $(WARN) -MMD -MP
W_LIBS    := -lws2_32 -liphlpapi
W_LDFLAGS := -static -pthread

W_LIB_SRC := $(wildcard src/*.c)
W_LIB_OBJ := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(W_LIB_SRC))
W_STATIC  := $(BUILD)/lib$(NAME).a
W_DEMOS   := sb-echod sb-echo sb-chatd
W_DEMO_BIN := $(addprefix $(BUILD)/,$(addsuffix .exe,$(W_DEMOS)))
W_COMMON_OBJ := $(patsubst demos/%.c,$(BUILD)/demos/%.o,$(wildcard demos/common/*.c))

.PHONY: all check deps wine-prefix
all: $(W_STATIC) $(W_DEMO_BIN)

deps:
	@sh tests/install-deps.sh $(WCC):gcc-mingw-w64-x86-64 $(WINE):wine64 wine:wine

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(WCC) $(W_CPPFLAGS) $(CPPFLAGS) $(W_CFLAGS) $(CFLAGS) -c $< -o $@

$(W_STATIC): $(W_LIB_OBJ)
	rm -f $@
	$(WAR) rcs $@ $^

$(BUILD)/demos/%.o: demos/%.c
	@mkdir -p $(@D)
	$(WCC) $(W_CPPFLAGS) -Idemos/common $(CPPFLAGS) $(W_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/%.exe: $(BUILD)/demos/%.o $(W_COMMON_OBJ) $(W_STATIC)
	$(WCC) $(W_LDFLAGS) $(LDFLAGS) -o $@ $^ $(W_LIBS)

# A wine prefix of the build's own (made once, a few seconds after that).
wine-prefix: $(BUILD)/wine/system.reg
$(BUILD)/wine/system.reg:
	@mkdir -p $(BUILD)/wine
	WINEPREFIX='$(abspath $(BUILD)/wine)' WINEDEBUG=-all WINEDLLOVERRIDES='mscoree,mshtml=' \
	    $(WINE) wineboot --init >/dev/null 2>&1
	WINEPREFIX='$(abspath $(BUILD)/wine)' wineserver -w
	@test -f $@


-include $(W_LIB_OBJ:.o=.d) $(W_COMMON_OBJ:.o=.d)

# ---------------------------------------------------------- Check suites
# Check cross-built from Debian's source package (tests/wine/build-check.sh),
# cached in $(BUILD)/check; the suites of tests/ that apply, with the
# Windows part of testutil (and the part shared with POSIX), linked into one
# runner, run under wine.
W_CHECK    := $(BUILD)/check
W_TEST_SUITES := buffer framing timer loop flow relay listener conn stream client udp faults setup_faults input_memory
W_TEST_OBJ := $(patsubst %,$(BUILD)/tests/check_%.o,$(W_TEST_SUITES)) \
              $(BUILD)/tests/check_win32.o $(BUILD)/tests/testutil_win32.o \
              $(BUILD)/tests/testutil_common.o $(BUILD)/tests/fault.o
# The suites link a second build of the library with the fault-injection
# seam on (-DSB_FAULTS), as on POSIX.
W_TLIB_OBJ := $(patsubst src/%.c,$(BUILD)/tobj/%.o,$(W_LIB_SRC))
W_TLIB     := $(BUILD)/lib$(NAME)-faults.a

$(BUILD)/tobj/%.o: src/%.c
	@mkdir -p $(@D)
	$(WCC) $(W_CPPFLAGS) -DSB_FAULTS $(CPPFLAGS) $(W_CFLAGS) $(CFLAGS) -c $< -o $@

$(W_TLIB): $(W_TLIB_OBJ)
	rm -f $@
	$(WAR) rcs $@ $^
W_TEST_BIN := $(BUILD)/tests/check_switchboard.exe

$(W_CHECK)/lib/libcheck.a:
	sh tests/wine/build-check.sh $(W_CHECK)

$(BUILD)/tests/%.o: tests/%.c $(W_CHECK)/lib/libcheck.a
	@mkdir -p $(@D)
	$(WCC) $(W_CPPFLAGS) -DSB_FAULTS -I$(W_CHECK)/include -Itests -Itests/wine -include win32_shim.h \
	    $(CPPFLAGS) $(W_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/tests/%.o: tests/wine/%.c $(W_CHECK)/lib/libcheck.a
	@mkdir -p $(@D)
	$(WCC) $(W_CPPFLAGS) -DSB_FAULTS -I$(W_CHECK)/include -Itests -Itests/wine -include win32_shim.h \
	    $(CPPFLAGS) $(W_CFLAGS) $(CFLAGS) -c $< -o $@

$(W_TEST_BIN): $(W_TEST_OBJ) $(W_TLIB) $(W_CHECK)/lib/libcheck.a
	$(WCC) $(W_LDFLAGS) $(LDFLAGS) -o $@ $(W_TEST_OBJ) $(W_TLIB) $(W_CHECK)/lib/libcheck.a $(W_LIBS)

# The Linux build of the Check runner, in a folder of its own: its
# end-to-end suites (echod, echo, chatd, shutdown) are run against the .exe demos
# (tests/wine/run-suites.sh).  TARGET= on the command line: the sub-make
# reads the Makefile's Linux part.
W_LINUX       := $(BUILD)/linux
W_LINUX_CHECK := $(W_LINUX)/tests/check_switchboard
.PHONY: linux-check-bin
linux-check-bin:
	$(MAKE) TARGET= BUILD='$(W_LINUX)' '$(W_LINUX_CHECK)'

# The Check runner first (on the select backend, then on poll: WSAPoll),
# then the demos driven from Linux: the scripted cases (run.sh) and the
# Linux end-to-end suites (run-suites.sh).
check: deps
	$(MAKE) -f mk/mingw.mk BUILD='$(BUILD)' all wine-prefix $(W_TEST_BIN) linux-check-bin
	CK_FORK=no WINEDEBUG=-all WINEPREFIX='$(abspath $(BUILD)/wine)' $(WINE) $(W_TEST_BIN)
	SB_BACKEND=poll CK_FORK=no WINEDEBUG=-all WINEPREFIX='$(abspath $(BUILD)/wine)' $(WINE) $(W_TEST_BIN)
	WINE='$(WINE)' WINEPREFIX='$(abspath $(BUILD)/wine)' bash tests/wine/run.sh $(BUILD)
	WINE='$(WINE)' WINEPREFIX='$(abspath $(BUILD)/wine)' bash tests/wine/run-suites.sh $(BUILD) $(W_LINUX_CHECK)

-include $(W_TEST_OBJ:.o=.d) $(W_TLIB_OBJ:.o=.d)
