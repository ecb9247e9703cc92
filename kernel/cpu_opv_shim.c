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
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/rseq.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/spinlock.h>
#include <linux/syscalls.h>

static DEFINE_MUTEX(cpu_opv_offline_mutex);
static DEFINE_SPINLOCK(cpu_opv_budget_lock);
static LIST_HEAD(cpu_opv_budget_queue);
static unsigned long cpu_opv_budget_used;
static bool cpu_opv_force_vmap_flag;
static unsigned long cpu_opv_budget_bytes = CPU_OPV_VMAP_BUDGET;
static atomic_long_t cpu_opv_alias_bytes;
static unsigned long cpu_opv_alias_bytes_peak;

/* A caller waiting for its share of the budget, in arrival order. */
struct cpu_opv_budget_waiter {
	struct list_head node;
	struct task_struct *task;
	unsigned long bytes;
	bool granted;
};

/*
 * Grants the budget to the waiters at the head of the queue, in order,
 * for as long as the first one fits. Called with cpu_opv_budget_lock held.
 */
static void cpu_opv_budget_grant(void)
{
	struct cpu_opv_budget_waiter *w, *next;

	lockdep_assert_held(&cpu_opv_budget_lock);
	list_for_each_entry_safe(w, next, &cpu_opv_budget_queue, node) {
		if (cpu_opv_budget_used + w->bytes > CPU_OPV_VMAP_BUDGET)
			break;
		cpu_opv_budget_used += w->bytes;
		list_del_init(&w->node);
		w->granted = true;
		wake_up_process(w->task);
	}
}

/**
 * cpu_opv_budget_reserve() - Reserve vmalloc space for kernel aliases.
 * @bytes: Bytes of vmalloc space, guard pages included.
 *
 * Waits until the calls in flight leave room for @bytes. Callers are
 * served in the order they arrive: one that does not fit holds up those
 * behind it, so that a stream of small reservations cannot starve a large
 * one. The caller must hold nothing that others wait for.
 *
 * Context: Process context; may sleep.
 * Return: 0 with @bytes reserved, -ENOMEM if @bytes exceeds the whole
 * budget, or -EINTR if a fatal signal arrived while waiting.
 */
int cpu_opv_budget_reserve(unsigned long bytes)
{
	struct cpu_opv_budget_waiter w = { .task = current, .bytes = bytes };
	int ret = 0;

	if (bytes > CPU_OPV_VMAP_BUDGET)
		return -ENOMEM;
	spin_lock(&cpu_opv_budget_lock);
	if (list_empty(&cpu_opv_budget_queue) &&
	    cpu_opv_budget_used + bytes <= CPU_OPV_VMAP_BUDGET) {
		cpu_opv_budget_used += bytes;
		goto out;
	}
	list_add_tail(&w.node, &cpu_opv_budget_queue);
	for (;;) {
		set_current_state(TASK_KILLABLE);
		spin_unlock(&cpu_opv_budget_lock);
		schedule();
		spin_lock(&cpu_opv_budget_lock);
		if (w.granted)
			break;
		if (fatal_signal_pending(current)) {
			list_del(&w.node);
			/* Those behind may fit now that this one is gone. */
			cpu_opv_budget_grant();
			ret = -EINTR;
			break;
		}
	}
	__set_current_state(TASK_RUNNING);
out:
	spin_unlock(&cpu_opv_budget_lock);
	return ret;
}

/**
 * cpu_opv_budget_release() - Return vmalloc space to the budget.
 * @bytes: What cpu_opv_budget_reserve() reserved.
 *
 * Context: Process context.
 */
void cpu_opv_budget_release(unsigned long bytes)
{
	spin_lock(&cpu_opv_budget_lock);
	if (WARN_ON_ONCE(bytes > cpu_opv_budget_used))
		bytes = cpu_opv_budget_used;
	cpu_opv_budget_used -= bytes;
	cpu_opv_budget_grant();
	spin_unlock(&cpu_opv_budget_lock);
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
