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
//! 2. Where the operands go through vmalloc aliases (step 3), reserve
//!    the vmalloc space they may need from a global budget, waiting in
//!    arrival order with nothing held. Take the caller's mmap lock (if a
//!    budget share is held, only without waiting: otherwise the share is
//!    returned before the lock is waited for) and pin the pages of every
//!    operand, for writing where the operation writes, so that they can
//!    be neither unmapped nor swapped out. Each operand has its own pin,
//!    even where operands share an address: a read pin may reach pages
//!    the caller must not write (the zero page, the page cache behind a
//!    private file mapping), so only the operand's own write pin may ever
//!    be stored through. Pages are pinned only when present; if one is
//!    not, the pins and the budget share are released and the operands
//!    faulted in before trying again. So no pin and no budget share is
//!    held while a fault is handled (it may wait for I/O, a userfaultfd
//!    or FUSE server), the mmap lock or the budget waited for.
//! 3. Reach each operand through its own pin: where the data cache does
//!    not alias, by mapping its one or two pages around each access with
//!    `kmap_local_page()` (the direct map; a per-CPU slot for highmem), so
//!    that no vmalloc space, budget or TLB flush is needed; where it
//!    aliases, through a vmalloc alias at the user address's cache colour
//!    (read-only for a read pin).
//! 4. Run the vector on the target CPU from an IPI, with interrupts off,
//!    then mark the task it interrupted for an rseq restart, as
//!    membarrier's rseq fence does. An offline CPU runs no thread; the
//!    vector then runs on the calling CPU with hotplug held off,
//!    serialised with other callers by a mutex.
//!
//! The caller is never migrated and its affinity is left alone. Every
//! pin, alias and budget share is released when the call returns. Where
//! the data cache does not alias, a call takes nothing from the heap: the
//! ABI bounds a vector (`VEC_LEN_MAX` operations of two operands of at
//! most two pages), so fixed-size tables on the stack hold it.

use kernel::{
    alloc::{flags::GFP_KERNEL, KVec},
    cpu::{CpuId, HotplugReadGuard},
    cpu_opv::{
        colour_span, engine, force_vmap, restart_interrupted_rseq, AliasAccount, BudgetGrant,
        OfflineGuard, Pins, Windows, NR_FLAG, OPERAND_PAGES, VEC_LEN_MAX_FLAG,
    },
    page::PAGE_SIZE,
    preempt::PreemptGuard,
    prelude::*,
    smp,
    uaccess::{UserPtr, UserSlice},
    user_pages::{self, pages_spanned, MmapReadGuard, ReadOnly, Writable},
    vmap::Alias,
};

const __LOG_PREFIX: &[u8] = b"cpu_opv\0";

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

/// Copies `n` (1 to `VEC_LEN_MAX`) operations from user space and checks
/// them. Not inlined, so that the copy does not take room on the stack for
/// the rest of the call.
#[inline(never)]
fn copy_vector(ops: UserPtr, n: usize) -> Result<engine::Vector> {
    let mut raw = [engine::RawOp::default(); engine::VEC_LEN_MAX];
    let raw = raw.get_mut(..n).ok_or(EINVAL)?;
    let size = n * core::mem::size_of::<engine::RawOp>();
    let mut reader = UserSlice::new(ops, size).reader();
    for r in raw.iter_mut() {
        *r = reader.read::<engine::RawOp>()?;
    }
    engine::Vector::decode(raw).map_err(|_| EINVAL)
}

/// How many times a call tries to pin its operands before it gives up
/// with `EAGAIN`, faulting them in between tries: a page can lose its
/// mapping or be write-protected again between the two (reclaim,
/// migration, writeback, KSM, a fork that shares it copy-on-write).
const PIN_TRIES: usize = 4;

/// The operands in the order they are pinned: every read first, then
/// every write. A read pin (`FOLL_LONGTERM`) may have to migrate a page
/// out of `ZONE_MOVABLE` or CMA, which fails if this call already holds a
/// write pin on it; taken first, it also leaves a private page unshared
/// and exclusive, so a later write pin of the same page needs no
/// copy-on-write and reaches the same page. Operands are bound by slot,
/// so the order does not matter otherwise.
///
/// Walks the slots by index, twice, rather than chaining iterators over
/// the vector, whose state would take hundreds of bytes of stack.
fn pin_order(v: &engine::Vector) -> impl Iterator<Item = engine::Use> + '_ {
    let ops = v.ops();
    let slots = 2 * ops.len();
    (0..2 * slots).filter_map(move |i| {
        let (writes, slot) = (i >= slots, i.checked_rem(slots)?);
        let u = (*ops.get(slot / 2)?.operands().get(slot % 2)?)?;
        (matches!(u, engine::Use::Write(_)) == writes).then_some(u)
    })
}

/// The user range of an operand.
fn range(o: &engine::Operand) -> Result<(UserPtr, usize)> {
    Ok((usize::try_from(o.addr).map_err(|_| EFAULT)?, o.len as usize))
}

/// Reserves the vmalloc budget for the aliases the vector may need
/// (`vmap_all`) and pins the pages of every operand, each with the access
/// its operation needs, never holding a pin or the budget while something
/// slow is waited for: the budget is waited for first, with nothing held;
/// the mmap lock is then taken without waiting if a share is held
/// (otherwise the share is returned and the lock waited for); the pages
/// are pinned only if present ([`PinnedPages::pin_nofault`]). If one is
/// not, or a read pin could not yet move its page out of a movable zone,
/// the pins and the budget are released, every operand is faulted in, and
/// the call starts over, `PIN_TRIES` times at most, then fails with
/// `EAGAIN`. A fault the operand cannot take is `EFAULT`, or `EAGAIN` if
/// its `expect_fault` byte is set and a touch from user space may help
/// (see [`MmapReadGuard::maps_for`]).
///
/// Fills `pins` (empty) and returns the budget share, which the caller
/// must drop after the pins. On failure `pins` is empty.
///
/// [`PinnedPages::pin_nofault`]: kernel::user_pages::PinnedPages::pin_nofault
fn pin_operands(
    v: &engine::Vector,
    vmap_all: bool,
    span: usize,
    pins: &mut Pins,
) -> Result<Option<BudgetGrant>> {
    // Reserved in one step, so that no caller holds part of the budget
    // while it waits for more (callers would deadlock each other), from
    // the operand addresses, before anything is pinned.
    let need: usize = pin_order(v)
        .map(|u| alias_bytes(u.operand(), vmap_all, span))
        .sum();
    let mut tried = 0;
    loop {
        let grant = if need == 0 {
            None
        } else {
            Some(BudgetGrant::reserve(need)?)
        };
        let mm = match &grant {
            None => Some(MmapReadGuard::lock_current()?),
            Some(_) => MmapReadGuard::try_lock_current()?,
        };
        let Some(mm) = mm else {
            // The lock is contended: return the share, wait for the lock
            // holding nothing, then queue for the budget again. Not a
            // failed try: nothing went missing, and each round waits for
            // the lock, killably.
            drop(grant);
            drop(MmapReadGuard::lock_current()?);
            continue;
        };
        let res = pin_nofault(v, &mm, pins);
        drop(mm);
        if res.is_ok() {
            return Ok(grant);
        }
        // The pins taken go first, then the share, on every path out of
        // here.
        pins.clear();
        drop(grant);
        if let Err(e) = res {
            if e != EFAULT && e != ENOMEM {
                return Err(e);
            }
        }
        tried += 1;
        if tried == PIN_TRIES {
            return Err(EAGAIN);
        }
        fault_in(v)?;
    }
}

/// Pins, into `pins` (empty), every operand whose pages are present, with
/// the caller's mmap lock held (`mm`): `EFAULT` if one is not, `ENOMEM` if
/// a read pin could not move a page out of a movable zone. On failure the
/// pins taken stay in `pins`.
fn pin_nofault(v: &engine::Vector, mm: &MmapReadGuard, pins: &mut Pins) -> Result {
    for u in pin_order(v) {
        pins.pin_nofault(mm, &u)?;
    }
    Ok(())
}

/// Faults in every operand for the access it needs, holding no pin.
#[inline(never)]
fn fault_in(v: &engine::Vector) -> Result {
    for u in pin_order(v) {
        let o = u.operand();
        let (addr, len) = range(o)?;
        let res = match u {
            engine::Use::Read(_) => user_pages::fault_in::<ReadOnly>(addr, len),
            engine::Use::Write(_) => user_pages::fault_in::<Writable>(addr, len),
        };
        if let Err(e) = res {
            // `EAGAIN` asks the caller to touch the operand and try again,
            // which helps only where that touch can change something:
            // memory user space reaches but the kernel cannot pin
            // (`[vvar]`) stays `EFAULT`, or the caller would retry forever.
            if e == EFAULT && o.expect_fault && !mapped_for(u, addr, len)? {
                return Err(EAGAIN);
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Whether user space reaches `[addr, addr + len)` for the access `u`
/// makes where a touch would not help the kernel (see
/// [`MmapReadGuard::maps_for`]).
fn mapped_for(u: engine::Use, addr: UserPtr, len: usize) -> Result<bool> {
    let mm = MmapReadGuard::lock_current()?;
    Ok(match u {
        engine::Use::Read(_) => mm.maps_for::<ReadOnly>(addr, len),
        engine::Use::Write(_) => mm.maps_for::<Writable>(addr, len),
    })
}

/// The vmalloc space an operand's alias takes, guard page included, known
/// before it is pinned: none unless `vmap_all` (every operand gets one).
fn alias_bytes(o: &engine::Operand, vmap_all: bool, span: usize) -> usize {
    let pages = range(o)
        .ok()
        .and_then(|(addr, len)| pages_spanned(addr, len))
        .unwrap_or(0);
    if pages == 0 || !vmap_all {
        return 0;
    }
    Alias::<OPERAND_PAGES, ReadOnly>::area_size(pages, span) + PAGE_SIZE
}

/// The vmalloc alias of one operand's pin.
enum Mapping<'a> {
    Read(Alias<'a, OPERAND_PAGES, ReadOnly>),
    Write(Alias<'a, OPERAND_PAGES, Writable>),
}

/// An alias and the count of its vmalloc space, which the field order
/// drops after the alias is freed.
struct Mapped<'a> {
    view: Mapping<'a>,
    _account: AliasAccount,
}

/// Maps the pin of operand `u` into the kernel through a vmalloc alias at
/// colour span `span`.
fn map<'a>(pins: &'a Pins, u: &engine::Use, span: usize) -> Result<Mapped<'a>> {
    let view = match u {
        engine::Use::Read(s) => Mapping::Read(Alias::new(pins.read_pin(s).ok_or(EFAULT)?, span)?),
        engine::Use::Write(d) => {
            Mapping::Write(Alias::new(pins.write_pin(d).ok_or(EFAULT)?, span)?)
        }
    };
    let vm_bytes = match &view {
        Mapping::Read(a) => a.vm_bytes(),
        Mapping::Write(a) => a.vm_bytes(),
    };
    Ok(Mapped {
        view,
        _account: AliasAccount::new(vm_bytes),
    })
}

/// Binds operand `u` to its alias `m`.
fn bind_alias<'a>(windows: &mut Windows<'a>, u: &engine::Use, m: &'a Mapped<'a>) -> Result {
    match (u, &m.view) {
        (engine::Use::Read(s), Mapping::Read(a)) => windows.bind_read(s, a),
        (engine::Use::Write(d), Mapping::Write(a)) => windows.bind_write(d, a),
        _ => Err(EINVAL),
    }
}

/// Runs the checked vector on `cpu` against `mem`.
fn run_on(cpu: CpuId, v: &engine::Vector, mem: &mut Windows<'_>) -> Result<usize> {
    let _hotplug = HotplugReadGuard::lock();
    // The caller may have slept since the check at entry; its affinity
    // may have changed meanwhile.
    if !cpu.in_current_affinity() {
        return Err(EINVAL);
    }
    if !cpu.is_online() {
        // No thread runs on an offline CPU: its data is shared only with
        // other cpu_opv callers, which this lock serialises. Taking it may
        // have slept, but the hotplug lock kept the CPU from coming up.
        let _offline = OfflineGuard::lock()?;
        if !cpu.is_online() {
            let _preempt = PreemptGuard::disable();
            return Ok(engine::run(v, mem));
        }
    }
    let mut res = 0;
    smp::call_on(cpu, &mut || {
        res = engine::run(v, mem);
        // The thread this interrupted may be inside an rseq critical
        // section that reads what the vector just changed: restart it.
        restart_interrupted_rseq();
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
    // Only where the caller may run: an isolated or nohz_full CPU outside
    // its affinity is not its to disturb. An offline CPU in the mask is.
    if !cpu.in_current_affinity() {
        return Err(EINVAL);
    }
    // Borrowed, not moved out of the result: a move would be another copy
    // of the vector on the stack.
    let decoded = copy_vector(ops, n);
    let v = decoded.as_ref().map_err(|e| *e)?;

    // Where the data cache aliases, the direct map of a page may sit at
    // another colour than the user mapping: every operand then goes
    // through an alias at the user address's colour.
    let vmap_all = force_vmap() || kernel::vmap::colour_span() > PAGE_SIZE;
    let span = colour_span();
    // Declared in this order so that the pins are dropped first, then the
    // budget share.
    let _grant;
    let mut pins = Pins::new();
    _grant = pin_operands(v, vmap_all, span, &mut pins)?;
    run_pinned(cpu, v, &pins, vmap_all, span)
}

/// Runs the vector `v`, whose operands `pins` holds, on `cpu`: through
/// local mappings of the pins, or through vmalloc aliases if `vmap_all`.
/// Not inlined: its frame is not on the stack while operands are pinned
/// or faulted in.
#[inline(never)]
fn run_pinned(
    cpu: CpuId,
    v: &engine::Vector,
    pins: &Pins,
    vmap_all: bool,
    span: usize,
) -> Result<usize> {
    let mut maps = KVec::new();
    let mut windows = if vmap_all {
        maps.reserve(v.operands().count(), GFP_KERNEL)?;
        for u in v.operands() {
            maps.push(map(pins, &u, span)?, GFP_KERNEL)?;
        }
        let mut w = Windows::views()?;
        for (u, m) in v.operands().zip(maps.iter()) {
            bind_alias(&mut w, &u, m)?;
        }
        w
    } else {
        Windows::pins(pins)
    };
    if !windows.covers(v) {
        pr_warn!("vector operand left unbound\n");
        return Err(EFAULT);
    }

    let res = run_on(cpu, v, &mut windows)?;
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
/// `EINVAL` (bad vector or flags, or a CPU that does not exist or is
/// outside the caller's affinity mask), `EFAULT` (an operand or the
/// vector is not accessible as the operation needs), `EAGAIN` (such an
/// operand had `expect_fault` set and a touch from user space may help,
/// or its pages kept going missing between fault-in and pin), `ENOMEM`,
/// or `EINTR` (a fatal signal while waiting, before any operation ran).
#[no_mangle]
pub extern "C" fn do_cpu_opv(ops: UserPtr, opcnt: i32, cpu: i32, flags: i32) -> core::ffi::c_long {
    match cpu_opv(ops, opcnt, cpu, flags) {
        Ok(k) => k as core::ffi::c_long,
        Err(e) => e.to_errno() as core::ffi::c_long,
    }
}
