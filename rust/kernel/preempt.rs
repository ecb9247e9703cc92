// SPDX-License-Identifier: GPL-2.0

//! Disabling preemption.
//!
//! C header: [`include/linux/preempt.h`](srctree/include/linux/preempt.h).

use crate::bindings;
use core::marker::PhantomData;

/// Keeps the current task on its CPU and not preempted
/// (`preempt_disable()`) while it lives. Nothing may sleep meanwhile.
///
/// # Invariants
///
/// Preemption was disabled by the task that made the guard, once, and is
/// enabled again when the guard is dropped.
///
/// # Examples
///
/// ```
/// use kernel::{cpu::CpuId, preempt::PreemptGuard};
///
/// let guard = PreemptGuard::disable();
/// let cpu = CpuId::current();
/// assert_eq!(CpuId::current(), cpu);
/// drop(guard);
/// ```
#[must_use = "preemption is enabled again when the guard is dropped"]
pub struct PreemptGuard {
    _not_send: PhantomData<*mut ()>,
}

impl PreemptGuard {
    /// Disables preemption.
    #[inline]
    pub fn disable() -> Self {
        // SAFETY: Disabling preemption is allowed in any context; the
        // matching enable is in `drop`.
        unsafe { bindings::preempt_disable() };
        // INVARIANT: Disabled just now by this task; not `Send`.
        Self {
            _not_send: PhantomData,
        }
    }
}

impl Drop for PreemptGuard {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: By the type invariant, this task disabled preemption
        // once for this guard.
        unsafe { bindings::preempt_enable() };
    }
}
