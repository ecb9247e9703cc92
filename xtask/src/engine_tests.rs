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
    struct Mem(Vec<u8>);
    impl Mem {
        fn new() -> Self {
            Mem(vec![0; 16384])
        }
        fn at(&self, a: u64) -> usize {
            (a - BASE) as usize
        }
    }
    impl Memory for Mem {
        fn equal(&self, a: u64, b: u64, len: u32) -> bool {
            let (a, b, l) = (self.at(a), self.at(b), len as usize);
            self.0[a..a + l] == self.0[b..b + l]
        }
        fn copy(&mut self, dst: u64, src: u64, len: u32) {
            let (d, s) = (self.at(dst), self.at(src));
            self.0.copy_within(s..s + len as usize, d);
        }
        fn load(&self, addr: u64, len: u32) -> u64 {
            let a = self.at(addr);
            let mut b = [0u8; 8];
            b[..len as usize].copy_from_slice(&self.0[a..a + len as usize]);
            u64::from_le_bytes(b)
        }
        fn store(&mut self, addr: u64, len: u32, val: u64) {
            let a = self.at(addr);
            self.0[a..a + len as usize].copy_from_slice(&val.to_le_bytes()[..len as usize]);
        }
        fn release_fence(&self) {}
        fn full_fence(&self) {}
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
                    raw(op, len, BASE, 1, [0, 0]).decode().is_ok(),
                    ok,
                    "op {op} len {len}"
                );
            }
            assert_eq!(shift(9, len, BASE, 0, 0).decode().is_ok(), ok);
            if ok && len > 1 {
                assert_eq!(
                    raw(4, len, BASE + 1, 1, [0, 0]).decode(),
                    Err(Invalid::Align)
                );
                assert_eq!(
                    shift(10, len, BASE + len as u64 / 2, 0, 0).decode(),
                    Err(Invalid::Align)
                );
            }
        }
        for op in 0..=3 {
            assert_eq!(raw(op, 0, BASE, BASE, [0, 0]).decode(), Err(Invalid::Len));
            assert!(raw(op, 1, BASE + 3, BASE + 5, [0, 0]).decode().is_ok());
            assert!(raw(op, 4096, BASE, BASE, [0, 0]).decode().is_ok());
            assert_eq!(
                raw(op, 4097, BASE, BASE, [0, 0]).decode(),
                Err(Invalid::Len)
            );
        }
        assert!(raw(11, 0, 0, 0, [0, 0]).decode().is_ok());
        assert_eq!(raw(11, 1, 0, 0, [0, 0]).decode(), Err(Invalid::Len));
        assert_eq!(raw(12, 0, 0, 0, [0, 0]).decode(), Err(Invalid::Type));
        assert_eq!(raw(-1, 0, 0, 0, [0, 0]).decode(), Err(Invalid::Type));
        assert_eq!(shift(9, 4, BASE, 32, 0).decode(), Err(Invalid::Shift));
        assert!(shift(9, 4, BASE, 31, 0).decode().is_ok());
        assert_eq!(
            raw(0, 4, BASE, BASE, [2, 0]).decode(),
            Err(Invalid::ExpectFault)
        );
        assert!(
            shift(9, 1, BASE, 0, 1).decode().unwrap().operands()[0]
                .unwrap()
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
        m.store(BASE, 8, 5);
        m.store(BASE + 8, 8, 5);
        // compare eq ok, then add with wrap at 1 byte
        m.store(BASE + 16, 1, 0xff);
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
        assert_eq!(m.load(BASE + 16, 1), 1);
        assert_eq!(m.load(BASE + 17, 1), 0, "no carry out of the operand");
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
        assert_eq!(m.load(BASE, 8), 5);
        // negative add
        assert_eq!(
            run1(&[raw(5, 4, BASE + 32, (-3i64) as u64, [0, 0])], &mut m),
            Ok(0)
        );
        assert_eq!(m.load(BASE + 32, 4), 0xffff_fffd);
        // bitwise and shifts, truncated to width
        m.store(BASE + 40, 2, 0x00f0);
        run1(&[raw(6, 2, BASE + 40, 0x1_000f, [0, 0])], &mut m).unwrap();
        assert_eq!(m.load(BASE + 40, 2), 0x00ff);
        assert_eq!(m.load(BASE + 42, 2), 0);
        run1(&[raw(7, 2, BASE + 40, 0x0f0f, [0, 0])], &mut m).unwrap();
        assert_eq!(m.load(BASE + 40, 2), 0x000f);
        run1(&[raw(8, 2, BASE + 40, 0xffff, [0, 0])], &mut m).unwrap();
        assert_eq!(m.load(BASE + 40, 2), 0xfff0);
        run1(&[shift(9, 2, BASE + 40, 4, 0)], &mut m).unwrap();
        assert_eq!(m.load(BASE + 40, 2), 0xff00);
        run1(&[shift(10, 2, BASE + 40, 12, 0)], &mut m).unwrap();
        assert_eq!(m.load(BASE + 40, 2), 0x000f);
        // memcpy and release memcpy, overlapping
        for i in 0..100u64 {
            m.store(BASE + 1000 + i, 1, i);
        }
        run1(&[raw(2, 100, BASE + 2000, BASE + 1000, [0, 0])], &mut m).unwrap();
        assert!(m.equal(BASE + 2000, BASE + 1000, 100));
        run1(&[raw(3, 50, BASE + 1010, BASE + 1000, [0, 0])], &mut m).unwrap();
        assert_eq!(m.load(BASE + 1010, 1), 0);
        assert_eq!(m.load(BASE + 1059, 1), 49);
        run1(&[raw(11, 0, 0, 0, [0, 0])], &mut m).unwrap();
    }
}
