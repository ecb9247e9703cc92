// SPDX-License-Identifier: GPL-2.0

//! CPU numbers, CPU state and CPU hotplug.
//!
//! C headers: [`include/linux/cpumask.h`](srctree/include/linux/cpumask.h),
//! [`include/linux/cpuhplock.h`](srctree/include/linux/cpuhplock.h),
//! [`include/linux/smp.h`](srctree/include/linux/smp.h) and
//! [`include/linux/topology.h`](srctree/include/linux/topology.h).

use crate::bindings;
use core::marker::PhantomData;

/// Returns the number of CPU slots, `nr_cpu_ids`: every possible CPU
/// number is below it.
///
/// # Examples
///
/// ```
/// use kernel::cpu::{nr_cpu_ids, num_online_cpus};
///
/// assert!(num_online_cpus() >= 1);
/// assert!(num_online_cpus() <= nr_cpu_ids());
/// ```
#[inline]
pub fn nr_cpu_ids() -> u32 {
    // SAFETY: Reads a value that is fixed once the boot CPU has set it up.
    unsafe { bindings::cpu_nr_ids() }
}

/// Returns how many CPUs are online now. CPU hotplug may change the value
/// as soon as it is returned.
#[inline]
pub fn num_online_cpus() -> u32 {
    // SAFETY: Reads the weight of the online mask; always safe to call.
    unsafe { bindings::num_online_cpus() }
}

/// The number of a possible CPU.
///
/// Use it for CPU numbers that come from outside the kernel, such as a
/// system call argument: converting checks the number once, and the rest
/// of the code can rely on it.
///
/// # Invariants
///
/// The value is below [`nr_cpu_ids`] and its bit is set in
/// `cpu_possible_mask`. The possible mask does not change after boot.
///
/// # Examples
///
/// ```
/// use kernel::cpu::{nr_cpu_ids, CpuId};
///
/// let cpu = CpuId::current();
/// assert!(cpu.as_u32() < nr_cpu_ids());
/// assert_eq!(CpuId::from_u32(cpu.as_u32()), Some(cpu));
/// assert_eq!(CpuId::from_i32(cpu.as_u32() as i32), Some(cpu));
///
/// // Out-of-range numbers are refused rather than trusted.
/// assert_eq!(CpuId::from_u32(nr_cpu_ids()), None);
/// assert_eq!(CpuId::from_u32(u32::MAX), None);
/// assert_eq!(CpuId::from_i32(-1), None);
///
/// // CPU 0, the boot CPU, is online while the doctests run.
/// assert!(CpuId::from_u32(0).is_some_and(|c| c.is_online()));
/// assert!(cpu.node() >= 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CpuId(u32);

impl CpuId {
    /// Returns the id of CPU `cpu` if it is possible, `None` otherwise.
    #[inline]
    pub fn from_u32(cpu: u32) -> Option<Self> {
        // SAFETY: `cpu_possible` only reads the mask after checking
        // `cpu < nr_cpu_ids`, which the short-circuit guarantees too.
        if cpu < nr_cpu_ids() && unsafe { bindings::cpu_possible(cpu) } {
            // INVARIANT: Checked just above.
            Some(Self(cpu))
        } else {
            None
        }
    }

    /// Like [`CpuId::from_u32`], for signed numbers as system calls pass
    /// them; negative numbers give `None`.
    #[inline]
    pub fn from_i32(cpu: i32) -> Option<Self> {
        u32::try_from(cpu).ok().and_then(Self::from_u32)
    }

    /// Returns the CPU the caller runs on.
    ///
    /// Unless preemption or migration is disabled, the caller may run on
    /// another CPU by the time it looks at the result; code that must
    /// notice migration (such as rseq) needs its own way to find out.
    #[inline]
    pub fn current() -> Self {
        // SAFETY: Reading the current CPU number is always allowed; it
        // may be stale but it is always a possible CPU.
        let cpu = unsafe { bindings::raw_smp_processor_id() };
        // INVARIANT: The kernel only runs on possible CPUs.
        Self(cpu)
    }

    /// Returns the CPU number.
    #[inline]
    pub fn as_u32(self) -> u32 {
        self.0
    }

    /// Returns whether the CPU is online now. CPU hotplug may change the
    /// answer unless the caller holds the hotplug lock.
    #[inline]
    pub fn is_online(self) -> bool {
        // SAFETY: By the type invariant `self.0 < nr_cpu_ids`.
        unsafe { bindings::cpu_online(self.0) }
    }

    /// Returns whether the current task's affinity mask allows it to run
    /// on the CPU, whether the CPU is online or not. A concurrent
    /// `sched_setaffinity()` makes the answer that of the old or the new
    /// mask.
    #[inline]
    pub fn in_current_affinity(self) -> bool {
        // SAFETY: `get_current()` is the running task, alive while it runs
        // this; its `cpus_ptr` points to a mask that lives as long as the
        // task and that `sched_setaffinity()` updates bit by bit. By the
        // type invariant `self.0 < nr_cpu_ids`.
        unsafe { bindings::cpumask_test_cpu(self.0 as _, (*bindings::get_current()).cpus_ptr) }
    }

    /// Returns the NUMA node of the CPU (0 without `CONFIG_NUMA`).
    #[inline]
    pub fn node(self) -> i32 {
        // By the type invariant the value is below `nr_cpu_ids`, which fits.
        let cpu = self.0 as i32;
        // SAFETY: By the type invariant `cpu` is a possible CPU.
        unsafe { bindings::cpu_to_node(cpu) }
    }
}

/// Holds off CPU hotplug (`cpus_read_lock()`): while it lives, no CPU
/// comes online or goes offline. Taking it may sleep.
///
/// # Invariants
///
/// The hotplug lock is held for reading by the task that made the guard,
/// and released when the guard is dropped.
///
/// # Examples
///
/// ```
/// use kernel::cpu::{CpuId, HotplugReadGuard};
///
/// let _guard = HotplugReadGuard::lock();
/// let cpu = CpuId::current();
/// // The CPU can stop running this task, but cannot go offline.
/// assert!(cpu.is_online());
/// ```
#[must_use = "the hotplug lock is released when the guard is dropped"]
pub struct HotplugReadGuard {
    _not_send: PhantomData<*mut ()>,
}

impl HotplugReadGuard {
    /// Takes the CPU hotplug lock for reading, waiting for a hotplug
    /// operation in progress to finish. Must be called from a context
    /// that may sleep.
    #[inline]
    pub fn lock() -> Self {
        // SAFETY: Takes a sleeping lock; the caller is in a context that
        // may sleep, as documented.
        unsafe { bindings::cpu_hotplug_read_lock() };
        // INVARIANT: The lock was just taken by this task; the guard is
        // not `Send`, so it is also released by this task.
        Self {
            _not_send: PhantomData,
        }
    }
}

impl Drop for HotplugReadGuard {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: By the type invariant this task holds the lock.
        unsafe { bindings::cpu_hotplug_read_unlock() };
    }
}
