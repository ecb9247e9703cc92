// SPDX-License-Identifier: GPL-2.0
//! `xtask refresh`: carries edits of a layered new file into the diffs of
//! the later patches that change it.
//!
//! A new file is kept in its final form; a later patch that changes it
//! carries a diff against it, and the earlier states are what those
//! diffs give back when reverse-applied (see `tree::staged_source`). An
//! edit of the final form that touches lines those diffs also touch
//! breaks that. This command takes the file and the diffs as committed
//! (`git show REV:...`, `HEAD` unless `REFRESH_REV` names another),
//! rebuilds every state from them, applies the edit (committed to working
//! copy) to each state where it applies, and writes each diff again as
//! the difference of consecutive states. A hunk of the edit that does not
//! apply to an early state is reported and so enters the series with the
//! first patch whose state it applies to.

use crate::manifest::Manifest;
use crate::tree::{diff_targets, reverse_apply};
use crate::util::{self, fail, Paths, Result};
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `git show REV:path` in the repository.
fn committed(repo: &Path, rev: &str, path: &str) -> Result<String> {
    util::output(
        Command::new("git")
            .current_dir(repo)
            .args(["show", &format!("{rev}:{path}")]),
    )
}

/// `diff -U context` of two texts with `a/f` and `b/f` labels; empty when
/// equal.
fn unified(dir: &Path, f: &str, old: &str, new: &str, context: u32) -> Result<String> {
    let (a, b) = (dir.join("old"), dir.join("new"));
    util::write(&a, old)?;
    util::write(&b, new)?;
    let out = Command::new("diff")
        .arg(format!("-U{context}"))
        .args(["--label", &format!("a/{f}"), "--label", &format!("b/{f}")])
        .arg(&a)
        .arg(&b)
        .output()
        .map_err(|e| format!("diff: {e}"))?;
    match out.status.code() {
        Some(0) | Some(1) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        _ => fail(format!(
            "diff: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// Applies `delta` to `text` with GNU patch, hunk by hunk and without
/// fuzz: a hunk whose context is not all there (code a later patch adds)
/// must not land on look-alike lines elsewhere. Returns the result and
/// how many hunks did not apply.
fn apply(dir: &Path, text: &str, delta: &str) -> Result<(String, usize)> {
    let file = dir.join("state");
    util::write(&file, text)?;
    let mut child = Command::new("patch")
        .args([
            "--quiet",
            "--force",
            "--fuzz=0",
            "--no-backup-if-mismatch",
            "-r",
            "-",
        ])
        .arg(&file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("patch: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        stdin
            .write_all(delta.as_bytes())
            .map_err(|e| format!("patch: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("patch: {e}"))?;
    let report = String::from_utf8_lossy(&out.stdout);
    let failed = report
        .lines()
        .filter_map(|l| l.split_once(" out of "))
        .filter_map(|(n, _)| n.rsplit(' ').next()?.parse::<usize>().ok())
        .sum();
    if out.status.code() == Some(2) {
        return fail(format!(
            "patch: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok((util::read(&file)?, failed))
}

/// Reverse-applies the part of `diff` that changes `f` to `text`.
fn reverse(dir: &Path, f: &str, text: &str, diff: &str) -> Result<String> {
    let target = dir.join("tree").join(f);
    util::mkdir(target.parent().unwrap_or(dir))?;
    util::write(&target, text)?;
    let d = dir.join("diff");
    util::write(&d, diff)?;
    reverse_apply(&dir.join("tree"), f, &d)
        .map_err(|e| format!("{f}: the committed diff does not reverse-apply: {e}"))?;
    util::read(&target)
}

/// Splits a multi-file diff into (file, section) pairs, in order; a
/// section runs from its `--- ` line to the next one that is followed by
/// a `+++ b/` line.
pub fn sections(diff: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = diff.split_inclusive('\n').collect();
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| {
            lines[i].starts_with("--- ")
                && lines.get(i + 1).is_some_and(|l| l.starts_with("+++ b/"))
        })
        .collect();
    let mut out = Vec::new();
    for (n, &s) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(lines.len());
        let text: String = lines[s..end].concat();
        let file = diff_targets(&text)
            .first()
            .map(|f| f.to_string())
            .unwrap_or_default();
        out.push((file, text));
    }
    out
}

/// Replaces the section of `diff` for `f` with `new` (which may be empty
/// to drop it). Text before the first section is kept.
pub fn replace_section(diff: &str, f: &str, new: &str) -> String {
    let secs = sections(diff);
    let head_len = secs
        .first()
        .and_then(|(_, s)| diff.find(s.as_str()))
        .unwrap_or(diff.len());
    let mut out = diff[..head_len].to_string();
    for (file, text) in &secs {
        out.push_str(if file == f { new } else { text });
    }
    out
}

/// The command: refreshes every layered new file whose working copy
/// differs from the committed one. Returns how many diffs it rewrote.
pub fn refresh(paths: &Paths, m: &Manifest) -> Result<usize> {
    let rev = std::env::var("REFRESH_REV").unwrap_or_else(|_| "HEAD".into());
    let scratch = paths.build.join("refresh");
    let mut rewritten = 0;
    for (k, p) in m.patches.iter().enumerate() {
        for f in &p.files {
            let later: Vec<&String> = m.patches[k + 1..]
                .iter()
                .flat_map(|q| &q.diffs)
                .filter(|d| {
                    util::read(&paths.repo.join("patches").join(d))
                        .is_ok_and(|t| diff_targets(&t).contains(&f.as_str()))
                })
                .collect();
            if later.is_empty() {
                continue;
            }
            let new_final = util::read(&paths.repo.join(f))?;
            let old_final = committed(&paths.repo, &rev, f)?;
            if new_final == old_final {
                continue;
            }
            let _ = std::fs::remove_dir_all(&scratch);
            util::mkdir(&scratch)?;
            // Old states, oldest first, ending with the old final form.
            let mut states = vec![old_final.clone()];
            for d in later.iter().rev() {
                let old_diff = committed(&paths.repo, &rev, &format!("patches/{d}"))?;
                let prev = reverse(&scratch, f, &states[0], &old_diff)?;
                states.insert(0, prev);
            }
            // One line of context: the states differ from the final form
            // around the lines later patches change.
            let delta = unified(&scratch, f, &old_final, &new_final, 1)?;
            let last = states.len() - 1;
            for (i, s) in states.iter_mut().enumerate().take(last) {
                let (text, failed) = apply(&scratch, s, &delta)?;
                if failed > 0 {
                    let who = if i == 0 { &p.subject } else { later[i - 1] };
                    eprintln!(
                        "    {f}: {failed} hunk(s) of the edit left out of the state of \"{who}\""
                    );
                }
                *s = text;
            }
            states[last] = new_final;
            for (i, d) in later.iter().enumerate() {
                let part = unified(&scratch, f, &states[i], &states[i + 1], 3)?;
                let path = paths.repo.join("patches").join(d);
                let old = util::read(&path)?;
                let new = replace_section(&old, f, &part);
                if new != old {
                    util::write(&path, &new)?;
                    eprintln!("    rewrote patches/{d} for {f}");
                    rewritten += 1;
                }
            }
        }
    }
    Ok(rewritten)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str =
        "intro\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n--- a/y\n+++ b/y\n@@ -1 +1 @@\n-c\n+d\n";

    #[test]
    fn splits_and_replaces_sections() {
        let s = sections(TWO);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].0, "x");
        assert_eq!(s[1].0, "y");
        assert!(s[1].1.ends_with("+d\n"));
        let r = replace_section(TWO, "y", "--- a/y\n+++ b/y\n@@ -1 +1 @@\n-c\n+e\n");
        assert!(r.starts_with("intro\n--- a/x"));
        assert!(r.ends_with("+e\n"));
        assert_eq!(
            replace_section(TWO, "x", ""),
            "intro\n--- a/y\n+++ b/y\n@@ -1 +1 @@\n-c\n+d\n"
        );
    }

    #[test]
    fn removed_line_looking_like_a_header_is_not_a_section() {
        let d = "--- a/x\n+++ b/x\n@@ -1,2 +1 @@\n--- a/z\n x\n";
        assert_eq!(sections(d).len(), 1);
    }

    #[test]
    fn edit_reaches_every_state_it_applies_to() {
        let dir = std::env::temp_dir().join(format!("xtask-refresh-{}", std::process::id()));
        util::mkdir(&dir).unwrap();
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let new = "1\n2\nthree\n4\n5\n6\n7\n8\n9\n";
        let delta = unified(&dir, "f", old, new, 1).unwrap();
        // An earlier state lacking line 9 still takes the edit.
        let (early, failed) = apply(&dir, "1\n2\n3\n4\n5\n6\n7\n8\n", &delta).unwrap();
        assert_eq!(
            (early.as_str(), failed),
            ("1\n2\nthree\n4\n5\n6\n7\n8\n", 0)
        );
        // A state without the edited lines does not, and says so.
        let (other, failed) = apply(&dir, "a\nb\n", &delta).unwrap();
        assert_eq!((other.as_str(), failed), ("a\nb\n", 1));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
