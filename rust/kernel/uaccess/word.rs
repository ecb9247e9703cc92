// SPDX-License-Identifier: GPL-2.0

//! Single aligned loads and stores of user memory.
//!
//! [`UserSlice`](super::UserSlice) copies byte ranges. Code that talks to
//! user space through a shared structure, such as the rseq area, instead
//! loads and stores naturally aligned 32- and 64-bit fields, and wants a
//! group of stores to happen inside one user access window (one `stac`/
//! `clac` pair on x86), as C does with `unsafe_put_user()`.
//!
//! C header: [`include/linux/uaccess.h`](srctree/include/linux/uaccess.h).

use super::UserPtr;
use crate::{bindings, prelude::*, types::FromBytes};
use core::mem::{size_of, MaybeUninit};

/// Turns a user access helper's return value (0 or `-EFAULT`) into a
/// [`Result`]. Unlike `to_result()`, inlined into callers in other
/// crates: it sits on every single-word access.
#[inline]
fn check(ret: core::ffi::c_int) -> Result {
    if ret == 0 {
        Ok(())
    } else {
        Err(EFAULT)
    }
}

mod private {
    pub trait Sealed {}
    impl Sealed for u32 {}
    impl Sealed for u64 {}
}

/// A type user memory can be loaded into or stored from in one access.
///
/// Implemented for `u32` and `u64` only.
pub trait UserWord: Copy + Default + private::Sealed {
    /// Loads a value from the user address `ptr`.
    fn get(ptr: UserPtr) -> Result<Self>;
    /// Stores `self` at the user address `ptr`.
    fn put(self, ptr: UserPtr) -> Result;
}

macro_rules! impl_user_word {
    ($t:ty, $get:ident, $put:ident) => {
        impl UserWord for $t {
            #[inline]
            fn get(ptr: UserPtr) -> Result<Self> {
                let mut val: $t = 0;
                // SAFETY: `val` is a valid destination; the helper checks
                // the user address and handles faults.
                check(unsafe { bindings::$get(&mut val, ptr as *const $t) })?;
                Ok(val)
            }

            #[inline]
            fn put(self, ptr: UserPtr) -> Result {
                // SAFETY: The helper checks the user address and handles
                // faults.
                check(unsafe { bindings::$put(self, ptr as *mut $t) })
            }
        }
    };
}

impl_user_word!(u32, get_user_u32, put_user_u32);
impl_user_word!(u64, get_user_u64, put_user_u64);

/// Loads a `u32` or `u64` from user space.
///
/// Fails with `EFAULT` if `ptr` is not a user address or the load faults.
/// Like C's `get_user()`, an unaligned `ptr` is allowed, but only an
/// aligned load is single-copy atomic.
#[inline]
pub fn get<T: UserWord>(ptr: UserPtr) -> Result<T> {
    T::get(ptr)
}

/// Copies a `T` from user space without ever sleeping, for callers that
/// run with preemption or interrupts disabled.
///
/// Fails with `EFAULT` where a normal copy would, and also where the copy
/// would have to fault a page in: the caller then takes a slower path that
/// may sleep.
#[inline]
pub fn read_nofault<T: FromBytes>(ptr: UserPtr) -> Result<T> {
    let mut val = MaybeUninit::<T>::uninit();
    // SAFETY: `val` is valid for writes of `size_of::<T>()` bytes.
    // `copy_from_user_nofault()` checks the user address and returns an
    // error instead of handling a fault.
    let ret = unsafe {
        bindings::copy_from_user_nofault(
            val.as_mut_ptr().cast(),
            ptr as *const core::ffi::c_void,
            size_of::<T>(),
        )
    };
    if ret != 0 {
        return Err(EFAULT);
    }
    // SAFETY: The copy succeeded, so every byte of `val` was written, and
    // `T: FromBytes` accepts any bit pattern.
    Ok(unsafe { val.assume_init() })
}

/// Stores a `u32` or `u64` to user space. Errors as for [`get`].
#[inline]
pub fn put<T: UserWord>(ptr: UserPtr, val: T) -> Result {
    val.put(ptr)
}

/// Whether `[ptr, ptr + len)` lies in the user address space. Says
/// nothing about whether it is mapped.
#[inline]
pub fn access_ok(ptr: UserPtr, len: usize) -> bool {
    // SAFETY: `access_ok()` only compares addresses.
    unsafe { bindings::access_ok(ptr as *const core::ffi::c_void, len as _) }
}

/// The end of the current task's user address space (`TASK_SIZE`).
#[inline]
pub fn task_size() -> u64 {
    // SAFETY: Reads the current task's address space limit.
    unsafe { bindings::task_size() as u64 }
}
