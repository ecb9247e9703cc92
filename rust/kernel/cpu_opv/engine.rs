// SPDX-License-Identifier: GPL-2.0

//! The cpu_opv operation engine: decoding and checking a vector of
//! `struct cpu_op`, and running it on memory reached through [`Memory`].
//!
//! Nothing here touches user memory or depends on how the operands are
//! mapped, so every rule (operation types, lengths, alignment, shift
//! widths, the vector limits) and every operation's effect can be tested
//! on plain byte arrays.
//!
//! Each operand of a vector has its own slot (its position in the
//! vector), and is either a [`Src`], which the operation only reads, or
//! a [`Dst`], which it writes. Only [`Vector::decode`] makes them, and
//! [`Memory`] stores only through a [`Dst`]: an implementation binds
//! each slot to the memory pinned for that operand alone, never by
//! looking the address up, so that a store cannot reach memory that was
//! pinned for another operand or only for reading.

/// At most this many operations in one vector (`CPU_OP_VEC_LEN_MAX`).
pub const VEC_LEN_MAX: usize = 16;
/// Largest `len` of a compare or memcpy operation (`CPU_OP_DATA_LEN_MAX`).
pub const DATA_LEN_MAX: u32 = 4096;
/// Largest `len` of an add, bitwise or shift operation
/// (`CPU_OP_ARITHMETIC_DATA_LEN_MAX`).
pub const ARITHMETIC_DATA_LEN_MAX: u32 = 8;
/// Largest sum of the `len` of a vector's operations
/// (`CPU_OP_VEC_DATA_LEN_MAX`): one maximal copy and fifteen words.
pub const VEC_DATA_LEN_MAX: u32 = DATA_LEN_MAX + (VEC_LEN_MAX as u32 - 1) * ARITHMETIC_DATA_LEN_MAX;
/// Number of operation types (`NR_CPU_OPS`).
pub const NR_OPS: usize = 12;
/// Size of the operation-specific part of `struct cpu_op`.
pub const ARG_LEN: usize = 24;
/// At most this many operands in one vector: two per operation.
pub const OPERANDS_MAX: usize = 2 * VEC_LEN_MAX;

/// Operation types (`enum cpu_op_type`), in the order of the UAPI header.
pub mod op {
    /// `CPU_COMPARE_EQ_OP`.
    pub const COMPARE_EQ: i32 = 0;
    /// `CPU_COMPARE_NE_OP`.
    pub const COMPARE_NE: i32 = 1;
    /// `CPU_MEMCPY_OP`.
    pub const MEMCPY: i32 = 2;
    /// `CPU_MEMCPY_RELEASE_OP`.
    pub const MEMCPY_RELEASE: i32 = 3;
    /// `CPU_ADD_OP`.
    pub const ADD: i32 = 4;
    /// `CPU_ADD_RELEASE_OP`.
    pub const ADD_RELEASE: i32 = 5;
    /// `CPU_OR_OP`.
    pub const OR: i32 = 6;
    /// `CPU_AND_OP`.
    pub const AND: i32 = 7;
    /// `CPU_XOR_OP`.
    pub const XOR: i32 = 8;
    /// `CPU_LSHIFT_OP`.
    pub const LSHIFT: i32 = 9;
    /// `CPU_RSHIFT_OP`.
    pub const RSHIFT: i32 = 10;
    /// `CPU_MB_OP`.
    pub const MB: i32 = 11;
}

/// Byte offsets of the arguments in the 24-byte union of `struct cpu_op`.
pub mod arg {
    /// `compare_op.a`, `memcpy_op.dst`, and `p` of the one-operand types.
    pub const FIRST: usize = 0;
    /// `compare_op.b`, `memcpy_op.src`, `arithmetic_op.count`,
    /// `bitwise_op.mask` and `shift_op.bits`.
    pub const SECOND: usize = 8;
    /// `expect_fault_a`/`_dst`, and `expect_fault_p` of add and bitwise.
    pub const FAULT_FIRST: usize = 16;
    /// `expect_fault_b`/`_src`.
    pub const FAULT_SECOND: usize = 17;
    /// `shift_op.expect_fault_p`, which follows the 4-byte `bits`.
    pub const SHIFT_FAULT: usize = 12;
}

/// `struct cpu_op` as user space lays it out: the operation type, the
/// operand length, and the 24-byte union of per-type arguments.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawOp {
    /// `enum cpu_op_type`.
    pub op: i32,
    /// Operand length in bytes.
    pub len: u32,
    /// The union, decoded by [`RawOp::decode`].
    pub args: [u8; ARG_LEN],
}

/// Why a vector was refused (`EINVAL` for user space).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// Unknown operation type.
    Type,
    /// `len` out of range for the operation type.
    Len,
    /// An add, bitwise or shift operand is not naturally aligned.
    Align,
    /// A shift by as many bits as the operand has, or more.
    Shift,
    /// An `expect_fault` byte other than 0 or 1.
    ExpectFault,
    /// No operation, or more than [`VEC_LEN_MAX`].
    Count,
    /// The lengths add up to more than [`VEC_DATA_LEN_MAX`].
    TotalLen,
    /// An operand range runs past the top of the 64-bit address space.
    Wrap,
}

/// The bitwise operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitOp {
    /// `CPU_OR_OP`.
    Or,
    /// `CPU_AND_OP`.
    And,
    /// `CPU_XOR_OP`.
    Xor,
}

/// One user memory range an operation reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operand {
    /// User address.
    pub addr: u64,
    /// Length in bytes (at least 1).
    pub len: u32,
    /// Whether a fault on it means "retry" (`EAGAIN`) rather than `EFAULT`.
    pub expect_fault: bool,
    /// The operand's position in the vector: `2 * i` for the first
    /// operand of operation `i`, `2 * i + 1` for its second; below
    /// [`OPERANDS_MAX`].
    pub slot: usize,
}

impl Operand {
    /// Whether the operand is an integer of 1, 2, 4 or 8 bytes at an
    /// address aligned to its size, which the kernel accesses in one load
    /// or store, so that another CPU sees either all of it or none.
    pub fn is_word(&self) -> bool {
        matches!(self.len, 1 | 2 | 4 | 8) && self.addr % u64::from(self.len) == 0
    }
}

/// An operand that its operation only reads. Made only by
/// [`Vector::decode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Src(Operand);

/// An operand that its operation writes (and may read first). Made only
/// by [`Vector::decode`]: memory bound to it must be writable by the
/// caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dst(Operand);

impl Src {
    /// The operand.
    pub fn operand(&self) -> &Operand {
        &self.0
    }
}

impl Dst {
    /// The operand.
    pub fn operand(&self) -> &Operand {
        &self.0
    }
}

/// An operand with the access its operation needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// Read only.
    Read(Src),
    /// Written.
    Write(Dst),
}

impl Use {
    /// The operand.
    pub fn operand(&self) -> &Operand {
        match self {
            Use::Read(s) => s.operand(),
            Use::Write(d) => d.operand(),
        }
    }
}

/// A checked operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Compare `a` and `b`; the vector stops when the outcome is not the
    /// expected one (`equal`).
    Compare {
        /// First operand.
        a: Src,
        /// Second operand.
        b: Src,
        /// `CPU_COMPARE_EQ_OP` (continue when equal) or `_NE_`.
        equal: bool,
    },
    /// Copy `src` to `dst`.
    Memcpy {
        /// Destination.
        dst: Dst,
        /// Source.
        src: Src,
        /// Whether every store of the copy is ordered after every access
        /// of the earlier operations (release semantics).
        release: bool,
    },
    /// Add `count` to the integer at `p`, wrapping at its width.
    Add {
        /// The integer.
        p: Dst,
        /// What to add.
        count: i64,
        /// Whether the store is a store-release.
        release: bool,
    },
    /// Combine `mask` into the integer at `p`.
    Bitwise {
        /// The integer.
        p: Dst,
        /// The mask, truncated to the integer's width.
        mask: u64,
        /// Which operation.
        op: BitOp,
    },
    /// Shift the integer at `p` by `bits` (logical shift).
    Shift {
        /// The integer.
        p: Dst,
        /// Less than the integer's width in bits.
        bits: u32,
        /// Left or right.
        left: bool,
    },
    /// A full memory barrier.
    Mb,
}

fn u64_at(args: &[u8; ARG_LEN], off: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&args[off..off + 8]);
    u64::from_ne_bytes(b)
}

fn u32_at(args: &[u8; ARG_LEN], off: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&args[off..off + 4]);
    u32::from_ne_bytes(b)
}

fn flag(byte: u8) -> Result<bool, Invalid> {
    match byte {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(Invalid::ExpectFault),
    }
}

impl RawOp {
    /// An operation with `first` and `second` at the union's first two
    /// 8-byte fields and the two `expect_fault` bytes after them: the
    /// layout of compare, memcpy, add and bitwise operations.
    pub fn new(op: i32, len: u32, first: u64, second: u64, faults: [u8; 2]) -> Self {
        let mut args = [0u8; ARG_LEN];
        args[arg::FIRST..arg::FIRST + 8].copy_from_slice(&first.to_ne_bytes());
        args[arg::SECOND..arg::SECOND + 8].copy_from_slice(&second.to_ne_bytes());
        args[arg::FAULT_FIRST] = faults[0];
        args[arg::FAULT_SECOND] = faults[1];
        RawOp { op, len, args }
    }

    /// A shift operation: `shift_op` has a 4-byte `bits` and its
    /// `expect_fault_p` right after it.
    pub fn shift(op: i32, len: u32, p: u64, bits: u32, fault: u8) -> Self {
        let mut args = [0u8; ARG_LEN];
        args[arg::FIRST..arg::FIRST + 8].copy_from_slice(&p.to_ne_bytes());
        args[arg::SECOND..arg::SECOND + 4].copy_from_slice(&bits.to_ne_bytes());
        args[arg::SHIFT_FAULT] = fault;
        RawOp { op, len, args }
    }

    /// Checks the operation and decodes its arguments, for the operation
    /// at position `index` of its vector (which numbers its operands'
    /// slots).
    pub fn decode(&self, index: usize) -> Result<Op, Invalid> {
        let a = &self.args;
        let len = self.len;
        let data = |addr_off: usize, fault_off: usize, second: bool| -> Result<Operand, Invalid> {
            let addr = u64_at(a, addr_off);
            // `len` is at least 1 here: each caller checked it.
            if addr.checked_add(u64::from(len.saturating_sub(1))).is_none() {
                return Err(Invalid::Wrap);
            }
            Ok(Operand {
                addr,
                len,
                expect_fault: flag(a[fault_off])?,
                slot: 2 * index + usize::from(second),
            })
        };
        // Add, bitwise and shift: one naturally aligned integer at offset
        // 0, which the operation writes.
        let word = |fault_off: usize| -> Result<Dst, Invalid> {
            if !matches!(len, 1 | 2 | 4 | 8) {
                return Err(Invalid::Len);
            }
            let p = data(arg::FIRST, fault_off, false)?;
            if !p.is_word() {
                return Err(Invalid::Align);
            }
            Ok(Dst(p))
        };
        // Compare and memcpy: two byte ranges at offsets 0 and 8.
        let ranges = || -> Result<(Operand, Operand), Invalid> {
            if len == 0 || len > DATA_LEN_MAX {
                return Err(Invalid::Len);
            }
            Ok((
                data(arg::FIRST, arg::FAULT_FIRST, false)?,
                data(arg::SECOND, arg::FAULT_SECOND, true)?,
            ))
        };
        let op = match self.op {
            op::COMPARE_EQ | op::COMPARE_NE => {
                let (a, b) = ranges()?;
                Op::Compare {
                    a: Src(a),
                    b: Src(b),
                    equal: self.op == op::COMPARE_EQ,
                }
            }
            op::MEMCPY | op::MEMCPY_RELEASE => {
                let (dst, src) = ranges()?;
                Op::Memcpy {
                    dst: Dst(dst),
                    src: Src(src),
                    release: self.op == op::MEMCPY_RELEASE,
                }
            }
            op::ADD | op::ADD_RELEASE => Op::Add {
                p: word(arg::FAULT_FIRST)?,
                count: u64_at(a, arg::SECOND) as i64,
                release: self.op == op::ADD_RELEASE,
            },
            op::OR | op::AND | op::XOR => Op::Bitwise {
                p: word(arg::FAULT_FIRST)?,
                mask: u64_at(a, arg::SECOND),
                op: match self.op {
                    op::OR => BitOp::Or,
                    op::AND => BitOp::And,
                    _ => BitOp::Xor,
                },
            },
            op::LSHIFT | op::RSHIFT => {
                let p = word(arg::SHIFT_FAULT)?;
                let bits = u32_at(a, arg::SECOND);
                if bits >= 8 * len {
                    return Err(Invalid::Shift);
                }
                Op::Shift {
                    p,
                    bits,
                    left: self.op == op::LSHIFT,
                }
            }
            op::MB => {
                if len != 0 {
                    return Err(Invalid::Len);
                }
                Op::Mb
            }
            _ => return Err(Invalid::Type),
        };
        Ok(op)
    }
}

impl Op {
    /// The operand length of the operation (0 for a barrier).
    pub fn data_len(&self) -> u32 {
        match self {
            Op::Compare { a, .. } => a.0.len,
            Op::Memcpy { dst, .. } => dst.0.len,
            Op::Add { p, .. } | Op::Bitwise { p, .. } | Op::Shift { p, .. } => p.0.len,
            Op::Mb => 0,
        }
    }

    /// The memory the operation touches, at most two ranges, each with
    /// the access it needs; a written operand comes before one that is
    /// only read.
    pub fn operands(&self) -> [Option<Use>; 2] {
        match *self {
            Op::Compare { a, b, .. } => [Some(Use::Read(a)), Some(Use::Read(b))],
            Op::Memcpy { dst, src, .. } => [Some(Use::Write(dst)), Some(Use::Read(src))],
            Op::Add { p, .. } | Op::Bitwise { p, .. } | Op::Shift { p, .. } => {
                [Some(Use::Write(p)), None]
            }
            Op::Mb => [None, None],
        }
    }
}

/// A checked vector of operations.
#[derive(Clone, Copy, Debug)]
pub struct Vector {
    ops: [Op; VEC_LEN_MAX],
    count: usize,
}

impl Vector {
    /// Checks every operation of `raw` and the vector's limits.
    ///
    /// # Examples
    ///
    /// Every length and alignment rule, and every limit plus one:
    ///
    /// ```
    /// use kernel::cpu_opv::engine::{op, Invalid, RawOp, Vector, VEC_LEN_MAX};
    ///
    /// let one = |r: RawOp| Vector::decode(&[r]).map(|_| ());
    /// for len in 0..=9u32 {
    ///     let word = matches!(len, 1 | 2 | 4 | 8);
    ///     for o in [op::ADD, op::ADD_RELEASE, op::OR, op::AND, op::XOR] {
    ///         let res = one(RawOp::new(o, len, 64, 1, [0, 0]));
    ///         assert_eq!(res.is_ok(), word);
    ///         if word && len > 1 {
    ///             // Misaligned by one byte.
    ///             assert_eq!(one(RawOp::new(o, len, 65, 1, [0, 0])), Err(Invalid::Align));
    ///         }
    ///     }
    ///     for o in [op::LSHIFT, op::RSHIFT] {
    ///         assert_eq!(one(RawOp::shift(o, len, 64, 0, 0)).is_ok(), word);
    ///         if word {
    ///             assert!(one(RawOp::shift(o, len, 64, 8 * len - 1, 0)).is_ok());
    ///             assert_eq!(one(RawOp::shift(o, len, 64, 8 * len, 0)), Err(Invalid::Shift));
    ///         }
    ///     }
    /// }
    /// for o in [op::COMPARE_EQ, op::COMPARE_NE, op::MEMCPY, op::MEMCPY_RELEASE] {
    ///     assert_eq!(one(RawOp::new(o, 0, 1, 2, [0, 0])), Err(Invalid::Len));
    ///     assert!(one(RawOp::new(o, 1, 1, 2, [0, 0])).is_ok());
    ///     assert!(one(RawOp::new(o, 4096, 1, 2, [1, 1])).is_ok());
    ///     assert_eq!(one(RawOp::new(o, 4097, 1, 2, [0, 0])), Err(Invalid::Len));
    ///     assert_eq!(one(RawOp::new(o, 8, 1, 2, [2, 0])), Err(Invalid::ExpectFault));
    ///     assert_eq!(one(RawOp::new(o, 8, 1, 2, [0, 2])), Err(Invalid::ExpectFault));
    ///     // A range may end at the last byte, not past it, on either side.
    ///     assert!(one(RawOp::new(o, 8, u64::MAX - 7, u64::MAX - 7, [0, 0])).is_ok());
    ///     assert_eq!(one(RawOp::new(o, 9, u64::MAX - 7, 2, [0, 0])), Err(Invalid::Wrap));
    ///     assert_eq!(one(RawOp::new(o, 9, 1, u64::MAX - 7, [0, 0])), Err(Invalid::Wrap));
    /// }
    /// assert!(one(RawOp::new(op::MB, 0, 0, 0, [0, 0])).is_ok());
    /// assert_eq!(one(RawOp::new(op::MB, 1, 0, 0, [0, 0])), Err(Invalid::Len));
    /// assert_eq!(one(RawOp::new(12, 8, 64, 0, [0, 0])), Err(Invalid::Type));
    /// assert_eq!(one(RawOp::new(-1, 8, 64, 0, [0, 0])), Err(Invalid::Type));
    ///
    /// // Counts, and the total operand length: 4096 + 15 * 8 bytes at most.
    /// let add = RawOp::new(op::ADD, 8, 64, 1, [0, 0]);
    /// assert!(Vector::decode(&[add; VEC_LEN_MAX]).is_ok());
    /// assert_eq!(Vector::decode(&[add; VEC_LEN_MAX + 1]).err(), Some(Invalid::Count));
    /// assert_eq!(Vector::decode(&[]).err(), Some(Invalid::Count));
    /// let mut v = [add; VEC_LEN_MAX];
    /// v[0] = RawOp::new(op::MEMCPY, 4096, 1, 2, [0, 0]);
    /// assert!(Vector::decode(&v).is_ok());
    /// v[1] = RawOp::new(op::COMPARE_EQ, 9, 1, 2, [0, 0]);
    /// assert_eq!(Vector::decode(&v).err(), Some(Invalid::TotalLen));
    /// ```
    pub fn decode(raw: &[RawOp]) -> Result<Vector, Invalid> {
        if raw.is_empty() || raw.len() > VEC_LEN_MAX {
            return Err(Invalid::Count);
        }
        let mut v = Vector {
            ops: [Op::Mb; VEC_LEN_MAX],
            count: raw.len(),
        };
        let mut total: u32 = 0;
        for (i, (slot, r)) in v.ops.iter_mut().zip(raw).enumerate() {
            *slot = r.decode(i)?;
            // Each len is at most DATA_LEN_MAX and there are at most 16
            // of them: the sum cannot overflow.
            total += slot.data_len();
        }
        if total > VEC_DATA_LEN_MAX {
            return Err(Invalid::TotalLen);
        }
        Ok(v)
    }

    /// The operations, in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops[..self.count]
    }

    /// Every operand of every operation, in order, with its access.
    pub fn operands(&self) -> impl Iterator<Item = Use> + '_ {
        self.ops().iter().flat_map(|op| op.operands()).flatten()
    }
}

/// Access to the operands while the vector runs, each through the memory
/// bound to its slot (kernel mappings of the pages pinned for that
/// operand in the system call, a byte array in tests). Every operand has
/// been checked and made accessible beforehand; none of these may fail.
pub trait Memory {
    /// Whether the bytes of `a` and `b` (of equal length) are equal.
    fn equal(&self, a: &Src, b: &Src) -> bool;
    /// Copies the bytes of `src` to `dst` (of equal length); they may
    /// overlap.
    fn copy(&mut self, dst: &Dst, src: &Src);
    /// Loads the operand, a word (see [`Operand::is_word`]), in one
    /// access.
    fn load(&self, src: &Src) -> u64;
    /// Loads the operand, a word, in one access, before the operation
    /// stores it.
    fn load_dst(&self, dst: &Dst) -> u64;
    /// Stores the low bytes of `val` into the operand, a word, in one
    /// access.
    fn store(&mut self, dst: &Dst, val: u64);
    /// Orders every earlier access before every later store.
    fn release_fence(&self);
    /// Orders every earlier access before every later access.
    fn full_fence(&self);
}

fn truncate(val: u64, len: u32) -> u64 {
    if len >= 8 {
        val
    } else {
        val & ((1u64 << (8 * len)) - 1)
    }
}

/// A [`Memory`] over a byte slice, where address `a` is byte `a` of the
/// slice: for tests of the engine on kernel memory. An access outside the
/// slice reads as unequal or zero and writes nothing.
pub struct ByteMemory<'a>(pub &'a mut [u8]);

impl ByteMemory<'_> {
    fn range(&self, o: &Operand) -> Option<core::ops::Range<usize>> {
        let start = usize::try_from(o.addr).ok()?;
        let end = start.checked_add(o.len as usize)?;
        (end <= self.0.len()).then_some(start..end)
    }

    fn load_at(&self, o: &Operand) -> u64 {
        let mut b = [0u8; 8];
        if let Some(r) = self.range(o) {
            b[..r.len()].copy_from_slice(&self.0[r]);
        }
        u64::from_le_bytes(b)
    }
}

impl Memory for ByteMemory<'_> {
    fn equal(&self, a: &Src, b: &Src) -> bool {
        match (self.range(&a.0), self.range(&b.0)) {
            (Some(a), Some(b)) => self.0[a] == self.0[b],
            _ => false,
        }
    }

    fn copy(&mut self, dst: &Dst, src: &Src) {
        if let (Some(d), Some(s)) = (self.range(&dst.0), self.range(&src.0)) {
            self.0.copy_within(s, d.start);
        }
    }

    fn load(&self, src: &Src) -> u64 {
        self.load_at(&src.0)
    }

    fn load_dst(&self, dst: &Dst) -> u64 {
        self.load_at(&dst.0)
    }

    fn store(&mut self, dst: &Dst, val: u64) {
        if let Some(r) = self.range(&dst.0) {
            let n = r.len();
            self.0[r].copy_from_slice(&val.to_le_bytes()[..n]);
        }
    }

    fn release_fence(&self) {}

    fn full_fence(&self) {}
}

/// Runs `v` on `mem`. Returns 0 when every operation ran, or `k` when the
/// compare operation at index `k - 1` did not have the expected outcome,
/// in which case no later operation ran.
///
/// # Examples
///
/// Every operation at every width, on kernel memory:
///
/// ```
/// use kernel::cpu_opv::engine::{op, run, ByteMemory, RawOp, Vector};
///
/// let mut bytes = [0u8; 64];
/// let go = |ops: &[RawOp], bytes: &mut [u8]| {
///     run(&Vector::decode(ops).unwrap(), &mut ByteMemory(bytes))
/// };
/// for len in [1u32, 2, 4, 8] {
///     let ones = u64::MAX >> (64 - 8 * len);
///     let get = |b: &[u8]| {
///         let mut w = [0u8; 8];
///         w[..len as usize].copy_from_slice(&b[8..8 + len as usize]);
///         u64::from_le_bytes(w)
///     };
///     bytes.fill(0);
///     // Add wraps at the operand's width and leaves the next byte alone.
///     assert_eq!(go(&[RawOp::new(op::ADD, len, 8, u64::MAX, [0, 0])], &mut bytes), 0);
///     assert_eq!((get(&bytes), bytes[8 + len as usize]), (ones, 0));
///     assert_eq!(go(&[RawOp::new(op::ADD_RELEASE, len, 8, 2, [0, 0])], &mut bytes), 0);
///     assert_eq!(get(&bytes), 1);
///     go(&[RawOp::new(op::OR, len, 8, 0xf0f0_f0f0_f0f0_f0f0, [0, 0])], &mut bytes);
///     assert_eq!(get(&bytes), (0xf0f0_f0f0_f0f0_f0f0 & ones) | 1);
///     go(&[RawOp::new(op::AND, len, 8, 0x3c, [0, 0])], &mut bytes);
///     assert_eq!(get(&bytes), 0x30);
///     go(&[RawOp::new(op::XOR, len, 8, u64::MAX, [0, 0])], &mut bytes);
///     assert_eq!(get(&bytes), !0x30 & ones);
///     bytes.fill(0);
///     bytes[8] = 1;
///     go(&[RawOp::shift(op::LSHIFT, len, 8, 8 * len - 1, 0)], &mut bytes);
///     assert_eq!(get(&bytes), 1 << (8 * len - 1));
///     go(&[RawOp::shift(op::RSHIFT, len, 8, 8 * len - 1, 0)], &mut bytes);
///     assert_eq!(get(&bytes), 1);
/// }
///
/// // Copies, plain and releasing, overlapping forwards; compares.
/// for (i, b) in bytes.iter_mut().enumerate() {
///     *b = i as u8;
/// }
/// assert_eq!(go(&[RawOp::new(op::MEMCPY_RELEASE, 16, 4, 0, [0, 0])], &mut bytes), 0);
/// assert_eq!((bytes[4], bytes[19], bytes[20]), (0, 15, 20));
/// go(&[RawOp::new(op::MEMCPY, 8, 40, 48, [0, 0])], &mut bytes);
/// assert_eq!(bytes[40..48], [48, 49, 50, 51, 52, 53, 54, 55]);
/// let eq = RawOp::new(op::COMPARE_EQ, 8, 40, 48, [0, 0]);
/// let ne = RawOp::new(op::COMPARE_NE, 8, 40, 48, [0, 0]);
/// let mb = RawOp::new(op::MB, 0, 0, 0, [0, 0]);
/// let inc = RawOp::new(op::ADD, 1, 63, 1, [0, 0]);
/// bytes[63] = 0;
/// assert_eq!(go(&[eq, mb, inc], &mut bytes), 0);
/// // A failed compare names itself (1-based) and stops the vector.
/// assert_eq!(go(&[inc, ne, inc], &mut bytes), 2);
/// assert_eq!(bytes[63], 2);
/// ```
pub fn run(v: &Vector, mem: &mut impl Memory) -> usize {
    for (i, op) in v.ops().iter().enumerate() {
        match *op {
            Op::Compare { a, b, equal } => {
                // Aligned words are compared with one load each, so that a
                // concurrent store is seen whole or not at all.
                let same = if a.0.is_word() && b.0.is_word() {
                    mem.load(&a) == mem.load(&b)
                } else {
                    mem.equal(&a, &b)
                };
                if same != equal {
                    return i + 1;
                }
            }
            Op::Memcpy { dst, src, release } => {
                // A release orders every byte of the copy after the earlier
                // operations, not just the last one.
                if release {
                    mem.release_fence();
                }
                // An aligned word is copied with one load and one store.
                if dst.0.is_word() && src.0.is_word() {
                    let val = mem.load(&src);
                    mem.store(&dst, val);
                } else {
                    mem.copy(&dst, &src);
                }
            }
            Op::Add { p, count, release } => {
                let val = mem.load_dst(&p).wrapping_add(count as u64);
                if release {
                    mem.release_fence();
                }
                mem.store(&p, truncate(val, p.0.len));
            }
            Op::Bitwise { p, mask, op } => {
                let old = mem.load_dst(&p);
                let val = match op {
                    BitOp::Or => old | mask,
                    BitOp::And => old & mask,
                    BitOp::Xor => old ^ mask,
                };
                mem.store(&p, truncate(val, p.0.len));
            }
            Op::Shift { p, bits, left } => {
                let old = mem.load_dst(&p);
                let val = if left { old << bits } else { old >> bits };
                mem.store(&p, truncate(val, p.0.len));
            }
            Op::Mb => mem.full_fence(),
        }
    }
    0
}
