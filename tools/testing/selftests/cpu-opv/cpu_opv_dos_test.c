// SPDX-License-Identifier: GPL-2.0
/*
 * cpu_opv_dos_test: many processes issue maximal vectors at once, every
 * operand crossing a page and, with <debugfs>/cpu_opv/force_vmap on (as
 * kernels behave where the data cache aliases), each needing a kernel
 * alias of two pages in the vmalloc space. Every call must complete; the most vmalloc space the
 * aliases occupied at once (<debugfs>/cpu_opv/alias_bytes_peak: the
 * sizes of the areas as allocated, counted apart from the budget's
 * reservations) must stay within the budget the kernel reports; and no
 * alias ("sparse" area in /proc/vmallocinfo) may be left afterwards.
 *
 * VmallocUsed in /proc/meminfo counts pages allocated by vmalloc(), not
 * address space mapped over other pages, so it cannot see the aliases.
 * Summing the "sparse" areas of /proc/vmallocinfo while calls run is no
 * snapshot either, as the file is read in pieces. Both are printed for
 * reference.
 *
 * Options: -p processes (default 64), -r calls per process (default 50).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "../kselftest.h"
#include "cpu-op.h"

#define BUDGET_FILE "/sys/kernel/debug/cpu_opv/vmap_budget_bytes"
#define PEAK_FILE "/sys/kernel/debug/cpu_opv/alias_bytes_peak"

static long page_size;

static int write_zero(const char *path)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -1;
	ok = fputs("0\n", f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static long meminfo_kb(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			sscanf(line + strlen(key), ": %ld", &kb);
	fclose(f);
	return kb;
}

/*
 * The largest vector: one 4096-byte compare and fifteen 8-byte ones, each
 * operand straddling a page boundary. All compares succeed.
 */
static int child(int calls)
{
	char *a = mmap(NULL, 64 * page_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct cpu_op ops[CPU_OP_VEC_LEN_MAX];
	long ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	int i, c;

	if (a == MAP_FAILED)
		return 2;
	memset(a, 0x42, 64 * page_size);
	cpu_op_compare(&ops[0], 1, a + page_size - 8, a + 3 * page_size - 8,
		       CPU_OP_DATA_LEN_MAX);
	for (i = 1; i < CPU_OP_VEC_LEN_MAX; i++)
		cpu_op_compare(&ops[i], 1, a + (4 * i + 1) * page_size - 4,
			       a + (4 * i + 3) * page_size - 4, 8);
	for (c = 0; c < calls; c++) {
		int ret = cpu_opv(ops, CPU_OP_VEC_LEN_MAX, (int)(c % ncpus), 0);

		if (ret != 0) {
			fprintf(stderr, "cpu_opv: %d (%s)\n", ret,
				ret < 0 ? strerror(errno) : "compare");
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	int procs = 64, calls = 50, i, c, failed = 0, status;
	long budget, peak, seen = 0, now, before_kb, peak_kb = 0, kb;
	pid_t *pids;

	while ((c = getopt(argc, argv, "p:r:")) != -1) {
		if (c == 'p')
			procs = atoi(optarg);
		else if (c == 'r')
			calls = atoi(optarg);
		else
			return KSFT_FAIL;
	}
	page_size = sysconf(_SC_PAGESIZE);
	ksft_print_header();
	cpu_op_require();
	budget = cpu_op_read_long(BUDGET_FILE);
	if (budget <= 0 || write_zero(PEAK_FILE))
		ksft_exit_skip("cannot use %s and %s (debugfs not mounted?)\n",
			       BUDGET_FILE, PEAK_FILE);
	if (cpu_op_sparse_vmalloc_bytes() < 0)
		ksft_exit_skip("cannot read /proc/vmallocinfo\n");
	c = cpu_op_force_vmap(1);
	if (c)
		ksft_exit_skip("the vectors need aliases: %s: %s\n", CPU_OP_FORCE_VMAP,
			       strerror(-c));
	ksft_set_plan(3);

	before_kb = meminfo_kb("VmallocUsed");
	pids = calloc(procs, sizeof(*pids));
	for (i = 0; i < procs; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(child(calls));
		if (pids[i] < 0)
			ksft_exit_fail_msg("fork: %s\n", strerror(errno));
	}
	/* Sample while any child runs. */
	for (;;) {
		now = cpu_op_sparse_vmalloc_bytes();
		if (now > seen)
			seen = now;
		kb = meminfo_kb("VmallocUsed");
		if (kb > peak_kb)
			peak_kb = kb;
		if (waitpid(-1, &status, WNOHANG) > 0) {
			if (!WIFEXITED(status) || WEXITSTATUS(status))
				failed++;
			if (--procs == 0)
				break;
		}
	}
	c = cpu_op_force_vmap(0);
	if (c)
		ksft_print_msg("writing 0 back to %s: %s\n", CPU_OP_FORCE_VMAP, strerror(-c));
	ksft_test_result(!failed && !c,
			 "every process completed its %d maximal vectors (%d failed)\n",
			 calls, failed);
	peak = cpu_op_read_long(PEAK_FILE);
	ksft_test_result(peak > 0 && peak <= budget,
			 "aliases peaked at %ld bytes of vmalloc space, budget %ld\n",
			 peak, budget);
	ksft_print_msg("for reference: vmallocinfo reads summed up to %ld bytes,\n",
		       seen);
	ksft_print_msg("VmallocUsed went from %ld to at most %ld kB\n",
		       before_kb, peak_kb);
	now = cpu_op_sparse_vmalloc_bytes();
	ksft_test_result(now == 0, "no alias left once every call returned (%ld bytes)\n",
			 now);
	free(pids);
	ksft_finished();
}
