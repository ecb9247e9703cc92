// SPDX-License-Identifier: GPL-2.0
//! Every commit of the series builds: each is checked out in a second
//! working tree of the kernel repository, in order, and built
//! incrementally in one object folder with the test configuration (as
//! far as the commit knows its options), `CLIPPY=1`, no compiler or
//! clippy warning, and `rustfmtcheck`.
//!
//! Two depths. [`Depth::Image`] builds the kernel image of every commit
//! (`make check-commits`, `make test-full`). [`Depth::Objects`] is what
//! CI runs after `make test`: for each commit, single targets:
//! the Rust crates (`rust/kernel.o`, the C helpers, every Rust object the
//! series has added outside `rust/` by then) and the object of every C file the
//! commit changes, plus `rustfmtcheck`. Their `prepare` step builds all of
//! `rust/`, the exported UAPI headers and the generated syscall tables
//! too. A commit that changes only selftests or documentation has nothing
//! to build. It catches what splitting a series
//! breaks most often (code that needs a later commit to compile) in
//! about a quarter of the time, but not a link error nor a C user of a
//! changed header outside the commit: those need the image.

use crate::arch::Arch;
use crate::checks::verdict;
use crate::kernel::{self, Target};
use crate::report::Tally;
use crate::util::{self, Paths, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

fn git(tree: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C").arg(tree);
    c
}

/// The series commits after `base`, oldest first: `(id, subject)`.
fn series_commits(tree: &Path) -> Result<Vec<(String, String)>> {
    let out = util::output(git(tree).args(["log", "--reverse", "--format=%H %s", "base..series"]))?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(id, s)| (id.to_string(), s.to_string()))
        .collect())
}

/// How much of each commit is built.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Depth {
    /// The kernel image.
    Image,
    /// The Rust objects and the changed C objects (see the module doc).
    Objects,
}

/// Paths under which a commit changes nothing the kernel build reads.
const NOT_BUILT: &[&str] = &["tools/", "Documentation/", "MAINTAINERS"];

/// The `make` targets that compile what commit `id` of `wt` can break,
/// for architecture `karch`: empty when it changes only files outside the
/// kernel build.
fn object_targets(wt: &Path, id: &str, karch: &str) -> Result<Vec<String>> {
    let changed = util::output(git(wt).args(["diff", "--name-only", &format!("{id}^"), id]))?;
    let changed: Vec<&str> = changed
        .lines()
        .filter(|f| !NOT_BUILT.iter().any(|n| f.starts_with(n)))
        .collect();
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    // The series' own files as of this commit: upstream Rust objects
    // (samples, drivers) are built as single targets even where the
    // configuration leaves them out, so only the series' are targets.
    let files = util::output(git(wt).args(["diff", "--name-only", "base", id]))?;
    Ok(targets_for(&changed, &files, karch, |dir| {
        util::read(&wt.join(dir).join("Makefile")).unwrap_or_default()
    }))
}

/// [`object_targets`] without git: `changed` are the commit's changed
/// build inputs, `files` the files the series has added or changed up to
/// the commit (one per line), and `makefile` reads a directory's Makefile.
fn targets_for(
    changed: &[&str],
    files: &str,
    karch: &str,
    makefile: impl Fn(&str) -> String,
) -> Vec<String> {
    let own_arch = |f: &str| match f.strip_prefix("arch/") {
        Some(rest) => rest.starts_with(&format!("{karch}/")),
        None => true,
    };
    let listed = |f: &str, stem: &str| {
        let (dir, name) = f.rsplit_once('/').unwrap_or((".", f));
        let obj = format!("{}.o", name.strip_suffix(stem).unwrap_or(name));
        makefile(dir).split_whitespace().any(|w| w == obj) && own_arch(f)
    };
    let mut t = vec![
        "rust/kernel.o".to_string(),
        "rust/helpers/helpers.o".to_string(),
    ];
    // The series' Rust objects outside rust/: the commit may change what
    // they use.
    t.extend(
        files
            .lines()
            .filter(|f| f.ends_with(".rs") && !f.starts_with("rust/"))
            .filter(|f| !NOT_BUILT.iter().any(|n| f.starts_with(n)))
            .filter(|f| listed(f, ".rs"))
            .map(|f| format!("{}.o", f.trim_end_matches(".rs"))),
    );
    t.extend(
        changed
            .iter()
            .filter(|f| f.ends_with(".c") && !f.starts_with("rust/") && listed(f, ".c"))
            .map(|f| format!("{}.o", f.trim_end_matches(".c"))),
    );
    t
}

/// The second working tree, created on first use at `base`.
fn worktree(paths: &Paths) -> Result<PathBuf> {
    let wt = paths.build.join("linux-commits");
    if !wt.join(".git").exists() {
        let tree = paths.tree();
        util::run(git(&tree).args(["worktree", "prune"]))?;
        util::run(
            git(&tree)
                .args(["worktree", "add", "--detach", "-q"])
                .arg(&wt)
                .arg("base"),
        )?;
    }
    Ok(wt)
}

/// Builds every series commit for `a` to `depth`; one verdict per
/// commit. The series tree (`build/linux`) must be assembled; it is not
/// touched.
pub fn check(paths: &Paths, a: &Arch, depth: Depth) -> Tally {
    let mut t = Tally::default();
    if let Err(e) = check_all(paths, a, depth, &mut t) {
        verdict(&mut t, &format!("per-commit builds for {}", a.name), &[e]);
    }
    t
}

fn check_all(paths: &Paths, a: &Arch, depth: Depth, t: &mut Tally) -> Result<()> {
    let name = format!("{}-commits", a.name);
    // The test configuration of the series head, generated once. Each
    // commit takes it through olddefconfig, which drops the options the
    // commit does not have yet.
    let head = Target::series_variant(paths, a, "commits");
    kernel::configure(paths, &head, &[])?;
    let config = util::read(&head.obj.join(".config"))?;
    let wt = worktree(paths)?;
    let target = Target {
        arch: a,
        tree: wt.clone(),
        obj: head.obj.clone(),
        name: name.clone(),
    };
    let image = Path::new(a.image)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let commits = series_commits(&paths.tree())?;
    let what_built = match depth {
        Depth::Image => "builds",
        Depth::Objects => "compiles (Rust and changed C objects)",
    };
    println!();
    println!("per-commit builds ({}, {what_built}):", a.name);
    for (k, (id, subject)) in commits.iter().enumerate() {
        let label = format!("{:02}/{}", k + 1, commits.len());
        let started = std::time::Instant::now();
        let log = paths.logs().join(format!("build-{name}-{:02}.log", k + 1));
        let _ = std::fs::remove_file(&log);
        let mut problems = Vec::new();
        let res = util::run(git(&wt).args(["checkout", "-q", "--detach", id]))
            .and_then(|()| util::write(&target.obj.join(".config"), &config));
        if let Err(e) = res {
            problems.push(e);
        }
        let build: Vec<String> = match depth {
            Depth::Image => vec![image.clone()],
            Depth::Objects if problems.is_empty() => object_targets(&wt, id, a.karch)
                .unwrap_or_else(|e| {
                    problems.push(e);
                    Vec::new()
                }),
            Depth::Objects => Vec::new(),
        };
        if build.is_empty() && problems.is_empty() {
            println!("  SKIP   {label} {subject}: changes only selftests or documentation");
            t.skipped += 1;
            continue;
        }
        let mut make_build = vec!["CLIPPY=1"];
        make_build.extend(build.iter().map(String::as_str));
        let steps: [(&str, Vec<&str>); 3] = [
            ("olddefconfig", vec!["olddefconfig"]),
            ("build", make_build),
            ("rustfmtcheck", vec!["rustfmtcheck"]),
        ];
        for (what, args) in &steps {
            if !problems.is_empty() {
                break;
            }
            if let Err(e) = util::run_logged(
                kernel::kmake(&target, &target.obj).args(args),
                &log,
                &format!("{what} at {label}"),
            ) {
                problems.push(e);
            }
        }
        if problems.is_empty() {
            problems = kernel::build_warnings(paths, &format!("{name}-{:02}", k + 1))
                .unwrap_or_else(|e| vec![e]);
        }
        verdict(
            t,
            &format!(
                "{label} {subject}: {what_built} on {} (CLIPPY=1, no warnings, rustfmtcheck) \
                 ({}s)",
                a.name,
                started.elapsed().as_secs()
            ),
            &problems,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILES: &str = "kernel/Makefile\nkernel/rseq.c\nkernel/rseq_glue.c\nkernel/rseq_rust.rs\n\
                         kernel/cpu_opv.rs\nrust/kernel/lib.rs\ntools/testing/x/y.rs\n\
                         samples/rust/rust_minimal.rs\narch/arm64/kernel/a.c\n";

    fn makefile(dir: &str) -> String {
        match dir {
            "kernel" => {
                "obj-$(CONFIG_RSEQ_RUST) += rseq_rust.o rseq_glue.o\nobj-y += rseq.o\n".into()
            }
            "arch/arm64/kernel" => "obj-y += a.o\n".into(),
            _ => String::new(),
        }
    }

    #[test]
    fn rust_objects_and_changed_c() {
        let t = targets_for(
            &["kernel/rseq_glue.c", "kernel/Makefile"],
            FILES,
            "x86",
            makefile,
        );
        assert_eq!(
            t,
            [
                "rust/kernel.o",
                "rust/helpers/helpers.o",
                "kernel/rseq_rust.o",
                "kernel/rseq_glue.o"
            ]
        );
    }

    #[test]
    fn unlisted_and_foreign_files_are_not_targets() {
        // cpu_opv.rs is not in the Makefile yet; arm64 code is not built on x86.
        let t = targets_for(&["arch/arm64/kernel/a.c"], FILES, "x86", makefile);
        assert!(!t
            .iter()
            .any(|x| x.contains("cpu_opv") || x.contains("arm64")));
        let t = targets_for(&["arch/arm64/kernel/a.c"], FILES, "arm64", makefile);
        assert!(t.contains(&"arch/arm64/kernel/a.o".to_string()));
    }
}
