// SPDX-License-Identifier: GPL-2.0
//! The kernel working tree: the base source extracted once into a git
//! repository, then one commit per manifest patch on branch `series`.
//!
//! Commits are built with git plumbing on a private index, with a fixed
//! identity and date, so the same manifest always yields the same commit
//! ids. The working tree is then moved to the new head with
//! `git reset --hard`, which rewrites only files whose content changed:
//! unchanged files keep their timestamps and kbuild stays incremental.

use crate::manifest::{Manifest, Patch};
use crate::util::{self, fail, Paths, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Debian package's tarball, unless `BASE_TARBALL` names another.
pub fn tarball() -> PathBuf {
    std::env::var_os("BASE_TARBALL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/src/linux-source-6.12.tar.xz"))
}

const BASE_NAME: &str = "Base Tree";
const BASE_EMAIL: &str = "base@localhost";

pub fn git(tree: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C").arg(tree);
    c.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null");
    c
}

/// Extracts the base source into `build/linux` as a git repository with
/// one commit tagged `base`, unless that was done already. Returns the
/// kernel version of the base.
pub fn ensure_base(paths: &Paths) -> Result<String> {
    let tree = paths.tree();
    let version_file = paths.build.join("base-version");
    if tree.join(".git").is_dir() && git_ok(&tree, &["rev-parse", "-q", "--verify", "base"]) {
        return util::read(&version_file).map(|v| v.trim().to_string());
    }
    let tarball = tarball();
    if !tarball.is_file() {
        return fail(format!(
            "base source {} is missing: install the linux-source-6.12 package (make deps)",
            tarball.display()
        ));
    }
    let tmp = paths.build.join("linux.extracting");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    }
    util::mkdir(&tmp)?;
    eprintln!("  BASE    extracting {}", tarball.display());
    util::run(
        Command::new("tar")
            .arg("-C")
            .arg(&tmp)
            .arg("--strip-components=1")
            .arg("-xf")
            .arg(&tarball),
    )?;
    let version = util::output(
        Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(&tmp)
            .arg("kernelversion"),
    )?
    .trim()
    .to_string();
    eprintln!("  BASE    committing Linux {version}");
    util::run(git(&tmp).args(["init", "-q", "-b", "series"]))?;
    for (k, v) in [
        ("user.name", BASE_NAME),
        ("user.email", BASE_EMAIL),
        ("gc.auto", "0"),
        ("core.autocrlf", "false"),
    ] {
        util::run(git(&tmp).args(["config", k, v]))?;
    }
    util::run(git(&tmp).args(["add", "-A", "-f", "."]))?;
    let msg = format!(
        "Linux {version}\n\nUnmodified {} (Debian linux-source-6.12).\n",
        tarball.display()
    );
    util::run(
        git(&tmp)
            .args(["commit", "-q", "--no-verify", "-m", &msg])
            .env("GIT_AUTHOR_DATE", "2000-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2000-01-01T00:00:00Z"),
    )?;
    util::run(git(&tmp).args(["tag", "base"]))?;
    if tree.exists() {
        std::fs::remove_dir_all(&tree).map_err(|e| format!("{}: {e}", tree.display()))?;
    }
    std::fs::rename(&tmp, &tree).map_err(|e| format!("{}: {e}", tree.display()))?;
    util::write(&version_file, format!("{version}\n"))?;
    Ok(version)
}

fn git_ok(tree: &Path, args: &[&str]) -> bool {
    git(tree)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Who the series commits are written by: author, committer and
/// `Signed-off-by` of every patch, and the cover letter's sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `user.name`.
    pub name: String,
    /// `user.email`.
    pub email: String,
}

impl Identity {
    /// The git identity (`user.name`, `user.email`) of whoever runs the
    /// tool, as git resolves it in the repository; `None` if either is
    /// unset.
    pub fn from_git(repo: &Path) -> Option<Identity> {
        let get = |key: &str| {
            Command::new("git")
                .arg("-C")
                .arg(repo)
                .args(["config", "--get", key])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .filter(|v| !v.is_empty())
        };
        Some(Identity {
            name: get("user.name")?,
            email: get("user.email")?,
        })
    }

    /// A stand-in for builds and static checks on a machine without a git
    /// identity (CI): it names no person and is not for posting.
    pub fn placeholder() -> Identity {
        Identity {
            name: "Unsigned Build".to_string(),
            email: "unsigned@localhost".to_string(),
        }
    }

    /// `Name <address>`, as in `From:` and `Signed-off-by:`.
    pub fn sign(&self) -> String {
        format!("{} <{}>", self.name, self.email)
    }
}

/// Builds the series commits on top of `base`, written by `who`, and
/// checks them out. Returns the head commit id.
pub fn assemble(paths: &Paths, m: &Manifest, who: &Identity) -> Result<String> {
    let tree = paths.tree();
    let index = tree.join(".git").join("xtask-index");
    let base = util::output(git(&tree).args(["rev-parse", "base^{commit}"]))?
        .trim()
        .to_string();
    util::run(
        git(&tree)
            .env("GIT_INDEX_FILE", &index)
            .args(["read-tree", &base]),
    )?;
    let mut parent = base;
    for (i, p) in m.patches.iter().enumerate() {
        let what = format!("patch {} \"{}\"", i + 1, p.subject);
        apply_patch(paths, &index, m, i).map_err(|e| format!("{what}: {e}"))?;
        parent = commit(&tree, &index, &parent, p, m, who).map_err(|e| format!("{what}: {e}"))?;
    }
    let _ = std::fs::remove_file(&index);
    let head = util::output(git(&tree).args(["rev-parse", "HEAD"]))?;
    if head.trim() != parent {
        // Refresh stat information first so that files whose content is
        // unchanged are not rewritten (and not rebuilt).
        let _ = git(&tree)
            .args(["update-index", "-q", "--refresh"])
            .status();
        util::run(git(&tree).args(["reset", "-q", "--hard", &parent]))?;
    }
    // format-patch signs the cover letter with the configured identity.
    util::run(git(&tree).args(["config", "user.name", &who.name]))?;
    util::run(git(&tree).args(["config", "user.email", &who.email]))?;
    let desc = format!("{}\n\n{}", m.cover.subject, m.cover.body.trim_end());
    util::run(git(&tree).args(["config", "branch.series.description", &desc]))?;
    Ok(parent)
}

/// Files named in a unified diff (its `+++ b/` lines).
pub fn diff_targets(diff: &str) -> Vec<&str> {
    diff.lines()
        .filter_map(|l| l.strip_prefix("+++ b/"))
        .map(|l| l.split('\t').next().unwrap_or(l).trim_end())
        .collect()
}

/// The content new file `f` has when patch `k` (0-based) adds it.
///
/// The repository holds each new file in its final form. When a later
/// patch changes the file with a diff, the earlier state is what the
/// later diffs, reverse-applied newest first, give back; it is written
/// under `scratch` and that path is returned.
fn staged_source(
    paths: &Paths,
    m: &Manifest,
    k: usize,
    f: &str,
    scratch: &Path,
) -> Result<PathBuf> {
    let src = paths.repo.join(f);
    let mut later = Vec::new();
    for p in &m.patches[k + 1..] {
        for d in &p.diffs {
            let text = util::read(&paths.repo.join("patches").join(d))?;
            if diff_targets(&text).contains(&f) {
                later.push(d);
            }
        }
    }
    if later.is_empty() {
        return Ok(src);
    }
    let _ = std::fs::remove_dir_all(scratch);
    let dst = scratch.join(f);
    util::mkdir(dst.parent().unwrap_or(scratch))?;
    std::fs::copy(&src, &dst).map_err(|e| format!("{f}: {e}"))?;
    for d in later.iter().rev() {
        let diff = paths.repo.join("patches").join(d);
        reverse_apply(scratch, f, &diff)
            .map_err(|e| format!("patches/{d} does not reverse-apply to {f}: {e}"))?;
    }
    Ok(dst)
}

/// Reverse-applies the part of the diff file `diff` that changes `f` to
/// `root/f`, outside any git repository. Returns git's complaint on
/// failure.
pub fn reverse_apply(root: &Path, f: &str, diff: &Path) -> Result<()> {
    // The ceiling keeps git from finding a repository above `root`.
    let out = Command::new("git")
        .current_dir(root)
        .env("GIT_CEILING_DIRECTORIES", root.parent().unwrap_or(root))
        .args(["apply", "-R", "--include", f])
        .arg(diff)
        .output()
        .map_err(|e| format!("git apply: {e}"))?;
    if !out.status.success() {
        return fail(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(())
}

fn apply_patch(paths: &Paths, index: &Path, m: &Manifest, k: usize) -> Result<()> {
    let p: &Patch = &m.patches[k];
    let tree = paths.tree();
    let scratch = paths.build.join("staged");
    let gi = |args: &[&str]| {
        let mut c = git(&tree);
        c.env("GIT_INDEX_FILE", index).args(args);
        c
    };
    for f in &p.remove {
        if util::output(&mut gi(&["ls-files", "--", f]))?
            .trim()
            .is_empty()
        {
            return fail(format!("cannot remove {f}: not in the tree"));
        }
        util::run(&mut gi(&["update-index", "--force-remove", "--", f]))?;
    }
    for f in &p.files {
        if !util::output(&mut gi(&["ls-files", "--", f]))?
            .trim()
            .is_empty()
        {
            return fail(format!(
                "new file {f} already exists in the tree: change it with a diff"
            ));
        }
        let src = staged_source(paths, m, k, f, &scratch)?;
        let meta = std::fs::metadata(paths.repo.join(f)).map_err(|e| format!("{f}: {e}"))?;
        let mode = if meta.permissions().mode() & 0o111 != 0 {
            "100755"
        } else {
            "100644"
        };
        let blob = util::output(
            git(&tree)
                .args(["hash-object", "-w", "--no-filters", "--"])
                .arg(&src),
        )?;
        let info = format!("{mode},{},{f}", blob.trim());
        util::run(&mut gi(&["update-index", "--add", "--cacheinfo", &info]))?;
    }
    for d in &p.diffs {
        let diff = paths.repo.join("patches").join(d);
        let out = gi(&["apply", "--cached", "--whitespace=error-all"])
            .arg(&diff)
            .output()
            .map_err(|e| format!("git apply: {e}"))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let text = util::read(&diff)?;
            return fail(explain_apply_failure(&format!("patches/{d}"), &text, &err));
        }
    }
    Ok(())
}

/// Turns `git apply` errors into one line naming the diff, the file and
/// the hunk that failed, followed by that hunk.
pub fn explain_apply_failure(diff_name: &str, diff: &str, err: &str) -> String {
    // git says "error: patch failed: FILE:LINE" for a hunk that does not
    // match, and other "error: ..." lines for missing files and the like.
    for line in err.lines() {
        if let Some(rest) = line.strip_prefix("error: patch failed: ") {
            if let Some((file, at)) = rest.rsplit_once(':') {
                let hunk = find_hunk(diff, file, at.trim());
                let head = hunk.lines().next().unwrap_or("");
                return format!("{diff_name} does not apply: hunk {head} of {file} fails\n{hunk}");
            }
        }
    }
    let first = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| err.lines().next().unwrap_or("unknown error"));
    format!(
        "{diff_name} does not apply: {}",
        first.trim_start_matches("error: ")
    )
}

/// The hunk of `file` in `diff` whose old range starts at `line`.
fn find_hunk(diff: &str, file: &str, line: &str) -> String {
    let mut in_file = false;
    let mut out = Vec::new();
    for l in diff.lines() {
        if l.starts_with("diff --git ") || l.starts_with("--- ") {
            if !out.is_empty() {
                break;
            }
            if l.starts_with("diff --git ") {
                in_file = l.ends_with(&format!(" b/{file}"));
            }
            continue;
        }
        if l.starts_with("+++ ") {
            in_file = in_file || l.ends_with(&format!("b/{file}"));
            continue;
        }
        if l.starts_with("@@ ") {
            if !out.is_empty() {
                break;
            }
            let start = l
                .trim_start_matches("@@ -")
                .split([',', ' '])
                .next()
                .unwrap_or("");
            if in_file && start == line {
                out.push(l);
            }
            continue;
        }
        if !out.is_empty() {
            out.push(l);
        }
    }
    if out.is_empty() {
        format!("@@ -{line} (hunk not found in the diff text)")
    } else {
        out.join("\n")
    }
}

fn commit(
    tree: &Path,
    index: &Path,
    parent: &str,
    p: &Patch,
    m: &Manifest,
    who: &Identity,
) -> Result<String> {
    let t = util::output(git(tree).env("GIT_INDEX_FILE", index).arg("write-tree"))?;
    let msg_file = tree.join(".git").join("xtask-msg");
    util::write(&msg_file, p.message(&who.sign()))?;
    let id = util::output(
        git(tree)
            .args(["commit-tree", t.trim(), "-p", parent, "-F"])
            .arg(&msg_file)
            .env("GIT_AUTHOR_NAME", &who.name)
            .env("GIT_AUTHOR_EMAIL", &who.email)
            .env("GIT_AUTHOR_DATE", &m.cover.date)
            .env("GIT_COMMITTER_NAME", &who.name)
            .env("GIT_COMMITTER_EMAIL", &who.email)
            .env("GIT_COMMITTER_DATE", &m.cover.date),
    )?;
    Ok(id.trim().to_string())
}

/// Writes the series as `git format-patch --cover-letter` output into
/// `build/series`, with the manifest's subject prefix and revision, and
/// returns the patch files in order.
pub fn format_patches(paths: &Paths, m: &Manifest) -> Result<Vec<PathBuf>> {
    let out = paths.build.join("series");
    if out.exists() {
        std::fs::remove_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    util::mkdir(&out)?;
    let mut cmd = git(&paths.tree());
    cmd.args([
        "format-patch",
        "--cover-letter",
        "--cover-from-description=subject",
        "--thread=shallow",
        "--no-signature",
    ])
    .arg(format!("--subject-prefix={}", m.cover.subject_prefix));
    // A first posting carries no "v1".
    if m.cover.version > 1 {
        cmd.arg(format!("--reroll-count={}", m.cover.version));
    }
    let list = util::output(cmd.arg("-o").arg(&out).arg("base..series"))?;
    Ok(list.lines().map(PathBuf::from).collect())
}

/// Writes the cpu_opv(2) manual page (`man-pages/man2/cpu_opv.2`, with
/// `man-pages/COMMIT_MSG`) as a patch for the man-pages project, in
/// `build/series/man-pages`: one commit adding the page to an otherwise
/// empty tree, signed off by `who`, dated as the series. Returns the file.
pub fn man_pages_patch(paths: &Paths, m: &Manifest, who: &Identity) -> Result<PathBuf> {
    let repo = paths.build.join("man-pages-repo");
    if repo.exists() {
        std::fs::remove_dir_all(&repo).map_err(|e| format!("{}: {e}", repo.display()))?;
    }
    let page = "man2/cpu_opv.2";
    let src = paths.repo.join("man-pages");
    util::mkdir(&repo.join("man2"))?;
    std::fs::copy(src.join(page), repo.join(page)).map_err(|e| format!("{page}: {e}"))?;
    let msg = util::read(&src.join("COMMIT_MSG"))?;
    let msg = format!("{}\n\nSigned-off-by: {}\n", msg.trim_end(), who.sign());
    let env = [
        ("GIT_AUTHOR_NAME", who.name.as_str()),
        ("GIT_AUTHOR_EMAIL", who.email.as_str()),
        ("GIT_AUTHOR_DATE", m.cover.date.as_str()),
        ("GIT_COMMITTER_NAME", who.name.as_str()),
        ("GIT_COMMITTER_EMAIL", who.email.as_str()),
        ("GIT_COMMITTER_DATE", m.cover.date.as_str()),
    ];
    util::run(git(&repo).args(["init", "-q", "-b", "main"]))?;
    util::run(git(&repo).args(["add", page]))?;
    util::run(
        git(&repo)
            .args(["commit", "-q", "--no-verify", "-m", &msg])
            .envs(env),
    )?;
    let out = paths.build.join("series").join("man-pages");
    util::mkdir(&out)?;
    let list = util::output(
        git(&repo)
            .args(["format-patch", "--root", "--no-signature", "-o"])
            .arg(&out),
    )?;
    list.lines()
        .next()
        .map(PathBuf::from)
        .ok_or_else(|| "git format-patch wrote no man-pages patch".to_string())
}

/// Replays the emitted patches as `git am` would (`git mailinfo`, then
/// `git apply --index` on a private index) onto `base`, and compares each
/// result with the series commit of the same position: the tree, the
/// subject and the message. Returns one line per difference; empty when
/// every patch applies and reproduces its commit.
pub fn am_roundtrip(paths: &Paths, patches: &[PathBuf]) -> Result<Vec<String>> {
    let tree = paths.tree();
    let work = paths.build.join("am-check");
    if work.exists() {
        std::fs::remove_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    }
    util::mkdir(&work)?;
    let index = work.join("index");
    let commits: Vec<String> =
        util::output(git(&tree).args(["rev-list", "--reverse", "base..series"]))?
            .lines()
            .map(str::to_string)
            .collect();
    let mails: Vec<&PathBuf> = patches
        .iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "patch")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("0000-"))
        })
        .collect();
    let mut problems = Vec::new();
    if mails.len() != commits.len() {
        problems.push(format!(
            "{} patch files for {} series commits",
            mails.len(),
            commits.len()
        ));
        return Ok(problems);
    }
    util::run(
        git(&tree)
            .env("GIT_INDEX_FILE", &index)
            .args(["read-tree", "base"]),
    )?;
    let (msg, diff) = (work.join("msg"), work.join("diff"));
    for (mail, commit) in mails.iter().zip(&commits) {
        let name = mail.file_name().unwrap_or_default().to_string_lossy();
        let input = std::fs::File::open(mail).map_err(|e| format!("{}: {e}", mail.display()))?;
        let info = Command::new("git")
            .arg("mailinfo")
            .args([&msg, &diff])
            .stdin(input)
            .output()
            .map_err(|e| format!("git mailinfo: {e}"))?;
        if !info.status.success() {
            problems.push(format!("{name}: git mailinfo failed"));
            return Ok(problems);
        }
        let info = String::from_utf8_lossy(&info.stdout).into_owned();
        let subject = info
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or("")
            .to_string();
        let applied = git(&tree)
            .env("GIT_INDEX_FILE", &index)
            .args(["apply", "--cached", "--whitespace=error-all"])
            .arg(&diff)
            .output()
            .map_err(|e| format!("git apply: {e}"))?;
        if !applied.status.success() {
            let err = String::from_utf8_lossy(&applied.stderr);
            problems.push(format!(
                "{name}: does not apply: {}",
                err.lines().next().unwrap_or("")
            ));
            return Ok(problems);
        }
        let got = util::output(git(&tree).env("GIT_INDEX_FILE", &index).arg("write-tree"))?;
        let want = util::output(git(&tree).args(["rev-parse", &format!("{commit}^{{tree}}")]))?;
        if got.trim() != want.trim() {
            problems.push(format!(
                "{name}: tree differs from series commit {commit:.12}"
            ));
            // Check the next patches against their own commits.
            util::run(
                git(&tree)
                    .env("GIT_INDEX_FILE", &index)
                    .args(["read-tree", want.trim()]),
            )?;
        }
        let body = util::read(&msg)?;
        let mailed = format!("{subject}\n\n{}", body.trim());
        let logged = util::output(git(&tree).args(["log", "-1", "--format=%B", commit]))?;
        if mailed.trim() != logged.trim() {
            problems.push(format!(
                "{name}: message differs from series commit {commit:.12}"
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIFF: &str = "\
diff --git a/kernel/Makefile b/kernel/Makefile
--- a/kernel/Makefile
+++ b/kernel/Makefile
@@ -3,2 +3,3 @@ obj-y += a.o
 obj-y += b.o
+obj-y += c.o
 obj-y += d.o
diff --git a/init/Kconfig b/init/Kconfig
--- a/init/Kconfig
+++ b/init/Kconfig
@@ -10,1 +10,2 @@
 config X
+	bool
";

    #[test]
    fn names_failing_hunk() {
        let err =
            "error: patch failed: init/Kconfig:10\nerror: init/Kconfig: patch does not apply\n";
        let s = explain_apply_failure("patches/x.diff", DIFF, err);
        let first = s.lines().next().unwrap();
        assert_eq!(
            first,
            "patches/x.diff does not apply: hunk @@ -10,1 +10,2 @@ of init/Kconfig fails"
        );
        assert!(s.contains("+\tbool"));
        assert!(!s.contains("c.o"));
    }

    #[test]
    fn names_other_errors() {
        let err = "error: kernel/nope.c: No such file or directory\n";
        let s = explain_apply_failure("patches/x.diff", DIFF, err);
        assert_eq!(
            s,
            "patches/x.diff does not apply: kernel/nope.c: No such file or directory"
        );
    }

    /// A throwaway base tree: exercises assembly, idempotence (same ids,
    /// untouched timestamps) and the failure messages, without the real
    /// kernel source.
    #[test]
    fn assembles_series_on_small_tree() {
        let root = std::env::temp_dir().join(format!("xtask-tree-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let repo = root.join("repo");
        let build = root.join("build");
        // Final form; patch 2 adds the second line with a diff.
        util::write(&repo.join("kernel/new.rs"), "// new\n// more\n").unwrap();
        util::write(
            &repo.join("patches/more.diff"),
            "--- a/kernel/new.rs\n+++ b/kernel/new.rs\n@@ -1 +1,2 @@\n // new\n+// more\n",
        )
        .unwrap();
        util::write(
            &repo.join("patches/mk.diff"),
            "--- a/kernel/Makefile\n+++ b/kernel/Makefile\n@@ -1 +1,2 @@\n obj-y += a.o\n+obj-y += new.o\n",
        )
        .unwrap();
        let src = root.join("src/linux-x");
        util::write(&src.join("kernel/Makefile"), "obj-y += a.o\n").unwrap();
        util::write(&src.join("kernel/old.c"), "int x;\n").unwrap();
        util::write(
            &src.join("Makefile"),
            "kernelversion:\n\t@echo 6.12.0-test\n",
        )
        .unwrap();
        let tar = root.join("base.tar");
        util::run(
            Command::new("tar")
                .arg("-C")
                .arg(root.join("src"))
                .arg("-cf")
                .arg(&tar)
                .arg("linux-x"),
        )
        .unwrap();
        std::env::set_var("BASE_TARBALL", &tar);
        let paths = Paths {
            repo: repo.clone(),
            build,
        };
        assert_eq!(ensure_base(&paths).unwrap(), "6.12.0-test");
        let text = r#"
[cover]
subject = "demo: series"
body = "cover"
date = "2026-01-01T00:00:00Z"
[[patch]]
subject = "demo: add new.rs"
body = "adds"
files = ["kernel/new.rs"]
diffs = ["mk.diff"]
remove = ["kernel/old.c"]
[[patch]]
subject = "demo: extend new.rs"
body = "extends"
diffs = ["more.diff"]
"#;
        util::write(&repo.join("series.toml"), text).unwrap();
        let m = Manifest::load(&repo).unwrap();
        let who = Identity {
            name: "A Dev".to_string(),
            email: "a@example.org".to_string(),
        };
        let head = assemble(&paths, &m, &who).unwrap();
        let t = paths.tree();
        assert_eq!(
            util::read(&t.join("kernel/Makefile")).unwrap(),
            "obj-y += a.o\nobj-y += new.o\n"
        );
        assert_eq!(
            util::read(&t.join("kernel/new.rs")).unwrap(),
            "// new\n// more\n"
        );
        let first = util::output(git(&t).args(["show", "HEAD~1:kernel/new.rs"])).unwrap();
        assert_eq!(
            first, "// new\n",
            "patch 1 carries the file before patch 2's diff"
        );
        assert!(!t.join("kernel/old.c").exists());
        let mtime = || {
            std::fs::metadata(t.join("kernel/new.rs"))
                .unwrap()
                .modified()
                .unwrap()
        };
        let before = mtime();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(
            assemble(&paths, &m, &who).unwrap(),
            head,
            "ids must be stable"
        );
        assert_eq!(mtime(), before, "unchanged files must not be rewritten");
        let patches = format_patches(&paths, &m).unwrap();
        assert_eq!(patches.len(), 3);
        let cover = util::read(&patches[0]).unwrap();
        assert!(
            cover.contains("Subject: [PATCH 0/2] demo: series"),
            "{cover}"
        );
        assert!(cover.contains("From: A Dev <a@example.org>"), "{cover}");
        assert_eq!(
            am_roundtrip(&paths, &patches).unwrap(),
            Vec::<String>::new()
        );
        // A patch file that no longer matches its commit is named.
        let mk = patches
            .iter()
            .find(|p| util::read(p).unwrap().contains("+obj-y += new.o"))
            .unwrap();
        let body = util::read(mk).unwrap();
        util::write(mk, body.replacen("+obj-y += new.o", "+obj-m += new.o", 1)).unwrap();
        let p = am_roundtrip(&paths, &patches).unwrap();
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("0001-") && p[0].contains("tree differs from series commit"),
            "{p:?}"
        );

        // Importing the assembled commits gives the manifest back: the
        // same entries, diffs and files, and the same trees.
        let entries = crate::import::read_commits(&t, "series").unwrap();
        assert_eq!(
            crate::import::compare_trees(&t, &entries).unwrap(),
            Vec::<String>::new()
        );
        let before_toml = util::read(&repo.join("series.toml")).unwrap();
        let before_diff = util::read(&repo.join("patches/more.diff")).unwrap();
        crate::import::write_repo(&repo, &t, "series", &entries).unwrap();
        let back = Manifest::load(&repo).unwrap();
        for (a, b) in back.patches.iter().zip(&m.patches) {
            assert_eq!(
                (&a.subject, &a.files, &a.remove, &a.diffs),
                (&b.subject, &b.files, &b.remove, &b.diffs)
            );
            assert_eq!(a.body.trim_end(), b.body.trim_end());
        }
        assert_eq!(
            util::read(&repo.join("patches/more.diff")).unwrap(),
            before_diff
        );
        util::write(&repo.join("series.toml"), before_toml).unwrap();

        util::write(
            &repo.join("patches/mk.diff"),
            "--- a/kernel/Makefile\n+++ b/kernel/Makefile\n@@ -1 +1,2 @@\n obj-y += zzz.o\n+obj-y += new.o\n",
        )
        .unwrap();
        let e = assemble(&paths, &m, &who).unwrap_err();
        assert!(
            e.starts_with("patch 1 \"demo: add new.rs\": patches/mk.diff does not apply: hunk @@ -1 +1,2 @@ of kernel/Makefile fails"),
            "{e}"
        );
        std::env::remove_var("BASE_TARBALL");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
