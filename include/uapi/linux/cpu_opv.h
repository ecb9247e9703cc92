/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
#ifndef _UAPI_LINUX_CPU_OPV_H
#define _UAPI_LINUX_CPU_OPV_H

/*
 * cpu_opv(): run a short vector of operations on one CPU, atomically with
 * respect to every thread running there. It is the slow path of
 * restartable sequences, for where rseq cannot make progress.
 *
 *	int cpu_opv(struct cpu_op *ops, int opcnt, int cpu, int flags);
 *
 * Returns 0 when every operation ran, k > 0 when the compare operation
 * at index k - 1 failed (no later operation ran), or -1 with errno set.
 * cpu must be in the caller's affinity mask (EINVAL otherwise); it may be
 * offline. See Documentation/userspace-api/cpu_opv.rst.
 */

#include <linux/types.h>

/* At most this many operations in one vector. */
#define CPU_OP_VEC_LEN_MAX		16
/* Size of the operation-specific part of struct cpu_op. */
#define CPU_OP_ARG_LEN_MAX		24
/* Largest len of a compare or memcpy operation. */
#define CPU_OP_DATA_LEN_MAX		4096
/* Largest len of an add, bitwise or shift operation. */
#define CPU_OP_ARITHMETIC_DATA_LEN_MAX	8
/* Largest sum of the len of all operations of a vector. */
#define CPU_OP_VEC_DATA_LEN_MAX		\
	(CPU_OP_DATA_LEN_MAX +		\
	 (CPU_OP_VEC_LEN_MAX - 1) * CPU_OP_ARITHMETIC_DATA_LEN_MAX)

/*
 * Flags. Each asks a question instead of running a vector, and requires
 * ops == NULL, opcnt == 0, cpu == -1 and no other flag.
 */
enum cpu_op_flags {
	/* Return NR_CPU_OPS, the number of operation types. */
	CPU_OP_NR_FLAG		= (1U << 0),
	/* Return CPU_OP_VEC_LEN_MAX. */
	CPU_OP_VEC_LEN_MAX_FLAG	= (1U << 1),
};

enum cpu_op_type {
	/*
	 * Compare a and b (len bytes); stop the vector if they differ. With
	 * len 1, 2, 4 or 8 (4 at most on 32-bit architectures) and both
	 * aligned to it, each is one load.
	 */
	CPU_COMPARE_EQ_OP,
	/* Compare a and b (len bytes); stop the vector if they are equal. */
	CPU_COMPARE_NE_OP,
	/*
	 * Copy len bytes from src to dst. With len 1, 2, 4 or 8 (4 at most
	 * on 32-bit architectures) and both aligned to it, one load and one
	 * store: never seen half done.
	 */
	CPU_MEMCPY_OP,
	/*
	 * As CPU_MEMCPY_OP, every byte stored with release ordering: after
	 * every access of the earlier operations.
	 */
	CPU_MEMCPY_RELEASE_OP,
	/* Add count to the integer of len bytes at p. */
	CPU_ADD_OP,
	/* As CPU_ADD_OP, the store being a store-release. */
	CPU_ADD_RELEASE_OP,
	/* OR mask into the integer of len bytes at p. */
	CPU_OR_OP,
	/* AND mask into the integer of len bytes at p. */
	CPU_AND_OP,
	/* XOR mask into the integer of len bytes at p. */
	CPU_XOR_OP,
	/* Shift the integer of len bytes at p left by bits. */
	CPU_LSHIFT_OP,
	/* Shift the integer of len bytes at p right (logically) by bits. */
	CPU_RSHIFT_OP,
	/* Full memory barrier; len must be 0. */
	CPU_MB_OP,

	NR_CPU_OPS,
};

/*
 * One operation. Addresses are 64-bit on every architecture. An
 * expect_fault_* byte set to 1 turns a fault on that operand into EAGAIN
 * (the caller touches the page and retries) instead of EFAULT where such
 * a touch may help, and for an address the kernel does not take for a
 * user address at all; memory user space reaches but the kernel does not
 * pin stays EFAULT. Documentation/userspace-api/cpu_opv.rst has the
 * details.
 */
struct cpu_op {
	__s32 op;	/* enum cpu_op_type */
	__u32 len;	/* operand length in bytes */
	union {
		struct {
			__u64 a;
			__u64 b;
			__u8 expect_fault_a;
			__u8 expect_fault_b;
		} compare_op;
		struct {
			__u64 dst;
			__u64 src;
			__u8 expect_fault_dst;
			__u8 expect_fault_src;
		} memcpy_op;
		struct {
			__u64 p;
			__s64 count;
			__u8 expect_fault_p;
		} arithmetic_op;
		struct {
			__u64 p;
			__u64 mask;
			__u8 expect_fault_p;
		} bitwise_op;
		struct {
			__u64 p;
			__u32 bits;
			__u8 expect_fault_p;
		} shift_op;
		char __padding[CPU_OP_ARG_LEN_MAX];
	} u;
};

#endif /* _UAPI_LINUX_CPU_OPV_H */
