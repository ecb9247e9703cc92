// SPDX-License-Identifier: GPL-2.0
//! Kernel configuration (fragments merged over tinyconfig), the kernel
//! build, exported headers and the kselftest build.

use crate::arch::Arch;
use crate::util::{self, fail, Paths, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The kselftest collections the guest runs.
pub const SELFTESTS: &[&str] = &["rseq", "cpu-opv"];

/// Options a fragment asks for: `(file, symbol, value)`; `value` is `"n"`
/// for `# CONFIG_X is not set`.
pub fn parse_fragment(file: &str, text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(sym) = line
            .strip_prefix("# ")
            .and_then(|l| l.strip_suffix(" is not set"))
        {
            out.push((file.to_string(), sym.to_string(), "n".to_string()));
        } else if let Some((sym, val)) = line.split_once('=') {
            if sym.starts_with("CONFIG_") {
                out.push((file.to_string(), sym.to_string(), val.to_string()));
            }
        }
    }
    out
}

/// The value of `sym` in a `.config`, `"n"` when unset or absent.
fn config_value<'a>(config: &'a str, sym: &str) -> &'a str {
    for line in config.lines() {
        if let Some(v) = line.strip_prefix(sym).and_then(|r| r.strip_prefix('=')) {
            return v;
        }
    }
    "n"
}

/// Keeps, for each symbol, the request of the last fragment that names
/// it: merge_config.sh lets a later fragment override an earlier one.
pub fn last_requests(requests: Vec<(String, String, String)>) -> Vec<(String, String, String)> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out: Vec<_> = requests
        .into_iter()
        .rev()
        .filter(|(_, sym, _)| seen.insert(sym.clone()))
        .collect();
    out.reverse();
    out
}

/// Lists every requested option the final `.config` does not have.
pub fn missing_options(requests: &[(String, String, String)], config: &str) -> Vec<String> {
    requests
        .iter()
        .filter(|(_, sym, want)| config_value(config, sym) != want)
        .map(|(file, sym, want)| {
            format!(
                "{file}: {sym}={want} requested, final .config has {}",
                config_value(config, sym)
            )
        })
        .collect()
}

/// One kernel to configure and build from the series tree.
pub struct Target<'a> {
    /// The architecture.
    pub arch: &'a Arch,
    /// Source tree.
    pub tree: PathBuf,
    /// Object folder.
    pub obj: PathBuf,
    /// Name for logs and scratch folders: `ARCH` or `ARCH-VARIANT`.
    pub name: String,
}

impl<'a> Target<'a> {
    /// The series kernel for `arch`, in the object folder named `name`.
    fn series_named(paths: &Paths, arch: &'a Arch, name: String) -> Self {
        Target {
            arch,
            tree: paths.tree(),
            obj: paths.obj(&name),
            name,
        }
    }

    /// The series kernel for `arch`.
    pub fn series(paths: &Paths, arch: &'a Arch) -> Self {
        Self::series_named(paths, arch, arch.name.to_string())
    }

    /// The series kernel for `arch` in a second object folder, for a
    /// configuration other than the tests' (`variant` names it).
    pub fn series_variant(paths: &Paths, arch: &'a Arch, variant: &str) -> Self {
        Self::series_named(paths, arch, format!("{}-{variant}", arch.name))
    }
}

/// `make` in `t`'s tree for `t`'s architecture, with `LLVM=1`, output in `obj`.
pub fn kmake(t: &Target, obj: &Path) -> Command {
    let arch = t.arch;
    let mut c = Command::new("make");
    c.arg("-C")
        .arg(&t.tree)
        .arg(format!("O={}", obj.display()))
        .arg(format!("ARCH={}", arch.karch))
        .arg("LLVM=1")
        .arg(format!("-j{}", util::jobs()));
    // `DEBUG=1` selects our debug kernel; kbuild's tools read DEBUG too
    // (objtool is built with other flags), and a relinked objtool makes
    // every object of the kernel stale.
    c.env_remove("DEBUG");
    c
}

/// The fragments used for `arch`, in merge order: `common`, the
/// architecture's, then `extra` (such as `debug` or `bench`).
pub fn fragments(paths: &Paths, arch: &Arch, extra: &[&str]) -> Vec<PathBuf> {
    let dir = paths.repo.join("configs");
    let mut v = vec![
        dir.join("common.config"),
        dir.join(format!("{}.config", arch.name)),
    ];
    v.extend(extra.iter().map(|e| dir.join(format!("{e}.config"))));
    v
}

/// What a generated configuration depends on: the tree's commit, the
/// fragments and the toolchain, whose versions Kconfig probes.
fn config_key(t: &Target, frags: &[PathBuf]) -> Result<String> {
    let mut key = util::output(
        Command::new("git")
            .arg("-C")
            .arg(&t.tree)
            .args(["rev-parse", "HEAD"]),
    )?;
    for f in frags {
        key.push_str(&format!("== {}\n{}", f.display(), util::read(f)?));
    }
    for tool in ["clang", "rustc", "bindgen"] {
        key.push_str(&util::output(Command::new(tool).arg("--version"))?);
    }
    Ok(key)
}

/// Generates the configuration in a scratch object directory and copies
/// it to the real one only when it changed (so kbuild stays incremental).
/// Skips the generation when nothing it depends on changed since the
/// last one.
pub fn configure(paths: &Paths, t: &Target, extra: &[&str]) -> Result<()> {
    let arch = t.arch;
    let kc = paths.build.join(format!("kconfig-{}", t.name));
    let frags = fragments(paths, arch, extra);
    let key = config_key(t, &frags)?;
    let key_file = kc.join(".xtask-config-key");
    let dest = t.obj.join(".config");
    if std::fs::read_to_string(&key_file).ok().as_deref() == Some(key.as_str())
        && std::fs::read(&dest).ok() == std::fs::read(kc.join(".config")).ok()
        && dest.is_file()
    {
        return Ok(());
    }
    let _ = std::fs::remove_file(&key_file);
    let log = paths.logs().join(format!("config-{}.log", t.name));
    let _ = std::fs::remove_file(&log);
    util::run_logged(kmake(t, &kc).arg("tinyconfig"), &log, "make tinyconfig")?;
    let mut all = Vec::new();
    for f in &frags {
        let name = f
            .strip_prefix(&paths.repo)
            .unwrap_or(f)
            .display()
            .to_string();
        all.extend(parse_fragment(&name, &util::read(f)?));
    }
    let requests = last_requests(all);
    util::run_logged(
        Command::new(t.tree.join("scripts/kconfig/merge_config.sh"))
            .current_dir(&t.tree)
            .env("ARCH", arch.karch)
            .env("LLVM", "1")
            .arg("-m")
            .arg("-O")
            .arg(&kc)
            .arg(kc.join(".config"))
            .args(&frags),
        &log,
        "merge_config.sh",
    )?;
    util::run_logged(kmake(t, &kc).arg("olddefconfig"), &log, "make olddefconfig")?;
    let config = util::read(&kc.join(".config"))?;
    let missing = missing_options(&requests, &config);
    if !missing.is_empty() {
        for m in &missing {
            eprintln!("  {m}");
        }
        return fail(format!(
            "{}: {} requested option(s) did not survive olddefconfig (first: {})",
            t.name,
            missing.len(),
            missing[0]
        ));
    }
    if std::fs::read_to_string(&dest).ok().as_deref() != Some(config.as_str()) {
        util::write(&dest, &config)?;
    }
    util::write(&key_file, &key)
}

/// Builds the boot image and exports the UAPI headers. Returns the image.
pub fn build(paths: &Paths, t: &Target) -> Result<PathBuf> {
    let arch = t.arch;
    let obj = &t.obj;
    let log = paths.logs().join(format!("build-{}.log", t.name));
    let _ = std::fs::remove_file(&log);
    let target = Path::new(arch.image)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    util::run_logged(
        kmake(t, obj).arg("rustavailable"),
        &log,
        "make LLVM=1 rustavailable (the Rust toolchain is not usable; run make deps)",
    )?;
    forget_stale_bindings(obj)?;
    util::run_logged(
        kmake(t, obj).arg("CLIPPY=1").arg(&target).arg("headers"),
        &log,
        &format!("kernel build for {}", t.name),
    )?;
    Ok(obj.join(arch.image))
}

/// kbuild regenerates the Rust bindings when bindgen's command line
/// changes, not when bindgen itself does: remove them when the version
/// differs from the one that made them.
fn forget_stale_bindings(obj: &Path) -> Result<()> {
    let version = util::output(Command::new("bindgen").arg("--version"))?;
    let stamp = obj.join(".bindgen-version");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(version.as_str()) {
        for f in [
            "rust/bindings/bindings_generated.rs",
            "rust/bindings/bindings_helpers_generated.rs",
            "rust/uapi/uapi_generated.rs",
        ] {
            let _ = std::fs::remove_file(obj.join(f));
        }
        util::write(&stamp, &version)?;
    }
    Ok(())
}

/// Rust compiler and clippy warnings in the last build log.
pub fn build_warnings(paths: &Paths, name: &str) -> Result<Vec<String>> {
    let log = util::read(&paths.logs().join(format!("build-{name}.log")))?;
    Ok(log
        .lines()
        .filter(|l| l.starts_with("warning:") || l.contains(": warning:"))
        .filter(|l| !l.contains("warning: ignoring"))
        .map(str::to_string)
        .collect())
}

/// Builds and installs the kselftests for target `t` against its
/// kernel's own exported headers. Returns the install folder.
pub fn selftests(paths: &Paths, t: &Target) -> Result<PathBuf> {
    let arch = t.arch;
    let install = paths.build.join(format!("kselftest-{}", t.name));
    let log = paths.logs().join(format!("selftests-{}.log", t.name));
    let _ = std::fs::remove_file(&log);
    if install.exists() {
        std::fs::remove_dir_all(&install).map_err(|e| format!("{}: {e}", install.display()))?;
    }
    let mut c = Command::new("make");
    c.arg("-C")
        .arg(paths.tree().join("tools/testing/selftests"))
        .arg(format!("O={}", t.obj.display()))
        .arg(format!("ARCH={}", arch.karch))
        .arg(format!("TARGETS={}", SELFTESTS.join(" ")))
        .arg(format!("KSFT_INSTALL_PATH={}", install.display()))
        .arg(format!("-j{}", util::jobs()))
        .arg("install")
        .env_remove("DEBUG");
    if !arch.native() {
        c.arg(format!("CROSS_COMPILE={}", arch.cross));
    }
    util::run_logged(&mut c, &log, &format!("kselftest build for {}", t.name))?;
    Ok(install)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_fragment_wins() {
        let mut req = parse_fragment("a.config", "CONFIG_A=y\nCONFIG_B=y\n");
        req.extend(parse_fragment("b.config", "# CONFIG_A is not set\n"));
        let req = last_requests(req);
        assert_eq!(req.len(), 2);
        assert_eq!(req[0], ("a.config".into(), "CONFIG_B".into(), "y".into()));
        assert_eq!(req[1], ("b.config".into(), "CONFIG_A".into(), "n".into()));
        assert!(missing_options(&req, "CONFIG_B=y\n").is_empty());
    }

    #[test]
    fn fragment_and_check() {
        let req = parse_fragment(
            "f.config",
            "# comment\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_N=8\nCONFIG_C=y\n",
        );
        assert_eq!(req.len(), 4);
        let cfg = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_N=4\n";
        let miss = missing_options(&req, cfg);
        assert_eq!(
            miss,
            [
                "f.config: CONFIG_N=8 requested, final .config has 4",
                "f.config: CONFIG_C=y requested, final .config has n"
            ]
        );
    }

    #[test]
    fn value_needs_exact_symbol() {
        assert_eq!(
            config_value("CONFIG_RSEQ_X=y\nCONFIG_RSEQ=y\n", "CONFIG_RSEQ"),
            "y"
        );
        assert_eq!(config_value("CONFIG_RSEQ_X=y\n", "CONFIG_RSEQ"), "n");
    }
}
