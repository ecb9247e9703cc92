/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cpu-op.h: a small user-space library over the cpu_opv() system call.
 */
#ifndef CPU_OP_H
#define CPU_OP_H

#include <sched.h>	/* cpu_set_t: users define _GNU_SOURCE */
#include <stddef.h>
#include <stdint.h>
#include <linux/cpu_opv.h>

#ifndef __NR_cpu_opv
#define __NR_cpu_opv 463
#endif

/* The raw system call: 0, the 1-based index of a failed compare, or -1. */
int cpu_opv(struct cpu_op *ops, int opcnt, int cpu, int flags);

/* Fill in one operation; pointers are passed as 64-bit values. */
void cpu_op_compare(struct cpu_op *op, int eq, const void *a,
		    const void *b, uint32_t len);
void cpu_op_memcpy(struct cpu_op *op, int release, void *dst,
		   const void *src, uint32_t len);
void cpu_op_add(struct cpu_op *op, int release, void *p, int64_t count,
		uint32_t len);
void cpu_op_bitwise(struct cpu_op *op, int type, void *p, uint64_t mask,
		    uint32_t len);
void cpu_op_shift(struct cpu_op *op, int type, void *p, uint32_t bits,
		  uint32_t len);
void cpu_op_mb(struct cpu_op *op);

/*
 * Helpers in the style of rseq's per-CPU operations, run on @cpu.
 * Return 0 on success, 1 when the comparison failed, -1 with errno.
 */
int cpu_op_cmpeqv_storev(intptr_t *v, intptr_t expect, intptr_t newv,
			 int cpu);
int cpu_op_addv(intptr_t *v, int64_t count, int cpu);
int cpu_op_cmpeqv_memcpy_storev(intptr_t *v, intptr_t expect, void *dst,
				const void *src, size_t len, intptr_t newv,
				int cpu);

/*
 * For a test's main(), after ksft_print_header() and before the plan
 * (the library keeps its own kselftest counters): skips the test when
 * cpu_opv() is missing, else returns its CPU_OP_NR_FLAG answer, the
 * number of operations the kernel knows.
 */
int cpu_op_require(void);

/*
 * For a test's main(), before the plan: saves the caller's affinity mask
 * in @mask and fills @cpus with its CPUs numbered below @max, lowest
 * first; with @online_only, only those /sys/devices/system/cpu/online
 * lists (all of them without that file). Returns their number; fails the
 * test when the mask cannot be read, skips it when no CPU is left.
 */
int cpu_op_affinity_cpus(cpu_set_t *mask, int *cpus, int max,
			 int online_only);

/*
 * For tests: reads a CPU list file such as /sys/devices/system/cpu/online
 * ("0-3,5") into @set (emptied first), unless NULL. Returns its highest
 * CPU plus one, or -1 when the file cannot be read.
 */
int cpu_op_cpulist(const char *path, cpu_set_t *set);

/*
 * For tests: the path of CPU @cpu's hotplug switch,
 * /sys/devices/system/cpu/cpu<N>/online, in @path. Returns 0 when the
 * file exists (the CPU has a hotplug switch), else -1.
 */
int cpu_op_online_path(int cpu, char *path, size_t len);

/*
 * For tests: takes CPU @cpu offline (@on 0) or brings it back online.
 * Returns 0 or -errno. Uses no stdio stream or allocation, so that clean-up
 * code may call it from a signal handler.
 */
int cpu_op_set_online(int cpu, int on);

/*
 * For tests: bytes of vmalloc space in "sparse" areas, which is where
 * cpu_opv maps its kernel aliases (/proc/vmallocinfo; root only), or -1.
 */
long cpu_op_sparse_vmalloc_bytes(void);

/*
 * For tests: writes "1" (@on) or "0" to a sysfs or debugfs switch, such
 * as a CPU's online file. Returns 0 or -errno.
 */
int cpu_op_write_switch(const char *path, int on);

/*
 * The debugfs switch that sends every operand through a vmalloc alias,
 * the path kernels take where the data cache aliases (with
 * CONFIG_DEBUG_FS; root only).
 */
#define CPU_OP_FORCE_VMAP	"/sys/kernel/debug/cpu_opv/force_vmap"

/* For tests: sets CPU_OP_FORCE_VMAP to @on. Returns 0 or -errno. */
int cpu_op_force_vmap(int on);

/* For tests: the number a file such as a debugfs value holds, or -1. */
long cpu_op_read_long(const char *path);

/*
 * For tests: a non-blocking userfaultfd with its API handshake done, or
 * -1 with the reason in @why.
 */
int cpu_op_uffd_open(char *why, size_t len);

/* For tests: the name of errno value @e ("EINVAL"), or its description. */
const char *cpu_op_errname(int e);

/*
 * Writes CPU_OP_TOUCH_STACK bytes of the stack below the caller's frame,
 * so that the calls the caller makes next take no page fault there. Kept
 * out of line, in its own file, so that it cannot be inlined into the
 * caller.
 */
#define CPU_OP_TOUCH_STACK	32768
void cpu_op_touch_stack(void);

#endif /* CPU_OP_H */
