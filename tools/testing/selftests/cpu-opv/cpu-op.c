// SPDX-License-Identifier: GPL-2.0
/*
 * cpu-op.c: a small user-space library over the cpu_opv() system call.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <linux/userfaultfd.h>

#include "../kselftest.h"
#include "cpu-op.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

#define PTR64(p) ((__u64)(uintptr_t)(p))

#define CPU_ONLINE_LIST "/sys/devices/system/cpu/online"

int cpu_opv(struct cpu_op *ops, int opcnt, int cpu, int flags)
{
	return syscall(__NR_cpu_opv, ops, opcnt, cpu, flags);
}

void cpu_op_compare(struct cpu_op *op, int eq, const void *a,
		    const void *b, uint32_t len)
{
	memset(op, 0, sizeof(*op));
	op->op = eq ? CPU_COMPARE_EQ_OP : CPU_COMPARE_NE_OP;
	op->len = len;
	op->u.compare_op.a = PTR64(a);
	op->u.compare_op.b = PTR64(b);
}

void cpu_op_memcpy(struct cpu_op *op, int release, void *dst,
		   const void *src, uint32_t len)
{
	memset(op, 0, sizeof(*op));
	op->op = release ? CPU_MEMCPY_RELEASE_OP : CPU_MEMCPY_OP;
	op->len = len;
	op->u.memcpy_op.dst = PTR64(dst);
	op->u.memcpy_op.src = PTR64(src);
}

void cpu_op_add(struct cpu_op *op, int release, void *p, int64_t count,
		uint32_t len)
{
	memset(op, 0, sizeof(*op));
	op->op = release ? CPU_ADD_RELEASE_OP : CPU_ADD_OP;
	op->len = len;
	op->u.arithmetic_op.p = PTR64(p);
	op->u.arithmetic_op.count = count;
}

void cpu_op_bitwise(struct cpu_op *op, int type, void *p, uint64_t mask,
		    uint32_t len)
{
	memset(op, 0, sizeof(*op));
	op->op = type;
	op->len = len;
	op->u.bitwise_op.p = PTR64(p);
	op->u.bitwise_op.mask = mask;
}

void cpu_op_shift(struct cpu_op *op, int type, void *p, uint32_t bits,
		  uint32_t len)
{
	memset(op, 0, sizeof(*op));
	op->op = type;
	op->len = len;
	op->u.shift_op.p = PTR64(p);
	op->u.shift_op.bits = bits;
}

void cpu_op_mb(struct cpu_op *op)
{
	memset(op, 0, sizeof(*op));
	op->op = CPU_MB_OP;
}

int cpu_op_cmpeqv_storev(intptr_t *v, intptr_t expect, intptr_t newv,
			 int cpu)
{
	struct cpu_op ops[2];

	cpu_op_compare(&ops[0], 1, v, &expect, sizeof(*v));
	cpu_op_memcpy(&ops[1], 0, v, &newv, sizeof(*v));
	return cpu_opv(ops, 2, cpu, 0);
}

int cpu_op_addv(intptr_t *v, int64_t count, int cpu)
{
	struct cpu_op op;

	cpu_op_add(&op, 0, v, count, sizeof(*v));
	return cpu_opv(&op, 1, cpu, 0);
}

int cpu_op_cmpeqv_memcpy_storev(intptr_t *v, intptr_t expect, void *dst,
				const void *src, size_t len, intptr_t newv,
				int cpu)
{
	struct cpu_op ops[3];

	cpu_op_compare(&ops[0], 1, v, &expect, sizeof(*v));
	cpu_op_memcpy(&ops[1], 0, dst, src, len);
	cpu_op_memcpy(&ops[2], 1, v, &newv, sizeof(*v));
	return cpu_opv(ops, 3, cpu, 0);
}

int cpu_op_require(void)
{
	int n = cpu_opv(NULL, 0, -1, CPU_OP_NR_FLAG);

	if (n < 0)
		ksft_exit_skip("cpu_opv() is not available (CONFIG_CPU_OPV?): %s\n",
			       strerror(errno));
	return n;
}

int cpu_op_affinity_cpus(cpu_set_t *mask, int *cpus, int max,
			 int online_only)
{
	cpu_set_t online;
	int cpu, n = 0;

	if (sched_getaffinity(0, sizeof(*mask), mask))
		ksft_exit_fail_msg("sched_getaffinity: %s\n", strerror(errno));
	/* No list to read: trust the affinity mask. */
	if (!online_only || cpu_op_cpulist(CPU_ONLINE_LIST, &online) < 0)
		online = *mask;
	for (cpu = 0; cpu < max && cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, mask) && CPU_ISSET(cpu, &online))
			cpus[n++] = cpu;
	if (!n)
		ksft_exit_skip("no %sCPU in the affinity mask\n",
			       online_only ? "online " : "");
	return n;
}

int cpu_op_cpulist(const char *path, cpu_set_t *set)
{
	FILE *f = fopen(path, "r");
	char buf[1024], *p;
	long a, b, i;
	int max = -1;

	if (set)
		CPU_ZERO(set);
	if (!f)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p)
		return -1;
	while (*p && *p != '\n') {
		a = strtol(p, &p, 10);
		b = a;
		if (*p == '-')
			b = strtol(p + 1, &p, 10);
		for (i = a; i <= b && i < CPU_SETSIZE; i++)
			if (set)
				CPU_SET(i, set);
		if (b > max)
			max = b;
		if (*p != ',')
			break;
		p++;
	}
	return max + 1;
}

int cpu_op_online_path(int cpu, char *path, size_t len)
{
	snprintf(path, len, "/sys/devices/system/cpu/cpu%d/online", cpu);
	return access(path, F_OK) ? -1 : 0;
}

int cpu_op_set_online(int cpu, int on)
{
	char path[64];

	cpu_op_online_path(cpu, path, sizeof(path));
	return cpu_op_write_switch(path, on);
}

int cpu_op_write_switch(const char *path, int on)
{
	int fd = open(path, O_WRONLY), ret;

	if (fd < 0)
		return -errno;
	ret = write(fd, on ? "1" : "0", 1) == 1 ? 0 : -errno;
	close(fd);
	return ret;
}

int cpu_op_force_vmap(int on)
{
	return cpu_op_write_switch(CPU_OP_FORCE_VMAP, on);
}

long cpu_op_sparse_vmalloc_bytes(void)
{
	FILE *f = fopen("/proc/vmallocinfo", "r");
	char line[512];
	long total = 0, size;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, " sparse") &&
		    sscanf(line, "%*s %ld", &size) == 1)
			total += size;
	fclose(f);
	return total;
}

long cpu_op_read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

int cpu_op_uffd_open(char *why, size_t len)
{
	struct uffdio_api api = { .api = UFFD_API };
	const char *sys_why = "no syscall number", *dev_why = "not tried (old headers)";
	int fd = -1;

#ifdef __NR_userfaultfd
	fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	sys_why = strerror(errno);
#endif
#ifdef USERFAULTFD_IOC_NEW
	if (fd < 0) {
		int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

		if (dev >= 0) {
			fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
			close(dev);
		}
		dev_why = strerror(errno);
	}
#endif
	if (fd < 0) {
		snprintf(why, len, "userfaultfd(): %s, /dev/userfaultfd: %s (CONFIG_USERFAULTFD?)",
			 sys_why, dev_why);
		return -1;
	}
	if (ioctl(fd, UFFDIO_API, &api)) {
		snprintf(why, len, "UFFDIO_API: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

const char *cpu_op_errname(int e)
{
	static const struct {
		int e;
		const char *name;
	} names[] = {
		{ EINVAL, "EINVAL" }, { EFAULT, "EFAULT" }, { EAGAIN, "EAGAIN" },
		{ ENOMEM, "ENOMEM" }, { EINTR, "EINTR" }, { EPERM, "EPERM" },
		{ EBUSY, "EBUSY" }, { EOVERFLOW, "EOVERFLOW" }, { EACCES, "EACCES" },
		{ ENODEV, "ENODEV" }, { ENOENT, "ENOENT" }, { ENXIO, "ENXIO" },
		{ EIO, "EIO" }, { EOPNOTSUPP, "EOPNOTSUPP" }, { ESRCH, "ESRCH" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].e == e)
			return names[i].name;
	return strerror(e);
}

void cpu_op_touch_stack(void)
{
	char buf[CPU_OP_TOUCH_STACK];

	memset(buf, 1, sizeof(buf));
	__asm__ __volatile__("" : : "r"(buf) : "memory");
}
