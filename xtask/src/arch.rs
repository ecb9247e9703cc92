// SPDX-License-Identifier: GPL-2.0
//! What differs between the architectures we build and boot.

use crate::util::{fail, Result};

/// One target architecture.
#[derive(Debug)]
pub struct Arch {
    /// Our name for it, also the config fragment's name (`configs/NAME.config`).
    pub name: &'static str,
    /// The kernel's `ARCH=`.
    pub karch: &'static str,
    /// The boot image, relative to the object directory.
    pub image: &'static str,
    /// `CROSS_COMPILE` prefix for user space (empty when native).
    pub cross: &'static str,
    /// Where that compiler's libraries live (dynamic loader, libc).
    pub libdirs: &'static [&'static str],
    /// The QEMU binary.
    pub qemu: &'static str,
    /// Machine-specific QEMU arguments.
    pub qemu_args: &'static [&'static str],
    /// The kernel's console device.
    pub console: &'static str,
    /// Debian architecture name of the guest's packages.
    pub deb_arch: &'static str,
    /// GNU multiarch triplet (library folder names).
    pub triplet: &'static str,
}

/// The architectures we support now.
pub const ARCHES: &[Arch] = &[
    Arch {
        name: "x86_64",
        karch: "x86_64",
        image: "arch/x86/boot/bzImage",
        cross: "",
        libdirs: &[
            "/lib/x86_64-linux-gnu",
            "/usr/lib/x86_64-linux-gnu",
            "/lib64",
        ],
        qemu: "qemu-system-x86_64",
        qemu_args: &["-M", "pc", "-cpu", "max"],
        console: "ttyS0",
        deb_arch: "amd64",
        triplet: "x86_64-linux-gnu",
    },
    Arch {
        name: "arm64",
        karch: "arm64",
        image: "arch/arm64/boot/Image",
        cross: "aarch64-linux-gnu-",
        libdirs: &["/usr/aarch64-linux-gnu/lib"],
        qemu: "qemu-system-aarch64",
        qemu_args: &["-M", "virt", "-cpu", "cortex-a57"],
        console: "ttyAMA0",
        deb_arch: "arm64",
        triplet: "aarch64-linux-gnu",
    },
];

/// Looks an architecture up by name (`x86` is accepted for `x86_64`).
pub fn find(name: &str) -> Result<&'static Arch> {
    let name = if name == "x86" { "x86_64" } else { name };
    match ARCHES.iter().find(|a| a.name == name) {
        Some(a) => Ok(a),
        None => fail(format!(
            "unknown ARCH={name}: choose one of {}",
            ARCHES.iter().map(|a| a.name).collect::<Vec<_>>().join(", ")
        )),
    }
}

impl Arch {
    /// Whether the guest's user space is built natively here.
    pub fn native(&self) -> bool {
        self.cross.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_arches() {
        assert_eq!(find("x86").unwrap().name, "x86_64");
        assert_eq!(find("arm64").unwrap().karch, "arm64");
        let e = find("mips").unwrap_err();
        assert!(e.contains("x86_64, arm64"), "{e}");
    }
}
