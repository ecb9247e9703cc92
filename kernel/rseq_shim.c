// SPDX-License-Identifier: GPL-2.0
/*
 * C side of the restartable sequences implementation in kernel/rseq.rs:
 * the system call entry, which needs the per-architecture SYSCALL_DEFINE
 * wrappers, the rseq tracepoints, and the warnings.
 */

#include <linux/bug.h>
#include <linux/mm_types.h>
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
 * user space can trigger it at will. Its wording is the C
 * implementation's, which log scanners may look for.
 */
void rseq_warn_signature(u32 found, u32 expected, unsigned long addr)
{
	pr_warn_ratelimited("Possible attack attempt. Unexpected rseq signature 0x%x, expecting 0x%x (pid=%d, addr=%p).\n",
			    found, expected, current->pid, (void __user *)addr);
}

/**
 * rseq_warn_mm_cid() - Warn once about a negative concurrency id.
 * @mm_cid: The current task's mm_cid, about to be stored.
 *
 * A negative mm_cid is a scheduler bug; warn with a backtrace, once.
 */
void rseq_warn_mm_cid(int mm_cid)
{
	WARN_ON_ONCE(mm_cid < 0);
}

/**
 * rseq_warn_flags() - Check the flags field of an rseq ABI structure.
 * @str: Name of the structure, for the warning.
 * @flags: Value of its flags field.
 *
 * No flag has been valid since the no-restart flags were deprecated.
 * Warns once about deprecated flags and once about unknown ones, in the
 * C implementation's wording, which log scanners may look for.
 *
 * Return: true when @flags is not zero: the thread is to be killed.
 */
bool rseq_warn_flags(const char *str, u32 flags)
{
	const u32 deprecated = RSEQ_CS_FLAG_NO_RESTART_ON_PREEMPT |
			       RSEQ_CS_FLAG_NO_RESTART_ON_SIGNAL |
			       RSEQ_CS_FLAG_NO_RESTART_ON_MIGRATE;

	if (flags & deprecated)
		pr_warn_once("Deprecated flags (%u) in %s ABI structure\n",
			     flags & deprecated, str);
	if (flags & ~deprecated)
		pr_warn_once("Unknown flags (%u) in %s ABI structure\n",
			     flags & ~deprecated, str);
	return flags != 0;
}

/**
 * rseq_fence_mm() - Note a membarrier rseq fence on @mm.
 * @mm: The address space the fence is for.
 *
 * The fence interrupts the threads of @mm that are running, which rewrite
 * their rseq ids before they return to user space. The others rewrite
 * them when they are next switched in: rseq_sched_in(), called from
 * finish_task_switch(), compares this count with the one the thread saw
 * last. Called before the fence's smp_mb() and its reads of rq->curr.
 *
 * Why a thread T of @mm the IPI misses still sees the new count:
 *
 * - The fence read rq->curr of T's CPU and found a task of another mm:
 *   T was switched in later. switch_mm_cid() issues a full barrier after
 *   rq->curr is written whenever the mm of rq->curr changes, before
 *   finish_task_switch() reads the count, so that read follows the
 *   fence's smp_mb() and sees the increment.
 * - The fence found T itself on the CPU, and T was switched out before
 *   the IPI arrived (to a thread of @mm, which takes the IPI instead).
 *   Its write of rq->curr comes after the fence's read, which came
 *   after the increment and smp_mb(); T's next switch in, on any CPU,
 *   is ordered after that write by the release of prev->on_cpu in
 *   finish_task_switch(), the acquire of p->on_cpu in try_to_wake_up()
 *   and smp_mb__after_spinlock() in __schedule(). So that switch in
 *   reads the count after the increment.
 * - The fence found another thread of @mm on T's CPU, which then switched
 *   to T: the mm did not change, so no barrier orders that switch in, and
 *   T may read the old count. If the IPI was handled on that CPU before
 *   T read it, the fully ordered queueing of the cross-CPU call makes T
 *   read the new count. Otherwise the IPI reaches T while it runs, or T
 *   is switched out first and its next switch in, ordered after the
 *   increment as above, sees the new count, marks its ids stale and
 *   raises the event, so that a section T entered meanwhile is aborted
 *   there. The ids T left unrewritten until then were those its area
 *   showed at its switch in.
 *
 * The barriers of switch_mm_cid() exist with CONFIG_SCHED_MM_CID, set
 * whenever CONFIG_RSEQ and CONFIG_SMP are; a uniprocessor kernel needs
 * none.
 */
void rseq_fence_mm(struct mm_struct *mm)
{
	atomic_inc(&mm->rseq_fence_seq);
}

SYSCALL_DEFINE4(rseq, struct rseq __user *, rseq, u32, rseq_len, int, flags,
		u32, sig)
{
	return do_rseq((unsigned long)rseq, rseq_len, flags, sig);
}
