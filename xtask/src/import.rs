// SPDX-License-Identifier: GPL-2.0
//! `xtask import`: turns a git history of the series back into this
//! repository's form, so that a series can be restructured with git
//! (`rebase -i`, splitting and reordering commits) and then kept here.
//!
//! The commits `base..REV` of a clone of `build/linux` become the
//! `[[patch]]` entries of `series.toml` (the cover letter and the comments
//! before the first entry are kept as they are). For each commit:
//!
//! - a file it adds that the base does not have is a new file of that
//!   patch; the repository keeps it in its final form (as of REV);
//! - every other change, to upstream files and to new files of earlier
//!   patches, goes into one diff, `patches/NAME.diff`, NAME being that of
//!   the first diff the patch of the same subject had, or one made from
//!   the subject;
//! - an upstream file it deletes is listed under `remove`.
//!
//! New files and diffs that no entry names any more are deleted. The
//! commit messages lose their `Signed-off-by:` trailers, which `make
//! series` adds from the identity of whoever runs it. Assembling the
//! result (`make series`) gives commits with the same trees as the
//! imported ones; `xtask import` checks that before it returns.

use crate::manifest::Manifest;
use crate::tree::git;
use crate::util::{self, fail, Paths, Result};
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn out(dir: &Path, args: &[&str]) -> Result<String> {
    util::output(git(dir).args(args))
}

/// One imported commit.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    /// The subject line.
    pub subject: String,
    /// The message between subject and trailers, ending in a newline.
    pub body: String,
    /// New files the commit adds.
    pub files: Vec<String>,
    /// Upstream files it deletes.
    pub remove: Vec<String>,
    /// Everything else, as one unified diff (`--- a/`, `+++ b/`).
    pub diff: String,
    /// Its tree id.
    pub tree: String,
}

/// Splits a commit message into subject and body, dropping the trailing
/// `Signed-off-by:` lines.
pub fn split_message(msg: &str) -> Result<(String, String)> {
    let mut lines: Vec<&str> = msg.trim_end().lines().collect();
    while lines
        .last()
        .is_some_and(|l| l.starts_with("Signed-off-by:") || l.trim().is_empty())
    {
        lines.pop();
    }
    let subject = lines.first().copied().unwrap_or("").trim().to_string();
    if lines.len() < 3 || !lines[1].trim().is_empty() {
        return fail(format!(
            "commit \"{subject}\": needs a subject, a blank line and a body"
        ));
    }
    let mut body = lines[2..].join("\n");
    body.push('\n');
    Ok((subject, body))
}

/// Rewrites `git diff` output into the form of `patches/*.diff`: no
/// `diff --git`/`index` lines and no function names after `@@`. Mode
/// changes and binary files are refused.
pub fn plain_diff(text: &str) -> Result<String> {
    let mut o = String::new();
    for l in text.lines() {
        if l.starts_with("diff --git ") || l.starts_with("index ") {
            continue;
        }
        if l.starts_with("old mode")
            || l.starts_with("new mode")
            || l.starts_with("new file mode")
            || l.starts_with("deleted file mode")
            || l.starts_with("Binary files")
        {
            return fail(format!(
                "cannot import \"{l}\": only content changes go into a diff"
            ));
        }
        if let Some(rest) = l.strip_prefix("@@ ") {
            if let Some(end) = rest.find(" @@") {
                o.push_str("@@ ");
                o.push_str(&rest[..end + 3]);
                o.push('\n');
                continue;
            }
        }
        o.push_str(l);
        o.push('\n');
    }
    Ok(o)
}

/// A diff file name made from a subject: "rust: sync: add smp_mb()"
/// gives "rust-sync-add-smp-mb.diff".
pub fn slug(subject: &str) -> String {
    let mut s = String::new();
    for c in subject.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    let s: String = s.trim_matches('-').chars().take(60).collect();
    format!("{}.diff", s.trim_end_matches('-'))
}

/// Reads the commits `base..rev` of `src`.
pub fn read_commits(src: &Path, rev: &str) -> Result<Vec<Entry>> {
    let list = out(
        src,
        &[
            "rev-list",
            "--reverse",
            "--first-parent",
            &format!("base..{rev}"),
        ],
    )?;
    let mut entries = Vec::new();
    for id in list.split_whitespace() {
        let msg = out(src, &["log", "-1", "--format=%B", id])?;
        let (subject, body) = split_message(&msg)?;
        let status = out(
            src,
            &[
                "diff-tree",
                "-r",
                "--no-renames",
                "--name-status",
                &format!("{id}^"),
                id,
            ],
        )?;
        let (mut files, mut remove, mut changed) = (Vec::new(), Vec::new(), Vec::new());
        for l in status.lines() {
            let (st, path) = l
                .split_once('\t')
                .ok_or_else(|| format!("diff-tree: \"{l}\""))?;
            let in_base = git(src)
                .args(["cat-file", "-e", &format!("base:{path}")])
                .stderr(std::process::Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            match (st, in_base) {
                ("A", false) => files.push(path.to_string()),
                ("D", true) => remove.push(path.to_string()),
                ("D", false) => {
                    return fail(format!(
                        "\"{subject}\" deletes {path}, which an earlier patch added: fold that"
                    ))
                }
                ("M", _) => changed.push(path.to_string()),
                _ => return fail(format!("\"{subject}\": cannot import \"{l}\"")),
            }
        }
        let diff = if changed.is_empty() {
            String::new()
        } else {
            let mut args = vec![
                "diff".to_string(),
                "--no-renames".to_string(),
                "--no-color".to_string(),
                "-U3".to_string(),
                format!("{id}^"),
                id.to_string(),
                "--".to_string(),
            ];
            args.extend(changed);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            plain_diff(&out(src, &refs)?)?
        };
        let tree = out(src, &["rev-parse", &format!("{id}^{{tree}}")])?
            .trim()
            .to_string();
        entries.push(Entry {
            subject,
            body,
            files,
            remove,
            diff,
            tree,
        });
    }
    if entries.is_empty() {
        return fail(format!("no commits in base..{rev} of {}", src.display()));
    }
    Ok(entries)
}

fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn toml_list(key: &str, items: &[String]) -> String {
    let one = format!(
        "{key} = [{}]",
        items
            .iter()
            .map(|s| toml_str(s))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if one.len() <= 100 {
        return one + "\n";
    }
    let mut s = format!("{key} = [\n");
    for i in items {
        s.push_str(&format!("    {},\n", toml_str(i)));
    }
    s + "]\n"
}

/// The `[[patch]]` entries for `entries`, with their diff names.
pub fn render(entries: &[Entry], names: &[Option<String>]) -> String {
    let mut s = String::new();
    for (e, name) in entries.iter().zip(names) {
        s.push_str("\n[[patch]]\n");
        s.push_str(&format!("subject = {}\n", toml_str(&e.subject)));
        let body = e.body.replace('\\', "\\\\").replace("\"\"\"", "\"\"\\\"");
        s.push_str(&format!("body = \"\"\"\n{body}\"\"\"\n"));
        if !e.files.is_empty() {
            s.push_str(&toml_list("files", &e.files));
        }
        if !e.remove.is_empty() {
            s.push_str(&toml_list("remove", &e.remove));
        }
        if let Some(n) = name {
            s.push_str(&toml_list("diffs", std::slice::from_ref(n)));
        }
    }
    s
}

/// The diff names: the first diff of the old patch with the same subject,
/// else one from the subject, made unique.
fn diff_names(entries: &[Entry], old: Option<&Manifest>) -> Vec<Option<String>> {
    let mut used = BTreeSet::new();
    entries
        .iter()
        .map(|e| {
            if e.diff.is_empty() {
                return None;
            }
            let kept = old
                .and_then(|m| m.patches.iter().find(|p| p.subject == e.subject))
                .and_then(|p| p.diffs.first().cloned());
            let mut name = kept.unwrap_or_else(|| slug(&e.subject));
            let mut n = 2;
            while used.contains(&name) {
                name = format!("{}-{n}.diff", slug(&e.subject).trim_end_matches(".diff"));
                n += 1;
            }
            used.insert(name.clone());
            Some(name)
        })
        .collect()
}

/// Writes `entries` into the repository: new files (final form from
/// `src` at `rev`), diffs, the `[[patch]]` part of `series.toml`; deletes
/// what the old manifest named and the new one does not.
pub fn write_repo(repo: &Path, src: &Path, rev: &str, entries: &[Entry]) -> Result<()> {
    let manifest_path = repo.join("series.toml");
    let text = util::read(&manifest_path)?;
    let old = Manifest::parse(&text, "series.toml").ok();
    let head = match text.find("\n[[patch]]") {
        Some(i) => &text[..i],
        None => text.trim_end(),
    };
    let names = diff_names(entries, old.as_ref());
    let new_files: BTreeSet<&String> = entries.iter().flat_map(|e| &e.files).collect();
    let new_diffs: BTreeSet<&String> = names.iter().flatten().collect();
    if let Some(m) = &old {
        for p in &m.patches {
            for f in p.files.iter().filter(|f| !new_files.contains(f)) {
                std::fs::remove_file(repo.join(f)).map_err(|e| format!("{f}: {e}"))?;
            }
            for d in p.diffs.iter().filter(|d| !new_diffs.contains(d)) {
                let path = repo.join("patches").join(d);
                std::fs::remove_file(&path).map_err(|e| format!("patches/{d}: {e}"))?;
            }
        }
    }
    for f in new_files {
        let content = util::output(git(src).args(["cat-file", "blob", &format!("{rev}:{f}")]))?;
        let mode = out(src, &["ls-tree", rev, "--", f])?;
        let exec = mode.starts_with("100755");
        let dst = repo.join(f);
        util::write(&dst, content)?;
        let perm = std::fs::Permissions::from_mode(if exec { 0o755 } else { 0o644 });
        std::fs::set_permissions(&dst, perm).map_err(|e| format!("{f}: {e}"))?;
    }
    for (e, name) in entries.iter().zip(&names) {
        if let Some(n) = name {
            util::write(&repo.join("patches").join(n), &e.diff)?;
        }
    }
    let new_text = format!("{}\n{}", head.trim_end(), render(entries, &names));
    Manifest::parse(&new_text, "imported series.toml")?;
    util::write(&manifest_path, new_text)
}

/// `xtask import`: from the clone named by `IMPORT_FROM` (its `HEAD`, or
/// `IMPORT_REV`). Returns the imported commits, for the caller to check
/// that the series assembles to the same trees.
pub fn import(paths: &Paths) -> Result<Vec<Entry>> {
    let src = std::env::var_os("IMPORT_FROM")
        .map(std::path::PathBuf::from)
        .ok_or("set IMPORT_FROM to a clone of build/linux holding the edited series")?;
    if src == paths.tree() {
        return fail("IMPORT_FROM must be a clone of build/linux, not build/linux itself");
    }
    let rev = std::env::var("IMPORT_REV").unwrap_or_else(|_| "HEAD".to_string());
    let entries = read_commits(&src, &rev)?;
    write_repo(&paths.repo, &src, &rev, &entries)?;
    eprintln!(
        "  IMPORT  {} patches from {} {rev}",
        entries.len(),
        src.display()
    );
    Ok(entries)
}

/// Compares the trees of the assembled series (`build/linux`, branch
/// `series`) with those of `entries`; returns one line per difference.
pub fn compare_trees(tree: &Path, entries: &[Entry]) -> Result<Vec<String>> {
    let list = out(tree, &["rev-list", "--reverse", "base..series"])?;
    let ids: Vec<&str> = list.split_whitespace().collect();
    let mut diffs = Vec::new();
    if ids.len() != entries.len() {
        diffs.push(format!(
            "{} commits assembled, {} imported",
            ids.len(),
            entries.len()
        ));
    }
    for (i, (id, e)) in ids.iter().zip(entries).enumerate() {
        let t = out(tree, &["rev-parse", &format!("{id}^{{tree}}")])?;
        if t.trim() != e.tree {
            diffs.push(format!("patch {} \"{}\": tree differs", i + 1, e.subject));
        }
    }
    Ok(diffs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_messages() {
        let (s, b) =
            split_message("rust: x: add y\n\nLine one.\n\nLine two.\n\nSigned-off-by: A <a@b>\n")
                .unwrap();
        assert_eq!(s, "rust: x: add y");
        assert_eq!(b, "Line one.\n\nLine two.\n");
        assert!(split_message("only a subject\n").is_err());
    }

    #[test]
    fn plain_diffs() {
        let d = "diff --git a/f b/f\nindex 1..2 100644\n--- a/f\n+++ b/f\n\
                 @@ -1,2 +1,3 @@ fn main() {\n a\n+b\n c\n";
        assert_eq!(
            plain_diff(d).unwrap(),
            "--- a/f\n+++ b/f\n@@ -1,2 +1,3 @@\n a\n+b\n c\n"
        );
        assert!(plain_diff("old mode 100644\n").is_err());
    }

    #[test]
    fn slugs() {
        assert_eq!(
            slug("rust: sync: add smp_mb()"),
            "rust-sync-add-smp-mb.diff"
        );
        assert_eq!(slug("arch: Wire up cpu_opv"), "arch-wire-up-cpu-opv.diff");
    }

    #[test]
    fn renders_entries_that_parse() {
        let e = Entry {
            subject: "demo: a \"quoted\" subject".into(),
            body: "Body with a backslash \\ and \"\"\" quotes.\n".into(),
            files: vec!["kernel/a.c".into()],
            remove: vec![],
            diff: "x".into(),
            tree: String::new(),
        };
        let text = format!(
            "[cover]\nsubject = \"c: c\"\nbody = \"b\"\ndate = \"2026-01-01T00:00:00Z\"\n{}",
            render(std::slice::from_ref(&e), &[Some("a.diff".into())])
        );
        let m = Manifest::parse(&text, "t").unwrap();
        assert_eq!(m.patches[0].subject, e.subject);
        assert_eq!(m.patches[0].body, e.body);
        assert_eq!(m.patches[0].diffs, vec!["a.diff".to_string()]);
    }
}
