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
use core::ptr;

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

/// The pages holding a user address range of at most `N` pages, pinned
/// with `pin_user_pages_fast()`.
///
/// Pinning faults the pages in like a user access would (copy-on-write
/// is broken first for a write pin), and refuses mappings without
/// ordinary pages behind them (`VM_IO`, `VM_PFNMAP`). A read pin of
/// anonymous memory never written yet pins the shared zero page, which
/// reads as zeros.
///
/// # Invariants
///
/// The first `count` entries of `pages` are pinned pages, in address
/// order, starting with the page of `addr`; they stay pinned until the
/// value is dropped. `count` is at least 1 and at most `N`.
pub struct PinnedPages<const N: usize> {
    pages: [*mut bindings::page; N],
    count: usize,
    addr: UserPtr,
    write: bool,
}

impl<const N: usize> PinnedPages<N> {
    /// Pins the pages of `[addr, addr + len)`, for writing if `write`.
    ///
    /// Fails with `EINVAL` if the range is empty or spans more than `N`
    /// pages, `EFAULT` if it is not user memory, not mapped, not writable
    /// when `write` is set, or a special mapping, and `ENOMEM` if memory
    /// runs out while faulting the pages in. Nothing stays pinned on
    /// failure. May sleep.
    pub fn pin(addr: UserPtr, len: usize, write: bool) -> Result<Self> {
        let nr = pages_spanned(addr, len).ok_or(EINVAL)?;
        if nr > N {
            return Err(EINVAL);
        }
        if !word::access_ok(addr, len) {
            return Err(EFAULT);
        }
        let mut pages = [ptr::null_mut(); N];
        let flags = if write { bindings::FOLL_WRITE } else { 0 };
        // SAFETY: `pages` has room for `nr` entries; the range was checked
        // to be user memory.
        let got = unsafe {
            bindings::pin_user_pages_fast(addr & PAGE_MASK, nr as _, flags as _, pages.as_mut_ptr())
        };
        if got < 0 {
            return Err(Error::from_errno(got));
        }
        let got = got as usize;
        if got < nr {
            // SAFETY: The first `got` entries were just pinned.
            unsafe { bindings::unpin_user_pages(pages.as_mut_ptr(), got as _) };
            return Err(EFAULT);
        }
        // INVARIANT: `nr` (1..=N) pages were pinned, from the page of `addr`.
        Ok(Self {
            pages,
            count: nr,
            addr,
            write,
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

    /// The kernel address of the user address the range starts at, when
    /// the range lies in one page that the kernel maps permanently (not
    /// highmem); then the range can be reached there for as long as the
    /// pin lives.
    pub fn direct_address(&self) -> Option<*mut u8> {
        if self.count != 1 {
            return None;
        }
        // SAFETY: By the type invariant the page is pinned, hence valid.
        let base = unsafe { bindings::page_lowmem_address(self.pages[0]) };
        if base.is_null() {
            return None;
        }
        // The offset is below `PAGE_SIZE`, inside the page.
        Some(base.cast::<u8>().wrapping_add(self.addr & (PAGE_SIZE - 1)))
    }

    /// The pinned pages, for mapping them elsewhere in the kernel.
    pub(crate) fn raw_pages(&self) -> &[*mut bindings::page] {
        &self.pages[..self.count]
    }
}

impl<const N: usize> Drop for PinnedPages<N> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the first `count` entries are
        // pinned by this value and nothing else unpins them. Pages pinned
        // for writing may have been written through a kernel mapping:
        // they are marked dirty as they are released.
        unsafe {
            bindings::unpin_user_pages_dirty_lock(
                self.pages.as_mut_ptr(),
                self.count as _,
                self.write,
            )
        };
    }
}
