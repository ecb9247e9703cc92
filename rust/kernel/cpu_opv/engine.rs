// SPDX-License-Identifier: GPL-2.0

//! The cpu_opv operation engine: decoding and checking a vector of
//! `struct cpu_op`, and running it on memory reached through [`Memory`].
//!
//! Nothing here touches user memory or depends on how the operands are
//! mapped, so every rule (operation types, lengths, alignment, shift
//! widths, the vector limits) and every operation's effect can be tested
//! on plain byte arrays.

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
    /// Whether the operation writes it.
    pub write: bool,
    /// Whether a fault on it means "retry" (`EAGAIN`) rather than `EFAULT`.
    pub expect_fault: bool,
}

/// A checked operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Compare `a` and `b`; the vector stops when the outcome is not the
    /// expected one (`equal`).
    Compare {
        /// First operand.
        a: Operand,
        /// Second operand.
        b: Operand,
        /// `CPU_COMPARE_EQ_OP` (continue when equal) or `_NE_`.
        equal: bool,
    },
    /// Copy `src` to `dst`.
    Memcpy {
        /// Destination.
        dst: Operand,
        /// Source.
        src: Operand,
        /// Whether the final store is a store-release.
        release: bool,
    },
    /// Add `count` to the integer at `p`, wrapping at its width.
    Add {
        /// The integer.
        p: Operand,
        /// What to add.
        count: i64,
        /// Whether the store is a store-release.
        release: bool,
    },
    /// Combine `mask` into the integer at `p`.
    Bitwise {
        /// The integer.
        p: Operand,
        /// The mask, truncated to the integer's width.
        mask: u64,
        /// Which operation.
        op: BitOp,
    },
    /// Shift the integer at `p` by `bits` (logical shift).
    Shift {
        /// The integer.
        p: Operand,
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
    /// Checks the operation and decodes its arguments.
    pub fn decode(&self) -> Result<Op, Invalid> {
        let a = &self.args;
        let len = self.len;
        let data = |addr_off: usize, write: bool, fault_off: usize| -> Result<Operand, Invalid> {
            Ok(Operand {
                addr: u64_at(a, addr_off),
                len,
                write,
                expect_fault: flag(a[fault_off])?,
            })
        };
        // Add, bitwise and shift: one naturally aligned integer at offset 0.
        let word = |fault_off: usize| -> Result<Operand, Invalid> {
            if !matches!(len, 1 | 2 | 4 | 8) {
                return Err(Invalid::Len);
            }
            let p = data(0, true, fault_off)?;
            if p.addr % u64::from(len) != 0 {
                return Err(Invalid::Align);
            }
            Ok(p)
        };
        // Compare and memcpy: two byte ranges at offsets 0 and 8, the
        // first written by memcpy.
        let ranges = |first_write: bool| -> Result<(Operand, Operand), Invalid> {
            if len == 0 || len > DATA_LEN_MAX {
                return Err(Invalid::Len);
            }
            Ok((data(0, first_write, 16)?, data(8, false, 17)?))
        };
        let op = match self.op {
            0 | 1 => {
                let (a, b) = ranges(false)?;
                Op::Compare {
                    a,
                    b,
                    equal: self.op == 0,
                }
            }
            2 | 3 => {
                let (dst, src) = ranges(true)?;
                Op::Memcpy {
                    dst,
                    src,
                    release: self.op == 3,
                }
            }
            4 | 5 => Op::Add {
                p: word(16)?,
                count: u64_at(a, 8) as i64,
                release: self.op == 5,
            },
            6..=8 => Op::Bitwise {
                p: word(16)?,
                mask: u64_at(a, 8),
                op: match self.op {
                    6 => BitOp::Or,
                    7 => BitOp::And,
                    _ => BitOp::Xor,
                },
            },
            9 | 10 => {
                let p = word(12)?;
                let bits = u32_at(a, 8);
                if bits >= 8 * len {
                    return Err(Invalid::Shift);
                }
                Op::Shift {
                    p,
                    bits,
                    left: self.op == 9,
                }
            }
            11 => {
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
            Op::Compare { a, .. } => a.len,
            Op::Memcpy { dst, .. } => dst.len,
            Op::Add { p, .. } | Op::Bitwise { p, .. } | Op::Shift { p, .. } => p.len,
            Op::Mb => 0,
        }
    }

    /// The memory the operation touches, at most two ranges.
    pub fn operands(&self) -> [Option<Operand>; 2] {
        match *self {
            Op::Compare { a, b, .. } => [Some(a), Some(b)],
            Op::Memcpy { dst, src, .. } => [Some(dst), Some(src)],
            Op::Add { p, .. } | Op::Bitwise { p, .. } | Op::Shift { p, .. } => [Some(p), None],
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
    pub fn decode(raw: &[RawOp]) -> Result<Vector, Invalid> {
        if raw.is_empty() || raw.len() > VEC_LEN_MAX {
            return Err(Invalid::Count);
        }
        let mut v = Vector {
            ops: [Op::Mb; VEC_LEN_MAX],
            count: raw.len(),
        };
        let mut total: u32 = 0;
        for (slot, r) in v.ops.iter_mut().zip(raw) {
            *slot = r.decode()?;
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
}

/// Access to the operands while the vector runs: user addresses are
/// translated by the implementation (kernel aliases of pinned pages in
/// the system call, a byte array in tests). Every range given has been
/// checked and made accessible beforehand; none of these may fail.
pub trait Memory {
    /// Whether the `len` bytes at `a` and `b` are equal.
    fn equal(&self, a: u64, b: u64, len: u32) -> bool;
    /// Copies `len` bytes from `src` to `dst`; the ranges may overlap.
    fn copy(&mut self, dst: u64, src: u64, len: u32);
    /// Loads the naturally aligned integer of `len` (1, 2, 4 or 8) bytes
    /// at `addr`, in one access.
    fn load(&self, addr: u64, len: u32) -> u64;
    /// Stores the low `len` bytes of `val` at `addr`, in one access.
    fn store(&mut self, addr: u64, len: u32, val: u64);
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

/// Runs `v` on `mem`. Returns 0 when every operation ran, or `k` when the
/// compare operation at index `k - 1` did not have the expected outcome,
/// in which case no later operation ran.
pub fn run(v: &Vector, mem: &mut impl Memory) -> usize {
    for (i, op) in v.ops().iter().enumerate() {
        match *op {
            Op::Compare { a, b, equal } => {
                if mem.equal(a.addr, b.addr, a.len) != equal {
                    return i + 1;
                }
            }
            Op::Memcpy { dst, src, release } => {
                if release {
                    // Everything but the last byte, then the last byte as
                    // the releasing store. The last source byte is read
                    // first, as the head may overwrite it when the ranges
                    // overlap.
                    let head = dst.len - 1;
                    let last = mem.load(src.addr.wrapping_add(u64::from(head)), 1);
                    mem.copy(dst.addr, src.addr, head);
                    mem.release_fence();
                    mem.store(dst.addr.wrapping_add(u64::from(head)), 1, last);
                } else {
                    mem.copy(dst.addr, src.addr, dst.len);
                }
            }
            Op::Add { p, count, release } => {
                let val = mem.load(p.addr, p.len).wrapping_add(count as u64);
                if release {
                    mem.release_fence();
                }
                mem.store(p.addr, p.len, truncate(val, p.len));
            }
            Op::Bitwise { p, mask, op } => {
                let old = mem.load(p.addr, p.len);
                let val = match op {
                    BitOp::Or => old | mask,
                    BitOp::And => old & mask,
                    BitOp::Xor => old ^ mask,
                };
                mem.store(p.addr, p.len, truncate(val, p.len));
            }
            Op::Shift { p, bits, left } => {
                let old = mem.load(p.addr, p.len);
                let val = if left { old << bits } else { old >> bits };
                mem.store(p.addr, p.len, truncate(val, p.len));
            }
            Op::Mb => mem.full_fence(),
        }
    }
    0
}
