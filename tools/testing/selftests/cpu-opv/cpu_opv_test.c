// SPDX-License-Identifier: GPL-2.0
/*
 * cpu_opv_test: the cpu_opv() ABI, operation by operation, its limits and
 * each of its errors, in TAP form.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/userfaultfd.h>

#include "../kselftest.h"
#include "cpu-op.h"

static long page_size;

/* The call's result, with -errno for a failure. */
static int run(struct cpu_op *ops, int n, int cpu)
{
	int ret = cpu_opv(ops, n, cpu, 0);

	return ret < 0 ? -errno : ret;
}

static int query(void *ops, int n, int cpu, int flags)
{
	int ret = cpu_opv(ops, n, cpu, flags);

	return ret < 0 ? -errno : ret;
}

static int this_cpu(void)
{
	int cpu = sched_getcpu();

	return cpu < 0 ? 0 : cpu;
}

#define CHECK(cond, ...) ksft_test_result(cond, __VA_ARGS__)

static void test_flags(void)
{
	struct cpu_op op;

	cpu_op_mb(&op);
	CHECK(query(NULL, 0, -1, CPU_OP_NR_FLAG) == NR_CPU_OPS,
	      "CPU_OP_NR_FLAG returns NR_CPU_OPS\n");
	CHECK(query(NULL, 0, -1, CPU_OP_VEC_LEN_MAX_FLAG) == CPU_OP_VEC_LEN_MAX,
	      "CPU_OP_VEC_LEN_MAX_FLAG returns CPU_OP_VEC_LEN_MAX\n");
	CHECK(query(NULL, 0, -1, CPU_OP_NR_FLAG | CPU_OP_VEC_LEN_MAX_FLAG) == -EINVAL,
	      "two flags: EINVAL\n");
	CHECK(query(NULL, 0, -1, 1 << 2) == -EINVAL, "unknown flag: EINVAL\n");
	CHECK(query(&op, 0, -1, CPU_OP_NR_FLAG) == -EINVAL,
	      "flag with ops: EINVAL\n");
	CHECK(query(NULL, 1, -1, CPU_OP_NR_FLAG) == -EINVAL,
	      "flag with opcnt: EINVAL\n");
	CHECK(query(NULL, 0, 0, CPU_OP_NR_FLAG) == -EINVAL,
	      "flag with cpu: EINVAL\n");
}

static const uint32_t byte_lens[] = { 1, 2, 3, 4, 7, 8, 15, 16, 64, 1000,
				      4095, 4096 };
#define NR_BYTE_LENS ARRAY_SIZE(byte_lens)

/* Compare and memcpy at every length, from buffers that cross pages. */
static void test_bytes(void)
{
	char *a = mmap(NULL, 4 * page_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *b = a + 2 * page_size;
	int cmp_ok = 1, cpy_ok = 1, rel_ok = 1;
	struct cpu_op op;
	unsigned int i;

	if (a == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	for (i = 0; i < NR_BYTE_LENS; i++) {
		uint32_t len = byte_lens[i];
		/* Start 100 bytes before a page end: long ranges cross it. */
		char *x = a + page_size - 100, *y = b + page_size - 100;

		memset(x, 0x5a, len);
		memset(y, 0x5a, len);
		cpu_op_compare(&op, 1, x, y, len);
		cmp_ok &= run(&op, 1, this_cpu()) == 0;
		cpu_op_compare(&op, 0, x, y, len);
		cmp_ok &= run(&op, 1, this_cpu()) == 1;
		y[len - 1] = 0x5b;
		cpu_op_compare(&op, 1, x, y, len);
		cmp_ok &= run(&op, 1, this_cpu()) == 1;
		cpu_op_compare(&op, 0, x, y, len);
		cmp_ok &= run(&op, 1, this_cpu()) == 0;

		memset(y, 0x11, len);
		memset(x, 0, len + 1);
		cpu_op_memcpy(&op, 0, x, y, len);
		cpy_ok &= run(&op, 1, this_cpu()) == 0 &&
			  !memcmp(x, y, len) && x[len] == 0;
		memset(y, 0x22, len);
		cpu_op_memcpy(&op, 1, x, y, len);
		rel_ok &= run(&op, 1, this_cpu()) == 0 &&
			  !memcmp(x, y, len) && x[len] == 0;
	}
	CHECK(cmp_ok, "compare EQ/NE at every length, across pages\n");
	CHECK(cpy_ok, "memcpy at every length, across pages\n");
	CHECK(rel_ok, "memcpy release at every length, across pages\n");

	/* Overlapping ranges copy as memmove does. */
	for (i = 0; i < 64; i++)
		a[i] = i;
	cpu_op_memcpy(&op, 1, a + 8, a, 32);
	CHECK(run(&op, 1, this_cpu()) == 0 && a[8] == 0 && a[39] == 31,
	      "memcpy release with overlapping ranges\n");
	munmap(a, 4 * page_size);
}

/* Add, bitwise and shift at each width, with wrap-around. */
static void test_words(void)
{
	static const uint32_t lens[] = { 1, 2, 4, 8 };
	int add_ok = 1, bit_ok = 1, shift_ok = 1;
	uint64_t buf[2];
	struct cpu_op op;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		uint32_t len = lens[i];
		uint64_t ones = len == 8 ? ~0ULL : (1ULL << (8 * len)) - 1;
		uint64_t v = 0;

		/* Operands are the low-addressed len bytes of buf[0]. */
#define GET() ({ uint64_t t_ = 0; memcpy(&t_, buf, 8); t_; })
		/* buf[1] guards against stores past the operand. */
		buf[0] = 0;
		buf[1] = ~0ULL;
		memset(buf, 0xff, len);
		cpu_op_add(&op, 0, buf, 1, len);
		add_ok &= run(&op, 1, this_cpu()) == 0 && GET() == 0 &&
			  buf[1] == ~0ULL;
		cpu_op_add(&op, 1, buf, -2, len);
		add_ok &= run(&op, 1, this_cpu()) == 0;
		memcpy(&v, buf, len);
		add_ok &= v == (ones - 1);

		buf[0] = 0;
		cpu_op_bitwise(&op, CPU_OR_OP, buf, 0xf0f0f0f0f0f0f0f0ULL, len);
		bit_ok &= run(&op, 1, this_cpu()) == 0;
		v = 0;
		memcpy(&v, buf, len);
		bit_ok &= v == (0xf0f0f0f0f0f0f0f0ULL & ones) && GET() == v;
		cpu_op_bitwise(&op, CPU_AND_OP, buf, 0x3c3c3c3c3c3c3c3cULL, len);
		bit_ok &= run(&op, 1, this_cpu()) == 0;
		memcpy(&v, buf, len);
		bit_ok &= v == (0x3030303030303030ULL & ones);
		cpu_op_bitwise(&op, CPU_XOR_OP, buf, ~0ULL, len);
		bit_ok &= run(&op, 1, this_cpu()) == 0;
		memcpy(&v, buf, len);
		bit_ok &= v == (~0x3030303030303030ULL & ones);

		buf[0] = 0;
		v = 0x81;
		memcpy(buf, &v, len < 8 ? len : 8);
		cpu_op_shift(&op, CPU_LSHIFT_OP, buf, 8 * len - 1, len);
		shift_ok &= run(&op, 1, this_cpu()) == 0;
		v = 0;
		memcpy(&v, buf, len);
		shift_ok &= v == (1ULL << (8 * len - 1));
		cpu_op_shift(&op, CPU_RSHIFT_OP, buf, 8 * len - 1, len);
		shift_ok &= run(&op, 1, this_cpu()) == 0;
		v = 0;
		memcpy(&v, buf, len);
		shift_ok &= v == 1;
#undef GET
	}
	CHECK(add_ok, "add and add release at 1, 2, 4, 8 bytes, wrapping\n");
	CHECK(bit_ok, "or, and, xor at 1, 2, 4, 8 bytes\n");
	CHECK(shift_ok, "lshift, rshift at 1, 2, 4, 8 bytes\n");
	cpu_op_mb(&op);
	CHECK(run(&op, 1, this_cpu()) == 0, "barrier\n");
}

static void test_vectors(void)
{
	struct cpu_op ops[CPU_OP_VEC_LEN_MAX + 1];
	static char big[CPU_OP_DATA_LEN_MAX + 1], big2[CPU_OP_DATA_LEN_MAX + 1];
	uint64_t w[CPU_OP_VEC_LEN_MAX] = { 0 };
	intptr_t v = 5, expect = 5;
	int i, ok = 1;

	for (i = 0; i < CPU_OP_VEC_LEN_MAX; i++)
		cpu_op_add(&ops[i], i & 1, &w[i], i + 1, 8);
	CHECK(run(ops, CPU_OP_VEC_LEN_MAX, this_cpu()) == 0,
	      "16 operations run\n");
	for (i = 0; i < CPU_OP_VEC_LEN_MAX; i++)
		ok &= w[i] == (uint64_t)i + 1;
	CHECK(ok, "16 operations all took effect\n");
	cpu_op_mb(&ops[CPU_OP_VEC_LEN_MAX]);
	CHECK(run(ops, CPU_OP_VEC_LEN_MAX + 1, this_cpu()) == -EINVAL,
	      "17 operations: EINVAL\n");
	CHECK(run(ops, 0, this_cpu()) == -EINVAL, "0 operations: EINVAL\n");
	CHECK(run(ops, -1, this_cpu()) == -EINVAL, "-1 operations: EINVAL\n");

	/* The largest vector: one 4096-byte copy and fifteen 8-byte adds. */
	memset(big2, 7, sizeof(big2));
	cpu_op_memcpy(&ops[0], 0, big, big2, CPU_OP_DATA_LEN_MAX);
	for (i = 1; i < CPU_OP_VEC_LEN_MAX; i++)
		cpu_op_add(&ops[i], 0, &w[i], 1, 8);
	CHECK(run(ops, CPU_OP_VEC_LEN_MAX, this_cpu()) == 0 && big[4095] == 7,
	      "CPU_OP_VEC_DATA_LEN_MAX bytes of operands run\n");
	cpu_op_memcpy(&ops[0], 0, big, big2, 8);
	cpu_op_memcpy(&ops[1], 0, big, big2, CPU_OP_DATA_LEN_MAX);
	cpu_op_memcpy(&ops[2], 0, big, big2,
		      CPU_OP_VEC_DATA_LEN_MAX - CPU_OP_DATA_LEN_MAX - 7);
	CHECK(run(ops, 3, this_cpu()) == -EINVAL,
	      "CPU_OP_VEC_DATA_LEN_MAX + 1 bytes: EINVAL\n");

	/* A failing compare stops the vector and names itself. */
	w[0] = 0;
	v = 5;
	expect = 6;
	cpu_op_add(&ops[0], 0, &w[0], 1, 8);
	cpu_op_compare(&ops[1], 1, &v, &v, sizeof(v));
	cpu_op_compare(&ops[2], 1, &v, &expect, sizeof(v));
	cpu_op_add(&ops[3], 0, &w[0], 10, 8);
	CHECK(run(ops, 4, this_cpu()) == 3 && w[0] == 1,
	      "failed compare 3 returns 3, later operations do not run\n");
	expect = 5;
	CHECK(cpu_op_cmpeqv_storev(&v, expect, 9, this_cpu()) == 0 && v == 9,
	      "compare-and-store helper stores\n");
	CHECK(cpu_op_cmpeqv_storev(&v, expect, 10, this_cpu()) == 1 && v == 9,
	      "compare-and-store helper refuses a stale value\n");
}

static void test_invalid(void)
{
	uint64_t w = 0;
	char buf[16] = { 0 };
	struct cpu_op op;

	cpu_op_compare(&op, 1, buf, buf, 0);
	CHECK(run(&op, 1, this_cpu()) == -EINVAL, "compare len 0: EINVAL\n");
	cpu_op_memcpy(&op, 0, buf, buf, CPU_OP_DATA_LEN_MAX + 1);
	CHECK(run(&op, 1, this_cpu()) == -EINVAL,
	      "memcpy len CPU_OP_DATA_LEN_MAX + 1: EINVAL\n");
	cpu_op_add(&op, 0, &w, 1, 3);
	CHECK(run(&op, 1, this_cpu()) == -EINVAL, "add len 3: EINVAL\n");
	cpu_op_add(&op, 0, &w, 1, 16);
	CHECK(run(&op, 1, this_cpu()) == -EINVAL, "add len 16: EINVAL\n");
	cpu_op_add(&op, 0, (char *)&w + 2, 1, 4);
	CHECK(run(&op, 1, this_cpu()) == -EINVAL, "misaligned add: EINVAL\n");
	cpu_op_bitwise(&op, CPU_OR_OP, (char *)&w + 1, 1, 2);
	CHECK(run(&op, 1, this_cpu()) == -EINVAL, "misaligned or: EINVAL\n");
	cpu_op_shift(&op, CPU_LSHIFT_OP, &w, 32, 4);
	CHECK(run(&op, 1, this_cpu()) == -EINVAL, "shift by width: EINVAL\n");
	cpu_op_mb(&op);
	op.len = 1;
	CHECK(run(&op, 1, this_cpu()) == -EINVAL, "barrier len 1: EINVAL\n");
	cpu_op_mb(&op);
	op.op = NR_CPU_OPS;
	CHECK(run(&op, 1, this_cpu()) == -EINVAL, "op NR_CPU_OPS: EINVAL\n");
	op.op = -1;
	CHECK(run(&op, 1, this_cpu()) == -EINVAL, "op -1: EINVAL\n");
	cpu_op_add(&op, 0, &w, 1, 8);
	op.u.arithmetic_op.expect_fault_p = 2;
	CHECK(run(&op, 1, this_cpu()) == -EINVAL, "expect_fault 2: EINVAL\n");
	cpu_op_add(&op, 0, &w, 1, 8);
	CHECK(run(&op, 1, -1) == -EINVAL, "cpu -1: EINVAL\n");
	CHECK(run(&op, 1, 1 << 20) == -EINVAL, "cpu 2^20: EINVAL\n");
	CHECK(w == 0, "no refused vector ran\n");
}

static void test_memory(void)
{
	char *ro = mmap(NULL, page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	char *fresh = mmap(NULL, 2 * page_size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *gone = mmap(NULL, page_size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t w = 0;
	char dst[64];
	struct cpu_op op;

	if (ro == MAP_FAILED || fresh == MAP_FAILED || gone == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	munmap(gone, page_size);

	CHECK(cpu_opv(NULL, 1, this_cpu(), 0) == -1 && errno == EFAULT,
	      "NULL vector: EFAULT\n");
	CHECK(cpu_opv((void *)gone, 1, this_cpu(), 0) == -1 && errno == EFAULT,
	      "unmapped vector: EFAULT\n");

	memset(dst, 1, sizeof(dst));
	cpu_op_memcpy(&op, 0, dst, ro, sizeof(dst));
	CHECK(run(&op, 1, this_cpu()) == 0 && dst[0] == 0 && dst[63] == 0,
	      "read-only, never-touched source reads as zeros\n");
	memset(dst, 1, sizeof(dst));
	cpu_op_memcpy(&op, 0, dst, fresh + page_size - 32, sizeof(dst));
	CHECK(run(&op, 1, this_cpu()) == 0 && dst[0] == 0 && dst[63] == 0,
	      "never-touched source across pages reads as zeros\n");
	cpu_op_memcpy(&op, 0, ro, dst, 8);
	CHECK(run(&op, 1, this_cpu()) == -EFAULT,
	      "write to a read-only mapping: EFAULT\n");
	cpu_op_add(&op, 0, ro, 1, 8);
	CHECK(run(&op, 1, this_cpu()) == -EFAULT,
	      "add to a read-only mapping: EFAULT\n");
	cpu_op_memcpy(&op, 0, dst, gone, 8);
	CHECK(run(&op, 1, this_cpu()) == -EFAULT, "unmapped source: EFAULT\n");
	op.u.memcpy_op.expect_fault_src = 1;
	CHECK(run(&op, 1, this_cpu()) == -EAGAIN,
	      "unmapped source with expect_fault: EAGAIN\n");
	cpu_op_add(&op, 0, gone, 1, 8);
	op.u.arithmetic_op.expect_fault_p = 1;
	CHECK(run(&op, 1, this_cpu()) == -EAGAIN,
	      "unmapped add target with expect_fault: EAGAIN\n");
	cpu_op_add(&op, 0, (void *)(uintptr_t)(~0ULL << 12), 1, 8);
	CHECK(run(&op, 1, this_cpu()) == -EFAULT, "kernel address: EFAULT\n");

	/* A failing operand after a good one: nothing runs. */
	{
		struct cpu_op ops[2];

		cpu_op_add(&ops[0], 0, &w, 1, 8);
		cpu_op_add(&ops[1], 0, ro, 1, 8);
		CHECK(run(ops, 2, this_cpu()) == -EFAULT && w == 0,
		      "a bad operand stops the whole vector\n");
	}
	munmap(ro, page_size);
	munmap(fresh, 2 * page_size);
}

/* The start of the [vvar] mapping (VM_PFNMAP), or NULL. */
static void *find_vvar(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long start = 0;
	char line[256];

	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "[vvar]") && sscanf(line, "%lx-", &start) == 1)
			break;
	fclose(f);
	return (void *)start;
}

/* Pages without a struct page behind them cannot be pinned. */
static void test_special(void)
{
	char *vvar = find_vvar();
	char dst[8];
	struct cpu_op op;

	if (!vvar) {
		ksft_test_result_skip("special mapping: no [vvar] mapping\n");
		ksft_test_result_skip("special mapping with expect_fault: no [vvar] mapping\n");
		return;
	}
	cpu_op_memcpy(&op, 0, dst, vvar, sizeof(dst));
	CHECK(run(&op, 1, this_cpu()) == -EFAULT,
	      "source in [vvar] (VM_PFNMAP): EFAULT\n");
	/*
	 * The page is mapped readable, so touching it and retrying, as
	 * EAGAIN asks, would never end: expect_fault does not apply to
	 * memory that is mapped for the access but cannot be pinned.
	 */
	op.u.memcpy_op.expect_fault_src = 1;
	CHECK(run(&op, 1, this_cpu()) == -EFAULT,
	      "source in [vvar] with expect_fault: EFAULT, not EAGAIN\n");
}

/* Registers [addr, addr + len) with @uffd for missing-page faults. */
static void uffd_watch(int uffd, void *addr, size_t len)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)addr, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		ksft_exit_fail_msg("UFFDIO_REGISTER: %s\n", strerror(errno));
}

/*
 * Has @uffd watch the page at @page, then runs an 8-byte copy from @src
 * with expect_fault set on it. Returns what the call returned.
 */
static int watched_read(int uffd, char *page, char *src)
{
	struct cpu_op op;
	char dst[8];

	uffd_watch(uffd, page, page_size);
	cpu_op_memcpy(&op, 0, dst, src, sizeof(dst));
	op.u.memcpy_op.expect_fault_src = 1;
	return run(&op, 1, this_cpu());
}

/*
 * expect_fault where a touch from user space does what the kernel's own
 * fault cannot, and where it cannot help either.
 */
static void test_expect_fault(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	char *wo, *u, *vvar;
	char dst[8];
	struct cpu_op op;
	int uffd;

	/*
	 * User space reads a write-only mapping (x86 and arm64 imply read
	 * from write), the kernel does not: touching it would not help.
	 */
	wo = mmap(NULL, page_size, PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (wo == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	wo[0] = 1;
	cpu_op_memcpy(&op, 0, dst, wo, sizeof(dst));
	op.u.memcpy_op.expect_fault_src = 1;
	CHECK(run(&op, 1, this_cpu()) == -EFAULT,
	      "source in a write-only mapping with expect_fault: EFAULT, not EAGAIN\n");
	munmap(wo, page_size);

	/*
	 * A userfaultfd that serves user-mode faults only: the kernel's
	 * fault fails where the caller's own touch would be served.
	 */
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api)) {
		ksft_test_result_skip("userfaultfd range with expect_fault: no userfaultfd (%s)\n",
				      strerror(errno));
		ksft_test_result_skip("userfaultfd range without expect_fault: no userfaultfd\n");
		ksft_test_result_skip("watched write-only mapping: no userfaultfd\n");
		ksft_test_result_skip("watched page next to a write-only one: no userfaultfd\n");
		ksft_test_result_skip("watched page next to [vvar]: no userfaultfd\n");
		if (uffd >= 0)
			close(uffd);
		return;
	}
	u = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (u == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	uffd_watch(uffd, u, page_size);
	cpu_op_memcpy(&op, 0, dst, u, sizeof(dst));
	op.u.memcpy_op.expect_fault_src = 1;
	CHECK(run(&op, 1, this_cpu()) == -EAGAIN,
	      "source in a user-mode-only userfaultfd range with expect_fault: EAGAIN\n");
	op.u.memcpy_op.expect_fault_src = 0;
	CHECK(run(&op, 1, this_cpu()) == -EFAULT,
	      "the same without expect_fault: EFAULT\n");
	munmap(u, page_size);

	/*
	 * The userfaultfd does not make a touch help where the kernel
	 * refuses the mapping itself: a write-only mapping for a read.
	 */
	wo = mmap(NULL, page_size, PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (wo == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	CHECK(watched_read(uffd, wo, wo) == -EFAULT,
	      "write-only mapping a userfaultfd watches, read with expect_fault: EFAULT\n");
	munmap(wo, page_size);

	/*
	 * Nor where another page of the operand is refused for good: a
	 * watched page followed by a write-only one, read across both.
	 */
	u = mmap(NULL, 2 * page_size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (u == MAP_FAILED || mprotect(u + page_size, page_size, PROT_WRITE))
		ksft_exit_fail_msg("mmap/mprotect: %s\n", strerror(errno));
	CHECK(watched_read(uffd, u, u + page_size - 4) == -EFAULT,
	      "read across a watched page and a write-only one with expect_fault: EFAULT\n");
	munmap(u, 2 * page_size);

	/* The same with [vvar] after the watched page, where there is room. */
	vvar = find_vvar();
	u = vvar ? mmap(vvar - page_size, page_size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) :
		   MAP_FAILED;
	if (u == MAP_FAILED || u != vvar - page_size) {
		ksft_test_result_skip("operand across a watched page and [vvar]: %s\n",
				      vvar ? "the page below [vvar] is taken" :
					     "no [vvar] mapping");
		if (u != MAP_FAILED)
			munmap(u, page_size);
	} else {
		CHECK(watched_read(uffd, u, vvar - 4) == -EFAULT,
		      "operand across a watched page and [vvar] with expect_fault: EFAULT\n");
		munmap(u, page_size);
	}
	close(uffd);
}

/*
 * A range that runs past the top of the address space is a bad vector:
 * EINVAL, before any operand is pinned, so also when an earlier operand
 * would fault, with or without expect_fault.
 */
static void test_wrap(void)
{
	char buf[16] = { 0 };
	struct cpu_op ops[2];

	cpu_op_memcpy(&ops[0], 0, buf, buf, sizeof(buf));
	ops[0].u.memcpy_op.src = UINT64_MAX - 7;
	CHECK(run(ops, 1, this_cpu()) == -EINVAL,
	      "source wrapping past the top: EINVAL\n");
	cpu_op_compare(&ops[0], 1, (void *)16, buf, 8);
	cpu_op_memcpy(&ops[1], 0, buf, buf, sizeof(buf));
	ops[1].u.memcpy_op.dst = UINT64_MAX - 7;
	CHECK(run(ops, 2, this_cpu()) == -EINVAL,
	      "wrapping destination after a faulting operand: EINVAL\n");
	ops[0].u.compare_op.expect_fault_a = 1;
	CHECK(run(ops, 2, this_cpu()) == -EINVAL,
	      "the same with expect_fault on the faulting one: EINVAL\n");
}

static int write_str(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok ? 0 : -1;
}

#define FAIL_NTH "/proc/thread-self/fail-nth"
#define FAILSLAB_GFP_WAIT "/sys/kernel/debug/failslab/ignore-gfp-wait"
#define FAILSLAB_VERBOSE "/sys/kernel/debug/failslab/verbose"

/*
 * Makes each memory allocation of a call fail in turn (failslab's
 * fail-nth), first on the path of kernels whose data cache does not
 * alias, which allocates nothing: every call must succeed whatever fails
 * (the nth allocation may be one a debug kernel makes on the way, such as
 * refilling an object pool, which the call does not depend on). Then
 * with every operand through a vmalloc alias (debugfs force_vmap), where
 * each allocation the call depends on must give ENOMEM, run no operation
 * and leave no alias mapped, and the others let it succeed: each n up to
 * FAIL_NTH_MAX is tried.
 */
#define FAIL_NTH_MAX	32

struct enomem_run {
	int failures;	/* calls that failed */
	int bad;	/* calls with a wrong result or effect */
	int ret;	/* the last call's result */
};

/* Runs the vector FAIL_NTH_MAX times, the nth allocation failing. */
static struct enomem_run enomem_calls(struct cpu_op *ops, char *byte, uint64_t *w)
{
	struct enomem_run r = { 0, 0, 0 };
	uint64_t want = *w;
	char nth[16];
	int n, ret;

	for (n = 1; n <= FAIL_NTH_MAX; n++) {
		snprintf(nth, sizeof(nth), "%d", n);
		*byte = 0;
		if (write_str(FAIL_NTH, nth))
			break;
		ret = run(ops, 2, this_cpu());
		write_str(FAIL_NTH, "0");
		if (ret == 0) {
			want++;
			if (*w != want || *byte != 3)
				r.bad++;
			continue;
		}
		r.failures++;
		if (ret != -ENOMEM || *w != want || *byte != 0)
			r.bad++;
	}
	r.ret = run(ops, 2, this_cpu());
	if (r.ret == 0 && *w != want + 1)
		r.bad++;
	return r;
}

static void test_enomem(void)
{
	char *buf = mmap(NULL, 4 * page_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct enomem_run d, a;
	struct cpu_op ops[2];
	uint64_t w = 0;
	int ret;

	if (buf == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	/* Quiet: the injected failures are expected, not worth a trace. */
	if (write_str(FAILSLAB_GFP_WAIT, "N") || write_str(FAILSLAB_VERBOSE, "0") ||
	    write_str(FAIL_NTH, "0")) {
		ksft_test_result_skip("no allocation: no fault injection (CONFIG_FAILSLAB)\n");
		ksft_test_result_skip("ENOMEM: no fault injection (CONFIG_FAILSLAB, debugfs)\n");
		munmap(buf, 4 * page_size);
		return;
	}
	memset(buf, 3, 4 * page_size);
	/* A copy across pages (two aliases when forced); the add shows any effect. */
	cpu_op_memcpy(&ops[0], 0, buf + page_size / 2, buf + 2 * page_size + 8,
		      page_size);
	cpu_op_add(&ops[1], 0, &w, 1, sizeof(w));
	d = enomem_calls(ops, buf + page_size / 2, &w);
	CHECK(!d.failures && !d.bad && d.ret == 0,
	      "no allocation: with each of the first %d allocations failing, every call succeeds (%d failed, %d wrong)\n",
	      FAIL_NTH_MAX, d.failures, d.bad);
	ret = cpu_op_force_vmap(1);
	if (ret) {
		ksft_test_result_skip("ENOMEM: %s: %s\n", CPU_OP_FORCE_VMAP, strerror(-ret));
	} else {
		a = enomem_calls(ops, buf + page_size / 2, &w);
		ret = cpu_op_force_vmap(0);
		CHECK(a.failures > 0 && !a.bad && a.ret == 0 && !ret &&
		      cpu_op_sparse_vmalloc_bytes() == 0,
		      "through aliases, each of %d allocation failures: ENOMEM, no effect, no alias left (%d wrong)\n",
		      a.failures, a.bad);
	}
	write_str(FAILSLAB_GFP_WAIT, "Y");
	write_str(FAILSLAB_VERBOSE, "2");
	munmap(buf, 4 * page_size);
}

/* Runs an add on every online CPU, checking where possible each ran. */
static void test_cpus(void)
{
	uint64_t w = 0;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	struct cpu_op op;
	long cpu;
	int ok = 1;

	cpu_op_add(&op, 0, &w, 1, 8);
	for (cpu = 0; cpu < n; cpu++)
		ok &= run(&op, 1, cpu) == 0;
	CHECK(ok && w == (uint64_t)n, "an add on each of the %ld online CPUs\n",
	      n);
}

static void test_offline(void)
{
	uint64_t w = 0;
	int cpu = (int)sysconf(_SC_NPROCESSORS_CONF) - 1;
	cpu_set_t set;
	struct cpu_op op;
	int ret;

	/*
	 * Keep off the CPU that goes away, but keep it in the mask: a vector
	 * may only target a CPU of the caller's affinity mask.
	 */
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (cpu > 0)
		CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
	ret = cpu > 0 ? cpu_op_set_online(cpu, 0) : -ENODEV;
	if (ret) {
		ksft_test_result_skip("offline CPU: cannot take a CPU offline (%s)\n",
				      strerror(-ret));
		ksft_test_result_skip("offline CPU: back online\n");
		return;
	}
	cpu_op_add(&op, 0, &w, 5, 8);
	ret = run(&op, 1, cpu);
	CHECK(ret == 0 && w == 5, "vector for offline CPU %d runs (%d)\n", cpu,
	      ret);
	CHECK(cpu_op_set_online(cpu, 1) == 0 && run(&op, 1, cpu) == 0 && w == 10,
	      "CPU %d back online, vector runs there\n", cpu);
}

int main(void)
{
	page_size = sysconf(_SC_PAGESIZE);
	ksft_print_header();
	cpu_op_require();
	ksft_set_plan(7 + 4 + 4 + 10 + 14 + 11 + 2 + 3 + 6 + 2 + 1 + 2);
	test_flags();
	test_bytes();
	test_words();
	test_vectors();
	test_invalid();
	test_memory();
	test_special();
	test_wrap();
	test_expect_fault();
	test_enomem();
	test_cpus();
	test_offline();
	ksft_finished();
}
