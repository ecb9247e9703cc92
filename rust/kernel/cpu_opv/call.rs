// SPDX-License-Identifier: GPL-2.0

//! What a cpu_opv call needs besides the engine: the kernel windows on
//! pinned operands the engine runs against, and the state all callers
//! share (the vmalloc budget and the offline-CPU lock), which
//! `kernel/cpu_opv_shim.c` keeps.
//!
//! C header: [`include/linux/cpu_opv.h`](srctree/include/linux/cpu_opv.h).

use super::engine;
use crate::{
    bindings,
    page::PAGE_SIZE,
    prelude::*,
    uaccess::UserPtr,
    user_pages::{Access, PinnedPages, ReadOnly, Writable},
    vmap::Alias,
};
use core::{marker::PhantomData, ptr};

/// A kernel mapping through which the operand bound to a slot of
/// [`Windows`] is reached: the direct map of a pin's one lowmem page, or a
/// vmalloc alias of its pages. A [`View<Writable>`] is a writable mapping
/// of pages pinned for writing.
///
/// # Safety
///
/// `address()` must return the kernel address of `user_addr()`, at the
/// same offset within a page, mapped for `bytes()` bytes (readable, and
/// writable if `A` is [`Writable`]) for as long as the value lives, and
/// never through any other mapping than the pages pinned with access `A`.
pub unsafe trait View<A: Access> {
    /// The user address the mapping starts at.
    fn user_addr(&self) -> UserPtr;
    /// How many bytes from `user_addr()` on it maps.
    fn bytes(&self) -> usize;
    /// The kernel address of `user_addr()`.
    fn address(&self) -> *mut u8;
}

/// The bytes from `addr` to the end of its `pages` pages.
fn bytes_to_end(addr: UserPtr, pages: usize) -> usize {
    pages * PAGE_SIZE - (addr & (PAGE_SIZE - 1))
}

/// The direct map of a read pin of one lowmem page: read only.
pub struct DirectRead<'a, const N: usize, A: Access>(&'a PinnedPages<N, A>, *const u8);

/// The direct map of a write pin of one lowmem page.
pub struct DirectWrite<'a, const N: usize>(&'a PinnedPages<N, Writable>, *mut u8);

impl<'a, const N: usize, A: Access> DirectRead<'a, N, A> {
    /// The direct map of `pin`, if it has one.
    pub fn new(pin: &'a PinnedPages<N, A>) -> Option<Self> {
        Some(Self(pin, pin.direct_address()?))
    }
}

impl<'a, const N: usize> DirectWrite<'a, N> {
    /// The direct map of `pin`, if it has one.
    pub fn new(pin: &'a PinnedPages<N, Writable>) -> Option<Self> {
        Some(Self(pin, pin.direct_address_mut()?))
    }
}

// SAFETY: `direct_address()` is the direct map of the pin's user address
// (the page's address plus the offset in it) in its one page, which lives
// for `'a`; it is only ever read through a `View<ReadOnly>`.
unsafe impl<const N: usize, A: Access> View<ReadOnly> for DirectRead<'_, N, A> {
    fn user_addr(&self) -> UserPtr {
        self.0.user_addr()
    }
    fn bytes(&self) -> usize {
        bytes_to_end(self.0.user_addr(), 1)
    }
    fn address(&self) -> *mut u8 {
        self.1.cast_mut()
    }
}

// SAFETY: `direct_address_mut()` is the direct map of the user address of
// a write pin (the page's address plus the offset in it) in its one page,
// which lives for `'a`.
unsafe impl<const N: usize> View<Writable> for DirectWrite<'_, N> {
    fn user_addr(&self) -> UserPtr {
        self.0.user_addr()
    }
    fn bytes(&self) -> usize {
        bytes_to_end(self.0.user_addr(), 1)
    }
    fn address(&self) -> *mut u8 {
        self.1
    }
}

// SAFETY: An alias maps all pages of its pin, read-only for a read pin,
// for as long as it lives, from a page-aligned start to which `address()`
// adds the user address's offset in its page; it is only ever read
// through this view.
unsafe impl<const N: usize, A: Access> View<ReadOnly> for Alias<'_, N, A> {
    fn user_addr(&self) -> UserPtr {
        Alias::user_addr(self)
    }
    fn bytes(&self) -> usize {
        bytes_to_end(Alias::user_addr(self), self.pages())
    }
    fn address(&self) -> *mut u8 {
        Alias::address(self).cast_mut()
    }
}

// SAFETY: The alias of a write pin maps its pages writable for as long as
// it lives, and `address_mut()` keeps the user address's offset in its
// page, as for the read view.
unsafe impl<const N: usize> View<Writable> for Alias<'_, N, Writable> {
    fn user_addr(&self) -> UserPtr {
        Alias::user_addr(self)
    }
    fn bytes(&self) -> usize {
        bytes_to_end(Alias::user_addr(self), self.pages())
    }
    fn address(&self) -> *mut u8 {
        self.address_mut()
    }
}

/// Where the operand of one slot is reached in the kernel.
#[derive(Clone, Copy)]
struct Window {
    kernel: *mut u8,
    user: u64,
    len: u32,
}

/// Kernel mappings of the operands of a vector, for [`engine::run`]: each
/// operand is reached through the mapping of the pages pinned for it
/// alone, found by its slot, never by its address, so running the vector
/// never faults and never touches memory pinned for another operand. An
/// operand is only served by the window bound for its own address and
/// length, even when asked for by another vector than the one bound.
/// Operands that are written can only be bound to writable mappings of
/// pages pinned for writing ([`View<Writable>`]), and stores go only to
/// those.
///
/// # Invariants
///
/// Each `Some` entry of `read` maps, for reading, the `len` bytes at user
/// address `user`, at the same offset within a page as `user`; each
/// `Some` entry of `write` maps them writable, from pages pinned for
/// writing. The pins and mappings live for at least `'a`.
pub struct Windows<'a> {
    read: [Option<Window>; engine::OPERANDS_MAX],
    write: [Option<Window>; engine::OPERANDS_MAX],
    missed: bool,
    _maps: PhantomData<&'a ()>,
}

// SAFETY: The windows are addresses in the kernel's direct map or vmalloc
// space, valid on every CPU; the engine may run on another CPU while the
// task that made them waits.
unsafe impl Send for Windows<'_> {}

impl Default for Windows<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Windows<'a> {
    /// No operand bound yet.
    pub fn new() -> Self {
        Self {
            read: [None; engine::OPERANDS_MAX],
            write: [None; engine::OPERANDS_MAX],
            missed: false,
            _maps: PhantomData,
        }
    }

    /// The window of `o` in `view`, which must start at `o`'s address and
    /// map all of it.
    fn window<A: Access>(o: &engine::Operand, view: &impl View<A>) -> Result<Window> {
        if view.user_addr() as u64 != o.addr || (o.len as usize) > view.bytes() {
            return Err(EINVAL);
        }
        Ok(Window {
            kernel: view.address(),
            user: o.addr,
            len: o.len,
        })
    }

    /// Binds the operand `src` to `view`. Fails with `EINVAL` if the view
    /// does not map the operand.
    pub fn bind_read(&mut self, src: &engine::Src, view: &'a impl View<ReadOnly>) -> Result {
        let o = src.operand();
        let w = Self::window(o, view)?;
        // INVARIANT: `view` maps `o` readable for `'a`.
        *self.read.get_mut(o.slot).ok_or(EINVAL)? = Some(w);
        Ok(())
    }

    /// Binds the operand `dst` to `view`, a writable mapping of pages
    /// pinned for writing. Fails with `EINVAL` if the view does not map the
    /// operand.
    pub fn bind_write(&mut self, dst: &engine::Dst, view: &'a impl View<Writable>) -> Result {
        let o = dst.operand();
        let w = Self::window(o, view)?;
        // INVARIANT: `view` maps `o` writable, from a write pin, for `'a`.
        *self.write.get_mut(o.slot).ok_or(EINVAL)? = Some(w);
        Ok(())
    }

    /// The kernel address of operand `o` in `table`, if its slot is bound
    /// there for its address and length.
    fn get(table: &[Option<Window>], o: &engine::Operand) -> Option<*mut u8> {
        let w = table.get(o.slot).copied().flatten()?;
        (w.user == o.addr && w.len == o.len).then_some(w.kernel)
    }

    /// Whether every operand of `v` is bound with the access it needs.
    ///
    /// # Examples
    ///
    /// A window serves only the operand it was bound for: another vector
    /// whose operand has the same slot and length but another address is
    /// not covered (an aligned word access must not reach an unaligned
    /// window).
    ///
    /// ```
    /// use kernel::cpu_opv::{
    ///     engine::{op, RawOp, Use, Vector},
    ///     View, Windows,
    /// };
    /// use kernel::page::PAGE_SIZE;
    /// use kernel::uaccess::UserPtr;
    /// use kernel::user_pages::{ReadOnly, Writable};
    ///
    /// // Kernel memory standing in for a mapping of pinned user pages,
    /// // at a user address with the same offset in its page.
    /// struct Buf(*mut u8, UserPtr);
    /// impl Buf {
    ///     fn at(k: *mut u8, page: UserPtr) -> Self {
    ///         Self(k, page + (k as usize & (PAGE_SIZE - 1)))
    ///     }
    /// }
    /// // SAFETY: The test only binds and never runs a vector, so nothing
    /// // is accessed through these mappings.
    /// unsafe impl View<ReadOnly> for Buf {
    ///     fn user_addr(&self) -> UserPtr { self.1 }
    ///     fn bytes(&self) -> usize { 8 }
    ///     fn address(&self) -> *mut u8 { self.0 }
    /// }
    /// // SAFETY: As above.
    /// unsafe impl View<Writable> for Buf {
    ///     fn user_addr(&self) -> UserPtr { self.1 }
    ///     fn bytes(&self) -> usize { 8 }
    ///     fn address(&self) -> *mut u8 { self.0 }
    /// }
    ///
    /// let mut mem = [0u64; 4];
    /// let k = mem.as_mut_ptr().cast::<u8>();
    /// // An 8-byte copy to an odd address; its destination is slot 0.
    /// let dst = Buf::at(k.wrapping_add(1), 0x10000);
    /// let src = Buf::at(k.wrapping_add(16), 0x20000);
    /// let copy = RawOp::new(op::MEMCPY, 8, dst.1 as u64, src.1 as u64, [0, 0]);
    /// let a = Vector::decode(&[copy]).map_err(|_| EINVAL)?;
    /// let mut w = Windows::new();
    /// for u in a.operands() {
    ///     match u {
    ///         Use::Read(s) => w.bind_read(&s, &src)?,
    ///         Use::Write(d) => w.bind_write(&d, &dst)?,
    ///     }
    /// }
    /// assert!(w.covers(&a));
    /// // An 8-byte add at an aligned address, also slot 0.
    /// let add = RawOp::new(op::ADD, 8, 0x30000, 1, [0, 0]);
    /// let b = Vector::decode(&[add]).map_err(|_| EINVAL)?;
    /// assert!(!w.covers(&b));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn covers(&self, v: &engine::Vector) -> bool {
        v.operands().all(|u| match u {
            engine::Use::Read(s) => Self::get(&self.read, s.operand()).is_some(),
            engine::Use::Write(d) => Self::get(&self.write, d.operand()).is_some(),
        })
    }

    /// Whether the engine asked for an operand that is not bound. The
    /// engine only uses the operands it was given and [`Self::covers`] is
    /// checked before it runs, so this means a bug; such accesses were
    /// skipped.
    pub fn missed(&self) -> bool {
        self.missed
    }

    fn src(&self, s: &engine::Src) -> Option<*const u8> {
        Self::get(&self.read, s.operand()).map(|k| k.cast_const())
    }

    fn dst(&mut self, d: &engine::Dst) -> Option<*mut u8> {
        let k = Self::get(&self.write, d.operand());
        self.missed |= k.is_none();
        k
    }
}

/// Loads the word of `len` bytes at `k`.
///
/// # Safety
///
/// `k` must be valid for reading `len` (1, 2, 4 or 8) bytes and aligned
/// to `len`.
unsafe fn load_word(k: *const u8, len: u32) -> u64 {
    // SAFETY: Valid and aligned by the function's safety requirements, so
    // each arm is one access (`READ_ONCE()` semantics).
    unsafe {
        match len {
            1 => u64::from(ptr::read_volatile(k)),
            2 => u64::from(ptr::read_volatile(k.cast::<u16>())),
            4 => u64::from(ptr::read_volatile(k.cast::<u32>())),
            _ => ptr::read_volatile(k.cast::<u64>()),
        }
    }
}

impl engine::Memory for Windows<'_> {
    fn equal(&self, a: &engine::Src, b: &engine::Src) -> bool {
        let (Some(ka), Some(kb)) = (self.src(a), self.src(b)) else {
            return false;
        };
        // SAFETY: By the type invariant both ranges are mapped for the
        // operands' (equal) length. User space may write them meanwhile
        // from another CPU, as with any user memory the kernel reads;
        // `memcmp` reads bytes without assuming they stay put.
        unsafe { bindings::memcmp(ka.cast(), kb.cast(), a.operand().len as usize) == 0 }
    }

    fn copy(&mut self, dst: &engine::Dst, src: &engine::Src) {
        let (Some(kd), Some(ks)) = (self.dst(dst), self.src(src)) else {
            return;
        };
        let len = dst.operand().len as usize;
        let (du, su) = (dst.operand().addr, src.operand().addr);
        let overlap = du < su.saturating_add(len as u64) && su < du.saturating_add(len as u64);
        if !overlap {
            // SAFETY: By the type invariant both ranges are mapped for
            // `len` bytes, the destination writable, and the user ranges
            // they map do not overlap.
            unsafe { bindings::memcpy(kd.cast(), ks.cast(), len) };
            return;
        }
        // The user ranges overlap, but each operand has its own mapping,
        // so the kernel addresses need not show it: copy in the direction
        // the user addresses call for, as memmove() would on them.
        let byte = |i: usize| {
            // SAFETY: `i < len`: both ranges are mapped for `len` bytes by
            // the type invariant, the destination writable.
            unsafe { ptr::write_volatile(kd.add(i), ptr::read_volatile(ks.add(i))) }
        };
        if du > su {
            (0..len).rev().for_each(byte);
        } else {
            (0..len).for_each(byte);
        }
    }

    fn load(&self, src: &engine::Src) -> u64 {
        let Some(k) = self.src(src) else {
            return 0;
        };
        // SAFETY: Mapped by the type invariant; the engine loads only
        // words, aligned in user space, and the window is the one bound for
        // this user address, whose kernel address has the same offset
        // within its page (type invariant), so it is aligned too.
        unsafe { load_word(k, src.operand().len) }
    }

    fn load_dst(&self, dst: &engine::Dst) -> u64 {
        let Some(k) = Self::get(&self.write, dst.operand()) else {
            return 0;
        };
        // SAFETY: As for `load`.
        unsafe { load_word(k, dst.operand().len) }
    }

    fn store(&mut self, dst: &engine::Dst, val: u64) {
        let Some(k) = self.dst(dst) else {
            return;
        };
        // SAFETY: Mapped writable by the type invariant, and aligned as
        // for `load`: each arm is one store (`WRITE_ONCE()` semantics).
        unsafe {
            match dst.operand().len {
                1 => ptr::write_volatile(k, val as u8),
                2 => ptr::write_volatile(k.cast::<u16>(), val as u16),
                4 => ptr::write_volatile(k.cast::<u32>(), val as u32),
                _ => ptr::write_volatile(k.cast::<u64>(), val),
            }
        }
    }

    fn release_fence(&self) {
        crate::sync::barrier::smp_mb();
    }

    fn full_fence(&self) {
        crate::sync::barrier::smp_mb();
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
    /// Reserves `bytes` if the other calls leave room for them now, or
    /// returns `None`; never waits. Fails with `ENOMEM` if `bytes`
    /// exceeds the whole budget.
    pub fn try_reserve(bytes: usize) -> Result<Option<Self>> {
        // SAFETY: Plain call; the C side only updates an atomic count.
        match unsafe { bindings::cpu_opv_budget_try_reserve(bytes as _) } {
            // INVARIANT: Reserved just now.
            0 => Ok(Some(Self { bytes })),
            e if e == EAGAIN.to_errno() => Ok(None),
            e => Err(Error::from_errno(e)),
        }
    }

    /// Waits until the other calls leave room for `bytes`, reserving
    /// nothing: the caller then tries again, and may have to wait again.
    /// Fails with `EINTR` if a fatal signal arrives meanwhile and `ENOMEM`
    /// if `bytes` exceeds the whole budget. May sleep; the caller must
    /// hold nothing that others wait for.
    pub fn wait_for(bytes: usize) -> Result {
        // SAFETY: Plain call; the C side waits killably.
        crate::error::to_result(unsafe { bindings::cpu_opv_budget_wait(bytes as _) })
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

/// Makes the thread the current CPU interrupted restart its rseq critical
/// section, if it is inside one, before it returns to user space. For the
/// cross-CPU call that ran a vector, which may have changed what the
/// section read.
pub fn restart_interrupted_rseq() {
    // SAFETY: Sets an event bit and a thread flag of the current task; the
    // C function disables interrupts around it, so any context may call it.
    unsafe { bindings::cpu_opv_restart_rseq() }
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
