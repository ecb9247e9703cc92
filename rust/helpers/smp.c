// SPDX-License-Identifier: GPL-2.0

#include <asm/barrier.h>
#include <linux/cpuhplock.h>
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

/*
 * cpus_read_lock() and cpus_read_unlock() are functions with
 * CONFIG_HOTPLUG_CPU and empty inlines without it: these wrappers exist
 * in both cases, under names of their own so that their bindings do not
 * clash with those of the functions.
 */
void rust_helper_cpu_hotplug_read_lock(void)
{
	cpus_read_lock();
}

void rust_helper_cpu_hotplug_read_unlock(void)
{
	cpus_read_unlock();
}
