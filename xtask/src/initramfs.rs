// SPDX-License-Identifier: GPL-2.0
//! The guest's initramfs: static busybox, bash (run_param_test.sh needs
//! it), the installed kselftests, the shared libraries all of these need
//! (found with `readelf`, resolved in the build host's or the cross
//! toolchain's library folders) and an init that runs the kselftest
//! runner and powers off.

use crate::arch::Arch;
use crate::cpio::{Archive, Entry};
use crate::util::{self, fail, Paths, Result};
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const INIT: &str = include_str!("../guest/init.sh");

/// What `readelf` says an ELF file needs.
#[derive(Debug, Default, PartialEq)]
pub struct ElfNeeds {
    /// `DT_NEEDED` entries.
    pub needed: Vec<String>,
    /// `PT_INTERP`, if any.
    pub interp: Option<String>,
}

/// Parses `readelf -d -l` output.
pub fn parse_readelf(text: &str) -> ElfNeeds {
    let mut n = ElfNeeds::default();
    for line in text.lines() {
        if line.contains("(NEEDED)") {
            if let Some(lib) = between(line, "Shared library: [", "]") {
                n.needed.push(lib.to_string());
            }
        } else if let Some(i) = between(line, "[Requesting program interpreter: ", "]") {
            n.interp = Some(i.to_string());
        }
    }
    n
}

fn between<'a>(s: &'a str, a: &str, b: &str) -> Option<&'a str> {
    let start = s.find(a)? + a.len();
    let len = s[start..].find(b)?;
    Some(&s[start..start + len])
}

fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map(|_| &magic == b"\x7fELF")
        .unwrap_or(false)
}

fn elf_needs(path: &Path) -> Result<ElfNeeds> {
    let out = util::output(
        Command::new("readelf")
            .arg("-d")
            .arg("-l")
            .arg("-W")
            .arg(path),
    )?;
    Ok(parse_readelf(&out))
}

/// Where the guest's foreign packages (busybox, bash) were unpacked.
pub fn debroot(paths: &Paths, arch: &Arch) -> PathBuf {
    paths
        .build
        .join("cache")
        .join(format!("debs-{}", arch.deb_arch))
        .join("root")
}

/// A guest program: the host's own for a native guest, else from the
/// unpacked Debian packages of the guest's architecture.
fn guest_program(paths: &Paths, arch: &Arch, path: &str) -> Result<PathBuf> {
    let p = if arch.native() {
        PathBuf::from(path)
    } else {
        debroot(paths, arch).join(path.trim_start_matches('/'))
    };
    if !p.is_file() {
        return fail(format!(
            "{}: missing for the {} guest (run make deps)",
            p.display(),
            arch.name
        ));
    }
    Ok(p)
}

fn add_file(a: &mut Archive, dest: &str, src: &Path) -> Result<()> {
    let data = std::fs::read(src).map_err(|e| format!("{}: {e}", src.display()))?;
    let mode = std::fs::metadata(src)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o644);
    a.add(dest, Entry::File(mode, data));
    Ok(())
}

fn add_tree(a: &mut Archive, dest: &str, src: &Path, elves: &mut Vec<PathBuf>) -> Result<()> {
    let rd = std::fs::read_dir(src).map_err(|e| format!("{}: {e}", src.display()))?;
    let mut names: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    names.sort();
    for p in names {
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let d = format!("{dest}/{name}");
        if p.is_dir() {
            a.add(&d, Entry::Dir);
            add_tree(a, &d, &p, elves)?;
        } else {
            add_file(a, &d, &p)?;
            if is_elf(&p) {
                elves.push(p);
            }
        }
    }
    Ok(())
}

/// What the guest init runs: `run_kselftest.sh` with `args`, and
/// environment variables exported before (such as the runner's per-test
/// `KSELFTEST_<TEST>_ARGS`).
pub struct GuestRun {
    /// Arguments of `run_kselftest.sh`.
    pub args: String,
    /// `(name, value)` pairs exported to the runner.
    pub env: Vec<(String, String)>,
}

impl GuestRun {
    /// The shell fragment `/etc/guest.conf` that init sources.
    pub fn conf(&self) -> Result<String> {
        let mut s = String::new();
        for (k, v) in std::iter::once(("KSFT_ARGS", &self.args))
            .chain(self.env.iter().map(|(k, v)| (k.as_str(), v)))
        {
            if !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || v.contains('\'') {
                return fail(format!(
                    "guest setting {k}={v}: name must be [A-Za-z0-9_], value without '"
                ));
            }
            s.push_str(&format!("export {k}='{v}'\n"));
        }
        Ok(s)
    }
}

/// Builds `build/initramfs-ARCH.cpio` holding the kselftest install from
/// `ksft` and an init that runs the kselftest runner as `run` says.
pub fn build(paths: &Paths, arch: &Arch, ksft: &Path, run: &GuestRun) -> Result<PathBuf> {
    let mut a = Archive::default();
    for d in [
        "proc", "sys", "dev", "tmp", "root", "etc", "bin", "sbin", "usr/bin", "usr/sbin",
    ] {
        a.add(d, Entry::Dir);
    }
    a.add("dev/console", Entry::CharDev(5, 1));
    a.add("dev/null", Entry::CharDev(1, 3));
    a.add("init", Entry::File(0o755, INIT.as_bytes().to_vec()));
    a.add(
        "etc/guest.conf",
        Entry::File(0o644, run.conf()?.into_bytes()),
    );
    let busybox = guest_program(paths, arch, "/bin/busybox")?;
    let bash = guest_program(paths, arch, "/bin/bash")?;
    add_file(&mut a, "bin/busybox", &busybox)?;
    a.add("bin/sh", Entry::Symlink("busybox".into()));
    add_file(&mut a, "bin/bash", &bash)?;

    let mut elves = vec![bash];
    let mut local = BTreeSet::new();
    add_tree(&mut a, "kselftest", ksft, &mut elves)?;
    for e in &elves {
        if let Some(n) = e.file_name() {
            local.insert(n.to_string_lossy().into_owned());
        }
    }

    // Libraries: every folder the loader may search points at /lib.
    let triplet = arch.triplet;
    a.add("lib64", Entry::Symlink("lib".into()));
    a.add(&format!("lib/{triplet}"), Entry::Symlink(".".into()));
    a.add("usr/lib", Entry::Symlink("../lib".into()));
    let mut dirs: Vec<PathBuf> = arch.libdirs.iter().map(PathBuf::from).collect();
    if !arch.native() {
        let root = debroot(paths, arch);
        dirs.push(root.join("lib").join(triplet));
        dirs.push(root.join("usr/lib").join(triplet));
    }
    let mut done = BTreeSet::new();
    while let Some(e) = elves.pop() {
        let needs = elf_needs(&e)?;
        let mut wanted = needs.needed;
        if let Some(i) = &needs.interp {
            let dir = Path::new(i)
                .parent()
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            if !["/lib", "/lib64", &format!("/lib/{triplet}")].contains(&dir.as_str()) {
                return fail(format!("{}: unexpected interpreter {i}", e.display()));
            }
            wanted.extend(
                Path::new(i)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned()),
            );
        }
        for lib in wanted {
            if local.contains(&lib) || !done.insert(lib.clone()) {
                continue;
            }
            let Some(src) = dirs.iter().map(|d| d.join(&lib)).find(|p| p.is_file()) else {
                return fail(format!(
                    "{}: needs {lib}, not found in {}",
                    e.display(),
                    dirs.iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            };
            add_file(&mut a, &format!("lib/{lib}"), &src)?;
            elves.push(src);
        }
    }
    let out = paths.build.join(format!("initramfs-{}.cpio", arch.name));
    util::write(&out, a.to_bytes())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_readelf() {
        let text = "\
Program Headers:
  INTERP         0x000318 0x0000000000000318 0x0000000000000318 0x00001c 0x00001c R   0x1
      [Requesting program interpreter: /lib64/ld-linux-x86-64.so.2]
Dynamic section at offset 0x2dc8 contains 27 entries:
  Tag        Type                         Name/Value
 0x0000000000000001 (NEEDED)             Shared library: [librseq.so]
 0x0000000000000001 (NEEDED)             Shared library: [libc.so.6]
 0x000000000000001d (RUNPATH)            Library runpath: [./]
";
        let n = parse_readelf(text);
        assert_eq!(n.needed, ["librseq.so", "libc.so.6"]);
        assert_eq!(n.interp.as_deref(), Some("/lib64/ld-linux-x86-64.so.2"));
        assert_eq!(parse_readelf("statically linked\n"), ElfNeeds::default());
    }

    #[test]
    fn guest_conf_quotes_and_refuses_bad_input() {
        let run = GuestRun {
            args: "-c rseq".into(),
            env: vec![("KSELFTEST_X_ARGS".into(), "-t 8".into())],
        };
        assert_eq!(
            run.conf().unwrap(),
            "export KSFT_ARGS='-c rseq'\nexport KSELFTEST_X_ARGS='-t 8'\n"
        );
        let bad = GuestRun {
            args: "it's".into(),
            env: vec![],
        };
        assert!(bad.conf().is_err());
        let bad = GuestRun {
            args: String::new(),
            env: vec![("A B".into(), "1".into())],
        };
        assert!(bad.conf().is_err());
    }

    /// Resolves the dependencies of this machine's own bash.
    #[test]
    fn host_bash_needs_libc() {
        let n = elf_needs(Path::new("/bin/bash")).unwrap();
        assert!(n.needed.iter().any(|l| l.starts_with("libc.so")), "{n:?}");
        assert!(n.interp.is_some());
    }
}
