// SPDX-License-Identifier: GPL-2.0
//! Every commit of the series builds: each is checked out in a second
//! working tree of the kernel repository, in order, and built
//! incrementally in one object folder with the test configuration (as
//! far as the commit knows its options), `CLIPPY=1`, no compiler or
//! clippy warning, and `rustfmtcheck`.

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

/// Builds every series commit for `a`; one verdict per commit. The
/// series tree (`build/linux`) must be assembled; it is not touched.
pub fn check(paths: &Paths, a: &Arch) -> Tally {
    let mut t = Tally::default();
    if let Err(e) = check_all(paths, a, &mut t) {
        verdict(&mut t, &format!("per-commit builds for {}", a.name), &[e]);
    }
    t
}

fn check_all(paths: &Paths, a: &Arch, t: &mut Tally) -> Result<()> {
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
    println!();
    println!("per-commit builds ({}):", a.name);
    for (k, (id, subject)) in commits.iter().enumerate() {
        let label = format!("{:02}/{}", k + 1, commits.len());
        let started = std::time::Instant::now();
        let log = paths.logs().join(format!("build-{name}-{:02}.log", k + 1));
        let _ = std::fs::remove_file(&log);
        let mut problems = Vec::new();
        let steps: [(&str, Vec<&str>); 3] = [
            ("olddefconfig", vec!["olddefconfig"]),
            ("build", vec!["CLIPPY=1", &image]),
            ("rustfmtcheck", vec!["rustfmtcheck"]),
        ];
        let res = util::run(git(&wt).args(["checkout", "-q", "--detach", id]))
            .and_then(|()| util::write(&target.obj.join(".config"), &config));
        if let Err(e) = res {
            problems.push(e);
        }
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
                "{label} {subject}: builds on {} (CLIPPY=1, no warnings, rustfmtcheck) ({}s)",
                a.name,
                started.elapsed().as_secs()
            ),
            &problems,
        );
    }
    Ok(())
}
