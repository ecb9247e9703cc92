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
//! 2. Take the caller's mmap lock, reserve from a global budget the
//!    vmalloc space the vector's aliases (step 3) may need, and pin the
//!    pages of every operand, for writing where the operation writes, so
//!    that they can be neither unmapped nor swapped out. Each operand has
//!    its own pin, even where operands share an address: a read pin may
//!    reach pages the caller must not write (the zero page, the page
//!    cache behind a private file mapping), so only the operand's own
//!    write pin may ever be stored through. The lock is taken with
//!    nothing held, and the budget share without waiting, under it; if
//!    the budget is short, the lock is dropped and the budget waited for
//!    with nothing held. Pages are pinned only when present; if one is
//!    not, the pins and the budget share are released and the operands
//!    faulted in before trying again. So no pin and no budget share is
//!    held while a fault is handled (it may wait for I/O, a userfaultfd
//!    or FUSE server), the mmap lock or the budget waited for.
//! 3. Reach each operand through a kernel mapping of its own pin: the
//!    direct map when it lies in one lowmem page, otherwise a vmalloc
//!    alias at the user address's cache colour (read-only for a read pin).
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
    cpu::{CpuId, HotplugReadGuard},
    cpu_opv::{
        colour_span, engine, force_vmap, restart_interrupted_rseq, AliasAccount, BudgetGrant,
        DirectRead, DirectWrite, OfflineGuard, Windows, NR_FLAG, VEC_LEN_MAX_FLAG,
    },
    page::PAGE_SIZE,
    preempt::PreemptGuard,
    prelude::*,
    smp,
    uaccess::{UserPtr, UserSlice},
    user_pages::{self, pages_spanned, MmapReadGuard, PinnedPages, ReadOnly, Writable},
    vmap::Alias,
};

const __LOG_PREFIX: &[u8] = b"cpu_opv\0";

/// An operand of at most `DATA_LEN_MAX` (one page) bytes spans at most
/// two pages.
const OPERAND_PAGES: usize = 2;

type ReadPin = PinnedPages<OPERAND_PAGES, ReadOnly>;
type WritePin = PinnedPages<OPERAND_PAGES, Writable>;

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

/// The pages pinned for one operand, with the access its operation needs.
enum Pin {
    Read(engine::Src, ReadPin),
    Write(engine::Dst, WritePin),
}

impl Pin {
    /// Whether the operand must be reached through a vmalloc alias: it
    /// crosses a page or lies in highmem, or `vmap_all` asks for it (the
    /// data cache aliases, or debugfs forces aliases).
    fn needs_alias(&self, vmap_all: bool) -> bool {
        vmap_all
            || !match self {
                Pin::Read(_, p) => p.has_direct_address(),
                Pin::Write(_, p) => p.has_direct_address(),
            }
    }
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
fn pin_order(v: &engine::Vector) -> impl Iterator<Item = engine::Use> + '_ {
    let reads = v.operands().filter(|u| matches!(u, engine::Use::Read(_)));
    let writes = v.operands().filter(|u| matches!(u, engine::Use::Write(_)));
    Iterator::chain(reads, writes)
}

/// The user range of an operand.
fn range(o: &engine::Operand) -> Result<(UserPtr, usize)> {
    Ok((usize::try_from(o.addr).map_err(|_| EFAULT)?, o.len as usize))
}

/// The pins of every operand of a vector and the budget share of their
/// aliases. The fields drop in order: the pins, then the share.
struct Pinned {
    pins: KVec<Pin>,
    _grant: Option<BudgetGrant>,
}

/// Reserves the vmalloc budget for the aliases the vector may need and
/// pins the pages of every operand, each with the access its operation
/// needs, never holding a pin or the budget while something slow is
/// waited for: the mmap lock is taken first, with nothing held; the
/// budget share is taken under it only if free (otherwise the lock is
/// dropped and the budget waited for); the pages are pinned only if
/// present ([`PinnedPages::pin_nofault`]). If one is not, or a read pin
/// could not yet move its page out of a movable zone, the pins and the
/// budget are released, every operand is faulted in, and the call starts
/// over, `PIN_TRIES` times at most, then fails with `EAGAIN`. A fault the
/// operand cannot take is `EFAULT`, or `EAGAIN` if its `expect_fault`
/// byte is set and a touch from user space may help (see
/// [`MmapReadGuard::maps_for`]).
fn pin_operands(v: &engine::Vector, vmap_all: bool, span: usize) -> Result<Pinned> {
    // Reserved in one step, so that no caller holds part of the budget
    // while it waits for more (callers would deadlock each other), from
    // the operand addresses, before anything is pinned.
    let need: usize = v
        .operands()
        .map(|u| alias_bytes(u.operand(), vmap_all, span))
        .sum();
    // Room for every pin: pushing never allocates, so that `ENOMEM`
    // below can only come from pinning.
    let count = v.operands().count();
    let mut pins = KVec::with_capacity(count, GFP_KERNEL)?;
    let mut tried = 0;
    loop {
        let mm = MmapReadGuard::lock_current()?;
        let grant = if need == 0 {
            None
        } else if let Some(g) = BudgetGrant::try_reserve(need)? {
            Some(g)
        } else {
            drop(mm);
            BudgetGrant::wait_for(need)?;
            continue;
        };
        let res = pin_nofault(v, &mm, &mut pins);
        drop(mm);
        match res {
            Ok(()) => {
                return Ok(Pinned {
                    pins,
                    _grant: grant,
                })
            }
            Err(e) => {
                // The pins taken go first, then the share, on every path
                // out of here.
                drop(pins);
                drop(grant);
                if e != EFAULT && e != ENOMEM {
                    return Err(e);
                }
                // 6.12's KVec has no clear(): take a new one.
                pins = KVec::with_capacity(count, GFP_KERNEL)?;
            }
        }
        tried += 1;
        if tried == PIN_TRIES {
            return Err(EAGAIN);
        }
        fault_in(v)?;
    }
}

/// Pins, into `pins` (empty, with room for every operand), every operand
/// whose pages are present, with the caller's mmap lock held (`mm`):
/// `EFAULT` if one is not, `ENOMEM` if a read pin could not move a page
/// out of a movable zone. On failure the pins taken stay in `pins`.
fn pin_nofault(v: &engine::Vector, mm: &MmapReadGuard, pins: &mut KVec<Pin>) -> Result {
    for u in pin_order(v) {
        let (addr, len) = range(u.operand())?;
        let pin = match u {
            engine::Use::Read(s) => Pin::Read(s, ReadPin::pin_nofault(mm, addr, len)?),
            engine::Use::Write(d) => Pin::Write(d, WritePin::pin_nofault(mm, addr, len)?),
        };
        pins.push(pin, GFP_KERNEL)?;
    }
    Ok(())
}

/// Faults in every operand for the access it needs, holding no pin.
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

/// The vmalloc space an operand's alias may take, guard page included,
/// known before it is pinned: an operand needs an alias if it crosses a
/// page, if it may lie in highmem, or if `vmap_all` asks for one.
fn alias_bytes(o: &engine::Operand, vmap_all: bool, span: usize) -> usize {
    let pages = range(o)
        .ok()
        .and_then(|(addr, len)| pages_spanned(addr, len))
        .unwrap_or(0);
    if pages == 0 || !(vmap_all || pages > 1 || cfg!(CONFIG_HIGHMEM)) {
        return 0;
    }
    Alias::<OPERAND_PAGES, ReadOnly>::area_size(pages, span) + PAGE_SIZE
}

/// The kernel mapping of one operand's pin.
enum Mapping<'a> {
    DirectRead(DirectRead<'a, OPERAND_PAGES, ReadOnly>),
    DirectWrite(DirectWrite<'a, OPERAND_PAGES>),
    AliasRead(Alias<'a, OPERAND_PAGES, ReadOnly>),
    AliasWrite(Alias<'a, OPERAND_PAGES, Writable>),
}

/// A mapping and, for an alias, the count of its vmalloc space, which the
/// field order drops after the alias is freed.
struct Mapped<'a> {
    view: Mapping<'a>,
    _account: Option<AliasAccount>,
}

/// Maps `pin` into the kernel: directly unless `alias`, else through a
/// vmalloc alias at colour span `span`.
fn map(pin: &Pin, alias: bool, span: usize) -> Result<Mapped<'_>> {
    let view = match pin {
        Pin::Read(_, p) => match DirectRead::new(p).filter(|_| !alias) {
            Some(d) => Mapping::DirectRead(d),
            None => Mapping::AliasRead(Alias::new(p, span)?),
        },
        Pin::Write(_, p) => match DirectWrite::new(p).filter(|_| !alias) {
            Some(d) => Mapping::DirectWrite(d),
            None => Mapping::AliasWrite(Alias::new(p, span)?),
        },
    };
    let vm_bytes = match &view {
        Mapping::AliasRead(a) => Some(a.vm_bytes()),
        Mapping::AliasWrite(a) => Some(a.vm_bytes()),
        _ => None,
    };
    Ok(Mapped {
        view,
        _account: vm_bytes.map(AliasAccount::new),
    })
}

/// Binds the operand of `pin` to its mapping `m`.
fn bind<'a>(windows: &mut Windows<'a>, pin: &Pin, m: &'a Mapped<'a>) -> Result {
    match (pin, &m.view) {
        (Pin::Read(s, _), Mapping::DirectRead(d)) => windows.bind_read(s, d),
        (Pin::Read(s, _), Mapping::AliasRead(a)) => windows.bind_read(s, a),
        (Pin::Write(d, _), Mapping::DirectWrite(w)) => windows.bind_write(d, w),
        (Pin::Write(d, _), Mapping::AliasWrite(a)) => windows.bind_write(d, a),
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
    let raw = copy_ops(ops, n)?;
    let v = engine::Vector::decode(&raw).map_err(|_| EINVAL)?;

    // Where the data cache aliases, the direct map of a page may sit at
    // another colour than the user mapping: every operand then goes
    // through an alias at the user address's colour.
    let vmap_all = force_vmap() || kernel::vmap::colour_span() > PAGE_SIZE;
    let span = colour_span();
    let held = pin_operands(&v, vmap_all, span)?;
    let pins = &held.pins;
    let mut maps = KVec::with_capacity(pins.len(), GFP_KERNEL)?;
    for p in pins.iter() {
        maps.push(map(p, p.needs_alias(vmap_all), span)?, GFP_KERNEL)?;
    }
    let mut windows = Windows::new();
    for (p, m) in pins.iter().zip(maps.iter()) {
        bind(&mut windows, p, m)?;
    }
    if !windows.covers(&v) {
        pr_warn!("vector operand left unbound\n");
        return Err(EFAULT);
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
