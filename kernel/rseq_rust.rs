// SPDX-License-Identifier: GPL-2.0

//! Restartable sequences (rseq).
//!
//! A thread registers a `struct rseq` area with `rseq()`. Before the
//! thread next returns to user space after it was preempted, migrated or
//! sent a signal, [`__rseq_handle_notify_resume`] stores the current CPU
//! number, NUMA node and memory-map concurrency id into the area, and, if
//! the thread was interrupted inside the critical section its area points
//! at, moves it to that section's abort handler. User space can thus run
//! a short sequence of instructions ending in a single commit store that
//! either completes on one CPU without interruption or does not commit.
//!
//! A critical section is described by a `struct rseq_cs` whose address the
//! thread stores into `rseq->rseq_cs`: `[start_ip, start_ip +
//! post_commit_offset)` is the section, `abort_ip` the handler, which must
//! lie outside it and follow the signature the thread registered. The
//! kernel clears `rseq->rseq_cs` lazily, whenever it finds the thread
//! outside that section or moves it to the abort handler.
//!
//! The work is kept off the hot paths. When a thread is switched back in,
//! [`__rseq_sched_in`] reads the start of its area without faulting and
//! requests the notify-resume work only if `rseq_cs` is set (the handler
//! then aborts the section or clears the field), the area could not be
//! read or does not show the ids last stored there, or the thread comes
//! back on a different CPU or with a different `mm_cid`;
//! [`__rseq_sched_stop`] requests it for a thread stopping for a tracer
//! or job control. A thread that blocks and
//! wakes on the same CPU with no critical section set up, the common
//! case, returns to user space without any rseq work. Every event (signal
//! delivery, a membarrier rseq fence, a section or a changed area found at
//! switch in) rewrites all the id fields, as the C implementation does on
//! every return to user space.
//!
//! The ABI rules themselves (layout, registration checks, descriptor
//! validation) are in `kernel::rseq`, where they are tested on their own.
//! The C side (`kernel/rseq_glue.c`) defines the system call entry and
//! the tracepoints.

use core::mem::size_of;
use kernel::{
    bindings, c_str,
    cpu::CpuId,
    prelude::*,
    ptrace::PtRegs,
    rseq::{
        self, field, AreaHead, CriticalSection, Current, Events, IdFields, Ids, RawCriticalSection,
        Registration, Stat,
    },
    signal::{self, KSignal, Signal},
    uaccess::{word, UserPtr, UserSlice},
};

/// The ids the current task's area must show while it runs on `cpu`.
fn current_ids(cur: &Current, cpu: CpuId) -> Ids {
    Ids {
        cpu: cpu.as_u32(),
        mm_cid: cur.mm_cid() as u32,
    }
}

/// The task's registration, unless it has none or is exiting: rseq
/// leaves exiting tasks alone.
fn live_registration(cur: &Current) -> Option<Registration> {
    if cur.is_exiting() {
        return None;
    }
    cur.registration()
}

/// Stores the CPU number, node and concurrency id of the current task
/// into its area, inside one user access window, unless the area already
/// holds them and `force` is not set.
fn update_ids(cur: &Current, reg: &Registration, force: bool) -> Result {
    let cpu = CpuId::current();
    let now = current_ids(cur, cpu);
    if !force && cur.ids() == now {
        return Ok(());
    }
    if (now.mm_cid as i32) < 0 {
        rseq::warn_negative_mm_cid(now.mm_cid as i32);
    }
    // The store may fault and sleep, and the task may wake on another
    // CPU. Until it is recorded below, the area holds nothing known, so
    // that a switch in meanwhile requests this work again.
    cur.set_ids(Ids::STALE);
    rseq::store_ids(
        reg,
        IdFields {
            cpu_id_start: now.cpu,
            cpu_id: now.cpu,
            node_id: cpu.node() as u32,
            mm_cid: now.mm_cid,
        },
    )?;
    rseq::count(Stat::Ids);
    rseq::trace_update(cur.task());
    // Moved since `now` was taken: what was stored is already wrong. The
    // ids stay stale and the work runs again before the task returns to
    // user space (switch in requested it too).
    if !cur.record_ids_if_current(now) {
        cur.set_notify_resume();
    }
    Ok(())
}

/// Puts the id fields back to their unregistered values, so that a user
/// of the area can tell it must register again.
fn reset_ids(reg: &Registration) -> Result {
    rseq::store_ids(
        reg,
        IdFields {
            cpu_id_start: 0,
            cpu_id: rseq::CPU_ID_UNINITIALIZED,
            node_id: 0,
            mm_cid: 0,
        },
    )
}

fn clear_cs(reg: &Registration) -> Result {
    rseq::count(Stat::Clear);
    word::put::<u64>(reg.field(field::RSEQ_CS), 0)
}

/// Reads and validates the critical section the area points at, if any.
fn current_cs(reg: &Registration) -> Result<Option<CriticalSection>> {
    let ptr = word::get::<u64>(reg.field(field::RSEQ_CS))?;
    if ptr == 0 {
        return Ok(None);
    }
    let task_size = word::task_size();
    if ptr >= task_size {
        return Err(EINVAL);
    }
    let raw: RawCriticalSection = UserSlice::new(ptr as UserPtr, size_of::<RawCriticalSection>())
        .reader()
        .read()?;
    let cs = raw.validate(task_size)?;
    let sig_addr = cs.signature_address();
    let sig = word::get::<u32>(sig_addr as UserPtr)?;
    if sig != reg.sig {
        rseq::warn_bad_signature(sig, reg.sig, sig_addr as UserPtr);
        return Err(EINVAL);
    }
    Ok(Some(cs))
}

/// Refuses flags in `struct rseq_cs` or `struct rseq`: the deprecated
/// no-restart flags were removed in Linux 6.0 and kill the thread, with a
/// warning the first time each kind is seen.
fn check_flags(flags: u32, structure: &CStr) -> Result {
    rseq::check_flags(flags).map_err(|bad| {
        rseq::warn_bad_flags(structure, bad);
        EINVAL
    })
}

/// Moves the thread to the abort handler if it was interrupted inside its
/// critical section, and clears `rseq->rseq_cs` once it is outside the
/// section. Called only after an event.
fn fixup_ip(reg: &Registration, regs: &mut PtRegs) -> Result {
    let ip = regs.instruction_pointer();
    rseq::count(Stat::Cs);
    let Some(cs) = current_cs(reg)? else {
        return Ok(());
    };
    if !cs.contains(ip as u64) {
        return clear_cs(reg);
    }
    check_flags(cs.raw().flags, c_str!("rseq_cs"))?;
    check_flags(word::get::<u32>(reg.field(field::FLAGS))?, c_str!("rseq"))?;
    clear_cs(reg)?;
    rseq::count(Stat::Fixup);
    rseq::trace_ip_fixup(ip, &cs);
    regs.set_instruction_pointer(cs.raw().abort_ip as usize);
    Ok(())
}

/// Runs before the current task returns to user space after preemption,
/// migration or signal delivery, while it has rseq registered.
///
/// # Safety
///
/// Must be called by the current task on its way back to user space.
/// `ksig` is null or points to the signal being delivered. `regs` is null
/// when called on the way into a KVM guest (`xfer_to_guest_mode_work()`),
/// otherwise it points to the task's user registers, which nothing else
/// accesses during the call.
#[no_mangle]
pub unsafe extern "C" fn __rseq_handle_notify_resume(
    ksig: *mut bindings::ksignal,
    regs: *mut bindings::pt_regs,
) {
    let cur = Current::get();
    let Some(reg) = live_registration(&cur) else {
        return;
    };
    rseq::count(Stat::Resume);
    if !ksig.is_null() {
        rseq::count(Stat::Signal);
    }
    // SAFETY: The caller guarantees that a non-null `regs` is the current
    // task's user registers, not accessed elsewhere meanwhile.
    let regs = (!regs.is_null()).then(|| unsafe { PtRegs::from_raw_mut(regs) });
    // Events are taken only with registers to act on: a resume without
    // them (KVM's entry to a guest) leaves them, and `rseq_cs`, for a
    // later one. Without an event the thread has no critical section set
    // up: the work was requested for the ids only. After one, all the ids
    // are rewritten, as user space (TCMalloc) may rely on a fence
    // rewriting `cpu_id_start`; and so they are without registers, as in
    // C, since KVM then returns to user space with no further resume.
    let res = match regs {
        Some(regs) if !rseq::take_current_events().is_empty() => {
            fixup_ip(&reg, regs).map(|()| true)
        }
        Some(_) => Ok(false),
        None => Ok(true),
    }
    .and_then(|force| update_ids(&cur, &reg, force));
    if res.is_err() {
        // SAFETY: The caller guarantees a non-null `ksig` is valid.
        let delivering = (!ksig.is_null()).then(|| unsafe { KSignal::from_raw(ksig) });
        signal::force_sigsegv(delivering.and_then(KSignal::signal));
    }
}

/// Whether the area still holds the ids last stored there, read without
/// faulting. User space may have overwritten them (TCMalloc stores a tag
/// in `cpu_id_start` to learn of preemptions and fences), or dropped the
/// page (`madvise(MADV_DONTNEED)`, which makes it read zeros), from this
/// thread or another one; the C implementation stored them after every
/// switch, which repaired both.
fn area_shows_ids(cur: &Current, head: &AreaHead) -> bool {
    let ids = cur.ids();
    CpuId::from_u32(ids.cpu).is_some_and(|cpu| head.shows(ids, cpu.node() as u32))
}

/// Runs when the current task, which has rseq registered, is switched
/// out to stop for a tracer or job control (`TASK_TRACED`,
/// `TASK_STOPPED`). Called by the scheduler with interrupts disabled.
///
/// A tracer may move a stopped task's instruction pointer and change its
/// area before it runs again, so a stop always requests the resume work
/// with a preemption event; every other switch out is looked at when the
/// task is switched back in, the latest point before it can run user
/// code.
#[no_mangle]
pub extern "C" fn __rseq_sched_stop() {
    let cur = Current::get();
    if live_registration(&cur).is_none() {
        return;
    }
    rseq::count(Stat::SchedOut);
    rseq::count(Stat::PeekHit);
    rseq::raise_current_events(Events::PREEMPT);
}

/// Runs when the current task, which has rseq registered, was switched
/// in, with its CPU, `mm_cid` and mm final (the scheduler calls it from
/// `finish_task_switch()`, with preemption disabled).
///
/// Reads the first 32 bytes of the area in one copy that cannot fault. If
/// the resume handler could have a section to look at (see
/// [`rseq::needs_resume_check`]) or the area no longer shows the ids last
/// stored there, whoever changed it while the task was off the CPU, it
/// raises a preemption event, after which the handler checks the section
/// and stores every id. If the task
/// only comes back on another CPU or with another `mm_cid`, it requests
/// the work for the ids.
#[no_mangle]
pub extern "C" fn __rseq_sched_in() {
    let cur = Current::get();
    let Some(reg) = live_registration(&cur) else {
        return;
    };
    // Stale ids (a registration or fork not followed by a store yet) are
    // shown by no area: the read would change nothing.
    let raise = cur.ids() == Ids::STALE || {
        let head = word::read_nofault::<AreaHead>(reg.area);
        rseq::needs_resume_check(head.map(|h| h.rseq_cs))
            || !head.is_ok_and(|h| area_shows_ids(&cur, &h))
    };
    if raise {
        rseq::count(Stat::PeekHit);
        rseq::raise_current_events(Events::PREEMPT);
    } else if cur.ids() != current_ids(&cur, CpuId::current()) {
        rseq::count(Stat::SchedIn);
        cur.set_notify_resume();
    }
}

/// Kills the current task if it makes a system call from inside its
/// critical section, which rseq does not allow (`CONFIG_DEBUG_RSEQ`).
///
/// # Safety
///
/// Must be called by the current task on system call exit; `regs` points
/// to its user registers.
#[cfg(CONFIG_DEBUG_RSEQ)]
#[no_mangle]
pub unsafe extern "C" fn rseq_syscall(regs: *mut bindings::pt_regs) {
    let Some(reg) = Current::get().registration() else {
        return;
    };
    // SAFETY: The caller guarantees `regs` is the current task's registers.
    let ip = unsafe { PtRegs::from_raw_mut(regs) }.instruction_pointer();
    match current_cs(&reg) {
        Ok(Some(cs)) if !cs.contains(ip as u64) => {}
        Ok(None) => {}
        _ => signal::force_sig(Signal::SIGSEGV),
    }
}

fn unregister(area: UserPtr, len: u32, flags: i32, sig: u32) -> Result {
    if flags != rseq::FLAG_UNREGISTER {
        return Err(EINVAL);
    }
    let cur = Current::get();
    let reg = cur.registration().ok_or(EINVAL)?;
    if reg.area != area || reg.len != len {
        return Err(EINVAL);
    }
    if reg.sig != sig {
        return Err(EPERM);
    }
    reset_ids(&reg)?;
    cur.set_registration(None);
    Ok(())
}

fn register(area: UserPtr, len: u32, flags: i32, sig: u32) -> Result {
    if flags != 0 {
        return Err(EINVAL);
    }
    let cur = Current::get();
    if let Some(reg) = cur.registration() {
        if reg.area != area || reg.len != len {
            return Err(EINVAL);
        }
        if reg.sig != sig {
            return Err(EPERM);
        }
        return Err(EBUSY);
    }
    rseq::check_registration(area, len)?;
    if !word::access_ok(area, len as usize) {
        return Err(EFAULT);
    }
    let reg = Registration { area, len, sig };
    // A libc may hand a new thread an area it used before without clearing
    // `rseq_cs`: clear it rather than kill the thread on its first return.
    if word::get::<u64>(reg.field(field::RSEQ_CS))? != 0 {
        clear_cs(&reg)?;
    }
    cur.set_registration(Some(reg));
    rseq::count(Stat::Register);
    // Fill in the id fields before the thread returns to user space.
    cur.set_notify_resume();
    Ok(())
}

/// The body of the `rseq()` system call, called by `kernel/rseq_glue.c`.
///
/// Registers `area` (of `len` bytes, with abort signature `sig`) for the
/// current thread, or, with `RSEQ_FLAG_UNREGISTER`, unregisters it.
/// Returns 0 or a negative errno: `EINVAL` for bad flags, length,
/// alignment or a mismatching unregistration, `EPERM` for a mismatching
/// signature, `EBUSY` when the same area is already registered, `EFAULT`
/// when the area is not accessible.
#[no_mangle]
pub extern "C" fn do_rseq(area: UserPtr, len: u32, flags: i32, sig: u32) -> core::ffi::c_long {
    let res = if flags & rseq::FLAG_UNREGISTER != 0 {
        unregister(area, len, flags, sig)
    } else {
        register(area, len, flags, sig)
    };
    match res {
        Ok(()) => 0,
        Err(e) => e.to_errno() as core::ffi::c_long,
    }
}
