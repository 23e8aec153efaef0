# SPDX-License-Identifier: GPL-2.0
# xprtrdma-rs: see README.md. Every target installs what it needs.
#
#   make                  build xprtrdma_rs.ko (and our kernel, unless KDIR=)
#   make check            host tests, kernel + module build, the VM suite
#   make run [CLIENT=c|rs] boot the VM, mount over RDMA, run a short fio job
#   make vm-test T=tests/vm/NAME.sh [ARGS="..."] [VM_OPTS="-t s -m MiB"]
#                         boot the VM and run one guest test
#   make fuzz [FUZZ_SECONDS=600]      fuzz the reply decoder
#   make bench [ROUNDS=3] [QUICK=1] [PERF=1] [BENCH_CLIENTS="c rs"] [VM2=1] [MODE=icount]
#                         VM2=1: the server in a guest of its own
#                         MODE=icount: the guest clock counts instructions
#   make bench SCALING=1  4 KiB random read and write at QD 1, 8, 32, 128
#   make bench NCONNECT="1 4"  every workload once per nconnect=N mount
#   make bench BENCH_CLIENTS="base rs" BENCH_BASE_KO=/path/to/xprtrdma_rs.ko [MODE=icount] [QUICK=1]
#                         a baseline build of ours against this tree's
#   make xfstests [CLIENTS="c rs"] [VERS="3 4.2"] [TESTS="generic/001 ..."]
#                 [GROUP=quick] [EXCLUDE="..."] [SHARD=k/N] [FSTESTS_SRC=tree-or-tarball]
#                         fstests over NFS/RDMA, both clients side by side
#   make xfstests-report DIRS="OUTDIR..." [> results.md]
#                         one report over several runs (the shards of one)
#   make vm2 [VM2_SCENARIOS="powercut partition reboot soft"] [VM2_CLIENTS="c rs"]
#            [VM2_WRAP="flock /tmp/lock"]
#                         two guests, a server that dies (Documentation/two-vm.md)
#   make kernel | image | deps | clean
#
# FLAVOR=debug (kernel, module, image, vm-test, vm-suite, run, xfstests,
# soak) builds and boots the debug kernel instead: clang (LLVM=1) with KASAN,
# lockdep, kmemleak, debugobjects, UBSAN and fault injection (.config.debug).
# `make check` runs the C reference, the data test and the bench on the
# production kernel, and our client's tests on the debug one.

SHELL := /bin/bash
TOP := $(CURDIR)

FLAVOR ?= prod
ifeq ($(filter prod debug,$(FLAVOR)),)
$(error FLAVOR must be prod or debug)
endif
export XPRS_FLAVOR := $(FLAVOR)

# KDIR= builds the production flavour against your own configured and built
# tree; without it we build (and cache) ours. The debug flavour is always ours.
ifeq ($(FLAVOR),debug)
OWN_KERNEL := 1
override KDIR := $(shell XPRS_FLAVOR=debug $(TOP)/scripts/kernel.sh --kdir)
# kbuild writes an external module's objects beside its sources, so the
# debug module is built in a copy of them.
MODULE_DIR := $(TOP)/out/module-debug
KBUILD_CC := LLVM=1
else
ifeq ($(origin KDIR),undefined)
OWN_KERNEL := 1
KDIR = $(shell XPRS_FLAVOR=prod $(TOP)/scripts/kernel.sh --kdir)
endif
MODULE_DIR := $(TOP)
KBUILD_CC :=
endif
include $(TOP)/scripts/versions.mk

# A suite entry is a test script with its arguments, joined by ':'. A test
# that needs other scripts/vm options than the defaults (900 s, 4096 MiB)
# has them in VM_OPTS.<name>, for vm-suite and vm-test alike.
#
# The short tests of each kernel run in one boot (tests/vm/suite.sh, the
# guest reset between them; on the debug kernel each is followed by its own
# kmemleak check): a boot costs about 30 s of guest time on the production
# kernel and 50 s on the debug one. Suite entries are NAME,ARG,...
#
# On the production kernel: the C client's reference; the sunrpc.rdma_*
# sysctls; our client's data
# test over rxe and over siw (fio 10 s per job; `make vm-test
# T=tests/vm/rs-data.sh` runs both clients side by side); the short soak;
# the misbehaving peer; the trace events; swap over
# NFS/RDMA. Then the xfstests subset in a boot of its own, for its disks
# and the fstests share. Trimmed to fit the CI budget: the short soak makes
# 4 link flaps and 10 mount cycles (10 and 30 by default), the misbehaving
# peer sends up to 40 messages or runs 4 s per mode, the data test moves
# 128 MiB files over rxe on v3 and v4.0 (256 by default) and 64 MiB over
# siw on NFSv3 only, and swap's memory hog fills 384 MiB (640 by default)
# against its cgroup's 192.
VM_SUITE_PROD ?= tests/vm/suite.sh:reference:rs-sysctl:rs-data,rs,10,rxe,128:rs-data,rs,10,siw,64,3:rs-soak,rs,4,10:rs-hostile,rs,40,4:rs-trace:rs-swap,rs,384 \
	tests/vm/xfstests.sh:clients=rs:vers=3,4.2:list=tests/xfstests/transport.list:baseline=tests/xfstests/transport.baseline
# On the debug kernel: our client's tests, each followed by a kmemleak scan
# after umount and rmmod (scripts/guest/kmemleak-check.sh). Trimmed to fit
# the CI budget (Documentation/debug-kernel.md): rs-faults runs fio for 10 s
# (20 by default), rs-nomem 4 attempts of failslab at a stride of 346
# (N = 1, 346, 692, 1038) and every page
# allocation of order 4 and up (`make nomem` walks every N); it
# comes last, as it leaves failslab's filters set. rs-hostile and the
# xfstests subset run on the debug kernel as their own runs (`make vm-test
# FLAVOR=debug T=tests/vm/rs-hostile.sh`, `make xfstests FLAVOR=debug`):
# their guests take 17 and over 30 min there, more than the CI budget has
# left.
VM_SUITE_DEBUG ?= tests/vm/suite.sh:module:rs-inline:rs-v41:rs-faults,10:rs-acl,rs:rs-nomem,4,both,346,4
ifeq ($(FLAVOR),debug)
VM_SUITE ?= $(VM_SUITE_DEBUG)
else
VM_SUITE ?= $(VM_SUITE_PROD)
endif
# rs-data.sh both: each client moves 256 MiB files and runs 2 x 60 s of fio;
# its guest ran 468 s under TCG on 2 idle cores (788 s beside another VM).
VM_OPTS.rs-data := -t 2400
# rs-hostile.sh rs: 24 fault modes through the misbehaving peer, up to 100
# malformed messages or 20 s each (10 s in the suite); its guest ran 188 s
# under TCG on 2 cores (7,892 messages). On the debug kernel, ARGS="rs 1000
# 30" VM_OPTS="-t 3600" sent 10,808 in 1,642 s (Documentation/hostile-peer.md).
VM_OPTS.rs-hostile := -t 900
# rs-soak.sh rs: the short variant, 10 link flaps and 30 mount cycles;
# `make soak` runs both clients with SOAK_FLAPS and SOAK_MOUNTS.
VM_OPTS.rs-soak := -t 1800
VM_OPTS.rs-faults := -t 1800
VM_OPTS.rs-nomem := -t 1800
# The suites of make check: about 1,200 s of guest time each.
VM_OPTS.suite := -t 3000
# A kmemleak scan takes time in proportion to the guest's memory (under
# TCG, 23 s with 4 GiB, 12 to 14 s with 2 GiB), and the debug suite makes
# two after every test: its guest gets 2 GiB.
ifeq ($(FLAVOR),debug)
VM_OPTS.suite += -m 2048
endif
SOAK_FLAPS ?= 100
SOAK_MOUNTS ?= 1000
# xfstests.sh needs the fstests build (scripts/fstests.sh) as a 9p share and
# two disks, TEST and SCRATCH; `make xfstests` passes the same itself. In
# the suite: ours over the 14 tests of tests/xfstests/transport.list (11 on
# v3, 12 on v4.2: fsstress and fsx buffered on v4.2 only, fsx O_DIRECT on
# v3 only) on v3
# and v4.2, failing on a test ours fails (or does not run) that the C
# client's committed baseline passes. Its guest ran 1049 s under TCG on 2
# cores beside two other VMs (v3 730 s at load 5, v4.2 304 s); the tests
# alone take about 250 s per version on an idle host (C, v3: 244 s).
VM_OPTS.xfstests = -t 1800 -d 8G -d 8G \
	-s fstests=$(shell $(TOP)/scripts/fstests.sh >&2 && $(TOP)/scripts/fstests.sh --path)
CLIENT ?= rs
T ?=
ARGS ?=
VM_OPTS ?=
FUZZ_SECONDS ?= 600
ROUNDS ?= 3
# Both clients, alternated in one boot.
BENCH_CLIENTS ?= c rs
export BENCH_CLIENTS

.PHONY: all module deps kernel image hostile vm-test vm-suite host-check check run fuzz bench xfstests xfstests-report soak nomem vm2 rust-analyzer clean

all: module

deps:
	$(TOP)/scripts/deps.sh

kernel: deps
ifdef OWN_KERNEL
	$(TOP)/scripts/kernel-progress
endif

module: kernel
ifeq ($(FLAVOR),debug)
	@mkdir -p $(MODULE_DIR)
	rsync -a --delete --exclude=bindings_generated.rs --exclude='*.o' --exclude='.*' \
		$(TOP)/Kbuild $(TOP)/include $(TOP)/rust $(MODULE_DIR)/
endif
	$(MAKE) -C $(KDIR) M=$(MODULE_DIR) $(KBUILD_CC) RUSTC=$(HOST_RUSTC) BINDGEN=$(BINDGEN) modules

image: kernel
	$(TOP)/scripts/image.sh

# The misbehaving test peer (tests/hostile), built on the host for the guest.
hostile:
	$(TOP)/scripts/hostile.sh

# vm_run TEST [ARGS]: scripts/vm with the test's own options, then VM_OPTS.
vm_run = $(TOP)/scripts/vm $(VM_OPTS.$(basename $(notdir $(1)))) $(VM_OPTS) $(1) $(2)

vm-test: module image hostile
	@test -n "$(T)" || { echo "usage: make vm-test T=tests/vm/NAME.sh [ARGS=...]"; exit 2; }
	$(call vm_run,$(T),$(ARGS))

vm-suite: module image hostile
	@set -e; $(foreach t,$(VM_SUITE),$(call vm_run,$(firstword $(subst :, ,$(t))),$(wordlist 2,99,$(subst :, ,$(t))));)

host-check:
	$(TOP)/tools/check.sh

# The VM stages (scripts/check-vms): the production suite and the xfstests
# subset in one stream, the debug suite in another, at the same time, each
# in its own guest; then the quick benchmark, counting instructions, beside
# whichever stream is still running. On a cold cache the debug kernel
# builds in the background at the lowest priority from the start
# (scripts/kernel-bg), on what the host checks, the production kernel's
# serial steps and the guests leave; the debug stream waits for it. With
# the kernels cached it does nothing.
check: deps
	$(TOP)/scripts/kernel-bg start debug
	$(MAKE) host-check
	$(MAKE) module image hostile FLAVOR=prod
	VM_SUITE_PROD='$(VM_SUITE_PROD)' VM_SUITE_DEBUG='$(VM_SUITE_DEBUG)' $(TOP)/scripts/check-vms
	@echo "make check: all passed"

run: module image
	$(TOP)/scripts/vm tests/vm/fio-run.sh $(CLIENT)

fuzz:
	$(TOP)/tools/fuzz.sh $(FUZZ_SECONDS)

# 100 link flaps and 1000 mount cycles per client, C then ours, in one boot.
soak: module image
	$(TOP)/scripts/vm -t 14400 tests/vm/rs-soak.sh both $(SOAK_FLAPS) $(SOAK_MOUNTS)

# Two guests, a server that dies: every scenario with every client, one
# scripts/vm2 run each (two guests of 1 vCPU), then the table of all. Each
# run is prefixed with VM2_WRAP (e.g. a flock on a shared VM lock).
VM2_SCENARIOS ?= powercut partition reboot soft
VM2_CLIENTS ?= c rs
VM2_OPTS ?=
VM2_WRAP ?=
vm2: module image
	@rc=0; for s in $(VM2_SCENARIOS); do for c in $(VM2_CLIENTS); do \
		$(VM2_WRAP) $(TOP)/scripts/vm2 $(VM2_OPTS) $$s $$c || rc=1; done; done; \
	{ echo "| scenario | client | result | recovery (s) | stall (s) | notes |"; \
	  echo "|---|---|---|---|---|---|"; \
	  for s in $(VM2_SCENARIOS); do for c in $(VM2_CLIENTS); do \
		cat $(TOP)/out/vm2/$$s-$$c/result.md 2>/dev/null || echo "| $$s | $$c | **FAIL** | - | - | no result |"; \
	  done; done; } | tee $(TOP)/out/vm2/summary.md; exit $$rc

# Speed is measured on the production kernel only.
bench: module image
	@test $(FLAVOR) = prod || { echo "make bench: the debug kernel measures nothing; FLAVOR=prod"; exit 2; }
	$(TOP)/scripts/bench $(if $(filter 1,$(QUICK)),-q,-r $(ROUNDS)) $(if $(filter 1,$(PERF)),-p) $(if $(filter 1,$(VM2)),-2) $(if $(filter icount,$(MODE)),-i) $(if $(filter 1,$(SCALING)),-S) $(if $(NCONNECT),-n "$(NCONNECT)") $(if $(BENCH_BASE_KO),-b $(BENCH_BASE_KO))

# The whole allocation-failure walk on the debug kernel: every N, through
# failslab and fail_page_alloc (make check walks with a stride).
nomem:
	$(MAKE) vm-test FLAVOR=debug T=tests/vm/rs-nomem.sh ARGS="100000 both 1" VM_OPTS="-t 36000"

# CLIENTS, VERS, TESTS, GROUP, EXCLUDE, SHARD and FSTESTS_SRC reach
# scripts/xfstests from the command line or the environment; see
# Documentation/xfstests.md.
xfstests: module image
	$(TOP)/scripts/xfstests

# One results.md, on standard output, over the out dirs of several make
# xfstests runs (the shards of a long one, kept with scripts/xfstests-keep).
xfstests-report:
	$(if $(DIRS),,$(error give DIRS="OUTDIR...": make xfstests output dirs))
	@python3 $(TOP)/tools/xfstests-report.py --md - $(DIRS)

# rust-project.json for editors (rust-analyzer): the kernel's crates from
# its own generator, plus this module's crate (scripts/rust-project.py).
rust-analyzer: module
	$(MAKE) -C $(KDIR) M=$(TOP) RUSTC=$(HOST_RUSTC) BINDGEN=$(BINDGEN) rust-analyzer
	$(TOP)/scripts/rust-project.py $(TOP)/rust-project.json $(TOP)/rust/xprtrdma_rs.rs

clean:
	-$(MAKE) -C $(KDIR) M=$(TOP) clean
	rm -rf $(TOP)/out $(TOP)/rust/bindings_generated.rs
