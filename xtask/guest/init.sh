#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest init: mount the pseudo file systems, run the installed kselftests
# through their own runner, then power off (QEMU runs with -no-reboot).
/bin/busybox --install -s
# The runner wraps tests in "timeout --foreground", which busybox lacks;
# without /usr/bin/timeout it runs them directly. The host enforces a
# wall-clock limit on the whole guest run instead.
rm -f /usr/bin/timeout
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
# devtmpfs has no /dev/std* links; the runner writes test output to
# /dev/stdout, which would otherwise be lost.
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
. /etc/guest.conf
echo "@@ guest: $(nproc) CPUs online, kernel $(uname -r)"
if [ -n "$GUEST_CMD" ]; then
	# Another program than the kselftest runner (the benchmark).
	echo "@@ guest: command begin"
	sh -c "$GUEST_CMD"
	echo "@@ guest: command end, exit $?"
else
	echo "@@ guest: kselftest begin"
	cd /kselftest && ./run_kselftest.sh $KSFT_ARGS
	echo "@@ guest: kselftest end, runner exit $?"
fi
sync
reboot -f
