// SPDX-License-Identifier: GPL-2.0

//! Running code on a chosen CPU without other code of that CPU in between.
//!
//! C header: [`include/linux/smp.h`](srctree/include/linux/smp.h).

use crate::{bindings, cpu::CpuId, error::to_result, prelude::*};
use core::ffi::c_void;

/// Runs `f` on `cpu` with interrupts disabled there, and returns once it
/// has returned.
///
/// On another CPU `f` runs from the function-call interrupt, on the
/// calling CPU directly with interrupts disabled; either way nothing else
/// runs on `cpu` meanwhile, and `f` must not sleep. The task `f`
/// interrupted is the current task while it runs. Fails with `ENXIO` if
/// `cpu` is offline: hold a [`HotplugReadGuard`] to rule that out.
///
/// Must be called with interrupts enabled, which the other CPU's
/// function-call interrupt needs while this one spins until `f` has run.
///
/// [`HotplugReadGuard`]: crate::cpu::HotplugReadGuard
///
/// # Examples
///
/// ```
/// use kernel::{
///     cpu::{CpuId, HotplugReadGuard},
///     smp,
/// };
///
/// let target = CpuId::current();
/// let mut seen = None;
/// let _guard = HotplugReadGuard::lock();
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
