// SPDX-License-Identifier: GPL-2.0

//! Restartable sequences: the user ABI and the current task's rseq state.
//!
//! A thread registers a `struct rseq` area with the `rseq()` system call.
//! The kernel keeps the CPU fields of that area up to date, and when the
//! thread is preempted, migrated or gets a signal while inside the
//! critical section described by the `struct rseq_cs` its area points to,
//! it makes the thread resume at the section's abort handler.
//!
//! This module holds what does not depend on user memory: the layout
//! constants, the registration rules, and the validation of a critical
//! section descriptor, so that they can be tested on their own. With `CONFIG_RSEQ_RUST`,
//! [`Current`] gives access to the rseq state of the current task.
//!
//! C headers: [`include/uapi/linux/rseq.h`](srctree/include/uapi/linux/rseq.h),
//! [`include/linux/rseq.h`](srctree/include/linux/rseq.h).

use crate::{bindings, prelude::*, types::FromBytes, uaccess::UserPtr};
use core::mem::{align_of, offset_of, size_of};

/// Size of the original (Linux 4.18) `struct rseq`, padding included.
pub const ORIG_RSEQ_SIZE: u32 = 32;

/// Size of the fields this kernel knows, `offsetof(struct rseq, end)`;
/// user space learns it from the `AT_RSEQ_FEATURE_SIZE` auxiliary vector.
pub const FEATURE_SIZE: u32 = offset_of!(bindings::rseq, end) as u32;

/// Alignment of `struct rseq`, reported as `AT_RSEQ_ALIGN`.
pub const RSEQ_ALIGN: usize = align_of::<bindings::rseq>();

/// Byte offsets of the fields of `struct rseq`.
pub mod field {
    use super::*;

    /// `cpu_id_start`.
    pub const CPU_ID_START: usize = offset_of!(bindings::rseq, cpu_id_start);
    /// `cpu_id`.
    pub const CPU_ID: usize = offset_of!(bindings::rseq, cpu_id);
    /// `rseq_cs`, the 64-bit pointer to the current critical section.
    pub const RSEQ_CS: usize = offset_of!(bindings::rseq, rseq_cs);
    /// `flags`.
    pub const FLAGS: usize = offset_of!(bindings::rseq, flags);
    /// `node_id`.
    pub const NODE_ID: usize = offset_of!(bindings::rseq, node_id);
    /// `mm_cid`.
    pub const MM_CID: usize = offset_of!(bindings::rseq, mm_cid);
}

/// The `rseq()` flag that unregisters.
pub const FLAG_UNREGISTER: i32 = bindings::rseq_flags_RSEQ_FLAG_UNREGISTER as i32;

/// `cpu_id` of an area that is not registered.
pub const CPU_ID_UNINITIALIZED: u32 = bindings::rseq_cpu_id_state_RSEQ_CPU_ID_UNINITIALIZED as u32;

/// The `RSEQ_CS_FLAG_NO_RESTART_ON_*` flags, deprecated since Linux 6.0:
/// a critical section or thread that sets them is killed.
pub const NO_RESTART_FLAGS: u32 = bindings::rseq_cs_flags_RSEQ_CS_FLAG_NO_RESTART_ON_PREEMPT
    | bindings::rseq_cs_flags_RSEQ_CS_FLAG_NO_RESTART_ON_SIGNAL
    | bindings::rseq_cs_flags_RSEQ_CS_FLAG_NO_RESTART_ON_MIGRATE;

/// Why the current task may have to leave its critical section: the bits
/// of `task_struct::rseq_event_mask`, set by the scheduler when the task
/// may be inside a critical section, by signal delivery and by membarrier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events(u32);

impl Events {
    /// The task was preempted (or a membarrier RSEQ fence hit it).
    pub const PREEMPT: Events =
        Events(1 << bindings::rseq_cs_flags_bit_RSEQ_CS_FLAG_NO_RESTART_ON_PREEMPT_BIT);
    /// A signal is being delivered.
    pub const SIGNAL: Events =
        Events(1 << bindings::rseq_cs_flags_bit_RSEQ_CS_FLAG_NO_RESTART_ON_SIGNAL_BIT);
    /// The task moved to another CPU. The scheduler no longer sets it: a
    /// migration follows a switch out, which sets [`Events::PREEMPT`]
    /// when it matters.
    pub const MIGRATE: Events =
        Events(1 << bindings::rseq_cs_flags_bit_RSEQ_CS_FLAG_NO_RESTART_ON_MIGRATE_BIT);

    /// Returns the raw bits.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Whether no event happened.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Whether a task being switched in needs the resume handler to look at
/// its critical section before it next returns to user space, given
/// `rseq_cs`, what a read of its area's `rseq_cs` field that was not
/// allowed to fault gave.
///
/// A thread stores `rseq_cs` before it enters a section. With no section
/// (`rseq_cs` is 0) the handler would do nothing; with one, it aborts the
/// section if the thread is inside it and otherwise clears `rseq_cs`, as
/// the C implementation does after every preemption (so a descriptor that
/// user space frees later is never read again); an unreadable field goes
/// to the handler too, which reads it in a way that may fault.
///
/// # Examples
///
/// ```
/// use kernel::{prelude::*, rseq::needs_resume_check};
///
/// assert!(!needs_resume_check(Ok(0)));
/// assert!(needs_resume_check(Ok(0x1000)));
/// assert!(needs_resume_check(Err(EFAULT)));
/// ```
#[inline]
pub fn needs_resume_check(rseq_cs: Result<u64>) -> bool {
    !matches!(rseq_cs, Ok(0))
}

/// The first 32 bytes of a `struct rseq` area, which every registered area
/// has (the original size) and is aligned to: what the scheduler reads at
/// switch in, in one copy that never crosses a page or leaves the area.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AreaHead {
    /// `cpu_id_start`.
    pub cpu_id_start: u32,
    /// `cpu_id`.
    pub cpu_id: u32,
    /// `rseq_cs`.
    pub rseq_cs: u64,
    /// `flags`.
    pub flags: u32,
    /// `node_id`.
    pub node_id: u32,
    /// `mm_cid`.
    pub mm_cid: u32,
    /// The rest of the original size, which the kernel does not read.
    pub pad: u32,
}

static_assert!(size_of::<AreaHead>() == ORIG_RSEQ_SIZE as usize);
static_assert!(offset_of!(AreaHead, cpu_id_start) == field::CPU_ID_START);
static_assert!(offset_of!(AreaHead, cpu_id) == field::CPU_ID);
static_assert!(offset_of!(AreaHead, rseq_cs) == field::RSEQ_CS);
static_assert!(offset_of!(AreaHead, flags) == field::FLAGS);
static_assert!(offset_of!(AreaHead, node_id) == field::NODE_ID);
static_assert!(offset_of!(AreaHead, mm_cid) == field::MM_CID);

// SAFETY: `AreaHead` has only integer fields and no padding (the asserts
// above pin its size to the sum of theirs), so any bytes are a valid value.
unsafe impl FromBytes for AreaHead {}

impl AreaHead {
    /// Whether the area shows `ids`, `node` being the node of `ids.cpu`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::rseq::{AreaHead, Ids};
    ///
    /// let ids = Ids { cpu: 3, mm_cid: 1 };
    /// let mut h = AreaHead {
    ///     cpu_id_start: 3,
    ///     cpu_id: 3,
    ///     node_id: 0,
    ///     mm_cid: 1,
    ///     ..Default::default()
    /// };
    /// assert!(h.shows(ids, 0));
    /// assert!(!h.shows(ids, 1));
    /// h.cpu_id_start = 0x1234_0003; // a tag user space stored
    /// assert!(!h.shows(ids, 0));
    /// ```
    #[inline]
    pub fn shows(&self, ids: Ids, node: u32) -> bool {
        self.cpu_id_start == ids.cpu
            && self.cpu_id == ids.cpu
            && self.node_id == node
            && self.mm_cid == ids.mm_cid
    }
}

/// The CPU number and memory-map concurrency id a task's rseq area holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ids {
    /// `cpu_id_start` and `cpu_id`; `node_id` follows from it.
    pub cpu: u32,
    /// `mm_cid`.
    pub mm_cid: u32,
}

impl Ids {
    /// Differs from the ids of every task (no CPU has number `u32::MAX`),
    /// so that the next return to user space stores them.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::rseq::Ids;
    ///
    /// assert_ne!(Ids::STALE, Ids { cpu: 0, mm_cid: 0 });
    /// assert_ne!(Ids::STALE, Ids { cpu: 3, mm_cid: u32::MAX });
    /// ```
    pub const STALE: Ids = Ids {
        cpu: u32::MAX,
        mm_cid: u32::MAX,
    };
}

/// Checks the address and length of a new registration.
///
/// The length is either the original 32 bytes, with 32-byte alignment, or
/// at least [`FEATURE_SIZE`], with the alignment of `struct rseq`.
///
/// # Examples
///
/// ```
/// use kernel::rseq::{check_registration, FEATURE_SIZE, ORIG_RSEQ_SIZE, RSEQ_ALIGN};
///
/// assert!(check_registration(0x1000, ORIG_RSEQ_SIZE).is_ok());
/// assert!(check_registration(0x1010, ORIG_RSEQ_SIZE).is_err());
/// assert!(check_registration(0x1000, ORIG_RSEQ_SIZE - 1).is_err());
/// assert!(check_registration(0x1000, FEATURE_SIZE.max(ORIG_RSEQ_SIZE + 1)).is_ok());
/// assert!(check_registration(0x1000 + RSEQ_ALIGN / 2, 64).is_err());
/// ```
pub fn check_registration(area: UserPtr, len: u32) -> Result {
    if len < ORIG_RSEQ_SIZE {
        return Err(EINVAL);
    }
    let align = if len == ORIG_RSEQ_SIZE {
        ORIG_RSEQ_SIZE as usize
    } else {
        RSEQ_ALIGN
    };
    if area % align != 0 || (len != ORIG_RSEQ_SIZE && len < FEATURE_SIZE) {
        return Err(EINVAL);
    }
    Ok(())
}

/// A critical section descriptor (`struct rseq_cs`) as user space wrote it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawCriticalSection {
    /// Must be 0.
    pub version: u32,
    /// `RSEQ_CS_FLAG_*`; all deprecated, must be 0.
    pub flags: u32,
    /// First instruction of the section.
    pub start_ip: u64,
    /// Length of the section: it ends before `start_ip + post_commit_offset`.
    pub post_commit_offset: u64,
    /// Where to resume after an abort; preceded by the signature.
    pub abort_ip: u64,
}

const _: () = assert!(size_of::<RawCriticalSection>() == size_of::<bindings::rseq_cs>());
const _: () =
    assert!(offset_of!(RawCriticalSection, abort_ip) == offset_of!(bindings::rseq_cs, abort_ip));

// SAFETY: The struct is made of integers only, with no padding (checked
// against the C layout above): every bit pattern is a valid value.
unsafe impl FromBytes for RawCriticalSection {}

/// Why a critical section descriptor was refused. Each one makes the
/// kernel kill the thread, as it cannot tell where to resume it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsError {
    /// `version` is not 0.
    Version,
    /// An address is not below the end of the user address space.
    OutOfRange,
    /// `start_ip + post_commit_offset` overflows.
    Overflow,
    /// `abort_ip` lies inside the section.
    AbortInside,
}

impl From<CsError> for Error {
    fn from(_: CsError) -> Error {
        EINVAL
    }
}

/// A critical section that passed [`RawCriticalSection::validate`].
///
/// # Invariants
///
/// `start_ip + post_commit_offset` does not overflow, and it and
/// `abort_ip` are below the task size given to `validate`; `abort_ip` is
/// not inside `[start_ip, start_ip + post_commit_offset)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CriticalSection {
    raw: RawCriticalSection,
}

impl RawCriticalSection {
    /// Validates the descriptor against the end of the user address space.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::rseq::{CsError, RawCriticalSection};
    ///
    /// const TASK_SIZE: u64 = 1 << 47;
    /// let cs = RawCriticalSection {
    ///     version: 0,
    ///     flags: 0,
    ///     start_ip: 0x1000,
    ///     post_commit_offset: 0x20,
    ///     abort_ip: 0x2000,
    /// };
    /// let ok = cs.validate(TASK_SIZE).unwrap();
    /// assert!(!ok.contains(0xfff));
    /// assert!(ok.contains(0x1000) && ok.contains(0x101f));
    /// assert!(!ok.contains(0x1020));
    /// assert_eq!(ok.signature_address(), 0x1ffc);
    ///
    /// let bad = |f: fn(&mut RawCriticalSection)| {
    ///     let mut c = cs;
    ///     f(&mut c);
    ///     c.validate(TASK_SIZE).unwrap_err()
    /// };
    /// assert_eq!(bad(|c| c.version = 1), CsError::Version);
    /// assert_eq!(bad(|c| c.start_ip = TASK_SIZE), CsError::OutOfRange);
    /// assert_eq!(bad(|c| c.post_commit_offset = TASK_SIZE), CsError::OutOfRange);
    /// assert_eq!(bad(|c| c.abort_ip = TASK_SIZE), CsError::OutOfRange);
    /// assert_eq!(bad(|c| c.post_commit_offset = u64::MAX), CsError::Overflow);
    /// assert_eq!(bad(|c| c.abort_ip = 0x1000), CsError::AbortInside);
    /// assert_eq!(bad(|c| c.abort_ip = 0x101f), CsError::AbortInside);
    /// // The end of the section may be the abort handler, and an empty
    /// // section contains nothing.
    /// let mut c = cs;
    /// c.abort_ip = 0x1020;
    /// assert!(c.validate(TASK_SIZE).is_ok());
    /// c.post_commit_offset = 0;
    /// assert!(!c.validate(TASK_SIZE).unwrap().contains(0x1000));
    /// ```
    pub fn validate(&self, task_size: u64) -> Result<CriticalSection, CsError> {
        if self.version != 0 {
            return Err(CsError::Version);
        }
        let end = self
            .start_ip
            .checked_add(self.post_commit_offset)
            .ok_or(CsError::Overflow)?;
        if self.start_ip >= task_size || end >= task_size || self.abort_ip >= task_size {
            return Err(CsError::OutOfRange);
        }
        // Unsigned wrap-around makes this one comparison cover both sides.
        if self.abort_ip.wrapping_sub(self.start_ip) < self.post_commit_offset {
            return Err(CsError::AbortInside);
        }
        // INVARIANT: Checked above.
        Ok(CriticalSection { raw: *self })
    }
}

impl CriticalSection {
    /// Whether `ip` lies inside the section.
    #[inline]
    pub fn contains(&self, ip: u64) -> bool {
        ip.wrapping_sub(self.raw.start_ip) < self.raw.post_commit_offset
    }

    /// Where the 32-bit signature must be: just before the abort handler.
    /// Wraps for an abort handler below 4, which no user mapping holds.
    #[inline]
    pub fn signature_address(&self) -> u64 {
        self.raw.abort_ip.wrapping_sub(size_of::<u32>() as u64)
    }

    /// The descriptor's fields.
    #[inline]
    pub fn raw(&self) -> &RawCriticalSection {
        &self.raw
    }
}

/// Flags that a `struct rseq_cs` or `struct rseq` must not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadFlags {
    /// Deprecated `RSEQ_CS_FLAG_NO_RESTART_ON_*` flags that were set.
    pub deprecated: u32,
    /// Flags this kernel does not know.
    pub unknown: u32,
}

/// Checks a `flags` field: since Linux 6.0 none may be set.
///
/// # Examples
///
/// ```
/// use kernel::rseq::{check_flags, BadFlags};
///
/// assert_eq!(check_flags(0), Ok(()));
/// assert_eq!(check_flags(1), Err(BadFlags { deprecated: 1, unknown: 0 }));
/// assert_eq!(check_flags(0x18), Err(BadFlags { deprecated: 0, unknown: 0x18 }));
/// ```
pub fn check_flags(flags: u32) -> core::result::Result<(), BadFlags> {
    if flags == 0 {
        return Ok(());
    }
    Err(BadFlags {
        deprecated: flags & NO_RESTART_FLAGS,
        unknown: flags & !NO_RESTART_FLAGS,
    })
}

/// A thread's rseq registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Registration {
    /// User address of the `struct rseq` area.
    pub area: UserPtr,
    /// Registered length of the area.
    pub len: u32,
    /// Signature expected before every abort handler.
    pub sig: u32,
}

impl Registration {
    /// The user address of the field at byte `offset` of the area.
    #[inline]
    pub fn field(&self, offset: usize) -> UserPtr {
        // Registration checked the whole area against the user address
        // space, so an offset inside it cannot wrap; for any other offset
        // the access that follows fails with `EFAULT` rather than the
        // addition panicking.
        self.area.wrapping_add(offset)
    }
}

#[cfg(CONFIG_RSEQ_RUST)]
mod current;
#[cfg(CONFIG_RSEQ_RUST)]
pub use current::*;
