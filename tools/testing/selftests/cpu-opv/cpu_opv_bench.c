// SPDX-License-Identifier: GPL-2.0
/*
 * cpu_opv_bench: latency of cpu_opv() for a one-operation add, a
 * compare-and-store and the largest vector, next to a null system call
 * (getppid()) timed in the same run, each with the direct path and with
 * every operand forced through a vmalloc alias (<debugfs>/cpu_opv/
 * force_vmap). The thread stays on CPU 0 and targets CPU 0.
 *
 * Usage: cpu_opv_bench [iterations [repetitions]]
 * Prints one line per repetition:
 *   cpu_opv_bench rep=N null_ns=... add_ns=... cas_ns=... max_ns=...
 *     add_vmap_ns=... cas_vmap_ns=... max_vmap_ns=...
 * or "cpu_opv_bench unavailable: <why>" when it cannot run.
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
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "cpu-op.h"

static struct cpu_op add_op, max_ops[CPU_OP_VEC_LEN_MAX];
static intptr_t word;
static long iters;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double time_null(void)
{
	double t = now_ns();
	long i;

	for (i = 0; i < iters; i++)
		syscall(SYS_getppid);
	return (now_ns() - t) / iters;
}

/* ns per call of the vector, or -1 if a call failed. */
static double time_vec(struct cpu_op *ops, int n)
{
	double t = now_ns();
	long i;

	for (i = 0; i < iters; i++)
		if (cpu_opv(ops, n, 0, 0))
			return -1;
	return (now_ns() - t) / iters;
}

static double time_cas(void)
{
	double t = now_ns();
	long i;

	for (i = 0; i < iters; i++)
		if (cpu_op_cmpeqv_storev(&word, word, word + 1, 0))
			return -1;
	return (now_ns() - t) / iters;
}

int main(int argc, char **argv)
{
	long reps = argc > 2 ? atol(argv[2]) : 5, r;
	long page = sysconf(_SC_PAGESIZE);
	static uint64_t adds[CPU_OP_VEC_LEN_MAX];
	char *buf;
	cpu_set_t set;
	int i;

	iters = argc > 1 ? atol(argv[1]) : 2000;
	if (iters < 1 || reps < 1)
		return 1;
	if (cpu_opv(NULL, 0, -1, CPU_OP_NR_FLAG) < 0) {
		printf("cpu_opv_bench unavailable: %s\n", strerror(errno));
		return 0;
	}
	if (cpu_op_force_vmap(0)) {
		printf("cpu_opv_bench unavailable: cannot write %s\n", CPU_OP_FORCE_VMAP);
		return 0;
	}
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return 1;
	/* The largest vector: a 4096-byte copy crossing pages, 15 adds. */
	buf = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return 1;
	memset(buf, 1, 4 * page);
	cpu_op_memcpy(&max_ops[0], 0, buf + 100, buf + 2 * page + 100,
		      CPU_OP_DATA_LEN_MAX);
	for (i = 1; i < CPU_OP_VEC_LEN_MAX; i++)
		cpu_op_add(&max_ops[i], 0, &adds[i], 1, sizeof(adds[i]));
	cpu_op_add(&add_op, 0, &word, 1, sizeof(word));

	for (r = 1; r <= reps; r++) {
		double null, add, cas, max, addv, casv, maxv;

		null = time_null();
		add = time_vec(&add_op, 1);
		cas = time_cas();
		max = time_vec(max_ops, CPU_OP_VEC_LEN_MAX);
		if (cpu_op_force_vmap(1))
			return 1;
		addv = time_vec(&add_op, 1);
		casv = time_cas();
		maxv = time_vec(max_ops, CPU_OP_VEC_LEN_MAX);
		cpu_op_force_vmap(0);
		if (add < 0 || cas < 0 || max < 0 || addv < 0 || casv < 0 ||
		    maxv < 0) {
			printf("cpu_opv_bench failed: %s\n", strerror(errno));
			return 1;
		}
		printf("cpu_opv_bench rep=%ld null_ns=%.1f", r, null);
		printf(" add_ns=%.1f cas_ns=%.1f max_ns=%.1f", add, cas, max);
		printf(" add_vmap_ns=%.1f cas_vmap_ns=%.1f max_vmap_ns=%.1f\n",
		       addv, casv, maxv);
	}
	return 0;
}
