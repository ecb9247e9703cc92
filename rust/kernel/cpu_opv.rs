// SPDX-License-Identifier: GPL-2.0

//! The cpu_opv system call's building blocks: the operation engine, the
//! kernel windows on pinned operands it runs against, and the state all
//! callers share (the vmalloc budget and the offline-CPU lock), which
//! `kernel/cpu_opv_shim.c` keeps.
//!
//! C header: [`include/linux/cpu_opv.h`](srctree/include/linux/cpu_opv.h).

pub mod engine;

use crate::{
    alloc::{flags::GFP_KERNEL, KVec},
    bindings,
    prelude::*,
    user_pages::{pages_spanned, PinnedPages},
    vmap::Alias,
};
use core::{ffi::c_void, marker::PhantomData, ptr};

/// `CPU_OP_NR_FLAG`: the call returns the number of operation types.
pub const NR_FLAG: i32 = bindings::cpu_op_flags_CPU_OP_NR_FLAG as i32;
/// `CPU_OP_VEC_LEN_MAX_FLAG`: the call returns the longest vector allowed.
pub const VEC_LEN_MAX_FLAG: i32 = bindings::cpu_op_flags_CPU_OP_VEC_LEN_MAX_FLAG as i32;

// The engine decodes `struct cpu_op` by these numbers; check them against
// the UAPI header as bindgen sees it.
const _: () = {
    use bindings::{
        cpu_op, cpu_op__bindgen_ty_1__bindgen_ty_1 as Compare,
        cpu_op__bindgen_ty_1__bindgen_ty_2 as Memcpy, cpu_op__bindgen_ty_1__bindgen_ty_3 as Add,
        cpu_op__bindgen_ty_1__bindgen_ty_4 as Bitwise, cpu_op__bindgen_ty_1__bindgen_ty_5 as Shift,
    };
    use core::mem::{offset_of, size_of};
    use engine::{arg, op};

    assert!(size_of::<engine::RawOp>() == size_of::<cpu_op>() && size_of::<cpu_op>() == 32);
    assert!(offset_of!(engine::RawOp, args) == offset_of!(cpu_op, u));
    assert!(offset_of!(Compare, a) == arg::FIRST && offset_of!(Compare, b) == arg::SECOND);
    assert!(offset_of!(Compare, expect_fault_a) == arg::FAULT_FIRST);
    assert!(offset_of!(Compare, expect_fault_b) == arg::FAULT_SECOND);
    assert!(offset_of!(Memcpy, dst) == arg::FIRST && offset_of!(Memcpy, src) == arg::SECOND);
    assert!(offset_of!(Memcpy, expect_fault_dst) == arg::FAULT_FIRST);
    assert!(offset_of!(Memcpy, expect_fault_src) == arg::FAULT_SECOND);
    assert!(offset_of!(Add, p) == arg::FIRST && offset_of!(Add, count) == arg::SECOND);
    assert!(offset_of!(Add, expect_fault_p) == arg::FAULT_FIRST);
    assert!(offset_of!(Bitwise, p) == arg::FIRST && offset_of!(Bitwise, mask) == arg::SECOND);
    assert!(offset_of!(Bitwise, expect_fault_p) == arg::FAULT_FIRST);
    assert!(offset_of!(Shift, p) == arg::FIRST && offset_of!(Shift, bits) == arg::SECOND);
    assert!(offset_of!(Shift, expect_fault_p) == arg::SHIFT_FAULT);

    assert!(op::COMPARE_EQ == bindings::cpu_op_type_CPU_COMPARE_EQ_OP as i32);
    assert!(op::COMPARE_NE == bindings::cpu_op_type_CPU_COMPARE_NE_OP as i32);
    assert!(op::MEMCPY == bindings::cpu_op_type_CPU_MEMCPY_OP as i32);
    assert!(op::MEMCPY_RELEASE == bindings::cpu_op_type_CPU_MEMCPY_RELEASE_OP as i32);
    assert!(op::ADD == bindings::cpu_op_type_CPU_ADD_OP as i32);
    assert!(op::ADD_RELEASE == bindings::cpu_op_type_CPU_ADD_RELEASE_OP as i32);
    assert!(op::OR == bindings::cpu_op_type_CPU_OR_OP as i32);
    assert!(op::AND == bindings::cpu_op_type_CPU_AND_OP as i32);
    assert!(op::XOR == bindings::cpu_op_type_CPU_XOR_OP as i32);
    assert!(op::LSHIFT == bindings::cpu_op_type_CPU_LSHIFT_OP as i32);
    assert!(op::RSHIFT == bindings::cpu_op_type_CPU_RSHIFT_OP as i32);
    assert!(op::MB == bindings::cpu_op_type_CPU_MB_OP as i32);
    assert!(engine::NR_OPS == bindings::cpu_op_type_NR_CPU_OPS as usize);

    assert!(engine::VEC_LEN_MAX == bindings::CPU_OP_VEC_LEN_MAX as usize);
    assert!(engine::DATA_LEN_MAX == bindings::CPU_OP_DATA_LEN_MAX);
    assert!(engine::ARITHMETIC_DATA_LEN_MAX == bindings::CPU_OP_ARITHMETIC_DATA_LEN_MAX);
    assert!(engine::VEC_DATA_LEN_MAX == bindings::CPU_OP_VEC_DATA_LEN_MAX);
    assert!(engine::ARG_LEN == bindings::CPU_OP_ARG_LEN_MAX as usize);
};

// SAFETY: `RawOp` is `repr(C)`: two 4-byte integers and a byte array, 32
// bytes with no padding, so every bit pattern is a valid value.
unsafe impl crate::types::FromBytes for engine::RawOp {}

#[derive(Clone, Copy)]
struct Window {
    user: u64,
    len: u32,
    kernel: *mut u8,
}

/// Kernel addresses of the operands of a vector, for [`engine::run`]:
/// each user range is reached through the kernel mapping of its pinned
/// pages, so running the vector never faults.
///
/// # Invariants
///
/// Each window's `[kernel, kernel + len)` is a kernel mapping of the
/// pinned pages of `[user, user + len)`, and the pin and mapping it was
/// made from live for at least `'a`.
pub struct Windows<'a> {
    w: KVec<Window>,
    missed: bool,
    _maps: PhantomData<&'a ()>,
}

// SAFETY: The windows are addresses in the kernel's direct map or vmalloc
// space, valid on every CPU; the engine may run on another CPU while the
// task that made them waits.
unsafe impl Send for Windows<'_> {}

impl<'a> Windows<'a> {
    /// Room for `n` windows.
    pub fn with_capacity(n: usize) -> Result<Self> {
        Ok(Self {
            w: KVec::with_capacity(n, GFP_KERNEL)?,
            missed: false,
            _maps: PhantomData,
        })
    }

    fn push(&mut self, user: u64, len: u32, kernel: *mut u8) -> Result {
        // INVARIANT: Callers pass a kernel mapping of `[user, user + len)`
        // that lives for `'a`.
        self.w.push(Window { user, len, kernel }, GFP_KERNEL)?;
        Ok(())
    }

    /// Adds the `len` bytes at the start of `pin`, through the kernel's
    /// permanent mapping of its one page. Fails with `EINVAL` if there is
    /// none (see [`PinnedPages::direct_address`]) or `len` bytes do not fit.
    pub fn add_direct<const N: usize>(&mut self, pin: &'a PinnedPages<N>, len: u32) -> Result {
        let kernel = pin.direct_address().ok_or(EINVAL)?;
        if pages_spanned(pin.user_addr(), len as usize) != Some(1) {
            return Err(EINVAL);
        }
        self.push(pin.user_addr() as u64, len, kernel)
    }

    /// Adds the `len` bytes at the start of the pin `alias` maps. Fails
    /// with `EINVAL` if they do not fit in the pinned pages.
    pub fn add_alias<const N: usize>(&mut self, alias: &'a Alias<'a, N>, len: u32) -> Result {
        let user = alias.user_addr();
        match pages_spanned(user, len as usize) {
            Some(n) if n <= alias.pages() => {}
            _ => return Err(EINVAL),
        }
        self.push(user as u64, len, alias.address())
    }

    /// The kernel address of `[addr, addr + len)`, which must lie in one
    /// window.
    fn find(&self, addr: u64, len: u32) -> Option<*mut u8> {
        let end = addr.checked_add(u64::from(len))?;
        self.w
            .iter()
            .find(|w| addr >= w.user && end <= w.user.saturating_add(u64::from(w.len)))
            .map(|w| w.kernel.wrapping_add((addr - w.user) as usize))
    }

    fn lookup(&mut self, addr: u64, len: u32) -> Option<*mut u8> {
        let k = self.find(addr, len);
        self.missed |= k.is_none();
        k
    }

    /// Whether the engine asked for a range outside every window. The
    /// engine only uses the operands it was given, so this means a bug;
    /// such accesses were skipped.
    pub fn missed(&self) -> bool {
        self.missed
    }
}

impl engine::Memory for Windows<'_> {
    fn equal(&self, a: u64, b: u64, len: u32) -> bool {
        let (Some(ka), Some(kb)) = (self.find(a, len), self.find(b, len)) else {
            return false;
        };
        // SAFETY: By the type invariant both ranges are mapped for `len`
        // bytes. User space may write them meanwhile from another CPU, as
        // with any user memory the kernel reads; `memcmp` reads bytes
        // without assuming they stay put.
        unsafe { bindings::memcmp(ka as *const c_void, kb as *const c_void, len as usize) == 0 }
    }

    fn copy(&mut self, dst: u64, src: u64, len: u32) {
        let (Some(kd), Some(ks)) = (self.lookup(dst, len), self.lookup(src, len)) else {
            return;
        };
        // SAFETY: By the type invariant both ranges are mapped for `len`
        // bytes, the destination writable (pinned for writing). They may
        // overlap, which `memmove` allows.
        unsafe { bindings::memmove(kd.cast(), ks as *const c_void, len as usize) };
    }

    fn load(&self, addr: u64, len: u32) -> u64 {
        let Some(k) = self.find(addr, len) else {
            return 0;
        };
        // SAFETY: Mapped by the type invariant; the engine checked that
        // `addr` is aligned to `len`, and the kernel address has the same
        // offset within its page, so the access is aligned: a single load.
        unsafe {
            match len {
                1 => u64::from(ptr::read_volatile(k)),
                2 => u64::from(ptr::read_volatile(k.cast::<u16>())),
                4 => u64::from(ptr::read_volatile(k.cast::<u32>())),
                _ => ptr::read_volatile(k.cast::<u64>()),
            }
        }
    }

    fn store(&mut self, addr: u64, len: u32, val: u64) {
        let Some(k) = self.lookup(addr, len) else {
            return;
        };
        // SAFETY: As for `load`; the range is pinned for writing.
        unsafe {
            match len {
                1 => ptr::write_volatile(k, val as u8),
                2 => ptr::write_volatile(k.cast::<u16>(), val as u16),
                4 => ptr::write_volatile(k.cast::<u32>(), val as u32),
                _ => ptr::write_volatile(k.cast::<u64>(), val),
            }
        }
    }

    fn release_fence(&self) {
        crate::smp::full_barrier();
    }

    fn full_fence(&self) {
        crate::smp::full_barrier();
    }
}

/// A share of the vmalloc space that all cpu_opv calls together may hold
/// for their aliases ([`BUDGET`] bytes), returned when dropped.
///
/// # Invariants
///
/// `bytes` were reserved from the budget and are released once.
pub struct BudgetGrant {
    bytes: usize,
}

/// The vmalloc space all cpu_opv calls together may hold, in bytes.
pub const BUDGET: usize = bindings::CPU_OPV_VMAP_BUDGET_PAGES as usize * crate::page::PAGE_SIZE;

impl BudgetGrant {
    /// Reserves `bytes`, waiting while other calls hold too much of the
    /// budget. Fails with `EINTR` if a fatal signal arrives meanwhile and
    /// `ENOMEM` if `bytes` exceeds the whole budget. May sleep.
    pub fn reserve(bytes: usize) -> Result<Self> {
        // SAFETY: Plain call; the C side waits killably.
        crate::error::to_result(unsafe { bindings::cpu_opv_budget_reserve(bytes as _) })?;
        // INVARIANT: Reserved just now.
        Ok(Self { bytes })
    }
}

impl Drop for BudgetGrant {
    fn drop(&mut self) {
        // SAFETY: By the type invariant these bytes are ours to release.
        unsafe { bindings::cpu_opv_budget_release(self.bytes as _) };
    }
}

/// vmalloc space occupied by aliases, counted while it lives apart from
/// the budget (which counts reservations), for debugfs.
///
/// # Invariants
///
/// `bytes` were added to the count and are subtracted once.
pub struct AliasAccount {
    bytes: usize,
}

impl AliasAccount {
    /// Counts `bytes` until the value is dropped.
    pub fn new(bytes: usize) -> Self {
        // SAFETY: Plain call; the C side updates an atomic count.
        unsafe { bindings::cpu_opv_alias_account(bytes as _) };
        // INVARIANT: Added just now.
        Self { bytes }
    }
}

impl Drop for AliasAccount {
    fn drop(&mut self) {
        // SAFETY: By the type invariant these bytes were added.
        unsafe { bindings::cpu_opv_alias_account(-(self.bytes as isize) as _) };
    }
}

/// The lock serialising cpu_opv calls that target an offline CPU, which
/// then run from the calling CPU.
///
/// # Invariants
///
/// The offline mutex is held by the task that made the guard.
pub struct OfflineGuard {
    _not_send: PhantomData<*mut ()>,
}

impl OfflineGuard {
    /// Takes the lock. Fails with `EINTR` if a fatal signal arrives
    /// while waiting. May sleep.
    pub fn lock() -> Result<Self> {
        // SAFETY: Plain call; the C side takes the mutex killably.
        crate::error::to_result(unsafe { bindings::cpu_opv_offline_lock() })?;
        // INVARIANT: Taken just now by this task; not `Send`.
        Ok(Self {
            _not_send: PhantomData,
        })
    }
}

impl Drop for OfflineGuard {
    fn drop(&mut self) {
        // SAFETY: By the type invariant this task holds the mutex.
        unsafe { bindings::cpu_opv_offline_unlock() };
    }
}

/// Whether every operand must go through a vmalloc alias, even one
/// that lies in a single page: a debugfs switch for measuring what the
/// direct path saves.
pub fn force_vmap() -> bool {
    // SAFETY: Reads a flag.
    unsafe { bindings::cpu_opv_force_vmap() }
}

/// The colour span aliases are placed at: the data cache's where it can
/// alias, or four pages when `CONFIG_CPU_OPV_DEBUG_COLOUR` asks for the
/// colour logic to be used where caches do not alias.
pub fn colour_span() -> usize {
    if cfg!(CONFIG_CPU_OPV_DEBUG_COLOUR) {
        crate::vmap::colour_span().max(4 * crate::page::PAGE_SIZE)
    } else {
        crate::vmap::colour_span()
    }
}
