// SPDX-License-Identifier: GPL-2.0

//! Running code on a chosen CPU without other code of that CPU in between,
//! and holding off CPU hotplug.
//!
//! C headers: [`include/linux/smp.h`](srctree/include/linux/smp.h),
//! [`include/linux/cpu.h`](srctree/include/linux/cpu.h) and
//! [`include/linux/preempt.h`](srctree/include/linux/preempt.h).

use crate::{bindings, cpu::CpuId, error::to_result, prelude::*};
use core::{ffi::c_void, marker::PhantomData};

/// Runs `f` on `cpu` with interrupts disabled there, and returns once it
/// has returned.
///
/// On another CPU `f` runs from the function-call interrupt, on the
/// calling CPU directly with interrupts disabled; either way nothing else
/// runs on `cpu` meanwhile, and `f` must not sleep. The task `f`
/// interrupted is the current task while it runs. Fails with `ENXIO` if
/// `cpu` is offline: hold a [`HotplugReadGuard`] to rule that out.
///
/// Must be called from a context that may sleep (it may wait for
/// another CPU with interrupts enabled).
///
/// # Examples
///
/// ```
/// use kernel::{cpu::CpuId, smp};
///
/// let target = CpuId::current();
/// let mut seen = None;
/// let _guard = smp::HotplugReadGuard::new();
/// smp::call_on(target, &mut || seen = Some(CpuId::current()))?;
/// assert_eq!(seen, Some(target));
/// # Ok::<(), Error>(())
/// ```
pub fn call_on<F: FnMut() + Send>(cpu: CpuId, f: &mut F) -> Result {
    /// # Safety
    ///
    /// `info` points to an `F` that nothing else uses during the call.
    unsafe extern "C" fn trampoline<F: FnMut()>(info: *mut c_void) {
        // SAFETY: `info` is the `&mut F` passed by `call_on`, which waits
        // for this call to return: the closure is alive and nothing else
        // uses it meanwhile.
        let f = unsafe { &mut *info.cast::<F>() };
        f();
    }
    // SAFETY: `trampoline::<F>` has the signature of `smp_call_func_t`.
    // With `wait` set the call returns only after `trampoline` has run,
    // so the pointer to `f` stays valid for as long as it is used; `F:
    // Send` makes running it on another CPU sound. `cpu` is a possible CPU
    // by the invariant of `CpuId`.
    to_result(unsafe {
        bindings::smp_call_function_single(
            cpu.as_u32() as _,
            Some(trampoline::<F>),
            (f as *mut F).cast(),
            1,
        )
    })
}

/// Holds off CPU hotplug (`cpus_read_lock()`): while it lives, no CPU
/// comes online or goes offline. Taking it may sleep.
///
/// # Invariants
///
/// The hotplug lock is held for reading by the task that made the guard,
/// and released when the guard is dropped.
pub struct HotplugReadGuard {
    _not_send: PhantomData<*mut ()>,
}

impl HotplugReadGuard {
    /// Takes the CPU hotplug lock for reading, waiting for a hotplug
    /// operation in progress to finish.
    pub fn new() -> Self {
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

impl Default for HotplugReadGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for HotplugReadGuard {
    fn drop(&mut self) {
        // SAFETY: By the type invariant this task holds the lock.
        unsafe { bindings::cpu_hotplug_read_unlock() };
    }
}

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
/// use kernel::{cpu::CpuId, smp::PreemptGuard};
///
/// let guard = PreemptGuard::new();
/// let cpu = CpuId::current();
/// assert_eq!(CpuId::current(), cpu);
/// drop(guard);
/// ```
pub struct PreemptGuard {
    _not_send: PhantomData<*mut ()>,
}

impl PreemptGuard {
    /// Disables preemption.
    #[inline]
    pub fn new() -> Self {
        // SAFETY: Disabling preemption is allowed in any context; the
        // matching enable is in `drop`.
        unsafe { bindings::preempt_disable() };
        // INVARIANT: Disabled just now by this task; not `Send`.
        Self {
            _not_send: PhantomData,
        }
    }
}

impl Default for PreemptGuard {
    fn default() -> Self {
        Self::new()
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

/// A full memory barrier between CPUs (`smp_mb()`): every load and store
/// before it is ordered before every load and store after it.
#[inline]
pub fn full_barrier() {
    // SAFETY: A barrier has no preconditions.
    unsafe { bindings::smp_mb() };
}
