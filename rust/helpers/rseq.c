// SPDX-License-Identifier: GPL-2.0

#include <linux/rseq.h>
#include <linux/sched.h>

#ifdef CONFIG_RSEQ_RUST
unsigned long rust_helper_rseq_take_event_mask(void)
{
	unsigned long mask;

	/* Same guard as the writers: preemption and membarrier's IPI. */
	guard(RSEQ_EVENT_GUARD)();
	mask = current->rseq_event_mask;
	current->rseq_event_mask = 0;
	return mask;
}

void rust_helper_rseq_raise_events(unsigned long events)
{
	/* Also called by the scheduler, with interrupts disabled. */
	scoped_guard(irqsave)
		current->rseq_event_mask |= events;
	rseq_set_notify_resume(current);
}

bool rust_helper_rseq_record_ids_if_current(u32 cpu, u32 mm_cid)
{
	/* The task cannot move while it compares and records. */
	guard(preempt)();
	if (smp_processor_id() != cpu || (u32)task_mm_cid(current) != mm_cid)
		return false;
	current->rseq_ids_cpu = cpu;
	current->rseq_ids_cid = mm_cid;
	return true;
}

bool rust_helper_rseq_take_missed_fence(void)
{
	struct mm_struct *mm = current->mm;
	u32 seq;

	if (!mm)
		return false;
	seq = atomic_read(&mm->rseq_fence_seq);
	if (current->rseq_fence_seen == seq)
		return false;
	current->rseq_fence_seen = seq;
	return true;
}
#endif
