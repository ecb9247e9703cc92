// SPDX-License-Identifier: GPL-2.0

//! Kernel aliases of pinned user pages in the vmalloc space, placed at
//! the cache colour of the user address.
//!
//! On CPUs whose data caches are virtually indexed, physically tagged and
//! can alias (`cpu_dcache_is_aliasing()`, such as ARMv6 VIPT aliasing
//! caches, where `SHMLBA` is four pages; ARMv7 caches do not alias), a
//! kernel mapping of a user page sees the same cache lines as the user
//! mapping only if both addresses have the same colour: the same offset
//! modulo the colour span. [`Alias`] reserves room for any colour and maps
//! the pages at the one matching the user address. Where caches do not
//! alias the span is one page and no room is wasted. Virtually tagged
//! (VIVT) caches share no lines between two mappings at any colour and
//! would need cache maintenance instead; no such CPU builds Rust code.
//!
//! C header: [`include/linux/vmalloc.h`](srctree/include/linux/vmalloc.h).

use crate::{
    bindings,
    error::to_result,
    page::{PAGE_MASK, PAGE_SIZE},
    prelude::*,
    uaccess::UserPtr,
    user_pages::{Access, PinnedPages, Writable},
};

/// The span of data cache colours: `SHMLBA` where the data cache can
/// alias, one page elsewhere.
pub fn colour_span() -> usize {
    // SAFETY: Reads a constant property of the CPU's caches.
    if unsafe { bindings::cpu_dcache_is_aliasing() } {
        // SAFETY: Reads a constant.
        unsafe { bindings::shmlba() as usize }
    } else {
        PAGE_SIZE
    }
}

/// The first page-aligned address at or above `base` whose offset modulo
/// `span` is that of the page holding `user`. `span` is a power of two
/// and a multiple of the page size; the result lies below
/// `base + span`. Returns `None` on overflow.
///
/// # Examples
///
/// ```
/// use kernel::{page::PAGE_SIZE, vmap::coloured_start};
///
/// let span = 4 * PAGE_SIZE;
/// let base = 0x100 * PAGE_SIZE;
/// // The user page has colour 3: the alias starts three pages in.
/// assert_eq!(coloured_start(base, 7 * PAGE_SIZE + 12, span), Some(base + 3 * PAGE_SIZE));
/// // Colour 0 at a base of colour 1 wraps to the next span.
/// assert_eq!(coloured_start(base + PAGE_SIZE, 8 * PAGE_SIZE, span), Some(base + span));
/// // Without aliasing every page has the one colour.
/// assert_eq!(coloured_start(base, 7 * PAGE_SIZE, PAGE_SIZE), Some(base));
/// ```
pub fn coloured_start(base: usize, user: UserPtr, span: usize) -> Option<usize> {
    let mask = span.wrapping_sub(1);
    let want = user & mask & PAGE_MASK;
    let have = base & mask;
    let skip = want.wrapping_sub(have) & mask;
    base.checked_add(skip)
}

/// A kernel mapping, in the vmalloc space, of the pages of a
/// [`PinnedPages`], contiguous and at the user address's cache colour.
///
/// # Invariants
///
/// `area` is a `VM_SPARSE` area from `get_vm_area_caller()`, owned by this
/// value, in which `[start, start + len)` maps the pages of the pin the
/// alias borrows, in order, writable if and only if `A` is [`Writable`].
/// Dropping the alias unmaps and frees the area.
pub struct Alias<'a, const N: usize, A: Access> {
    area: *mut bindings::vm_struct,
    start: usize,
    len: usize,
    pin: &'a PinnedPages<N, A>,
}

impl<'a, const N: usize, A: Access> Alias<'a, N, A> {
    /// Maps `pin` at colour span `span` (a power of two, at least the
    /// page size; normally [`colour_span`]). Fails with `ENOMEM` when the
    /// vmalloc space or memory for page tables runs out, `EINVAL` for a
    /// bad `span`. The pages of a [`ReadOnly`](crate::user_pages::ReadOnly)
    /// pin are mapped read-only, so that not even a kernel bug can store
    /// through them. May sleep.
    pub fn new(pin: &'a PinnedPages<N, A>, span: usize) -> Result<Self> {
        if !span.is_power_of_two() || span < PAGE_SIZE {
            return Err(EINVAL);
        }
        let len = pin.len() * PAGE_SIZE;
        let size = Self::area_size(pin.len(), span);
        // SAFETY: Plain allocation of an address range; the caller tag is
        // only shown in /proc/vmallocinfo.
        let area = unsafe {
            bindings::get_vm_area_caller(
                size,
                bindings::VM_SPARSE as _,
                Self::new as *const core::ffi::c_void,
            )
        };
        if area.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `area` was just returned and is valid.
        let base = unsafe { (*area).addr } as usize;
        // `size` leaves `span - PAGE_SIZE` bytes of room for the colour.
        let start = coloured_start(base, pin.user_addr(), span).unwrap_or(base);
        // SAFETY: Reads a constant; writable only for write pins.
        let prot = unsafe {
            if A::WRITE {
                bindings::page_kernel()
            } else {
                bindings::page_kernel_ro()
            }
        };
        // SAFETY: `[start, start + len)` lies inside the sparse area just
        // allocated, and `raw_pages()` holds `pin.len()` pinned pages.
        let ret = unsafe {
            bindings::vm_area_map_pages_prot(
                area,
                start as _,
                (start + len) as _,
                pin.raw_pages().as_ptr().cast_mut(),
                prot,
            )
        };
        if let Err(e) = to_result(ret) {
            // SAFETY: The area is ours and nothing is mapped in it.
            unsafe { bindings::free_vm_area(area) };
            return Err(e);
        }
        // INVARIANT: The area is ours and maps the pin's pages at `start`,
        // writable exactly when `A::WRITE`.
        Ok(Self {
            area,
            start,
            len,
            pin,
        })
    }

    /// The bytes of vmalloc space an alias of `pages` pages takes at
    /// colour span `span`, guard page excluded.
    pub fn area_size(pages: usize, span: usize) -> usize {
        pages * PAGE_SIZE + span - PAGE_SIZE
    }

    /// The bytes of vmalloc space the alias occupies, guard page included.
    pub fn vm_bytes(&self) -> usize {
        // SAFETY: By the type invariant the area is valid while `self` is.
        unsafe { (*self.area).size }
    }

    /// The user address the pin starts at.
    pub fn user_addr(&self) -> UserPtr {
        self.pin.user_addr()
    }

    /// The number of pages mapped.
    pub fn pages(&self) -> usize {
        self.pin.len()
    }

    /// The kernel address of the user address the pin starts at, for
    /// reading.
    pub fn address(&self) -> *const u8 {
        let off = self.pin.user_addr() & (PAGE_SIZE - 1);
        (self.start + off) as *const u8
    }
}

impl<const N: usize> Alias<'_, N, Writable> {
    /// The kernel address of the user address the pin starts at, for
    /// reading and writing: only the alias of a write pin is writable.
    pub fn address_mut(&self) -> *mut u8 {
        self.address().cast_mut()
    }
}

impl<const N: usize, A: Access> Drop for Alias<'_, N, A> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the area is owned by this value and
        // maps `[start, start + len)`; unmapping flushes the kernel TLB
        // before the area is freed.
        unsafe {
            bindings::vm_area_unmap_pages(self.area, self.start as _, (self.start + self.len) as _);
            bindings::free_vm_area(self.area);
        }
    }
}
