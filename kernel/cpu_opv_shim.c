// SPDX-License-Identifier: GPL-2.0
/*
 * cpu_opv(): the system call entry and the state every caller shares.
 * The implementation is in kernel/cpu_opv.rs.
 */

#include <linux/atomic.h>
#include <linux/cpu_opv.h>
#include <linux/debugfs.h>
#include <linux/init.h>
#include <linux/irqflags.h>
#include <linux/mutex.h>
#include <linux/rseq.h>
#include <linux/syscalls.h>
#include <linux/wait.h>

static DEFINE_MUTEX(cpu_opv_offline_mutex);
static DECLARE_WAIT_QUEUE_HEAD(cpu_opv_budget_wq);
static atomic_long_t cpu_opv_budget_used;
static bool cpu_opv_force_vmap_flag;
static unsigned long cpu_opv_budget_bytes = CPU_OPV_VMAP_BUDGET;
static atomic_long_t cpu_opv_alias_bytes;
static unsigned long cpu_opv_alias_bytes_peak;

/* Whether @bytes more fit in the budget when @used bytes are reserved. */
static bool cpu_opv_budget_fits(long used, unsigned long bytes)
{
	return used + bytes <= CPU_OPV_VMAP_BUDGET;
}

static bool cpu_opv_budget_try(unsigned long bytes)
{
	long used = atomic_long_read(&cpu_opv_budget_used);

	do {
		if (!cpu_opv_budget_fits(used, bytes))
			return false;
	} while (!atomic_long_try_cmpxchg(&cpu_opv_budget_used, &used,
					  used + bytes));
	return true;
}

/**
 * cpu_opv_budget_try_reserve() - Reserve vmalloc space for kernel aliases.
 * @bytes: Bytes of vmalloc space, guard pages included.
 *
 * Never waits, so that a caller may hold the mmap lock meanwhile; see
 * cpu_opv_budget_wait().
 *
 * Return: 0 with @bytes reserved, -EAGAIN if the calls in flight hold too
 * much of CPU_OPV_VMAP_BUDGET now, or -ENOMEM if @bytes exceeds it all.
 */
int cpu_opv_budget_try_reserve(unsigned long bytes)
{
	if (bytes > CPU_OPV_VMAP_BUDGET)
		return -ENOMEM;
	return cpu_opv_budget_try(bytes) ? 0 : -EAGAIN;
}

/**
 * cpu_opv_budget_wait() - Wait until vmalloc space for aliases is free.
 * @bytes: Bytes the caller is about to try to reserve.
 *
 * Reserves nothing: another call may take the space first, and the
 * caller then waits again. The caller must hold nothing others wait for.
 *
 * Return: 0, -ENOMEM if @bytes exceeds the whole budget, or -EINTR if a
 * fatal signal arrived while waiting.
 */
int cpu_opv_budget_wait(unsigned long bytes)
{
	if (bytes > CPU_OPV_VMAP_BUDGET)
		return -ENOMEM;
	if (wait_event_killable(cpu_opv_budget_wq,
				cpu_opv_budget_fits(atomic_long_read(&cpu_opv_budget_used),
						    bytes)))
		return -EINTR;
	return 0;
}

/**
 * cpu_opv_budget_release() - Return vmalloc space to the budget.
 * @bytes: What cpu_opv_budget_try_reserve() reserved.
 */
void cpu_opv_budget_release(unsigned long bytes)
{
	atomic_long_sub(bytes, &cpu_opv_budget_used);
	wake_up_all(&cpu_opv_budget_wq);
}

/**
 * cpu_opv_alias_account() - Count vmalloc space that aliases occupy.
 * @bytes: Size of the areas just allocated (positive, guard pages
 *         included) or just freed (negative).
 *
 * Kept apart from the budget, which counts reservations, so that
 * <debugfs>/cpu_opv/alias_bytes_peak shows what was really allocated.
 */
void cpu_opv_alias_account(long bytes)
{
	long now = atomic_long_add_return(bytes, &cpu_opv_alias_bytes);
	unsigned long peak = READ_ONCE(cpu_opv_alias_bytes_peak);

	while (now > 0 && (unsigned long)now > peak &&
	       !try_cmpxchg(&cpu_opv_alias_bytes_peak, &peak, now))
		;
}

/**
 * cpu_opv_offline_lock() - Serialise vectors targeting an offline CPU.
 *
 * Return: 0 with the lock held, or -EINTR if a fatal signal arrived.
 */
int cpu_opv_offline_lock(void)
{
	return mutex_lock_killable(&cpu_opv_offline_mutex) ? -EINTR : 0;
}

/**
 * cpu_opv_offline_unlock() - Release the lock cpu_opv_offline_lock() took.
 */
void cpu_opv_offline_unlock(void)
{
	mutex_unlock(&cpu_opv_offline_mutex);
}

/**
 * cpu_opv_force_vmap() - Whether every operand goes through a vmalloc alias.
 *
 * Set through <debugfs>/cpu_opv/force_vmap, to measure the direct path.
 *
 * Return: the switch's value.
 */
bool cpu_opv_force_vmap(void)
{
	return READ_ONCE(cpu_opv_force_vmap_flag);
}

/**
 * cpu_opv_restart_rseq() - Make the interrupted thread restart its rseq
 * critical section.
 *
 * Called on the target CPU by the cross-CPU call that ran a vector: the
 * thread it interrupted may be inside a critical section that read what
 * the vector changed. Interrupts are disabled around the update of the
 * event mask, which rseq_preempt() requires, so any context may call it.
 * Works with either rseq implementation.
 */
void cpu_opv_restart_rseq(void)
{
	guard(irqsave)();
	rseq_preempt(current);
}

static int __init cpu_opv_debugfs_init(void)
{
	struct dentry *dir = debugfs_create_dir("cpu_opv", NULL);

	debugfs_create_bool("force_vmap", 0600, dir, &cpu_opv_force_vmap_flag);
	debugfs_create_ulong("vmap_budget_bytes", 0400, dir,
			     &cpu_opv_budget_bytes);
	debugfs_create_ulong("alias_bytes_peak", 0600, dir,
			     &cpu_opv_alias_bytes_peak);
	return 0;
}
late_initcall(cpu_opv_debugfs_init);

SYSCALL_DEFINE4(cpu_opv, struct cpu_op __user *, ops, int, opcnt, int, cpu,
		int, flags)
{
	return do_cpu_opv((unsigned long)ops, opcnt, cpu, flags);
}
