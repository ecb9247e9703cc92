// SPDX-License-Identifier: GPL-2.0
//! The series manifest (`series.toml`): patch order, commit messages, and
//! which new files, removals and upstream diffs each patch carries.

use crate::util::{fail, Result};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::Path;

/// The cover letter. The manifest carries no identity: the author and
/// `Signed-off-by` of every patch are those of whoever emits the series
/// (see `tree::Identity`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cover {
    /// Subject of the cover letter (without the `[PATCH 0/N]` prefix).
    pub subject: String,
    /// Body of the cover letter.
    pub body: String,
    /// Fixed commit date (RFC 2822 or ISO 8601), so commit ids are stable.
    pub date: String,
    /// Subject prefix of every mail (`PATCH`, `RFC PATCH`).
    #[serde(default = "default_prefix")]
    pub subject_prefix: String,
    /// Revision of the posting: `vN` in the subjects from 2 on.
    #[serde(default = "default_version")]
    pub version: u32,
}

fn default_prefix() -> String {
    "PATCH".to_string()
}

fn default_version() -> u32 {
    1
}

/// One patch of the series.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    /// Commit subject, `subsystem: summary`.
    pub subject: String,
    /// Commit message body; `Signed-off-by` is appended by the tool.
    pub body: String,
    /// New files, copied from the repository at the same path.
    #[serde(default)]
    pub files: Vec<String>,
    /// Upstream files the patch deletes.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Unified diffs against upstream files, relative to `patches/`.
    #[serde(default)]
    pub diffs: Vec<String>,
}

/// The whole manifest.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Cover letter.
    pub cover: Cover,
    /// Patches in series order.
    #[serde(rename = "patch", default)]
    pub patches: Vec<Patch>,
}

impl Patch {
    /// The full commit message: subject, blank line, body, sign-off.
    pub fn message(&self, author: &str) -> String {
        format!(
            "{}\n\n{}\n\nSigned-off-by: {}\n",
            self.subject,
            self.body.trim_end(),
            author
        )
    }
}

impl Manifest {
    /// Parses manifest text; `origin` names it in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Manifest> {
        let m: Manifest = toml::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
        m.check_shape(origin)?;
        Ok(m)
    }

    /// Reads and checks `series.toml` under `repo`, including that every
    /// named file and diff exists.
    pub fn load(repo: &Path) -> Result<Manifest> {
        let path = repo.join("series.toml");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let m = Manifest::parse(&text, "series.toml")?;
        for (i, p) in m.patches.iter().enumerate() {
            let what = |kind: &str, f: &str| {
                format!(
                    "series.toml: patch {} \"{}\": {kind} {f} does not exist",
                    i + 1,
                    p.subject
                )
            };
            for f in &p.files {
                if !repo.join(f).is_file() {
                    return fail(what("file", f));
                }
            }
            for d in &p.diffs {
                if !repo.join("patches").join(d).is_file() {
                    return fail(what("diff", &format!("patches/{d}")));
                }
            }
        }
        Ok(m)
    }

    /// Checks what can be checked without the file system.
    fn check_shape(&self, origin: &str) -> Result<()> {
        if self.patches.is_empty() {
            return fail(format!("{origin}: no [[patch]] entries"));
        }
        let mut added = BTreeSet::new();
        for (i, p) in self.patches.iter().enumerate() {
            let n = i + 1;
            let subject = p.subject.trim();
            if subject.is_empty() || subject.contains('\n') {
                return fail(format!("{origin}: patch {n}: subject must be one line"));
            }
            if !subject.contains(": ") {
                return fail(format!(
                    "{origin}: patch {n} \"{subject}\": subject needs a \"subsystem: \" prefix"
                ));
            }
            if p.body.trim().is_empty() {
                return fail(format!("{origin}: patch {n} \"{subject}\": empty body"));
            }
            if p.files.is_empty() && p.diffs.is_empty() && p.remove.is_empty() {
                return fail(format!(
                    "{origin}: patch {n} \"{subject}\": changes nothing"
                ));
            }
            for f in p.files.iter().chain(&p.remove).chain(&p.diffs) {
                if f.starts_with('/') || f.split('/').any(|c| c == ".." || c.is_empty()) {
                    return fail(format!("{origin}: patch {n}: bad path \"{f}\""));
                }
            }
            for f in &p.files {
                if !added.insert(f.as_str()) {
                    return fail(format!("{origin}: patch {n}: {f} is added twice"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[cover]
subject = "rseq: test"
body = "cover text"
date = "2026-11-21T00:00:00Z"

[[patch]]
subject = "rust: cpu: add helpers"
body = "Why and what."
files = ["rust/kernel/cpu.rs"]
diffs = ["rust-lib.diff"]
"#;

    #[test]
    fn parses_good_manifest() {
        let m = Manifest::parse(GOOD, "t").unwrap();
        assert_eq!(m.patches.len(), 1);
        assert_eq!(m.patches[0].files, ["rust/kernel/cpu.rs"]);
        assert!(m.patches[0].remove.is_empty());
        let msg = m.patches[0].message("A Developer <dev@example.org>");
        assert!(msg.starts_with("rust: cpu: add helpers\n\nWhy and what.\n\n"));
        assert!(msg.ends_with("Signed-off-by: A Developer <dev@example.org>\n"));
    }

    #[test]
    fn rejects_unknown_key() {
        let bad = GOOD.replace("diffs =", "difs =");
        let e = Manifest::parse(&bad, "t").unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
    }

    #[test]
    fn rejects_subject_without_prefix() {
        let bad = GOOD.replace("rust: cpu: add helpers", "add helpers");
        assert!(Manifest::parse(&bad, "t")
            .unwrap_err()
            .contains("subsystem"));
    }

    #[test]
    fn rejects_escaping_path() {
        let bad = GOOD.replace("rust/kernel/cpu.rs", "../etc/passwd");
        assert!(Manifest::parse(&bad, "t").unwrap_err().contains("bad path"));
    }

    #[test]
    fn rejects_empty_patch_and_double_add() {
        let empty = GOOD.replace(
            "files = [\"rust/kernel/cpu.rs\"]\ndiffs = [\"rust-lib.diff\"]",
            "",
        );
        assert!(Manifest::parse(&empty, "t")
            .unwrap_err()
            .contains("changes nothing"));
        let twice = format!(
            "{GOOD}\n[[patch]]\nsubject = \"x: y\"\nbody = \"b\"\nfiles = [\"rust/kernel/cpu.rs\"]\n"
        );
        assert!(Manifest::parse(&twice, "t")
            .unwrap_err()
            .contains("added twice"));
    }

    #[test]
    fn load_reports_missing_file() {
        let dir = std::env::temp_dir().join(format!("xtask-manifest-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("patches")).unwrap();
        std::fs::write(dir.join("series.toml"), GOOD).unwrap();
        std::fs::write(dir.join("patches/rust-lib.diff"), "").unwrap();
        let e = Manifest::load(&dir).unwrap_err();
        assert!(e.contains("file rust/kernel/cpu.rs does not exist"), "{e}");
        std::fs::create_dir_all(dir.join("rust/kernel")).unwrap();
        std::fs::write(dir.join("rust/kernel/cpu.rs"), "").unwrap();
        std::fs::remove_file(dir.join("patches/rust-lib.diff")).unwrap();
        let e = Manifest::load(&dir).unwrap_err();
        assert!(
            e.contains("diff patches/rust-lib.diff does not exist"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
