#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Installs what building and testing the series needs. Idempotent: with
# everything present it only looks and returns in a few seconds.
set -eu

BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/.." && pwd)/build}
BINDGEN_VERSION=0.70.1
# b4 (PyPI), in a virtual environment of its own: the checks feed it the
# emitted series as a mail thread.
B4_VERSION=0.14.3
# Sphinx for the docs check (make htmldocs of the series' books), in the
# same venv: what Documentation/sphinx/requirements.txt names, pinned at
# the releases of Linux 6.12's time; PyYAML for the netlink spec pages.
SPHINX_VERSION=8.1.3
SPHINX_PKGS="Sphinx==$SPHINX_VERSION alabaster==1.0.0 PyYAML==6.0.2"
PKGS="linux-source-6.12 clang lld llvm libclang-dev flex bison bc libelf-dev
libssl-dev cpio rsync kmod busybox-static qemu-system-x86 qemu-system-arm
gcc-aarch64-linux-gnu libc6-dev-arm64-cross make git perl python3 binutils
gcc libc6-dev patch diffutils xz-utils tar python3-venv"
# bindgen 0.71 and later (0.73 seen) lay task_struct out 64 bytes off under
# this config (no padding after the empty, cache-aligned sched_statistics),
# so current!().group_leader() oopses in the kernel doctests; 0.70.1 does not.
# Guest programs for arm64, from Debian's arm64 packages (multiarch).
ARM64_DEBS="busybox-static bash libtinfo6"

say() { echo "deps: $*"; }
die() { echo "deps: error: $*" >&2; exit 1; }

export PATH="$HOME/.cargo/bin:$PATH"
export DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
	SUDO=""
	say "not root: package installs may fail"
else
	SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
fi

updated=""
apt_update() {
	[ -n "$updated" ] && return 0
	# A mirror of one architecture being mid-sync should not stop us:
	# apt-get install below reports any package that is really missing.
	$SUDO apt-get update -qq || say "apt-get update reported errors (continuing)"
	updated=1
}

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	say "adding the arm64 architecture (multiarch) for guest packages"
	$SUDO dpkg --add-architecture arm64
	updated=""
	apt_update
fi

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	say "installing:$missing"
	apt_update
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
		die "apt-get install failed for:$missing"
fi

root="$BUILD_DIR/cache/debs-arm64/root"
if [ ! -x "$root/bin/busybox" ] || [ ! -x "$root/bin/bash" ]; then
	say "fetching arm64 guest packages: $ARM64_DEBS"
	mkdir -p "$root"
	apt_update
	debs=""
	for d in $ARM64_DEBS; do debs="$debs $d:arm64"; done
	# shellcheck disable=SC2086
	(cd "$BUILD_DIR/cache/debs-arm64" && apt-get download -qq -o APT::Sandbox::User=root $debs) ||
		die "apt-get download failed for:$debs"
	for f in "$BUILD_DIR"/cache/debs-arm64/*.deb; do
		dpkg-deb -x "$f" "$root"
	done
fi

command -v rustup >/dev/null || die "rustup not found (the machine's Rust toolchain)"
installed=$(rustup component list --installed)
for c in rust-src rustfmt clippy; do
	echo "$installed" | grep -q "^$c" || {
		say "rustup component add $c"
		rustup component add "$c"
	}
done

if [ "$(bindgen --version 2>/dev/null)" != "bindgen $BINDGEN_VERSION" ]; then
	say "cargo install --locked bindgen-cli@$BINDGEN_VERSION"
	cargo install --locked --quiet "bindgen-cli@$BINDGEN_VERSION" ||
		die "cargo install bindgen-cli failed"
fi

B4="$BUILD_DIR/venv/bin/b4"
if [ "$("$B4" --version 2>/dev/null)" != "$B4_VERSION" ]; then
	say "pip install b4==$B4_VERSION (in $BUILD_DIR/venv)"
	python3 -m venv "$BUILD_DIR/venv" || die "python3 -m venv failed"
	"$BUILD_DIR/venv/bin/pip" install --quiet --disable-pip-version-check \
		"b4==$B4_VERSION" || die "pip install b4 failed"
fi

SPHINX="$BUILD_DIR/venv/bin/sphinx-build"
if [ "$("$SPHINX" --version 2>/dev/null)" != "sphinx-build $SPHINX_VERSION" ]; then
	say "pip install $SPHINX_PKGS (in $BUILD_DIR/venv)"
	# shellcheck disable=SC2086
	"$BUILD_DIR/venv/bin/pip" install --quiet --disable-pip-version-check \
		$SPHINX_PKGS || die "pip install Sphinx failed"
fi

[ -f /usr/src/linux-source-6.12.tar.xz ] ||
	die "/usr/src/linux-source-6.12.tar.xz missing after installing linux-source-6.12"

# Every external command the pipeline runs (xtask, the kernel and
# kselftest builds, the initramfs, QEMU), so that a missing one is named
# here rather than failing deep inside a build.
TOOLS="make git patch diff tar xz perl python3 bc flex bison cpio rsync
readelf gcc clang ld.lld llvm-ar llvm-objcopy llvm-nm aarch64-linux-gnu-gcc
qemu-system-x86_64 qemu-system-aarch64 rustc cargo rustfmt clippy-driver bindgen
dpkg-deb"
absent=""
for t in $TOOLS; do
	command -v "$t" >/dev/null || absent="$absent $t"
done
[ -z "$absent" ] || die "commands still missing after the installs:$absent"
say "ok"
