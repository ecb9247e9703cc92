// SPDX-License-Identifier: GPL-2.0

//! The current task's rseq state (its registration, the ids last stored
//! in its area, its pending events) and the C side of the Rust
//! implementation of rseq that this state is used with
//! (`kernel/rseq_glue.c`): the tracepoints and the kernel log messages.

use super::*;
use crate::task::Task;
use core::{marker::PhantomData, ptr};

/// The current task, as rseq sees it: the rseq state in `task_struct` that
/// only the task itself writes while it runs (fork and exec write it too,
/// before the task runs).
///
/// A handle cannot leave the task that made it (it is neither `Send` nor
/// `Sync`), so what it reads is never written at the same time by another
/// CPU: another task's rseq state is out of reach, by construction.
///
/// # Invariants
///
/// The handle is used only by the task that made it, which is alive for as
/// long as it runs code.
pub struct Current {
    _not_send: PhantomData<*mut ()>,
}

impl Current {
    /// A handle on the current task.
    #[inline]
    pub fn get() -> Self {
        // INVARIANT: Made by the current task, and it cannot leave it.
        Self {
            _not_send: PhantomData,
        }
    }

    #[inline]
    fn raw(&self) -> *mut bindings::task_struct {
        // SAFETY: Always callable from task context.
        unsafe { bindings::get_current() }
    }

    /// The task, for interfaces that take any [`Task`].
    #[inline]
    pub fn task(&self) -> &Task {
        // SAFETY: By the type invariant the current task is alive while
        // `self` is; `Task` is a transparent wrapper of `task_struct`.
        unsafe { &*self.raw().cast::<Task>() }
    }

    /// Returns whether the task is exiting (`PF_EXITING`): it will not run
    /// user code again.
    #[inline]
    pub fn is_exiting(&self) -> bool {
        // SAFETY: The task is valid by the type invariant; it sets its own
        // `PF_EXITING`, so the field does not change under us.
        let flags = unsafe { ptr::read(ptr::addr_of!((*self.raw()).flags)) };
        flags & bindings::PF_EXITING != 0
    }

    /// Returns the task's concurrency id in its address space (`mm_cid`),
    /// which the scheduler may change when the task is switched in; the
    /// number of the CPU without `CONFIG_SCHED_MM_CID`.
    #[inline]
    pub fn mm_cid(&self) -> i32 {
        // SAFETY: The task is valid by the type invariant.
        unsafe { bindings::task_mm_cid(self.raw()) }
    }

    /// Makes the task run its resume-to-user-mode work before it next
    /// returns to user space.
    #[inline]
    pub fn set_notify_resume(&self) {
        self.task().set_notify_resume();
    }

    /// Returns the task's rseq registration, if it has one.
    #[inline]
    pub fn registration(&self) -> Option<Registration> {
        let t = self.raw();
        // SAFETY: The task is valid by the type invariant. The fields are
        // written only by the task itself (registration) and, before it
        // runs, by fork and exec, as in C.
        let (area, len, sig) = unsafe {
            (
                ptr::read(ptr::addr_of!((*t).rseq)),
                ptr::read(ptr::addr_of!((*t).rseq_len)),
                ptr::read(ptr::addr_of!((*t).rseq_sig)),
            )
        };
        (!area.is_null()).then_some(Registration {
            area: area as UserPtr,
            len,
            sig,
        })
    }

    /// Registers (`Some`) or unregisters (`None`) rseq for the task.
    /// Either way the recorded ids become [`Ids::STALE`], so that the first
    /// return to user space after a registration stores them.
    #[inline]
    pub fn set_registration(&self, reg: Option<Registration>) {
        let r = reg.unwrap_or(Registration {
            area: 0,
            len: 0,
            sig: 0,
        });
        let t = self.raw();
        // SAFETY: The task is valid by the type invariant, and only the task
        // itself writes these fields while it runs.
        unsafe {
            ptr::write(ptr::addr_of_mut!((*t).rseq), r.area as *mut bindings::rseq);
            ptr::write(ptr::addr_of_mut!((*t).rseq_len), r.len);
            ptr::write(ptr::addr_of_mut!((*t).rseq_sig), r.sig);
        }
        self.set_ids(Ids::STALE);
    }

    /// Returns the ids last stored into the task's rseq area, or
    /// [`Ids::STALE`] when the next return to user space must store them.
    #[inline]
    pub fn ids(&self) -> Ids {
        let t = self.raw();
        // SAFETY: The task is valid by the type invariant. The fields are
        // written by the task itself and, before the child runs, by fork.
        let (cpu, mm_cid) = unsafe {
            (
                ptr::read(ptr::addr_of!((*t).rseq_ids_cpu)),
                ptr::read(ptr::addr_of!((*t).rseq_ids_cid)),
            )
        };
        if cpu == u32::MAX {
            return Ids::STALE;
        }
        Ids { cpu, mm_cid }
    }

    /// Records `ids` as what the task's rseq area holds.
    #[inline]
    pub fn set_ids(&self, ids: Ids) {
        let t = self.raw();
        // SAFETY: The task is valid by the type invariant, and only the task
        // itself writes these fields while it runs.
        unsafe {
            ptr::write(ptr::addr_of_mut!((*t).rseq_ids_cpu), ids.cpu);
            ptr::write(ptr::addr_of_mut!((*t).rseq_ids_cid), ids.mm_cid);
        }
    }

    /// Records `ids` as what the task's rseq area holds if they are the
    /// task's ids now, checked with preemption disabled so that the task
    /// cannot move between the check and the record. Returns whether they
    /// were recorded. A later switch to other ids is caught at switch in,
    /// which compares them with the record.
    #[inline]
    pub fn record_ids_if_current(&self, ids: Ids) -> bool {
        // SAFETY: Acts on the current task only.
        unsafe { bindings::rseq_record_ids_if_current(ids.cpu, ids.mm_cid) }
    }
}

/// Adds `events` to the current task's pending [`Events`] and requests the
/// notify-resume work, which acts on them before the task returns to user
/// space. Callable with interrupts disabled.
#[inline]
pub fn raise_current_events(events: Events) {
    // SAFETY: Acts on the current task under the guard rseq uses for the
    // event mask (saving the interrupt state).
    unsafe { bindings::rseq_raise_events(events.0 as _) }
}

/// Work that `CONFIG_RSEQ_STATS` counts, shown in debugfs as `rseq/stats`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Stat {
    /// A thread with rseq registered was switched out.
    SchedOut = bindings::rseq_stat_RSEQ_STAT_SCHED_OUT,
    /// A switch raised a preemption event: at switch in, the thread had a
    /// section set up, its area could not be read or no longer showed its
    /// ids, or the ids it recorded were stale (a registration, a fork,
    /// an id store that slept); or it was switched out stopping.
    PeekHit = bindings::rseq_stat_RSEQ_STAT_PEEK_HIT,
    /// A thread was switched in on another CPU or with another `mm_cid`,
    /// its area otherwise unchanged: its ids must be stored again.
    SchedIn = bindings::rseq_stat_RSEQ_STAT_SCHED_IN,
    /// The resume handler ran for a thread with rseq registered.
    Resume = bindings::rseq_stat_RSEQ_STAT_RESUME,
    /// ... of which for a signal being delivered.
    Signal = bindings::rseq_stat_RSEQ_STAT_SIGNAL,
    /// The id fields were stored.
    Ids = bindings::rseq_stat_RSEQ_STAT_IDS,
    /// The resume handler looked at the critical section (`rseq_cs` and
    /// the descriptor it points to).
    Cs = bindings::rseq_stat_RSEQ_STAT_CS,
    /// `rseq_cs` was cleared.
    Clear = bindings::rseq_stat_RSEQ_STAT_CLEAR,
    /// A thread was moved to its abort handler.
    Fixup = bindings::rseq_stat_RSEQ_STAT_FIXUP,
    /// A thread registered an area; the C code stores its ids once after
    /// each registration too.
    Register = bindings::rseq_stat_RSEQ_STAT_REGISTER,
}

/// Counts one occurrence of `stat` when `CONFIG_RSEQ_STATS` is enabled;
/// compiles to nothing otherwise. Callable from any context.
#[inline]
pub fn count(stat: Stat) {
    #[cfg(CONFIG_RSEQ_STATS)]
    // SAFETY: The counter is per CPU and the function is safe in any
    // context; `stat` is one of the C enum's values.
    unsafe {
        bindings::rseq_stat_inc(stat as _)
    };
    #[cfg(not(CONFIG_RSEQ_STATS))]
    let _ = stat;
}

/// Returns and clears the current task's pending [`Events`], atomically
/// with respect to preemption and membarrier's IPIs that set them.
#[inline]
pub fn take_current_events() -> Events {
    // SAFETY: Acts on the current task under the guard rseq uses for the
    // event mask.
    let mask = unsafe { bindings::rseq_take_event_mask() };
    // Only the three event bits are ever set.
    Events(mask as u32)
}

/// Reports, rate limited, that the current thread's critical section has
/// `found` instead of its registered signature `expected` at user address
/// `addr`, before the thread is killed for it.
pub fn warn_bad_signature(found: u32, expected: u32, addr: UserPtr) {
    // SAFETY: Plain values; the C function only prints them.
    unsafe { bindings::rseq_warn_signature(found, expected, addr as _) }
}

/// Warns that `structure` (`rseq` or `rseq_cs`) has the flags [`check_flags`]
/// refused, before the thread is killed for them: once for deprecated flags
/// and once for unknown ones, in the C implementation's wording.
pub fn warn_bad_flags(structure: &CStr, bad: BadFlags) {
    // SAFETY: `structure` is a NUL-terminated string that outlives the
    // call; the C function only prints it and the plain values.
    unsafe { bindings::rseq_warn_flags(structure.as_char_ptr(), bad.deprecated, bad.unknown) };
}

/// Warns, once, with a backtrace (`WARN_ON_ONCE()`, as the C
/// implementation does), that the current task's `mm_cid` is negative
/// when it is about to be stored.
pub fn warn_negative_mm_cid(mm_cid: i32) {
    // SAFETY: A plain value; the C function only checks and reports it.
    unsafe { bindings::rseq_warn_mm_cid(mm_cid) }
}

/// The values of the four id fields of an rseq area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdFields {
    /// `cpu_id_start`.
    pub cpu_id_start: u32,
    /// `cpu_id`.
    pub cpu_id: u32,
    /// `node_id`.
    pub node_id: u32,
    /// `mm_cid`.
    pub mm_cid: u32,
}

/// Stores `ids` into the area of `reg`, the four fields inside one user
/// write access window. Fails with `EFAULT` if the area cannot be written;
/// the fields before the one that faulted may have been stored.
pub fn store_ids(reg: &Registration, ids: IdFields) -> Result {
    // SAFETY: Plain values and a user address; the C function checks the
    // address with `access_ok()` and handles faults.
    crate::error::to_result(unsafe {
        bindings::rseq_store_ids(
            reg.area as _,
            ids.cpu_id_start,
            ids.cpu_id,
            ids.node_id,
            ids.mm_cid,
        )
    })
}

/// Fires the `rseq_update` tracepoint for `task`.
#[inline]
pub fn trace_update(task: &Task) {
    // SAFETY: `task` is valid; the wrapper only reads it.
    unsafe { bindings::rseq_trace_update(task.0.get()) }
}

/// Fires the `rseq_ip_fixup` tracepoint: a thread interrupted at `ip`
/// inside `cs` is moved to the abort handler.
#[inline]
pub fn trace_ip_fixup(ip: usize, cs: &CriticalSection) {
    let r = cs.raw();
    // SAFETY: Plain values; the tracepoint has no other requirements.
    unsafe {
        bindings::rseq_trace_ip_fixup(
            ip as _,
            r.start_ip as _,
            r.post_commit_offset as _,
            r.abort_ip as _,
        )
    }
}
