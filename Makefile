# p2v - physical-to-virtual conversion.  See README.md.
#
#   make            build into $(O) (default build/)
#   make demo       install missing packages, build, run a real conversion
#   make check      install missing packages, build, fuzz the receiver
#                   for CHECK_FUZZ_SECONDS (60), run every test
#   make check-asan the same tests against an ASan/UBSan build
#   make fuzz       fuzz the receiver for FUZZ_SECONDS (default 60)
#   make bench      every benchmark profile against dd | ssh and the rest (see bench/)
#   make liveimage  the bootable live images: $(O)/liveimage/p2v-live.iso
#                   (BIOS+UEFI, CD or USB) and vmlinuz + initrd.img (PXE);
#                   the i686 one (BIOS) in $(O)/liveimage-i686; ARCH=
#                   x86_64 or i686 builds one
#   make fleet      the test fleet's disk images (tests/fleet/)
#   make portable   the portable agents, static with musl, for old
#                   servers: $(O)/p2v-agent-x86_64 and -i686
#   make install    PREFIX=/usr/local DESTDIR= (the portable agents
#                   too, if made)
#   make deb        the Debian package, $(O)/p2v_VERSION-1_ARCH.deb, of
#                   the programs in $(O) and the live images, if made
#                   (scripts/make-deb, packaging/debian, docs/packaging.md)

VERSION   = 0.1.0
# The targets that install and then build (demo, check, ...) build on
# every core.
JOBS     := -j$(shell nproc)
PREFIX   ?= /usr/local
BINDIR    = $(PREFIX)/bin
MANDIR    = $(PREFIX)/share/man
O        ?= build
CC       ?= cc
CFLAGS   ?= -O2 -g
SAN      ?=
# The receiver parses untrusted bytes as root: it links only what it
# needs (libvirt and libuuid only serve the domain, once the stream has
# been received and checked).  The agent adds SSH and the disk and
# filesystem libraries.
COMMON_PKGS = libzstd libxxhash
AGENT_PKGS  = $(COMMON_PKGS) libssh2 libparted blkid ext2fs com_err libntfs-3g
# NBD=0 builds an agent without nbd:// sources, and so without libnbd's
# GnuTLS, libxml2 and ICU: the live image's (liveimage/).
NBD ?= 1
ifeq ($(NBD),1)
AGENT_PKGS += libnbd
else
CPPFLAGS += -DP2V_NO_NBD
endif
RECV_PKGS   = $(COMMON_PKGS) libvirt uuid libnbd
# Only the fixup links libguestfs.
FIXUP_PKGS  = $(COMMON_PKGS) libguestfs
# The batch coordinator asks libvirt about clashes (preflight).
BATCH_PKGS  = $(COMMON_PKGS) libvirt
PKGS        = $(AGENT_PKGS) libvirt uuid libguestfs
PKG_CONFIG ?= pkg-config
# PORTABLE=1: the portable agent's build (make portable), static, its
# libraries from a musl sysroot (p2v-agent/portable/build.sh).
ifdef PORTABLE
AGENT_PKGS += uuid                 # libparted.a needs it; its .pc says not
PKGS        = $(AGENT_PKGS)
PKG_CONFIG  = pkg-config --static --define-prefix
AGENT_LDFLAGS = -static
CPPFLAGS += -DP2V_BUILD='"$(PORTABLE_BUILD)"'
endif

WARN      = -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes \
            -Wno-missing-field-initializers
CPPFLAGS += -D_GNU_SOURCE -DP2V_VERSION='"$(VERSION)"' -Icommon
# Paths inside the binaries are relative to the source tree: the same
# sources make the same binary in any clone and any O= (the live
# image's cache key is its agent).
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) $(SAN) -MMD -MP -ffile-prefix-map=$(CURDIR)=.
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell $(PKG_CONFIG) --libs $(AGENT_PKGS) 2>/dev/null)
COMMON_LIBS = $(shell $(PKG_CONFIG) --libs $(COMMON_PKGS) 2>/dev/null)
RECV_LIBS  = $(shell $(PKG_CONFIG) --libs $(RECV_PKGS) 2>/dev/null)
FIXUP_LIBS = $(shell $(PKG_CONFIG) --libs $(FIXUP_PKGS) 2>/dev/null)
BATCH_LIBS = $(shell $(PKG_CONFIG) --libs $(BATCH_PKGS) 2>/dev/null)

# The libvirt MAC scan is not in libp2vcommon.a (which the agent links,
# and the portable agent builds without libvirt's headers): only the
# programs that link libvirt anyway, the receiver and p2v-batch, link it.
VIRT_SRC   = common/virt_macs.c
VIRT_OBJ   = $(call obj,$(VIRT_SRC))
COMMON_SRC = $(filter-out common/test-%.c $(VIRT_SRC),$(wildcard common/*.c))
AGENT_SRC  = $(filter-out p2v-agent/test-%.c,$(wildcard p2v-agent/*.c))
ifneq ($(NBD),1)
# NBD=0: no NBD sources (source.c refuses the URIs).
AGENT_SRC := $(filter-out p2v-agent/source_nbd.c,$(AGENT_SRC))
endif
AGENT_LIB_OBJ = $(call obj,$(filter-out p2v-agent/main.c,$(AGENT_SRC)))
RECV_SRC   = $(filter-out p2v-receiver/test-%.c p2v-receiver/fuzz-%.c,\
               $(wildcard p2v-receiver/*.c))
UNIT_SRC   = $(wildcard common/test-*.c)
AGENT_UNIT_SRC = $(wildcard p2v-agent/test-*.c)
RECV_UNIT_SRC = $(wildcard p2v-receiver/test-*.c)
RECV_LIB_OBJ = $(call obj,$(filter-out p2v-receiver/main.c,$(RECV_SRC))) \
               $(VIRT_OBJ)
FIXUP_SRC  = $(filter-out fixup/test-%.c,$(wildcard fixup/*.c))
FIXUP_UNIT_SRC = $(wildcard fixup/test-*.c)
BATCH_SRC  = $(filter-out p2v-batch/test-%.c,$(wildcard p2v-batch/*.c))
BATCH_UNIT_SRC = $(wildcard p2v-batch/test-*.c)
BATCH_LIB_OBJ = $(call obj,$(filter-out p2v-batch/main.c,$(BATCH_SRC))) \
                $(VIRT_OBJ)
# The rewriters, which the unit tests link without libguestfs.
FIXUP_PURE_OBJ = $(call obj,fixup/net_config.c fixup/boot_config.c \
                   fixup/vlan_config.c)

obj = $(patsubst %.c,$(O)/obj/%.o,$(1))
COMMON_OBJ = $(call obj,$(COMMON_SRC))
AGENT      = $(O)/p2v-agent
RECEIVER   = $(O)/p2v-receiver
FIXUP      = $(O)/p2v-fixup
BATCH      = $(O)/p2v-batch
UNIT_TESTS = $(patsubst common/%.c,$(O)/%,$(UNIT_SRC)) \
             $(patsubst p2v-agent/%.c,$(O)/agent-%,$(AGENT_UNIT_SRC)) \
             $(patsubst p2v-receiver/%.c,$(O)/receiver-%,$(RECV_UNIT_SRC)) \
             $(patsubst fixup/%.c,$(O)/fixup-%,$(FIXUP_UNIT_SRC)) \
             $(patsubst p2v-batch/%.c,$(O)/batch-%,$(BATCH_UNIT_SRC))
TEST_HELPERS = $(O)/count-nonzero $(O)/old-kernel
MANS       = $(O)/p2v-agent.1 $(O)/p2v-receiver.1 $(O)/p2v-fixup.1 \
             $(O)/p2v-batch.1

.SECONDARY:
.PHONY: all deps demo check check-asan tests fuzz fleet liveimage portable bench install deb clean
all: $(AGENT) $(RECEIVER) $(FIXUP) $(BATCH) $(MANS)

$(O)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(O)/libp2vcommon.a: $(COMMON_OBJ)
	@$(AR) rcs $@ $^

$(AGENT): $(call obj,$(AGENT_SRC)) $(O)/libp2vcommon.a
	$(CC) $(CFLAGS) $(SAN) $(AGENT_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

$(RECEIVER): $(call obj,$(RECV_SRC)) $(VIRT_OBJ) $(O)/libp2vcommon.a
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(RECV_LIBS)

$(FIXUP): $(call obj,$(FIXUP_SRC)) $(O)/libp2vcommon.a
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(FIXUP_LIBS)

$(BATCH): $(call obj,$(BATCH_SRC)) $(VIRT_OBJ) $(O)/libp2vcommon.a
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(BATCH_LIBS)

$(O)/batch-test-%: $(O)/obj/p2v-batch/test-%.o $(BATCH_LIB_OBJ) $(O)/libp2vcommon.a
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(BATCH_LIBS)

$(O)/obj/fixup/test-config.o $(O)/obj/fixup/test-vlan.o: \
    CPPFLAGS += -DFIXUP_SAMPLES='"$(CURDIR)/fixup/samples"'
$(O)/fixup-test-%: $(O)/obj/fixup/test-%.o $(FIXUP_PURE_OBJ) $(O)/libp2vcommon.a
	$(CC) $(CFLAGS) $(SAN) -o $@ $^

$(O)/test-%: $(O)/obj/common/test-%.o $(O)/libp2vcommon.a
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(COMMON_LIBS)

$(O)/test-virt_macs: $(O)/obj/common/test-virt_macs.o $(VIRT_OBJ) \
    $(O)/libp2vcommon.a
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(BATCH_LIBS)

# Agent unit tests link the agent's code without its main().
$(O)/agent-test-%: $(O)/obj/p2v-agent/test-%.o $(AGENT_LIB_OBJ) $(O)/libp2vcommon.a
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(PKG_LIBS) -lpthread

# Receiver unit tests and the libFuzzer target: its code without main().
$(O)/receiver-test-%: $(O)/obj/p2v-receiver/test-%.o $(RECV_LIB_OBJ) $(O)/libp2vcommon.a
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(RECV_LIBS)

$(O)/fuzz-receiver: $(O)/obj/p2v-receiver/fuzz-receiver.o $(RECV_LIB_OBJ) \
    $(O)/libp2vcommon.a
	$(CC) $(CFLAGS) $(SAN) -fsanitize=fuzzer -o $@ $^ $(RECV_LIBS)

$(O)/count-nonzero: $(O)/obj/tests/count-nonzero.o
	$(CC) $(CFLAGS) $(SAN) -o $@ $^

$(O)/old-kernel: $(O)/obj/tests/old-kernel.o
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ -lseccomp

$(O)/%.1: docs/%.pod
	@mkdir -p $(O)
	pod2man --section=1 --center="p2v" --release="p2v $(VERSION)" \
	  --name=$(shell echo $* | tr a-z A-Z) $< $@

deps:
	scripts/install-deps

demo: deps
	$(MAKE) $(JOBS) all
	tests/demo.sh $(O)

# The portable agents' sysroots (make portable) take 10 minutes or more
# cold: they are built from the start, in the background at a lower
# priority, using the CPU the tests leave idle; the tests that need them
# wait for them (the fixture cache's lock).  Their output:
# $(O)/portable-sysroots.log.
tests: all $(UNIT_TESTS) $(TEST_HELPERS)
	{ for a in $(PORTABLE_ARCHES); do \
	    nice -n 10 p2v-agent/portable/build.sh --sysroot $$a & done; wait; } \
	  > $(O)/portable-sysroots.log 2>&1 & pre=$$!; \
	tests/run-tests.sh $(O); rc=$$?; wait $$pre; exit $$rc

# The test fleet: "physical servers" as disk images, built once per
# machine into /var/cache/p2v-tests/fleet (tests/fleet/build.sh).
# Converting one end to end (test-fixup-fleet: by the live image or by
# direct attach, fixup, boot check) takes 4 to 10 minutes under TCG, so
# each is converted once per CI run: by make check (FLEET_E2E_CHECK) or
# by make check-asan (FLEET_E2E_ASAN), never both.  A new machine goes
# in one of the two lists, the two passes kept about even
# (docs/testing.md).  The order matters: test-fixup-fleet deals the
# machines to two lanes in turn (in each pass the md machines in
# different lanes; legacy-i386, whose i686 live image waits for the
# portable agent's sysroot, last in its lane).  The arrays
# (tests/fleet/arrays.sh: RAID5, RAID10, nested) are shared out the
# same way (test-raid-flatten).
FLEET := $(shell tests/fleet/build.sh --members)
FLEET_E2E_CHECK = lvm-on-md networkd-mac netplan-networkd legacy-i386 xfs-nm arrays
FLEET_E2E_ASAN  = legacy-raid1 dracut-lvm-md plain-gpt-uefi router-vlans trixie-uefi
ifneq ($(sort $(FLEET) arrays),$(sort $(FLEET_E2E_CHECK) $(FLEET_E2E_ASAN)))
$(error FLEET_E2E_CHECK and FLEET_E2E_ASAN must share out FLEET and arrays between them)
endif

# Tests whose guest-side program is the same in both passes (the
# portable agent and the live image's agent are built without
# sanitizers) run in one pass each: test-portable-agent and the hot
# clone of a running QEMU guest in make check; the two live images in
# make check-asan.  So does test-attach (a guest booted under libvirt,
# copied while it runs), under the sanitizers, and test-vlan-map
# (router-vlans with --vlan-map; its trunk mode is test-fixup-fleet's,
# under the sanitizers), and test-estate (the Ansible collection against
# three hypervisors, whose p2v package holds the sanitized programs).
# The two passes' totals are kept about even.
ONE_PASS_CHECK = test-portable-agent.sh test-hot-clone-vm.sh test-vlan-map.sh
ONE_PASS_ASAN  = test-liveimage.sh test-liveimage-i686.sh test-attach.sh test-estate.sh

# The CI budget (.ci/run: make check and make check-asan side by side,
# 2 cores): cold (fresh clone, no /var/cache/p2v-tests) at most 70
# minutes, warm at most 50.  The runner prints each test's time, the
# total and the five slowest; docs/testing.md has the last measured
# figures.
#
# The receiver's fuzz target runs for a bounded time first (make fuzz
# runs it longer), then every test; the runner's summary ends the output.
CHECK_FUZZ_SECONDS ?= 60
check: deps
	$(MAKE) fuzz FUZZ_SECONDS=$(CHECK_FUZZ_SECONDS)
	P2V_FLEET_E2E="$(FLEET_E2E_CHECK)" P2V_TESTS_ELSEWHERE="$(ONE_PASS_ASAN)" \
	  $(MAKE) $(JOBS) tests

# libparted 3.5's GPT initializer runs strchr on a line getdelim did
# not terminate (at load time, before any of our code): only that
# interceptor is turned off, here and for the agent that make fuzz runs.
# With P2V_SANITIZED, tests of the fixtures alone (no p2v program) are
# not run again; test-fixup-fleet converts the FLEET_E2E_ASAN machines.
check-asan: deps
	ASAN_OPTIONS=intercept_strchr=0 P2V_SANITIZED=1 P2V_FLEET_E2E="$(FLEET_E2E_ASAN)" \
	  P2V_TESTS_ELSEWHERE="$(ONE_PASS_CHECK)" $(MAKE) $(JOBS) O=build-asan CFLAGS="-O1 -g" \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  tests

FUZZ_SECONDS ?= 60
fuzz: deps
	$(MAKE) $(JOBS) O=build-fuzz CC=clang CFLAGS="-O1 -g" \
	  SAN="-fsanitize=fuzzer-no-link,address,undefined" \
	  build-fuzz/fuzz-receiver build-fuzz/p2v-agent build-fuzz/p2v-receiver
	ASAN_OPTIONS=intercept_strchr=0 P2V_BUILD=build-fuzz \
	  tests/fuzz-receiver.sh build-fuzz/fuzz-receiver $(FUZZ_SECONDS)

# The live images (liveimage/build.sh): for x86_64, an agent without
# libnbd, in $(O)/liveimage; for i686 (32-bit servers, BIOS), the
# portable i686 agent and Debian's i386 packages, in
# $(O)/liveimage-i686.  Both by default; make liveimage ARCH=i686 (or
# ARCH=x86_64) builds one.
LIVE_ARCHES = $(if $(filter command line,$(origin ARCH)),$(ARCH),x86_64 i686)
liveimage: deps
	for a in $(LIVE_ARCHES); do case $$a in \
	  x86_64) $(MAKE) $(JOBS) O=$(O)/live NBD=0 SAN= $(O)/live/p2v-agent && \
	    liveimage/build.sh $(O)/live/p2v-agent $(O)/liveimage ;; \
	  i686) p2v-agent/portable/build.sh i686 $(O)/p2v-agent-i686 && \
	    liveimage/build.sh --arch i686 $(O)/p2v-agent-i686 $(O)/liveimage-i686 ;; \
	  *) echo "make liveimage: ARCH is x86_64 or i686, not '$$a'" >&2; false ;; \
	esac || exit 1; done

# The portable agents: statically linked with musl, for the old
# servers hot clone runs on (kernels from 2.6.32, no SSE2 for i686).
PORTABLE_ARCHES ?= x86_64 i686
PORTABLE_AGENTS = $(patsubst %,$(O)/p2v-agent-%,$(PORTABLE_ARCHES))
portable: deps
	for a in $(PORTABLE_ARCHES); do \
	  p2v-agent/portable/build.sh $$a $(O)/p2v-agent-$$a || exit 1; done

# The test fleet (FLEET, above) and the RAID5/RAID10 disks.
fleet: deps
	for m in $(FLEET); do tests/fleet/build.sh $$m || exit 1; done
	tests/fleet/arrays.sh

bench: deps
	$(MAKE) $(JOBS) all $(O)/count-nonzero
	bench/run-all.sh $(O)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(AGENT) $(RECEIVER) $(FIXUP) $(BATCH) $(DESTDIR)$(BINDIR)
	install -m 644 $(MANS) $(DESTDIR)$(MANDIR)/man1
	for f in $(PORTABLE_AGENTS); do \
	  if [ -e $$f ]; then install -m 755 $$f $(DESTDIR)$(BINDIR); fi; done

deb: all
	scripts/make-deb $(O) $(O)

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(O) -name '*.d' 2>/dev/null)
