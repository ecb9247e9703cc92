/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Critical sections for rseq_abi_test.c, in assembly for each
 * architecture: the test needs to know exactly where a section starts,
 * ends and aborts.
 */
#ifndef RSEQ_ABI_CS_H
#define RSEQ_ABI_CS_H

#include <stdint.h>
#include <sys/syscall.h>
#include <linux/rseq.h>

#define SIG		0x53053053U
#define OTHER_SIG	0x0badc0deU

/*
 * cs_spin(slot, cs, count): stores cs into *slot (rseq->rseq_cs), then
 * spins count times inside [cs_spin_start, cs_spin_end). Returns 0 if
 * the loop ran out, 1 if the kernel moved the thread to cs_spin_abort,
 * 2 if it moved it to cs_spin_badsig (preceded by the wrong signature).
 *
 * cs_kill(slot, cs, pid, sig): the same, but makes the kill() system
 * call inside [cs_kill_start, cs_kill_end).
 */
long cs_spin(uint64_t *slot, struct rseq_cs *cs, unsigned long count);
long cs_kill(uint64_t *slot, struct rseq_cs *cs, long pid, long sig);
extern char cs_spin_start[], cs_spin_end[], cs_spin_abort[], cs_spin_badsig[];
extern char cs_kill_start[], cs_kill_end[], cs_kill_abort[];

#define STR_(x) #x
#define STR(x) STR_(x)

#if defined(__x86_64__)
asm(".pushsection .text\n"
	".globl cs_spin, cs_spin_start, cs_spin_end, cs_spin_abort, cs_spin_badsig\n"
	".type cs_spin, @function\n"
	"cs_spin:\n"
	"	movq %rsi, (%rdi)\n"
	"cs_spin_start:\n"
	"	subq $1, %rdx\n"
	"	jnz cs_spin_start\n"
	"cs_spin_end:\n"
	"	xorl %eax, %eax\n"
	"	ret\n"
	"	.long " STR(SIG) "\n"
	"cs_spin_abort:\n"
	"	movl $1, %eax\n"
	"	ret\n"
	"	.long " STR(OTHER_SIG) "\n"
	"cs_spin_badsig:\n"
	"	movl $2, %eax\n"
	"	ret\n"
	".globl cs_kill, cs_kill_start, cs_kill_end, cs_kill_abort\n"
	".type cs_kill, @function\n"
	"cs_kill:\n"
	"	movq %rsi, (%rdi)\n"
	"cs_kill_start:\n"
	"	movq %rdx, %rdi\n"
	"	movq %rcx, %rsi\n"
	"	movl $" STR(__NR_kill) ", %eax\n"
	"	syscall\n"
	"	nop\n"
	"cs_kill_end:\n"
	"	xorl %eax, %eax\n"
	"	ret\n"
	"	.long " STR(SIG) "\n"
	"cs_kill_abort:\n"
	"	movl $1, %eax\n"
	"	ret\n"
	".popsection\n");
#elif defined(__aarch64__)
asm(".pushsection .text\n"
	".globl cs_spin, cs_spin_start, cs_spin_end, cs_spin_abort, cs_spin_badsig\n"
	".type cs_spin, %function\n"
	"cs_spin:\n"
	"	str x1, [x0]\n"
	"cs_spin_start:\n"
	"	subs x2, x2, #1\n"
	"	b.ne cs_spin_start\n"
	"cs_spin_end:\n"
	"	mov x0, #0\n"
	"	ret\n"
	"	.long " STR(SIG) "\n"
	"cs_spin_abort:\n"
	"	mov x0, #1\n"
	"	ret\n"
	"	.long " STR(OTHER_SIG) "\n"
	"cs_spin_badsig:\n"
	"	mov x0, #2\n"
	"	ret\n"
	".globl cs_kill, cs_kill_start, cs_kill_end, cs_kill_abort\n"
	".type cs_kill, %function\n"
	"cs_kill:\n"
	"	str x1, [x0]\n"
	"cs_kill_start:\n"
	"	mov x0, x2\n"
	"	mov x1, x3\n"
	"	mov x8, #" STR(__NR_kill) "\n"
	"	svc #0\n"
	"	nop\n"
	"cs_kill_end:\n"
	"	mov x0, #0\n"
	"	ret\n"
	"	.long " STR(SIG) "\n"
	"cs_kill_abort:\n"
	"	mov x0, #1\n"
	"	ret\n"
	".popsection\n");
#elif defined(__arm__)
asm(".pushsection .text\n"
	".arm\n"
	".globl cs_spin, cs_spin_start, cs_spin_end, cs_spin_abort, cs_spin_badsig\n"
	".type cs_spin, %function\n"
	"cs_spin:\n"
	"	str r1, [r0]\n"
	"	mov r3, #0\n"
	"	str r3, [r0, #4]\n"
	"cs_spin_start:\n"
	"	subs r2, r2, #1\n"
	"	bne cs_spin_start\n"
	"cs_spin_end:\n"
	"	mov r0, #0\n"
	"	bx lr\n"
	"	.long " STR(SIG) "\n"
	"cs_spin_abort:\n"
	"	mov r0, #1\n"
	"	bx lr\n"
	"	.long " STR(OTHER_SIG) "\n"
	"cs_spin_badsig:\n"
	"	mov r0, #2\n"
	"	bx lr\n"
	".globl cs_kill, cs_kill_start, cs_kill_end, cs_kill_abort\n"
	".type cs_kill, %function\n"
	"cs_kill:\n"
	"	push {r7}\n"
	"	str r1, [r0]\n"
	"	mov r1, #0\n"
	"	str r1, [r0, #4]\n"
	"cs_kill_start:\n"
	"	mov r0, r2\n"
	"	mov r1, r3\n"
	"	mov r7, #" STR(__NR_kill) "\n"
	"	svc #0\n"
	"	nop\n"
	"cs_kill_end:\n"
	"	mov r0, #0\n"
	"	pop {r7}\n"
	"	bx lr\n"
	"	.long " STR(SIG) "\n"
	"cs_kill_abort:\n"
	"	mov r0, #1\n"
	"	pop {r7}\n"
	"	bx lr\n"
	".popsection\n");
#else
#define NO_CS_ASM 1
#endif

#endif /* RSEQ_ABI_CS_H */
