// SPDX-License-Identifier: GPL-2.0

//! What a cpu_opv call needs besides the engine: the kernel windows on
//! pinned operands the engine runs against, and the state all callers
//! share (the vmalloc budget and the offline-CPU lock), which
//! `kernel/cpu_opv_shim.c` keeps.
//!
//! C header: [`include/linux/cpu_opv.h`](srctree/include/linux/cpu_opv.h).

use super::engine;
use crate::{
    alloc::{flags::GFP_KERNEL, KVec},
    bindings,
    page::PAGE_SIZE,
    prelude::*,
    uaccess::UserPtr,
    user_pages::{Access, MappedPart, MmapReadGuard, PinnedPages, ReadOnly, Writable},
    vmap::Alias,
};
use core::{marker::PhantomData, ptr};

/// An operand of at most `DATA_LEN_MAX` (one page) bytes spans at most
/// two pages.
pub const OPERAND_PAGES: usize = 2;

/// The pages of one operand, pinned for reading.
pub type ReadPin = PinnedPages<OPERAND_PAGES, ReadOnly>;

/// The pages of one operand, pinned for writing.
pub type WritePin = PinnedPages<OPERAND_PAGES, Writable>;

/// A contiguous kernel mapping through which the operand bound to a slot
/// of [`Windows`] is reached: a vmalloc alias of its pinned pages. A
/// [`View<Writable>`] is a writable mapping of pages pinned for writing.
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

/// How the operand of a slot is reached.
#[derive(Clone, Copy)]
enum Reach<'a> {
    /// Through a local mapping of each page pinned for reading, made for
    /// each access ([`PinnedPages::with_mapped`]).
    ReadPin(&'a ReadPin),
    /// As above, the pages pinned for writing.
    WritePin(&'a WritePin),
    /// Through a contiguous mapping, for reading only.
    Read(*const u8),
    /// Through a contiguous writable mapping of pages pinned for writing.
    Write(*mut u8),
}

/// Where the operand of one slot is reached in the kernel.
#[derive(Clone, Copy)]
struct Window<'a> {
    reach: Reach<'a>,
    user: u64,
    len: u32,
}

impl Window<'_> {
    /// Whether the window may be written through.
    fn writable(&self) -> bool {
        matches!(self.reach, Reach::WritePin(_) | Reach::Write(_))
    }
}

/// The kernel addresses of an operand while an access runs: at most two
/// contiguous parts, one per page or one for a contiguous mapping.
///
/// # Invariants
///
/// `addr[i]` is mapped for `len[i]` bytes, `len[0]` is not zero, and the
/// parts hold the operand's bytes in order, for as long as the value is
/// lent to the access; writable if the window it comes from is.
struct Parts {
    addr: [*mut u8; 2],
    len: [usize; 2],
}

impl Parts {
    /// The kernel address of byte `i` (below the operand's length) and how
    /// many bytes from there on are contiguous.
    fn at(&self, i: usize) -> (*mut u8, usize) {
        if i < self.len[0] {
            (self.addr[0].wrapping_add(i), self.len[0] - i)
        } else {
            let i = i - self.len[0];
            (self.addr[1].wrapping_add(i), self.len[1].saturating_sub(i))
        }
    }

    /// Parts covering `len` (at least 1) bytes from mapped pages, or
    /// `None` if the pages map fewer.
    ///
    /// # Safety
    ///
    /// Each `(address, bytes)` of `pages` must be mapped for `bytes` bytes
    /// for as long as the value lives, each continuing the one before it
    /// in the operand, and writable if the value is used to write.
    unsafe fn of_pages(pages: &[(*mut u8, usize)], len: usize) -> Option<Self> {
        let (first, second) = match pages {
            [a] => (*a, (ptr::null_mut(), 0)),
            [a, b] => (*a, *b),
            _ => return None,
        };
        let head = first.1.min(len);
        if len - head > second.1 {
            return None;
        }
        // INVARIANT: Each part lies within a mapped range (safety
        // requirements); the first is the start of the operand and the
        // second continues it. `len` is at least 1, so `head` is too.
        Some(Self {
            addr: [first.0, second.0],
            len: [head, len - head],
        })
    }
}

/// The kernel addresses and lengths of the mapped pages of a pin.
fn page_parts<A: Access>(
    m: &[MappedPart<'_, A>],
    addr: impl Fn(&MappedPart<'_, A>) -> *mut u8,
) -> ([(*mut u8, usize); OPERAND_PAGES], usize) {
    let mut pages = [(ptr::null_mut(), 0); OPERAND_PAGES];
    for (d, part) in pages.iter_mut().zip(m) {
        *d = (addr(part), part.len());
    }
    (pages, m.len().min(OPERAND_PAGES))
}

/// Runs `f` with the operand of window `w` mapped: for a pin, its pages
/// are mapped locally around the call; `None` if they do not hold it.
fn with_parts<R>(w: &Window<'_>, f: impl FnOnce(&Parts) -> R) -> Option<R> {
    let len = w.len as usize;
    match w.reach {
        // Cast for the common type only: a window of a read pin or a read
        // view is never writable (`Window::writable`), and the engine's
        // stores ask for a writable window, so nothing is stored through
        // it; a writable window can only be bound from a `WritePin` or a
        // `View<Writable>`, which the types check.
        Reach::ReadPin(p) => p.with_mapped(|m| {
            let (pages, n) = page_parts(m, |part| part.addr().cast_mut());
            // SAFETY: The parts of `with_mapped()` are mapped until this
            // closure returns, each page continuing the one before.
            unsafe { Parts::of_pages(&pages[..n], len) }.map(|p| f(&p))
        }),
        Reach::WritePin(p) => p.with_mapped(|m| {
            let (pages, n) = page_parts(m, |part| part.addr_mut());
            // SAFETY: As above, writable: the pin is a write pin.
            unsafe { Parts::of_pages(&pages[..n], len) }.map(|p| f(&p))
        }),
        // SAFETY: A view maps the operand's `len` bytes contiguously for
        // `'a` (type invariant of `Windows`), writable for a write view.
        Reach::Read(k) => unsafe { Parts::of_pages(&[(k.cast_mut(), len)], len) }.map(|p| f(&p)),
        // SAFETY: As above.
        Reach::Write(k) => unsafe { Parts::of_pages(&[(k, len)], len) }.map(|p| f(&p)),
    }
}

/// The pages pinned for one operand, with the access its operation needs.
enum Pin {
    Read(ReadPin),
    Write(WritePin),
}

/// The pins of the operands of a vector, each in the operand's slot, for
/// the access its operation needs: a [`ReadPin`] for an operand that is
/// only read, a [`WritePin`] for one that is written. Each operand has its
/// own pin, even where operands share an address: a read pin may reach
/// pages the caller must not write (the zero page, the page cache behind
/// a private file mapping), so only the operand's own write pin is ever
/// stored through.
///
/// Holds no heap memory: the ABI bounds a vector, so one entry per slot
/// of the largest one fits in a fixed table (about 1.3 KiB on 64-bit).
///
/// # Invariants
///
/// The entry of a slot, if any, holds the pages of the operand pinned
/// into it, from its address on.
pub struct Pins {
    slots: [Option<Pin>; engine::OPERANDS_MAX],
}

impl Default for Pins {
    fn default() -> Self {
        Self::new()
    }
}

impl Pins {
    /// No operand pinned. Not inlined: a caller then has it made in place,
    /// not in a temporary it copies.
    #[inline(never)]
    pub fn new() -> Self {
        const EMPTY: Option<Pin> = None;
        Self {
            slots: [EMPTY; engine::OPERANDS_MAX],
        }
    }

    /// Releases every pin.
    pub fn clear(&mut self) {
        for s in &mut self.slots {
            *s = None;
        }
    }

    /// Pins the operand of `u` into its slot, for reading or writing as its
    /// operation needs, if its pages are present
    /// ([`PinnedPages::pin_nofault`], which gives the errors). A pin the
    /// slot held is released.
    pub fn pin_nofault(&mut self, mm: &MmapReadGuard, u: &engine::Use) -> Result {
        let o = u.operand();
        let addr = usize::try_from(o.addr).map_err(|_| EFAULT)?;
        let len = o.len as usize;
        let slot = self.slots.get_mut(o.slot).ok_or(EINVAL)?;
        // INVARIANT: The operand's own range is pinned into its slot.
        *slot = Some(match u {
            engine::Use::Read(_) => Pin::Read(ReadPin::pin_nofault(mm, addr, len)?),
            engine::Use::Write(_) => Pin::Write(WritePin::pin_nofault(mm, addr, len)?),
        });
        Ok(())
    }

    /// The read pin of `src`, if it is pinned for reading.
    pub fn read_pin(&self, src: &engine::Src) -> Option<&ReadPin> {
        match self.slots.get(src.operand().slot)? {
            Some(Pin::Read(p)) if p.user_addr() as u64 == src.operand().addr => Some(p),
            _ => None,
        }
    }

    /// The write pin of `dst`, if it is pinned for writing.
    pub fn write_pin(&self, dst: &engine::Dst) -> Option<&WritePin> {
        match self.slots.get(dst.operand().slot)? {
            Some(Pin::Write(p)) if p.user_addr() as u64 == dst.operand().addr => Some(p),
            _ => None,
        }
    }

    /// The window of operand `o` (writable, if `write`) through its pin, if
    /// it is pinned with the access and its pages hold it.
    fn window(&self, o: &engine::Operand, write: bool) -> Option<Window<'_>> {
        let (reach, user, pages) = match self.slots.get(o.slot)?.as_ref()? {
            Pin::Read(_) if write => return None,
            Pin::Read(p) => (Reach::ReadPin(p), p.user_addr(), p.len()),
            Pin::Write(p) => (Reach::WritePin(p), p.user_addr(), p.len()),
        };
        let holds = user as u64 == o.addr && o.len as usize <= bytes_to_end(user, pages);
        // INVARIANT: The pin's pages hold the operand from its address on.
        holds.then_some(Window {
            reach,
            user: o.addr,
            len: o.len,
        })
    }
}

/// Where [`Windows`] finds the operands.
enum Table<'a> {
    /// In their pins, mapped around each access.
    Pins(&'a Pins),
    /// Bound one by one to contiguous mappings, by slot.
    Views(KVec<Option<Window<'a>>>),
}

/// Kernel access to the operands of a vector, for [`engine::run`]: each
/// operand is reached through the pages pinned for it alone, found by its
/// slot, never by its address, so running the vector never faults and
/// never touches memory pinned for another operand. Either through the
/// pins themselves ([`Windows::pins`]), whose pages are mapped locally
/// around each access (the direct map, or `kmap_local_page()` for
/// highmem), or through contiguous mappings bound to each slot
/// ([`Windows::views`], [`View`]: vmalloc aliases). An operand is only
/// served by the window bound for its own address and length, even when
/// asked for by another vector than the one bound. Operands that are
/// written can only be reached through pages pinned for writing
/// ([`WritePin`], [`View<Writable>`]), and stores go only to those.
///
/// # Invariants
///
/// Each bound view maps, for reading, the `len` bytes at user address
/// `user`, at the same offset within a page as `user`; a writable one
/// ([`Window::writable`]) maps pages pinned for writing. The pins and
/// mappings live for at least `'a`.
pub struct Windows<'a> {
    table: Table<'a>,
    missed: bool,
}

// SAFETY: The windows are shared references to pins (page pointers and a
// user address, which any CPU may read while the task that made them
// waits; the pages are mapped on the CPU that accesses them, for each
// access) and addresses in the vmalloc space, valid on every CPU. The
// engine runs on another CPU while that task waits for it.
unsafe impl Send for Windows<'_> {}

impl<'a> Windows<'a> {
    /// The operands, reached through their pins. Takes no memory.
    pub fn pins(pins: &'a Pins) -> Self {
        Self {
            table: Table::Pins(pins),
            missed: false,
        }
    }

    /// No operand bound yet; [`Self::bind_read`] and [`Self::bind_write`]
    /// bind them to views. Fails with `ENOMEM` if the table cannot be
    /// allocated.
    pub fn views() -> Result<Self> {
        Ok(Self {
            table: Table::Views(KVec::from_elem(None, engine::OPERANDS_MAX, GFP_KERNEL)?),
            missed: false,
        })
    }

    /// Binds `o` to `reach`, which maps `bytes` bytes from `user` on.
    fn bind(
        &mut self,
        o: &engine::Operand,
        user: UserPtr,
        bytes: usize,
        reach: Reach<'a>,
    ) -> Result {
        if user as u64 != o.addr || (o.len as usize) > bytes {
            return Err(EINVAL);
        }
        let Table::Views(slots) = &mut self.table else {
            return Err(EINVAL);
        };
        *slots.get_mut(o.slot).ok_or(EINVAL)? = Some(Window {
            reach,
            user: o.addr,
            len: o.len,
        });
        Ok(())
    }

    /// Binds the operand `src` to `view`. Fails with `EINVAL` if the view
    /// does not map the operand.
    pub fn bind_read(&mut self, src: &engine::Src, view: &'a impl View<ReadOnly>) -> Result {
        let k = view.address().cast_const();
        // INVARIANT: `view` maps the operand readable for `'a`, at the
        // user address's offset in its page (`View`'s contract).
        self.bind(
            src.operand(),
            view.user_addr(),
            view.bytes(),
            Reach::Read(k),
        )
    }

    /// Binds the operand `dst` to `view`, a writable mapping of pages
    /// pinned for writing. Fails with `EINVAL` if the view does not map the
    /// operand.
    pub fn bind_write(&mut self, dst: &engine::Dst, view: &'a impl View<Writable>) -> Result {
        let k = view.address();
        // INVARIANT: `view` maps the operand writable, from a write pin,
        // for `'a`, at the user address's offset in its page.
        self.bind(
            dst.operand(),
            view.user_addr(),
            view.bytes(),
            Reach::Write(k),
        )
    }

    /// The window of operand `o`, if its slot is bound for its address
    /// and length (and writable, if `write`).
    fn get(&self, o: &engine::Operand, write: bool) -> Option<Window<'a>> {
        let w = match &self.table {
            Table::Pins(pins) => pins.window(o, write)?,
            Table::Views(slots) => slots.get(o.slot).copied().flatten()?,
        };
        (w.user == o.addr && w.len == o.len && (w.writable() || !write)).then_some(w)
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
    /// use core::marker::PhantomData;
    /// use kernel::cpu_opv::{
    ///     engine::{op, RawOp, Use, Vector},
    ///     View, Windows,
    /// };
    /// use kernel::page::PAGE_SIZE;
    /// use kernel::uaccess::UserPtr;
    /// use kernel::user_pages::{ReadOnly, Writable};
    ///
    /// // Kernel memory standing in for a mapping of pinned user pages, at
    /// // a user address with the same offset in its page, borrowed from
    /// // the array it points into.
    /// struct Buf<'a>(*mut u8, UserPtr, PhantomData<&'a mut [u64]>);
    /// impl<'a> Buf<'a> {
    ///     fn at(mem: &'a mut [u64], byte: usize, page: UserPtr) -> Self {
    ///         let k = mem.as_mut_ptr().cast::<u8>().wrapping_add(byte);
    ///         Self(k, page + (k as usize & (PAGE_SIZE - 1)), PhantomData)
    ///     }
    /// }
    /// // SAFETY: `at()` points 8 bytes or more inside the array it
    /// // borrows, which stays mapped while the `Buf` lives; the test never
    /// // runs a vector, so nothing is accessed through it anyway.
    /// unsafe impl View<ReadOnly> for Buf<'_> {
    ///     fn user_addr(&self) -> UserPtr { self.1 }
    ///     fn bytes(&self) -> usize { 8 }
    ///     fn address(&self) -> *mut u8 { self.0 }
    /// }
    /// // SAFETY: As above; the array is borrowed mutably.
    /// unsafe impl View<Writable> for Buf<'_> {
    ///     fn user_addr(&self) -> UserPtr { self.1 }
    ///     fn bytes(&self) -> usize { 8 }
    ///     fn address(&self) -> *mut u8 { self.0 }
    /// }
    ///
    /// let (mut a, mut b) = ([0u64; 2], [0u64; 2]);
    /// // An 8-byte copy to an odd address; its destination is slot 0.
    /// let dst = Buf::at(&mut a, 1, 0x10000);
    /// let src = Buf::at(&mut b, 0, 0x20000);
    /// let copy = RawOp::new(op::MEMCPY, 8, dst.1 as u64, src.1 as u64, [0, 0]);
    /// let v = Vector::decode(&[copy]).map_err(|_| EINVAL)?;
    /// let mut w = Windows::views()?;
    /// for u in v.operands() {
    ///     match u {
    ///         Use::Read(s) => w.bind_read(&s, &src)?,
    ///         Use::Write(d) => w.bind_write(&d, &dst)?,
    ///     }
    /// }
    /// assert!(w.covers(&v));
    /// // An 8-byte add at an aligned address, also slot 0.
    /// let add = RawOp::new(op::ADD, 8, 0x30000, 1, [0, 0]);
    /// let other = Vector::decode(&[add]).map_err(|_| EINVAL)?;
    /// assert!(!w.covers(&other));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn covers(&self, v: &engine::Vector) -> bool {
        v.operands().all(|u| match u {
            engine::Use::Read(s) => self.get(s.operand(), false).is_some(),
            engine::Use::Write(d) => self.get(d.operand(), true).is_some(),
        })
    }

    /// Whether the engine asked for an operand that is not bound. The
    /// engine only uses the operands it was given and [`Self::covers`] is
    /// checked before it runs, so this means a bug; such accesses were
    /// skipped.
    pub fn missed(&self) -> bool {
        self.missed
    }

    /// Runs `f` on the parts of `o`, if bound (writable, if `write`);
    /// records a miss otherwise.
    fn access<R>(
        &self,
        o: &engine::Operand,
        write: bool,
        f: impl FnOnce(&Parts) -> R,
    ) -> Option<R> {
        self.get(o, write).and_then(|w| with_parts(&w, f))
    }

    /// As [`Self::access`], for a word: one part holds it (a word is
    /// aligned to its size, so it never crosses a page).
    fn word<R>(&self, o: &engine::Operand, write: bool, f: impl FnOnce(*mut u8) -> R) -> Option<R> {
        let len = o.len as usize;
        self.access(o, write, |p| {
            let (k, n) = p.at(0);
            (n >= len).then(|| f(k))
        })
        .flatten()
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

/// Calls `f(a, b, n)` for each run of `n` bytes that is contiguous in both
/// `a` and `b`, over the first `len` bytes, in order, until it returns
/// `false`; returns whether it never did.
fn for_each_run(
    a: &Parts,
    b: &Parts,
    len: usize,
    mut f: impl FnMut(*mut u8, *mut u8, usize) -> bool,
) -> bool {
    let mut i = 0;
    while i < len {
        let ((ka, na), (kb, nb)) = (a.at(i), b.at(i));
        let n = na.min(nb).min(len - i);
        if n == 0 || !f(ka, kb, n) {
            return false;
        }
        i += n;
    }
    true
}

impl engine::Memory for Windows<'_> {
    fn equal(&self, a: &engine::Src, b: &engine::Src) -> bool {
        let (oa, ob) = (a.operand(), b.operand());
        let len = oa.len as usize;
        let Some(wb) = self.get(ob, false) else {
            return false;
        };
        self.access(oa, false, |pa| {
            with_parts(&wb, |pb| {
                for_each_run(pa, pb, len, |ka, kb, n| {
                    // SAFETY: By the invariant of `Parts`, both runs are
                    // mapped for `n` bytes. User space may write them
                    // meanwhile from another CPU, as with any user memory
                    // the kernel reads; `memcmp` reads bytes without
                    // assuming they stay put.
                    unsafe { bindings::memcmp(ka.cast(), kb.cast(), n) == 0 }
                })
            })
        })
        .flatten()
        .unwrap_or(false)
    }

    fn copy(&mut self, dst: &engine::Dst, src: &engine::Src) {
        let (od, os) = (dst.operand(), src.operand());
        let len = od.len as usize;
        let Some(ws) = self.get(os, false) else {
            self.missed = true;
            return;
        };
        let (du, su) = (od.addr, os.addr);
        let overlap = du < su.saturating_add(len as u64) && su < du.saturating_add(len as u64);
        let done = self.access(od, true, |pd| {
            with_parts(&ws, |ps| {
                if !overlap {
                    return for_each_run(pd, ps, len, |kd, ks, n| {
                        // SAFETY: By the invariant of `Parts`, both runs are
                        // mapped for `n` bytes, the destination writable (its
                        // window is); the user ranges do not overlap.
                        unsafe { bindings::memcpy(kd.cast(), ks.cast(), n) };
                        true
                    });
                }
                // The user ranges overlap, but each operand has its own
                // mapping, so the kernel addresses need not show it: copy in
                // the direction the user addresses call for, as memmove()
                // would on them.
                let byte = |i: usize| {
                    let ((kd, nd), (ks, ns)) = (pd.at(i), ps.at(i));
                    if nd > 0 && ns > 0 {
                        // SAFETY: Byte `i < len` of each operand, mapped by the
                        // invariant of `Parts`; the destination writable.
                        unsafe { ptr::write_volatile(kd, ptr::read_volatile(ks)) }
                    }
                };
                if du > su {
                    (0..len).rev().for_each(byte);
                } else {
                    (0..len).for_each(byte);
                }
                true
            })
        });
        self.missed |= done.flatten() != Some(true);
    }

    fn load(&self, src: &engine::Src) -> u64 {
        let o = src.operand();
        // SAFETY: Mapped by the invariant of `Parts`; the engine loads
        // only words, aligned in user space, and the window is the one
        // bound for this user address, whose kernel address has the same
        // offset within its page, so it is aligned too.
        self.word(o, false, |k| unsafe { load_word(k, o.len) })
            .unwrap_or(0)
    }

    fn load_dst(&self, dst: &engine::Dst) -> u64 {
        let o = dst.operand();
        // SAFETY: As for `load`.
        self.word(o, true, |k| unsafe { load_word(k, o.len) })
            .unwrap_or(0)
    }

    fn store(&mut self, dst: &engine::Dst, val: u64) {
        let o = dst.operand();
        let done = self.word(o, true, |k| {
            // SAFETY: Mapped writable (the window is), and aligned as for
            // `load`: each arm is one store (`WRITE_ONCE()` semantics).
            unsafe {
                match o.len {
                    1 => ptr::write_volatile(k, val as u8),
                    2 => ptr::write_volatile(k.cast::<u16>(), val as u16),
                    4 => ptr::write_volatile(k.cast::<u32>(), val as u32),
                    _ => ptr::write_volatile(k.cast::<u64>(), val),
                }
            }
        });
        self.missed |= done.is_none();
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
    /// Reserves `bytes`, waiting until the other calls leave room for
    /// them. Callers are served in the order they asked: one that needs
    /// more than is free holds up those behind it, so a stream of small
    /// reservations cannot starve a large one. Fails with `ENOMEM` if
    /// `bytes` exceeds the whole budget and with `EINTR` if a fatal signal
    /// arrives while waiting. May sleep; the caller must hold nothing that
    /// others wait for.
    pub fn reserve(bytes: usize) -> Result<Self> {
        // SAFETY: Plain call; the C side waits killably, in a queue.
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
