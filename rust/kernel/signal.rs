// SPDX-License-Identifier: GPL-2.0

//! Signal numbers and forced signals to the current task.
//!
//! C header: [`include/linux/sched/signal.h`](srctree/include/linux/sched/signal.h).

use crate::{bindings, types::Opaque};

/// A valid signal number, in `1..=_NSIG`.
///
/// # Invariants
///
/// The value is in `1..=_NSIG`.
///
/// # Examples
///
/// ```
/// use kernel::signal::Signal;
///
/// assert_eq!(Signal::SIGSEGV.as_raw(), 11);
/// assert_eq!(Signal::from_raw(11), Some(Signal::SIGSEGV));
/// assert_eq!(Signal::from_raw(0), None);
/// assert_eq!(Signal::from_raw(-1), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signal(i32);

impl Signal {
    /// Invalid memory reference.
    // INVARIANT: SIGSEGV is a valid signal number.
    pub const SIGSEGV: Signal = Signal(bindings::SIGSEGV as i32);

    /// Returns the signal numbered `sig`, or `None` if there is none.
    pub fn from_raw(sig: i32) -> Option<Self> {
        // INVARIANT: Checked here.
        (1..=bindings::_NSIG as i32)
            .contains(&sig)
            .then_some(Self(sig))
    }

    /// Returns the signal number.
    pub fn as_raw(self) -> i32 {
        self.0
    }
}

/// Forces `sig` on the current task: it cannot be blocked or ignored.
pub fn force_sig(sig: Signal) {
    // SAFETY: `force_sig()` sends to the current task; by the type
    // invariant `sig` is a valid signal number.
    unsafe { bindings::force_sig(sig.0) }
}

/// Kills the current task with `SIGSEGV` because it cannot go on, for
/// example because state it shares with the kernel is corrupt.
///
/// `delivering` is the signal being delivered when the problem was found,
/// if any: if that is `SIGSEGV` itself, its handler is reset so that the
/// task does not loop.
pub fn force_sigsegv(delivering: Option<Signal>) {
    let sig = delivering.map_or(0, Signal::as_raw);
    // SAFETY: `force_sigsegv()` acts on the current task and accepts 0 or
    // a valid signal number.
    unsafe { bindings::force_sigsegv(sig) }
}

/// Wraps the kernel's `struct ksignal`: a signal about to be delivered.
///
/// # Invariants
///
/// Instances are only reached through references made by
/// [`KSignal::from_raw`] from a valid `struct ksignal`.
#[repr(transparent)]
pub struct KSignal(Opaque<bindings::ksignal>);

impl KSignal {
    /// Creates a reference to the `struct ksignal` at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid `struct ksignal` that is not written
    /// for the lifetime `'a`.
    pub unsafe fn from_raw<'a>(ptr: *const bindings::ksignal) -> &'a Self {
        // SAFETY: Transparent wrapper; the caller guarantees validity.
        // INVARIANT: Made from a valid `struct ksignal`.
        unsafe { &*ptr.cast() }
    }

    /// Returns the signal being delivered.
    pub fn signal(&self) -> Option<Signal> {
        // SAFETY: By the type invariant the structure is valid to read.
        let sig = unsafe { (*self.0.get()).sig };
        Signal::from_raw(sig)
    }
}
