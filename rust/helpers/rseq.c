// SPDX-License-Identifier: GPL-2.0

#include <linux/rseq.h>
#include <linux/sched.h>

#ifdef CONFIG_RSEQ
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
#endif
