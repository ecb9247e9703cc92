// SPDX-License-Identifier: GPL-2.0

//! cpu_opv(): runs a short vector of operations on one CPU, atomically
//! with respect to every thread that runs there.
//!
//! It is the slow path of restartable sequences: where an rseq critical
//! section cannot make progress (a debugger single-stepping it, a page
//! fault on every attempt, data of a CPU other than the current one, a
//! CPU that went offline), the same update is expressed as a vector of
//! compare, copy and arithmetic operations and handed to the kernel.
//!
//! A call goes through four steps, each of which may fail without any
//! operation having run:
//!
//! 1. Copy and check the vector (`kernel::cpu_opv::engine`).
//! 2. Pin the pages of every operand, for writing where the operation
//!    writes, so that they can be neither unmapped nor swapped out.
//! 3. Reach each operand through a kernel mapping: the direct map when it
//!    lies in one lowmem page, otherwise a vmalloc alias at the user
//!    address's cache colour, taken from a global budget.
//! 4. Run the vector on the target CPU from an IPI, with interrupts off,
//!    then mark the task it interrupted for an rseq restart, as
//!    membarrier's rseq fence does. An offline CPU runs no thread; the
//!    vector then runs on the calling CPU with hotplug held off,
//!    serialised with other callers by a mutex.
//!
//! The caller is never migrated and its affinity is left alone. Every
//! pin, alias and budget share is released when the call returns.

use kernel::{
    alloc::{flags::GFP_KERNEL, KVec},
    cpu::CpuId,
    cpu_opv::{
        colour_span, engine, force_vmap, AliasAccount, BudgetGrant, OfflineGuard, Windows, NR_FLAG,
        VEC_LEN_MAX_FLAG,
    },
    page::PAGE_SIZE,
    prelude::*,
    smp::{self, HotplugReadGuard, PreemptGuard},
    uaccess::{UserPtr, UserSlice},
    user_pages::PinnedPages,
    vmap::Alias,
};

const __LOG_PREFIX: &[u8] = b"cpu_opv\0";

/// An operand of at most `DATA_LEN_MAX` (one page) bytes spans at most
/// two pages.
const OPERAND_PAGES: usize = 2;

type Pin = PinnedPages<OPERAND_PAGES>;

/// Answers the questions the flags ask; they take no vector.
fn query(ops: UserPtr, opcnt: i32, cpu: i32, flags: i32) -> Result<usize> {
    if ops != 0 || opcnt != 0 || cpu != -1 {
        return Err(EINVAL);
    }
    match flags {
        NR_FLAG => Ok(engine::NR_OPS),
        VEC_LEN_MAX_FLAG => Ok(engine::VEC_LEN_MAX),
        _ => Err(EINVAL),
    }
}

/// Copies `n` (at most `VEC_LEN_MAX`) operations from user space.
fn copy_ops(ops: UserPtr, n: usize) -> Result<KVec<engine::RawOp>> {
    let mut raw = KVec::with_capacity(n, GFP_KERNEL)?;
    let size = n * core::mem::size_of::<engine::RawOp>();
    let mut reader = UserSlice::new(ops, size).reader();
    for _ in 0..n {
        raw.push(reader.read::<engine::RawOp>()?, GFP_KERNEL)?;
    }
    Ok(raw)
}

/// A pinned operand, and whether it is reached through a vmalloc alias
/// (it crosses a page or lies in highmem, or `vmap_all` asks for it)
/// rather than the direct map.
type Pinned = (engine::Operand, Pin, bool);

/// Pins the pages of every operand. A failure on an operand whose
/// `expect_fault` byte is set is reported as `EAGAIN`.
fn pin_operands(v: &engine::Vector, vmap_all: bool) -> Result<KVec<Pinned>> {
    let operands = || v.ops().iter().flat_map(|op| op.operands()).flatten();
    let mut pins = KVec::with_capacity(operands().count(), GFP_KERNEL)?;
    for o in operands() {
        let addr = usize::try_from(o.addr).map_err(|_| EFAULT)?;
        let pin = match Pin::pin(addr, o.len as usize, o.write) {
            Ok(pin) => pin,
            Err(e) if e == EFAULT && o.expect_fault => return Err(EAGAIN),
            Err(e) => return Err(e),
        };
        let alias = vmap_all || pin.direct_address().is_none();
        pins.push((o, pin, alias), GFP_KERNEL)?;
    }
    Ok(pins)
}

/// Runs the checked vector on `cpu` against `mem`.
fn run_on(cpu: CpuId, v: &engine::Vector, mem: &mut Windows<'_>) -> Result<usize> {
    let _hotplug = HotplugReadGuard::new();
    if !cpu.is_online() {
        // No thread runs on an offline CPU: its data is shared only with
        // other cpu_opv callers, which this lock serialises. Taking it may
        // have slept, but the hotplug lock kept the CPU from coming up.
        let _offline = OfflineGuard::lock()?;
        if !cpu.is_online() {
            let _preempt = PreemptGuard::new();
            return Ok(engine::run(v, mem));
        }
    }
    let mut res = 0;
    smp::call_on(cpu, &mut || {
        res = engine::run(v, mem);
        // The thread this interrupted may be inside an rseq critical
        // section that reads what the vector just changed: restart it.
        #[cfg(CONFIG_RSEQ)]
        kernel::rseq::raise_current_events(kernel::rseq::Events::PREEMPT);
    })?;
    Ok(res)
}

fn cpu_opv(ops: UserPtr, opcnt: i32, cpu: i32, flags: i32) -> Result<usize> {
    if flags != 0 {
        return query(ops, opcnt, cpu, flags);
    }
    let n = usize::try_from(opcnt).map_err(|_| EINVAL)?;
    if n == 0 || n > engine::VEC_LEN_MAX {
        return Err(EINVAL);
    }
    let cpu = CpuId::from_i32(cpu).ok_or(EINVAL)?;
    let raw = copy_ops(ops, n)?;
    let v = engine::Vector::decode(&raw).map_err(|_| EINVAL)?;

    let pins = pin_operands(&v, force_vmap())?;
    let span = colour_span();
    // Reserve the budget for every alias at once: reserving piecemeal
    // while holding earlier shares could deadlock callers against each
    // other. Declared before the aliases, the grant is returned only
    // after they are freed.
    let need: usize = pins
        .iter()
        .filter(|(_, _, alias)| *alias)
        .map(|(_, pin, _)| Alias::<OPERAND_PAGES>::area_size(pin.len(), span) + PAGE_SIZE)
        .sum();
    let _grant = if need > 0 {
        Some(BudgetGrant::reserve(need)?)
    } else {
        None
    };
    let mut aliases = KVec::with_capacity(pins.len(), GFP_KERNEL)?;
    for (o, pin, _) in pins.iter().filter(|(_, _, alias)| *alias) {
        let alias = Alias::new(pin, span)?;
        // Counts the area from its allocation until after it is freed:
        // the tuple drops the alias first.
        let account = AliasAccount::new(alias.vm_bytes());
        aliases.push((o.len, alias, account), GFP_KERNEL)?;
    }
    let mut windows = Windows::with_capacity(pins.len())?;
    for (o, pin, _) in pins.iter().filter(|(_, _, alias)| !*alias) {
        windows.add_direct(pin, o.len)?;
    }
    for (len, alias, _) in aliases.iter() {
        windows.add_alias(alias, *len)?;
    }

    let res = run_on(cpu, &v, &mut windows)?;
    if windows.missed() {
        pr_warn!("vector accessed memory outside its operands\n");
        return Err(EFAULT);
    }
    Ok(res)
}

/// The body of the `cpu_opv()` system call, called by
/// `kernel/cpu_opv_shim.c`.
///
/// Runs the `opcnt` operations at `ops` on `cpu`, or answers the question
/// `flags` asks. Returns 0 when every operation ran, `k > 0` when compare
/// operation `k` (1-based) stopped the vector, or a negative errno:
/// `EINVAL` (bad vector, flags or CPU), `EFAULT` (an operand or the
/// vector is not accessible as the operation needs), `EAGAIN` (such an
/// operand had `expect_fault` set), `ENOMEM`, or `EINTR` (a fatal signal
/// while waiting, before any operation ran).
#[no_mangle]
pub extern "C" fn do_cpu_opv(ops: UserPtr, opcnt: i32, cpu: i32, flags: i32) -> core::ffi::c_long {
    match cpu_opv(ops, opcnt, cpu, flags) {
        Ok(k) => k as core::ffi::c_long,
        Err(e) => e.to_errno() as core::ffi::c_long,
    }
}
