// SPDX-License-Identifier: GPL-2.0

//! The cpu_opv system call's building blocks: the operation engine, which
//! checks and runs a vector against any memory, and its ABI.
//!
//! C header: [`include/uapi/linux/cpu_opv.h`](srctree/include/uapi/linux/cpu_opv.h).

pub mod engine;

use crate::bindings;

/// `CPU_OP_NR_FLAG`: the call returns the number of operation types.
pub const NR_FLAG: i32 = bindings::cpu_op_flags_CPU_OP_NR_FLAG as i32;
/// `CPU_OP_VEC_LEN_MAX_FLAG`: the call returns the longest vector allowed.
pub const VEC_LEN_MAX_FLAG: i32 = bindings::cpu_op_flags_CPU_OP_VEC_LEN_MAX_FLAG as i32;

// The engine decodes `struct cpu_op` by these numbers; check them against
// the UAPI header as bindgen sees it.
const _: () = {
    use bindings::{
        cpu_op, cpu_op__bindgen_ty_1__bindgen_ty_1 as Compare,
        cpu_op__bindgen_ty_1__bindgen_ty_2 as Memcpy, cpu_op__bindgen_ty_1__bindgen_ty_3 as Add,
        cpu_op__bindgen_ty_1__bindgen_ty_4 as Bitwise, cpu_op__bindgen_ty_1__bindgen_ty_5 as Shift,
    };
    use core::mem::{offset_of, size_of};
    use engine::{arg, op};

    assert!(size_of::<engine::RawOp>() == size_of::<cpu_op>() && size_of::<cpu_op>() == 32);
    assert!(offset_of!(engine::RawOp, args) == offset_of!(cpu_op, u));
    assert!(offset_of!(Compare, a) == arg::FIRST && offset_of!(Compare, b) == arg::SECOND);
    assert!(offset_of!(Compare, expect_fault_a) == arg::FAULT_FIRST);
    assert!(offset_of!(Compare, expect_fault_b) == arg::FAULT_SECOND);
    assert!(offset_of!(Memcpy, dst) == arg::FIRST && offset_of!(Memcpy, src) == arg::SECOND);
    assert!(offset_of!(Memcpy, expect_fault_dst) == arg::FAULT_FIRST);
    assert!(offset_of!(Memcpy, expect_fault_src) == arg::FAULT_SECOND);
    assert!(offset_of!(Add, p) == arg::FIRST && offset_of!(Add, count) == arg::SECOND);
    assert!(offset_of!(Add, expect_fault_p) == arg::FAULT_FIRST);
    assert!(offset_of!(Bitwise, p) == arg::FIRST && offset_of!(Bitwise, mask) == arg::SECOND);
    assert!(offset_of!(Bitwise, expect_fault_p) == arg::FAULT_FIRST);
    assert!(offset_of!(Shift, p) == arg::FIRST && offset_of!(Shift, bits) == arg::SECOND);
    assert!(offset_of!(Shift, expect_fault_p) == arg::SHIFT_FAULT);

    assert!(op::COMPARE_EQ == bindings::cpu_op_type_CPU_COMPARE_EQ_OP as i32);
    assert!(op::COMPARE_NE == bindings::cpu_op_type_CPU_COMPARE_NE_OP as i32);
    assert!(op::MEMCPY == bindings::cpu_op_type_CPU_MEMCPY_OP as i32);
    assert!(op::MEMCPY_RELEASE == bindings::cpu_op_type_CPU_MEMCPY_RELEASE_OP as i32);
    assert!(op::ADD == bindings::cpu_op_type_CPU_ADD_OP as i32);
    assert!(op::ADD_RELEASE == bindings::cpu_op_type_CPU_ADD_RELEASE_OP as i32);
    assert!(op::OR == bindings::cpu_op_type_CPU_OR_OP as i32);
    assert!(op::AND == bindings::cpu_op_type_CPU_AND_OP as i32);
    assert!(op::XOR == bindings::cpu_op_type_CPU_XOR_OP as i32);
    assert!(op::LSHIFT == bindings::cpu_op_type_CPU_LSHIFT_OP as i32);
    assert!(op::RSHIFT == bindings::cpu_op_type_CPU_RSHIFT_OP as i32);
    assert!(op::MB == bindings::cpu_op_type_CPU_MB_OP as i32);
    assert!(engine::NR_OPS == bindings::cpu_op_type_NR_CPU_OPS as usize);

    assert!(engine::VEC_LEN_MAX == bindings::CPU_OP_VEC_LEN_MAX as usize);
    assert!(engine::DATA_LEN_MAX == bindings::CPU_OP_DATA_LEN_MAX);
    assert!(engine::ARITHMETIC_DATA_LEN_MAX == bindings::CPU_OP_ARITHMETIC_DATA_LEN_MAX);
    assert!(engine::VEC_DATA_LEN_MAX == bindings::CPU_OP_VEC_DATA_LEN_MAX);
    assert!(engine::ARG_LEN == bindings::CPU_OP_ARG_LEN_MAX as usize);
};

// SAFETY: `RawOp` is `repr(C)`: two 4-byte integers and a byte array, 32
// bytes with no padding, so every bit pattern is a valid value.
unsafe impl crate::types::FromBytes for engine::RawOp {}

#[cfg(CONFIG_CPU_OPV)]
mod call;
#[cfg(CONFIG_CPU_OPV)]
pub use call::*;
