# SPDX-License-Identifier: GPL-2.0
#
# Front door: set-up, kernel builds, QEMU runs and the patch series.
# Every output lands in $(BUILD_DIR) (build/ unless set).

ARCH ?= x86_64
BUILD_DIR ?= $(CURDIR)/build
export BUILD_DIR
export PATH := $(HOME)/.cargo/bin:$(PATH)

XTASK := $(BUILD_DIR)/cargo/debug/xtask

.PHONY: help deps xtask run test test-full bench series import refresh check check-commits build tree \
	clean distclean

help:
	@echo "make run [ARCH=x86_64|arm64]  build, boot under QEMU, run the kselftests"
	@echo "make run DEBUG=1 [ARCH=...]   the same on the debug kernel (KASAN, lockdep, ...)"
	@echo "make run NO_RUST=1 [ARCH=...] the same without Rust: the C rseq, its tests"
	@echo "make test                     tooling tests + guest runs + static checks (CI, < 50 min)"
	@echo "make test-full                the same at full length (debug kernel on every arch)"
	@echo "make bench [ARCH=x86_64|arm64] rseq_bench with the Rust and with the C rseq (one tree)"
	@echo "make series                   git format-patch series with cover letter in build/series"
	@echo "make refresh                  after editing a layered new file, rewrite the later diffs"
	@echo "make import IMPORT_FROM=DIR    take back a series restructured with git in a clone of build/linux"
	@echo "make check                    static checks (rustfmt, warnings, SAFETY, checkpatch)"
	@echo "make check-commits [ARCH=...] [DEPTH=image|objects] build every commit of the series"
	@echo "make build [ARCH=...]         kernel and kselftests only"
	@echo "make deps                     install packages and toolchain pieces (idempotent)"
	@echo "make clean | distclean        remove build products | all of build/"

deps:
	@./xtask/deps.sh

xtask: deps
	@cargo build --locked --quiet --manifest-path xtask/Cargo.toml --target-dir $(BUILD_DIR)/cargo

run: xtask
	@$(XTASK) run $(ARCH)

test: xtask
	@$(XTASK) test

test-full: xtask
	@$(XTASK) test-full

bench: xtask
	@$(XTASK) bench $(ARCH)

series: xtask
	@$(XTASK) series

import: xtask
	@$(XTASK) import

refresh: xtask
	@$(XTASK) refresh

check: xtask
	@$(XTASK) check

check-commits: xtask
	@$(XTASK) check-commits $(ARCH) $(DEPTH)

build: xtask
	@$(XTASK) build $(ARCH)

tree: xtask
	@$(XTASK) tree

clean:
	rm -rf $(BUILD_DIR)/obj-* $(BUILD_DIR)/kconfig-* $(BUILD_DIR)/kselftest-* \
		$(BUILD_DIR)/initramfs-* $(BUILD_DIR)/logs $(BUILD_DIR)/results $(BUILD_DIR)/series

distclean:
	rm -rf $(BUILD_DIR)
