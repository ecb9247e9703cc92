// SPDX-License-Identifier: GPL-2.0

#include <asm/barrier.h>
#include <linux/preempt.h>

void rust_helper_preempt_disable(void)
{
	preempt_disable();
}

void rust_helper_preempt_enable(void)
{
	preempt_enable();
}

void rust_helper_smp_mb(void)
{
	/* Callers document what the barrier orders. */
	smp_mb();
}
