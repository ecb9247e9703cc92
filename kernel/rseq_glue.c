// SPDX-License-Identifier: GPL-2.0
/*
 * The C side of the Rust implementation of restartable sequences
 * (kernel/rseq_rust.rs), built instead of kernel/rseq.c with
 * CONFIG_RSEQ_RUST: what Rust cannot express, namely the system call
 * entry, the tracepoints and the kernel log messages, whose macros are
 * C, and the accesses to the event mask under its guard.
 */

#include <linux/rseq.h>
#include <linux/sched.h>
#include <linux/syscalls.h>
#include <linux/types.h>
#include <linux/uaccess.h>

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
 * user space can trigger it at will. The wording is kernel/rseq.c's,
 * which log scanners may look for.
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
 * rseq_warn_flags() - Warn once about flags set in an rseq ABI structure.
 * @str: Name of the structure.
 * @deprecated: The RSEQ_CS_FLAG_NO_RESTART_ON_* flags that were set.
 * @unknown: The other flags that were set.
 *
 * No flag is valid; the caller kills the thread. One line for each kind,
 * once per boot, in kernel/rseq.c's wording, each ending its record.
 */
void rseq_warn_flags(const char *str, u32 deprecated, u32 unknown)
{
	if (deprecated)
		pr_warn_once("Deprecated flags (%u) in %s ABI structure\n", deprecated, str);
	if (unknown)
		pr_warn_once("Unknown flags (%u) in %s ABI structure\n", unknown, str);
}

/**
 * rseq_take_event_mask() - Take the current task's pending rseq events.
 *
 * Return: the events, which are cleared, under the guard their writers
 * use (preemption, and membarrier's IPI).
 */
unsigned long rseq_take_event_mask(void)
{
	unsigned long mask;

	guard(RSEQ_EVENT_GUARD)();
	mask = current->rseq_event_mask;
	current->rseq_event_mask = 0;
	return mask;
}

/**
 * rseq_store_ids() - Store the id fields of an rseq area.
 * @rseq: The area, which registration checked and aligned.
 * @cpu_id_start: Value for cpu_id_start.
 * @cpu_id: Value for cpu_id.
 * @node_id: Value for node_id.
 * @mm_cid: Value for mm_cid.
 *
 * The four stores are made inside one user write access window, which
 * Rust code cannot open itself: unsafe_put_user() is a macro with a goto
 * label, and objtool rejects a call made with user access enabled.
 *
 * Return: 0, or -EFAULT if the area cannot be written (the fields before
 * the one that faulted may have been stored).
 */
int rseq_store_ids(struct rseq __user *rseq, u32 cpu_id_start, u32 cpu_id,
		   u32 node_id, u32 mm_cid)
{
	if (!user_write_access_begin(rseq, offsetofend(struct rseq, mm_cid)))
		return -EFAULT;
	unsafe_put_user(cpu_id_start, &rseq->cpu_id_start, efault);
	unsafe_put_user(cpu_id, &rseq->cpu_id, efault);
	unsafe_put_user(node_id, &rseq->node_id, efault);
	unsafe_put_user(mm_cid, &rseq->mm_cid, efault);
	user_write_access_end();
	return 0;
efault:
	user_write_access_end();
	return -EFAULT;
}

/**
 * rseq_raise_events() - Add rseq events to the current task's.
 * @events: RSEQ_EVENT_* bits.
 *
 * Also requests the notify-resume work that acts on them. Callable with
 * interrupts disabled (the scheduler's switch in calls it).
 */
void rseq_raise_events(unsigned long events)
{
	scoped_guard(irqsave)
		current->rseq_event_mask |= events;
	rseq_set_notify_resume(current);
}

/**
 * rseq_record_ids_if_current() - Record the ids just stored, if still
 * current.
 * @cpu: CPU number stored in the rseq area.
 * @mm_cid: Concurrency id stored in the rseq area.
 *
 * The store of the ids may sleep on a page fault and move the task; the
 * ids are recorded as shown in the area only if the task still runs on
 * @cpu with @mm_cid, checked with preemption disabled.
 *
 * Return: whether they were recorded.
 */
bool rseq_record_ids_if_current(u32 cpu, u32 mm_cid)
{
	guard(preempt)();
	if (smp_processor_id() != cpu || (u32)task_mm_cid(current) != mm_cid)
		return false;
	current->rseq_ids_cpu = cpu;
	current->rseq_ids_cid = mm_cid;
	return true;
}

SYSCALL_DEFINE4(rseq, struct rseq __user *, rseq, u32, rseq_len, int, flags,
		u32, sig)
{
	return do_rseq((unsigned long)rseq, rseq_len, flags, sig);
}
