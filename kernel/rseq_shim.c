// SPDX-License-Identifier: GPL-2.0
/*
 * C side of the restartable sequences implementation in kernel/rseq.rs:
 * the system call entry, which needs the per-architecture SYSCALL_DEFINE
 * wrappers, the rseq tracepoints, and a rate-limited warning.
 */

#include <linux/printk.h>
#include <linux/rseq.h>
#include <linux/sched.h>
#include <linux/syscalls.h>

#define CREATE_TRACE_POINTS
#include <trace/events/rseq.h>

/**
 * rseq_trace_update() - Fire the rseq_update tracepoint.
 * @t: Task whose rseq area the kernel just updated.
 */
void rseq_trace_update(struct task_struct *t)
{
	trace_rseq_update(t);
}

/**
 * rseq_trace_ip_fixup() - Fire the rseq_ip_fixup tracepoint.
 * @ip: User instruction pointer at which the task was interrupted.
 * @start_ip: Start of the critical section.
 * @post_commit_offset: Length of the critical section.
 * @abort_ip: Abort handler the task resumes at.
 */
void rseq_trace_ip_fixup(unsigned long ip, unsigned long start_ip,
			 unsigned long post_commit_offset,
			 unsigned long abort_ip)
{
	trace_rseq_ip_fixup(ip, start_ip, post_commit_offset, abort_ip);
}

/**
 * rseq_warn_signature() - Report a critical section with a bad signature.
 * @found: Value found before the abort handler.
 * @expected: Signature the thread registered.
 * @addr: User address of the value found.
 *
 * The thread is about to be killed; the message is rate limited because
 * user space can trigger it at will.
 */
void rseq_warn_signature(u32 found, u32 expected, unsigned long addr)
{
	pr_warn_ratelimited("rseq: pid %d: signature 0x%x at user address 0x%lx is not the registered 0x%x\n",
			    task_pid_nr(current), found, addr, expected);
}

SYSCALL_DEFINE4(rseq, struct rseq __user *, rseq, u32, rseq_len, int, flags,
		u32, sig)
{
	return do_rseq((unsigned long)rseq, rseq_len, flags, sig);
}
