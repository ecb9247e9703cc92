// SPDX-License-Identifier: GPL-2.0
/*
 * cpu-op.c: a small user-space library over the cpu_opv() system call.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "cpu-op.h"

#define PTR64(p) ((__u64)(uintptr_t)(p))

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

int cpu_op_write_switch(const char *path, int on)
{
	int fd = open(path, O_WRONLY), ret;

	if (fd < 0)
		return -errno;
	ret = write(fd, on ? "1" : "0", 1) == 1 ? 0 : -errno;
	close(fd);
	return ret;
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
