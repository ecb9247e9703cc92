// SPDX-License-Identifier: GPL-2.0

//! Pinned user pages: the pages behind a user address range, held in
//! memory so that the kernel can reach them through its own mappings,
//! with no page fault, until they are unpinned.
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h).

use crate::{
    bindings,
    page::{PAGE_MASK, PAGE_SHIFT, PAGE_SIZE},
    prelude::*,
    uaccess::{word, UserPtr},
};
use core::{marker::PhantomData, ptr};

/// The number of pages that hold `[addr, addr + len)`, or `None` if the
/// range is empty or wraps around.
///
/// # Examples
///
/// ```
/// use kernel::{page::PAGE_SIZE, user_pages::pages_spanned};
///
/// assert_eq!(pages_spanned(PAGE_SIZE, 1), Some(1));
/// assert_eq!(pages_spanned(PAGE_SIZE, PAGE_SIZE), Some(1));
/// assert_eq!(pages_spanned(PAGE_SIZE - 1, 2), Some(2));
/// assert_eq!(pages_spanned(PAGE_SIZE + 8, PAGE_SIZE), Some(2));
/// assert_eq!(pages_spanned(PAGE_SIZE, 0), None);
/// assert_eq!(pages_spanned(usize::MAX, 2), None);
/// ```
pub fn pages_spanned(addr: UserPtr, len: usize) -> Option<usize> {
    if len == 0 {
        return None;
    }
    let last = addr.checked_add(len - 1)?;
    Some((last >> PAGE_SHIFT) - (addr >> PAGE_SHIFT) + 1)
}

/// How a [`PinnedPages`] may be used: [`ReadOnly`] or [`Writable`].
///
/// The access is part of the pin's type, so that code which stores
/// through a kernel mapping of pinned pages can demand a [`Writable`] pin
/// at compile time: a store through a read pin could reach the page cache
/// of a file the caller may not write, or the shared zero page.
pub trait Access: private::Sealed {
    /// Whether pages are pinned with `FOLL_WRITE`.
    const WRITE: bool;
    /// The GUP flags of the pin.
    const GUP_FLAGS: u32;
}

/// Pinned for reading only, and never to be written: a read pin of a
/// shared mapping reaches pages other processes use.
///
/// The pin is taken with `FOLL_LONGTERM`, which makes GUP break
/// copy-on-write sharing of a private mapping first (an unshare fault),
/// as it does for every pin that must see later stores through the page
/// tables: without it, a read pin of never-written anonymous memory or of
/// a private file mapping not written yet would hold the shared zero page
/// or the page-cache page, and miss every store the process makes after
/// the pin (which moves its page table to a new, private page).
pub struct ReadOnly;

/// Pinned with `FOLL_WRITE`: copy-on-write was broken for the caller, so
/// the pages are the caller's own to write.
pub struct Writable;

impl Access for ReadOnly {
    const WRITE: bool = false;
    const GUP_FLAGS: u32 = bindings::FOLL_LONGTERM;
}

impl Access for Writable {
    const WRITE: bool = true;
    const GUP_FLAGS: u32 = bindings::FOLL_WRITE;
}

mod private {
    pub trait Sealed {}
    impl Sealed for super::ReadOnly {}
    impl Sealed for super::Writable {}
}

/// Faults in the pages of the user range `[addr, addr + len)` as a pin
/// with access `A` needs them, holding no pin while a fault is handled.
///
/// Each page is pinned with `A`'s flags and released at once, one page at
/// a time. Pinning, rather than a plain fault (`fault_in_readable()`,
/// `fault_in_safe_writeable()`), does what [`PinnedPages::pin_nofault`]
/// will need: it breaks copy-on-write sharing for a write pin, unshares a
/// private page for a read pin (only a pin asks for that), migrates a
/// read-pinned page out of `ZONE_MOVABLE` or CMA with nothing else pinned,
/// and applies GUP's own checks of the mapping, so that memory GUP refuses
/// fails here with `EFAULT` instead of on every later attempt. It pins
/// through the mmap lock (`pin_user_pages_unlocked()`), never through the
/// lockless walk of `pin_user_pages_fast()`, which looks at page table
/// entries only: it would pin a present page of a mapping GUP refuses
/// (a read of a write-only mapping, whose entries x86 makes readable),
/// and the caller's pin under the lock would then fail every time. The
/// lock is waited for killably, and a fault may drop and retake it. The
/// pages may be gone again by the time the caller pins them (reclaim,
/// migration, a store elsewhere that write-protects them): callers retry.
///
/// Fails with `EINVAL` for an empty range, `EFAULT` if it is not user
/// memory, not mapped, not accessible as `A` needs (not writable for a
/// write pin), a special mapping (`VM_IO`, `VM_PFNMAP`) or memory GUP
/// does not pin (fs-dax for a read pin, secret memory, P2PDMA, poisoned
/// pages), or `EINTR` on a fatal signal. A page that cannot be pinned
/// for want of memory, or because it cannot leave a movable zone yet, is
/// left for the caller's next pin to report. May sleep, for as long as a
/// fault takes (I/O, a userfaultfd or FUSE server).
///
/// # Locking
///
/// Takes the mmap lock of the current task's mm for reading: the caller
/// must not hold it, as an [`MmapReadGuard`] does (a writer queued in
/// between would deadlock the two).
pub fn fault_in<A: Access>(addr: UserPtr, len: usize) -> Result {
    let nr = pages_spanned(addr, len).ok_or(EINVAL)?;
    if !word::access_ok(addr, len) {
        return Err(EFAULT);
    }
    let first = addr & PAGE_MASK;
    for i in 0..nr {
        let mut page = ptr::null_mut();
        // SAFETY: `page` has room for one entry; the range, which holds
        // this page, was checked to be user memory.
        let got = unsafe {
            bindings::pin_user_pages_unlocked(
                first + i * PAGE_SIZE,
                1,
                &mut page,
                A::GUP_FLAGS as _,
            )
        };
        if got < 0 {
            match Error::from_errno(got as _) {
                // GUP's answer when a fatal signal interrupts its wait for
                // the mmap lock is `EAGAIN`.
                e if e == EINTR || e == EAGAIN => return Err(EINTR),
                // A read pin that could not move the page out of a movable
                // zone (another pin holds it), or memory running out: the
                // caller's next attempt to pin tells whether it lasts.
                e if e == ENOMEM => continue,
                _ => return Err(EFAULT),
            }
        }
        if got == 0 {
            return Err(EFAULT);
        }
        // SAFETY: `got` is 1: `page` holds the one pin this call took, and
        // it is released once, here. Nothing was written through it, so
        // it is released without being dirtied (a write fault dirtied the
        // page table entry already).
        unsafe { bindings::unpin_user_page(page) };
    }
    Ok(())
}

/// The current task's mmap lock, held for reading.
///
/// Taken before anything is pinned, so that a caller never waits for the
/// lock while it holds pins or other shared resources: GUP's lockless
/// path falls back to taking the lock, and a writer queued behind a
/// reader stuck in a fault (a FUSE or userfaultfd server that never
/// answers) can hold it up for as long as user space likes.
///
/// # Invariants
///
/// `mm` is the mm of the task that made the guard, which holds its mmap
/// lock for reading until the guard is dropped; the guard does not leave
/// that task (it is neither `Send` nor `Sync`), so `mm` stays alive.
pub struct MmapReadGuard {
    mm: *mut bindings::mm_struct,
    _not_send: PhantomData<*mut ()>,
}

impl MmapReadGuard {
    /// Takes the current task's mmap lock for reading, waiting killably.
    ///
    /// Fails with `EINTR` if a fatal signal arrives meanwhile and with
    /// `EFAULT` if the task has no user address space (a kernel thread).
    pub fn lock_current() -> Result<Self> {
        // SAFETY: `get_current()` returns the running task, whose `mm`
        // field only the task itself changes (exec, exit).
        let mm = unsafe { (*bindings::get_current()).mm };
        if mm.is_null() {
            return Err(EFAULT);
        }
        // SAFETY: `mm` is the current task's mm, alive while it runs.
        if unsafe { bindings::mmap_read_lock_killable(mm) } != 0 {
            return Err(EINTR);
        }
        // INVARIANT: The lock of the current task's mm was just taken.
        Ok(Self {
            mm,
            _not_send: PhantomData,
        })
    }

    /// Takes the current task's mmap lock for reading without waiting:
    /// `None` if it is contended.
    ///
    /// Fails with `EFAULT` if the task has no user address space.
    pub fn try_lock_current() -> Result<Option<Self>> {
        // SAFETY: As in `lock_current()`.
        let mm = unsafe { (*bindings::get_current()).mm };
        if mm.is_null() {
            return Err(EFAULT);
        }
        // SAFETY: `mm` is the current task's mm, alive while it runs.
        if !unsafe { bindings::mmap_read_trylock(mm) } {
            return Ok(None);
        }
        // INVARIANT: The lock of the current task's mm was just taken.
        Ok(Some(Self {
            mm,
            _not_send: PhantomData,
        }))
    }

    /// Whether a touch of `[addr, addr + len)` from user space, followed
    /// by a new pin, cannot succeed where a pin of the range failed with
    /// `EFAULT`, as the mappings stand while the lock is held. Nothing is
    /// faulted in or pinned.
    ///
    /// True if part of the range lies in a mapping that user space may
    /// load from ([`ReadOnly`]: any access bit, as a writable or
    /// executable mapping is readable on some architectures) or store to
    /// ([`Writable`]) but that a pin refuses whatever is faulted in: a
    /// `VM_IO` or `VM_PFNMAP` mapping such as `[vvar]`, a read of a
    /// mapping without `VM_READ` (whether or not user space can read
    /// it), secret memory, or fs-dax for a read (read pins are long-term,
    /// which fs-dax refuses). Also true if every byte lies in a mapping
    /// that allows the access and that no userfaultfd watches: the pin
    /// then failed in the fault handler (a page whose fault raises
    /// `SIGBUS`), which a touch does not change.
    ///
    /// False otherwise: part of the range has no mapping or none that
    /// allows the access (the touch raises a signal), or a userfaultfd
    /// that may serve only faults from user space
    /// (`UFFD_USER_MODE_ONLY`) watches it (the touch may help). False for
    /// an empty range or one outside user memory.
    ///
    /// The answer is for the mappings as they stand when this runs: a
    /// thread that maps, unmaps or protects part of the range between the
    /// failed pin and this check changes it. That costs the caller one
    /// more touch and retry, or an `EFAULT` a retry would have avoided;
    /// each retry pins and checks again, so it does not make a loop.
    pub fn maps_for<A: Access>(&self, addr: UserPtr, len: usize) -> bool {
        let Some(end) = addr.checked_add(len) else {
            return false;
        };
        if len == 0 || !word::access_ok(addr, len) {
            return false;
        }
        // `vm_flags_t` is an unsigned long, a `usize` in the bindings.
        let need = if A::WRITE {
            bindings::VM_WRITE
        } else {
            bindings::VM_READ | bindings::VM_WRITE | bindings::VM_EXEC
        } as usize;
        let special = (bindings::VM_IO | bindings::VM_PFNMAP) as usize;
        let mut all_reached = true;
        let mut at = addr;
        while at < end {
            // SAFETY: By the type invariant, `self.mm` is the task's mm and
            // its mmap lock is held for reading, as `find_vma()` needs.
            let vma = unsafe { bindings::find_vma(self.mm, at) };
            if vma.is_null() {
                return false;
            }
            // SAFETY: `vma` is a mapping of `self.mm`, which the mmap lock
            // keeps in place; its bounds and flags change only with the
            // lock held for writing. Only these fields are read.
            let (start, vend, flags) = unsafe {
                (
                    (*vma).__bindgen_anon_1.__bindgen_anon_1.vm_start,
                    (*vma).__bindgen_anon_1.__bindgen_anon_1.vm_end,
                    (*vma).__bindgen_anon_2.vm_flags,
                )
            };
            if start >= end {
                return false;
            }
            // SAFETY: As above: `vma` is a mapping of `self.mm`, held in
            // place by the lock.
            let (watched, never_pinned) = unsafe {
                (
                    bindings::userfaultfd_armed(vma),
                    bindings::vma_is_secretmem(vma)
                        || (A::GUP_FLAGS & bindings::FOLL_LONGTERM != 0
                            && bindings::vma_is_fsdax(vma)),
                )
            };
            let reached = flags & need != 0;
            let refused = never_pinned
                || flags & special != 0
                || (!A::WRITE && flags & bindings::VM_READ as usize == 0);
            if reached && refused {
                return true;
            }
            all_reached &= start <= at && reached && !watched;
            at = vend;
        }
        all_reached
    }
}

impl Drop for MmapReadGuard {
    fn drop(&mut self) {
        // SAFETY: By the type invariant this task holds the lock of `mm`.
        unsafe { bindings::mmap_read_unlock(self.mm) };
    }
}

/// The pages holding a user address range of at most `N` pages, pinned
/// with `pin_user_pages()`, for reading or writing as `A` says.
///
/// Pages are pinned only if they are present as `A` needs them
/// ([`Self::pin_nofault`]); [`fault_in`] makes them so. Pinning refuses
/// mappings without ordinary pages behind them (`VM_IO`, `VM_PFNMAP`).
/// Copy-on-write sharing is broken first, for a write pin as a store
/// would, and for a read pin of a private mapping as an unshare (see
/// [`ReadOnly`]), so both see the page the process's own page tables
/// map, before and after the pin. A read pin of a shared mapping, which
/// others may use too, must not be written, which is why only a
/// [`Writable`] pin gives out a writable kernel address.
///
/// # Invariants
///
/// The first `count` entries of `pages` are pinned pages, in address
/// order, starting with the page of `addr`, pinned with `FOLL_WRITE` if
/// and only if `A::WRITE`; they stay pinned until the value is dropped.
/// `count` is at least 1 and at most `N`.
pub struct PinnedPages<const N: usize, A: Access> {
    pages: [*mut bindings::page; N],
    count: usize,
    addr: UserPtr,
    _access: PhantomData<A>,
}

impl<const N: usize, A: Access> PinnedPages<N, A> {
    /// Pins the pages of `[addr, addr + len)`, for writing if `A` is
    /// [`Writable`], if each is present as `A` needs it: no page fault is
    /// taken (`FOLL_NOFAULT`), so none is waited for, and with the mmap
    /// lock already held (`_mm`), that lock is not waited for either; a
    /// caller may hold other pins meanwhile. The call may still sleep for
    /// memory and, for a read pin, for the migration of a page out of
    /// `ZONE_MOVABLE` or CMA.
    ///
    /// Fails with `EFAULT` if a page is missing, would need its
    /// copy-on-write sharing broken or unshared first (for all of which
    /// [`fault_in`] helps), or is not accessible at all or not pinnable
    /// (fs-dax for a read pin, P2PDMA, poisoned); with `EINVAL` if the
    /// range is empty or spans more than `N` pages; with `ENOMEM` if memory ran out or a
    /// read pin could not move a page out of `ZONE_MOVABLE` or CMA (a pin
    /// held elsewhere prevents it; try again later); with `EINTR` on a
    /// fatal signal. Nothing stays pinned on failure.
    pub fn pin_nofault(_mm: &MmapReadGuard, addr: UserPtr, len: usize) -> Result<Self> {
        let nr = pages_spanned(addr, len).ok_or(EINVAL)?;
        if nr > N {
            return Err(EINVAL);
        }
        if !word::access_ok(addr, len) {
            return Err(EFAULT);
        }
        let flags = A::GUP_FLAGS | bindings::FOLL_NOFAULT;
        let mut pages = [ptr::null_mut(); N];
        // SAFETY: `pages` has room for `nr` entries; the range was checked
        // to be user memory; `_mm` holds the current task's mmap lock for
        // reading, as `pin_user_pages()` requires.
        let got = unsafe {
            bindings::pin_user_pages(addr & PAGE_MASK, nr as _, flags as _, pages.as_mut_ptr())
        };
        if got < 0 {
            // What a caller can act on: a fatal signal, and a read pin that
            // could not move its page out of a movable zone yet (another
            // pin holds it) or memory running out, which a later try may
            // get past. Anything else GUP refuses (fs-dax for a read pin,
            // which is long term, a P2PDMA or poisoned page) is memory
            // the caller cannot have.
            return Err(match Error::from_errno(got as _) {
                e if e == EINTR || e == ENOMEM => e,
                _ => EFAULT,
            });
        }
        let got = got as usize;
        if got < nr {
            // SAFETY: The first `got` entries were just pinned.
            unsafe { bindings::unpin_user_pages(pages.as_mut_ptr(), got as _) };
            return Err(EFAULT);
        }
        // INVARIANT: `nr` (1..=N) pages were pinned from the page of
        // `addr`, with `A::GUP_FLAGS` and `FOLL_NOFAULT`, which has
        // `FOLL_WRITE` exactly when `A::WRITE`.
        Ok(Self {
            pages,
            count: nr,
            addr,
            _access: PhantomData,
        })
    }

    /// The number of pinned pages.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Always `false`: a pin holds at least one page.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The user address the range starts at.
    pub fn user_addr(&self) -> UserPtr {
        self.addr
    }

    /// The pinned pages, for mapping them elsewhere in the kernel.
    pub(crate) fn raw_pages(&self) -> &[*mut bindings::page] {
        &self.pages[..self.count]
    }
}

impl<A: Access> PinnedPages<2, A> {
    /// Runs `f` with the pinned range mapped into the kernel, from its
    /// user address to the end of its last page: one [`MappedPart`] per
    /// page, in address order.
    ///
    /// Each page is mapped with `kmap_local_page()`: the direct map where
    /// the page has one, a slot of the CPU's own mapping stack for a
    /// highmem page. So no vmalloc space is taken and no TLB of another
    /// CPU is flushed, and the mappings must nest: they are undone, in
    /// reverse order, when `f` returns. Any context may call this,
    /// interrupt handlers included, but the addresses are valid only in
    /// the context that made them, on its CPU, until `f` returns: `f` must
    /// not hand them to another CPU. The last part runs to the end of its
    /// page, which may be past the end of the pinned range; the whole
    /// page is pinned, so that is still memory of the same pin.
    ///
    /// The user's threads may access the same bytes meanwhile through
    /// their own mappings: accesses through the parts race with them as
    /// any kernel access to user memory does, and must not assume the
    /// bytes stay put. No cache maintenance is done: where the data cache
    /// does not alias, a store through these mappings is seen through the
    /// user's, as for `copy_to_user()` or `process_vm_writev()`; where it
    /// can alias, these mappings need not have the colour of the user
    /// address, and a caller needs an alias at that colour instead
    /// ([`crate::vmap::Alias`]).
    pub fn with_mapped<R>(&self, f: impl FnOnce(&[MappedPart<'_, A>]) -> R) -> R {
        let offset = self.addr & (PAGE_SIZE - 1);
        // SAFETY: By the type invariant the first page is pinned, so it
        // stays allocated until `self` is dropped, after this returns.
        let first = unsafe { bindings::kmap_local_page(self.pages[0]) }.cast::<u8>();
        // SAFETY: `first` maps the first page until the `kunmap_local()`
        // below, after `f` returns; the offset is below `PAGE_SIZE`. The
        // page is pinned for writing if `A` is `Writable`.
        let head = unsafe { MappedPart::new(first.wrapping_add(offset), PAGE_SIZE - offset) };
        let res = if self.count == 2 {
            // SAFETY: As above: `count` is 2, so the second page is pinned.
            let second = unsafe { bindings::kmap_local_page(self.pages[1]) }.cast::<u8>();
            // SAFETY: As for `head`, for the second page.
            let tail = unsafe { MappedPart::new(second, PAGE_SIZE) };
            let res = f(&[head, tail]);
            // SAFETY: Mapped above, after `first`: undone first. `f` has
            // returned, and the parts it was lent cannot outlive the call.
            unsafe { bindings::kunmap_local(second.cast()) };
            res
        } else {
            f(&[head])
        };
        // SAFETY: Mapped above; every later mapping of this call is undone.
        unsafe { bindings::kunmap_local(first.cast()) };
        res
    }
}

/// One page of a pinned range mapped by [`PinnedPages::with_mapped`]:
/// `len` bytes from a kernel address, readable, and writable if the pin
/// is [`Writable`], for as long as the value lives (`'m`, the call that
/// lent it).
///
/// # Invariants
///
/// `addr` is mapped for `len` bytes, readable, and writable if `A` is
/// [`Writable`], for `'m`.
pub struct MappedPart<'m, A: Access> {
    addr: *mut u8,
    len: usize,
    _mapping: PhantomData<(&'m (), A)>,
}

impl<A: Access> MappedPart<'_, A> {
    /// # Safety
    ///
    /// `addr` must be mapped for `len` bytes, readable, and writable if
    /// `A` is [`Writable`], for as long as the value lives.
    unsafe fn new(addr: *mut u8, len: usize) -> Self {
        // INVARIANT: By the safety requirements.
        Self {
            addr,
            len,
            _mapping: PhantomData,
        }
    }

    /// The kernel address of the part, for reading `len()` bytes.
    pub fn addr(&self) -> *const u8 {
        self.addr.cast_const()
    }

    /// How many bytes the part maps.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false`: a part maps at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl MappedPart<'_, Writable> {
    /// The kernel address of the part, for reading and writing `len()`
    /// bytes. Only a part of a write pin has one.
    pub fn addr_mut(&self) -> *mut u8 {
        self.addr
    }
}

impl<const N: usize, A: Access> Drop for PinnedPages<N, A> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the first `count` entries are
        // pinned by this value and nothing else unpins them. Pages pinned
        // for writing may have been written through a kernel mapping:
        // they are marked dirty as they are released.
        unsafe {
            bindings::unpin_user_pages_dirty_lock(
                self.pages.as_mut_ptr(),
                self.count as _,
                A::WRITE,
            )
        };
    }
}
