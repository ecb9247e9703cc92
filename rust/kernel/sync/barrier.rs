// SPDX-License-Identifier: GPL-2.0

//! Memory barriers between CPUs.
//!
//! C header: [`include/asm-generic/barrier.h`](srctree/include/asm-generic/barrier.h).

use crate::bindings;

/// A full memory barrier between CPUs (`smp_mb()`): every load and store
/// before it is ordered before every load and store after it, as other
/// CPUs see them. The caller says which accesses it orders and which
/// barrier pairs with it, as in C.
#[inline]
pub fn smp_mb() {
    // SAFETY: A barrier has no preconditions.
    unsafe { bindings::smp_mb() };
}
