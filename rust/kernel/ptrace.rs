// SPDX-License-Identifier: GPL-2.0

//! The registers a task saved on kernel entry.
//!
//! C header: [`include/linux/ptrace.h`](srctree/include/linux/ptrace.h).

use crate::{bindings, types::Opaque};

/// Wraps the kernel's `struct pt_regs`: the user registers saved on entry
/// to the kernel, restored on the way back to user space.
///
/// # Invariants
///
/// Instances are only reached through references made by
/// [`PtRegs::from_raw_mut`] from a valid `struct pt_regs`.
#[repr(transparent)]
pub struct PtRegs(Opaque<bindings::pt_regs>);

impl PtRegs {
    /// Creates a reference to the registers at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid `struct pt_regs` that nothing else
    /// reads or writes for the lifetime `'a`, for example the current
    /// task's user registers while it runs in the kernel.
    pub unsafe fn from_raw_mut<'a>(ptr: *mut bindings::pt_regs) -> &'a mut Self {
        // SAFETY: `PtRegs` is a transparent wrapper, and the caller
        // guarantees validity and exclusivity for `'a`.
        // INVARIANT: Made from a valid `struct pt_regs`.
        unsafe { &mut *ptr.cast() }
    }

    /// Returns the instruction pointer user space resumes at.
    #[inline]
    pub fn instruction_pointer(&self) -> usize {
        // SAFETY: By the type invariant the registers are valid.
        unsafe { bindings::instruction_pointer(self.0.get()) as usize }
    }

    /// Makes user space resume at `ip`.
    #[inline]
    pub fn set_instruction_pointer(&mut self, ip: usize) {
        // SAFETY: By the type invariant the registers are valid, and the
        // exclusive reference rules out concurrent access.
        unsafe { bindings::instruction_pointer_set(self.0.get(), ip as _) }
    }
}

/// Returns the instruction pointer the current task resumes at when it
/// returns to user space, as saved on its entry to the kernel.
///
/// Meaningful for user tasks only. Callable in any context, the scheduler
/// included; the value changes only when the kernel moves the task (for
/// signal delivery, rseq aborts, `ptrace`).
#[inline]
pub fn current_user_instruction_pointer() -> usize {
    // SAFETY: The current task's saved user registers always exist; the
    // helper only reads its instruction pointer.
    unsafe { bindings::current_user_instruction_pointer() as usize }
}
