// SPDX-License-Identifier: GPL-2.0
//! Host tests of the cpu_opv operation engine (`rust/kernel/cpu_opv/engine.rs`),
//! which uses `core` only: every length, alignment and limit rule, and the
//! effect of every operation on a byte array, with the tooling's unit
//! tests. The engine's doctests run the same kind of checks in the guest.

#[path = "../../rust/kernel/cpu_opv/engine.rs"]
#[allow(dead_code)]
mod engine;

mod tests {
    use super::engine::*;

    const BASE: u64 = 0x10000;

    /// What the engine asked of the memory, in order.
    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    enum Call {
        Equal,
        Copy,
        Load(usize),
        Store(usize),
        Release,
        Full,
    }

    /// Memory at `BASE`, addressed by operand address, which records the
    /// calls (and the slot of each word access).
    struct Mem(Vec<u8>, std::cell::RefCell<Vec<Call>>);
    impl Mem {
        fn new() -> Self {
            Mem(vec![0; 16384], Default::default())
        }
        fn at(&self, a: u64) -> usize {
            (a - BASE) as usize
        }
        fn get(&self, addr: u64, len: u32) -> u64 {
            let a = self.at(addr);
            let mut b = [0u8; 8];
            b[..len as usize].copy_from_slice(&self.0[a..a + len as usize]);
            u64::from_le_bytes(b)
        }
        fn put(&mut self, addr: u64, len: u32, val: u64) {
            let a = self.at(addr);
            self.0[a..a + len as usize].copy_from_slice(&val.to_le_bytes()[..len as usize]);
        }
        fn same(&self, a: u64, b: u64, len: u32) -> bool {
            let (a, b, l) = (self.at(a), self.at(b), len as usize);
            self.0[a..a + l] == self.0[b..b + l]
        }
        fn log(&self, c: Call) {
            self.1.borrow_mut().push(c);
        }
        fn calls(&self) -> Vec<Call> {
            self.1.take()
        }
    }
    impl Memory for Mem {
        fn equal(&self, a: &Src, b: &Src) -> bool {
            self.log(Call::Equal);
            let (a, b) = (a.operand(), b.operand());
            self.same(a.addr, b.addr, a.len)
        }
        fn copy(&mut self, dst: &Dst, src: &Src) {
            self.log(Call::Copy);
            let (d, s) = (dst.operand(), src.operand());
            let (d, s, l) = (self.at(d.addr), self.at(s.addr), d.len as usize);
            self.0.copy_within(s..s + l, d);
        }
        fn load(&self, src: &Src) -> u64 {
            let o = src.operand();
            self.log(Call::Load(o.slot));
            self.get(o.addr, o.len)
        }
        fn load_dst(&self, dst: &Dst) -> u64 {
            let o = dst.operand();
            self.log(Call::Load(o.slot));
            self.get(o.addr, o.len)
        }
        fn store(&mut self, dst: &Dst, val: u64) {
            let o = *dst.operand();
            self.log(Call::Store(o.slot));
            self.put(o.addr, o.len, val);
        }
        fn release_fence(&self) {
            self.log(Call::Release);
        }
        fn full_fence(&self) {
            self.log(Call::Full);
        }
    }

    fn raw(op: i32, len: u32, x: u64, y: u64, f: [u8; 2]) -> RawOp {
        RawOp::new(op, len, x, y, f)
    }
    fn shift(op: i32, len: u32, p: u64, bits: u32, fault: u8) -> RawOp {
        RawOp::shift(op, len, p, bits, fault)
    }
    fn run1(ops: &[RawOp], m: &mut Mem) -> Result<usize, Invalid> {
        Ok(run(&Vector::decode(ops)?, m))
    }

    #[test]
    fn lengths_and_alignment() {
        for len in 0..=9u32 {
            let ok = matches!(len, 1 | 2 | 4 | 8);
            for op in 4..=8 {
                assert_eq!(
                    raw(op, len, BASE, 1, [0, 0]).decode(0).is_ok(),
                    ok,
                    "op {op} len {len}"
                );
            }
            assert_eq!(shift(9, len, BASE, 0, 0).decode(0).is_ok(), ok);
            if ok && len > 1 {
                assert_eq!(
                    raw(4, len, BASE + 1, 1, [0, 0]).decode(0),
                    Err(Invalid::Align)
                );
                assert_eq!(
                    shift(10, len, BASE + len as u64 / 2, 0, 0).decode(0),
                    Err(Invalid::Align)
                );
            }
        }
        for op in 0..=3 {
            assert_eq!(raw(op, 0, BASE, BASE, [0, 0]).decode(0), Err(Invalid::Len));
            assert!(raw(op, 1, BASE + 3, BASE + 5, [0, 0]).decode(0).is_ok());
            assert!(raw(op, 4096, BASE, BASE, [0, 0]).decode(0).is_ok());
            assert_eq!(
                raw(op, 4097, BASE, BASE, [0, 0]).decode(0),
                Err(Invalid::Len)
            );
        }
        assert!(raw(11, 0, 0, 0, [0, 0]).decode(0).is_ok());
        assert_eq!(raw(11, 1, 0, 0, [0, 0]).decode(0), Err(Invalid::Len));
        assert_eq!(raw(12, 0, 0, 0, [0, 0]).decode(0), Err(Invalid::Type));
        assert_eq!(raw(-1, 0, 0, 0, [0, 0]).decode(0), Err(Invalid::Type));
        assert_eq!(shift(9, 4, BASE, 32, 0).decode(0), Err(Invalid::Shift));
        assert!(shift(9, 4, BASE, 31, 0).decode(0).is_ok());
        assert_eq!(
            raw(0, 4, BASE, BASE, [2, 0]).decode(0),
            Err(Invalid::ExpectFault)
        );
        assert!(
            shift(9, 1, BASE, 0, 1).decode(0).unwrap().operands()[0]
                .unwrap()
                .operand()
                .expect_fault
        );
    }

    #[test]
    fn vector_limits() {
        let add = raw(4, 8, BASE, 1, [0, 0]);
        assert_eq!(Vector::decode(&[]).unwrap_err(), Invalid::Count);
        assert!(Vector::decode(&[add; 16]).is_ok());
        assert_eq!(Vector::decode(&[add; 17]).unwrap_err(), Invalid::Count);
        let mut v = [add; 16];
        v[0] = raw(2, 4096, BASE + 8, BASE + 8192, [0, 0]);
        assert!(Vector::decode(&v).is_ok());
        v[1] = raw(2, 9, BASE + 8, BASE + 8192, [0, 0]);
        assert_eq!(Vector::decode(&v).unwrap_err(), Invalid::TotalLen);
    }

    #[test]
    fn semantics() {
        let mut m = Mem::new();
        m.put(BASE, 8, 5);
        m.put(BASE + 8, 8, 5);
        // compare eq ok, then add with wrap at 1 byte
        m.put(BASE + 16, 1, 0xff);
        assert_eq!(
            run1(
                &[
                    raw(0, 8, BASE, BASE + 8, [0, 0]),
                    raw(4, 1, BASE + 16, 2, [0, 0])
                ],
                &mut m
            ),
            Ok(0)
        );
        assert_eq!(m.get(BASE + 16, 1), 1);
        assert_eq!(m.get(BASE + 17, 1), 0, "no carry out of the operand");
        // compare ne fails at index 2 (1-based), later op does not run
        let r = run1(
            &[
                raw(0, 8, BASE, BASE + 8, [0, 0]),
                raw(1, 8, BASE, BASE + 8, [0, 0]),
                raw(4, 8, BASE, 1, [0, 0]),
            ],
            &mut m,
        );
        assert_eq!(r, Ok(2));
        assert_eq!(m.get(BASE, 8), 5);
        // negative add
        assert_eq!(
            run1(&[raw(5, 4, BASE + 32, (-3i64) as u64, [0, 0])], &mut m),
            Ok(0)
        );
        assert_eq!(m.get(BASE + 32, 4), 0xffff_fffd);
        // bitwise and shifts, truncated to width
        m.put(BASE + 40, 2, 0x00f0);
        run1(&[raw(6, 2, BASE + 40, 0x1_000f, [0, 0])], &mut m).unwrap();
        assert_eq!(m.get(BASE + 40, 2), 0x00ff);
        assert_eq!(m.get(BASE + 42, 2), 0);
        run1(&[raw(7, 2, BASE + 40, 0x0f0f, [0, 0])], &mut m).unwrap();
        assert_eq!(m.get(BASE + 40, 2), 0x000f);
        run1(&[raw(8, 2, BASE + 40, 0xffff, [0, 0])], &mut m).unwrap();
        assert_eq!(m.get(BASE + 40, 2), 0xfff0);
        run1(&[shift(9, 2, BASE + 40, 4, 0)], &mut m).unwrap();
        assert_eq!(m.get(BASE + 40, 2), 0xff00);
        run1(&[shift(10, 2, BASE + 40, 12, 0)], &mut m).unwrap();
        assert_eq!(m.get(BASE + 40, 2), 0x000f);
        // memcpy and release memcpy, overlapping
        for i in 0..100u64 {
            m.put(BASE + 1000 + i, 1, i);
        }
        run1(&[raw(2, 100, BASE + 2000, BASE + 1000, [0, 0])], &mut m).unwrap();
        assert!(m.same(BASE + 2000, BASE + 1000, 100));
        run1(&[raw(3, 50, BASE + 1010, BASE + 1000, [0, 0])], &mut m).unwrap();
        assert_eq!(m.get(BASE + 1010, 1), 0);
        assert_eq!(m.get(BASE + 1059, 1), 49);
        run1(&[raw(11, 0, 0, 0, [0, 0])], &mut m).unwrap();
    }

    #[test]
    fn operands_have_their_own_slots_and_access() {
        // Compare reads both, memcpy writes its first, word operations
        // write theirs; slot 2i and 2i+1 for operation i.
        let v = Vector::decode(&[
            raw(0, 8, BASE, BASE + 8, [0, 0]),
            raw(2, 8, BASE, BASE + 16, [0, 0]),
            raw(4, 8, BASE, 1, [0, 0]),
            raw(11, 0, 0, 0, [0, 0]),
            shift(9, 8, BASE, 1, 0),
        ])
        .unwrap();
        let uses: Vec<(bool, usize, u64)> = v
            .operands()
            .map(|u| {
                (
                    matches!(u, Use::Write(_)),
                    u.operand().slot,
                    u.operand().addr,
                )
            })
            .collect();
        assert_eq!(
            uses,
            [
                (false, 0, BASE),
                (false, 1, BASE + 8),
                (true, 2, BASE),
                (false, 3, BASE + 16),
                (true, 4, BASE),
                (true, 8, BASE),
            ]
        );
        assert!(v.operands().all(|u| u.operand().slot < OPERANDS_MAX));
    }

    #[test]
    fn words_are_single_accesses() {
        let mut m = Mem::new();
        // Aligned word copies and compares: one load and one store.
        for len in [1u32, 2, 4, 8] {
            let (d, s) = (BASE + 64, BASE + 128);
            m.put(s, len, 0x1122_3344_5566_7788 >> (64 - 8 * len));
            run1(&[raw(2, len, d, s, [0, 0])], &mut m).unwrap();
            assert_eq!(m.calls(), [Call::Load(1), Call::Store(0)]);
            assert!(m.same(d, s, len));
            run1(&[raw(0, len, d, s, [0, 0])], &mut m).unwrap();
            assert_eq!(m.calls(), [Call::Load(0), Call::Load(1)]);
        }
        // Unaligned or odd lengths are byte ranges.
        run1(&[raw(2, 8, BASE + 65, BASE + 128, [0, 0])], &mut m).unwrap();
        run1(&[raw(2, 3, BASE + 64, BASE + 128, [0, 0])], &mut m).unwrap();
        run1(&[raw(0, 8, BASE + 64, BASE + 129, [0, 0])], &mut m).unwrap();
        assert_eq!(m.calls(), [Call::Copy, Call::Copy, Call::Equal]);
    }

    #[test]
    fn release_orders_every_store() {
        let mut m = Mem::new();
        // The fence comes before any store of the copy, word or not.
        run1(&[raw(3, 8, BASE + 64, BASE + 128, [0, 0])], &mut m).unwrap();
        assert_eq!(m.calls(), [Call::Release, Call::Load(1), Call::Store(0)]);
        run1(&[raw(3, 100, BASE + 64, BASE + 1000, [0, 0])], &mut m).unwrap();
        assert_eq!(m.calls(), [Call::Release, Call::Copy]);
        // Add release: load, fence, store.
        run1(&[raw(5, 8, BASE, 1, [0, 0])], &mut m).unwrap();
        assert_eq!(m.calls(), [Call::Load(0), Call::Release, Call::Store(0)]);
        run1(&[raw(11, 0, 0, 0, [0, 0])], &mut m).unwrap();
        assert_eq!(m.calls(), [Call::Full]);
    }
}
