// SPDX-License-Identifier: GPL-2.0
//! Per-stage tallies on disk (`build/results/STAGE.txt`), the per-test
//! table of a guest run, and the closing `N passed, N failed` line.

use crate::ktap::{Outcome, Verdict};
use crate::util::{self, Paths, Result};
use std::collections::BTreeMap;

/// Counts for one stage.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Tally {
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed, plus problems that fail a stage on their own.
    pub failed: usize,
    /// Tests that were skipped.
    pub skipped: usize,
}

impl Tally {
    fn add(&mut self, o: Tally) {
        self.passed += o.passed;
        self.failed += o.failed;
        self.skipped += o.skipped;
    }

    /// `passed N\nfailed N\nskipped N\n`.
    pub fn to_text(self) -> String {
        format!(
            "passed {}\nfailed {}\nskipped {}\n",
            self.passed, self.failed, self.skipped
        )
    }

    /// Reads [`Tally::to_text`] output back.
    pub fn parse(text: &str) -> Tally {
        let mut t = Tally::default();
        for l in text.lines() {
            let (k, v) = l.split_once(' ').unwrap_or((l, ""));
            let n = v.trim().parse().unwrap_or(0);
            match k {
                "passed" => t.passed = n,
                "failed" => t.failed = n,
                "skipped" => t.skipped = n,
                _ => {}
            }
        }
        t
    }
}

/// Removes the previous run's tallies.
pub fn clear(paths: &Paths) -> Result<()> {
    let dir = paths.results();
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    util::mkdir(&dir)
}

/// Stores a stage's tally.
pub fn record(paths: &Paths, stage: &str, t: &Tally) -> Result<()> {
    util::write(&paths.results().join(format!("{stage}.txt")), t.to_text())
}

/// At most this many failure lines are printed for one guest run.
const MAX_FAILURE_LINES: usize = 60;

/// Whether a console line says why a test failed: a `not ok` result at
/// any depth (but not a TODO or SKIP one) or a fuzzer's `MISMATCH`.
fn is_failure_line(l: &str) -> bool {
    let s = l.trim_start_matches(['#', ' ']);
    (s.starts_with("not ok ") && !s.contains("# SKIP") && !s.contains("# TODO"))
        || s.starts_with("MISMATCH")
}

/// Prints the table for one guest run and returns its tally. On failure
/// also prints the problems, the last 50 console lines and the log path.
pub fn print_verdict(paths: &Paths, arch: &str, v: &Verdict) -> Tally {
    let log = paths.logs().join(format!("console-{arch}.log"));
    println!();
    println!("{arch}: results (console log {})", log.display());
    let mut suites: BTreeMap<&str, Tally> = BTreeMap::new();
    for r in &v.results {
        let t = suites.entry(r.suite.as_str()).or_default();
        match r.outcome {
            Outcome::Pass => t.passed += 1,
            Outcome::Fail => t.failed += 1,
            Outcome::Skip => t.skipped += 1,
        }
    }
    println!(
        "  {:<28} {:>6} {:>6} {:>6}",
        "SUITE", "PASS", "FAIL", "SKIP"
    );
    for (s, t) in &suites {
        println!("  {s:<28} {:>6} {:>6} {:>6}", t.passed, t.failed, t.skipped);
    }
    println!("  {:<6} TEST", "RESULT");
    for r in &v.results {
        // Doctests are many: list them only when they did not pass.
        if r.suite == "kselftest" || r.outcome != Outcome::Pass {
            let res = match r.outcome {
                Outcome::Pass => "PASS",
                Outcome::Fail => "FAIL",
                Outcome::Skip => "SKIP",
            };
            let detail = if r.detail.is_empty() {
                String::new()
            } else {
                format!("  # {}", r.detail)
            };
            let name = if r.suite == "kselftest" {
                r.name.clone()
            } else {
                format!("{}: {}", r.suite, r.name)
            };
            println!("  {res:<6} {name}{detail}");
        }
    }
    for p in &v.problems {
        println!("  ERROR  {p}");
    }
    let tally = Tally {
        passed: v.count(Outcome::Pass),
        failed: v.count(Outcome::Fail) + v.problems.len(),
        skipped: v.count(Outcome::Skip),
    };
    if !v.ok() {
        let text = std::fs::read(&log).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.lines().collect();
        // The reasons: failed subtests and the mismatches fuzzers print,
        // which the tail of a long log rarely still shows.
        let why: Vec<&&str> = lines.iter().filter(|l| is_failure_line(l)).collect();
        if !why.is_empty() {
            println!("{arch}: failure lines in the console log:");
            for l in why.iter().take(MAX_FAILURE_LINES) {
                println!("  | {l}");
            }
            if why.len() > MAX_FAILURE_LINES {
                println!("  | ... {} more", why.len() - MAX_FAILURE_LINES);
            }
        }
        println!("{arch}: last 50 console lines:");
        for l in &lines[lines.len().saturating_sub(50)..] {
            println!("  | {l}");
        }
        println!("{arch}: FAILED, full console log: {}", log.display());
    }
    println!(
        "{arch}: {} passed, {} failed, {} skipped",
        tally.passed, tally.failed, tally.skipped
    );
    tally
}

/// Prints every stage's tally and the total; returns the total.
pub fn summary(paths: &Paths) -> Result<Tally> {
    let mut stages = Vec::new();
    let dir = paths.results();
    let rd = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "txt") {
            let name = p
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            stages.push((name, Tally::parse(&util::read(&p)?)));
        }
    }
    stages.sort_by(|a, b| a.0.cmp(&b.0));
    let mut total = Tally::default();
    println!();
    println!(
        "  {:<20} {:>6} {:>6} {:>6}",
        "STAGE", "PASS", "FAIL", "SKIP"
    );
    for (name, t) in &stages {
        println!(
            "  {name:<20} {:>6} {:>6} {:>6}",
            t.passed, t.failed, t.skipped
        );
        total.add(*t);
    }
    println!("skipped: {}", total.skipped);
    println!("{} passed, {} failed", total.passed, total.failed);
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_round_trip() {
        let t = Tally {
            passed: 3,
            failed: 1,
            skipped: 2,
        };
        assert_eq!(Tally::parse(&t.to_text()), t);
        assert_eq!(Tally::parse("garbage\n"), Tally::default());
    }

    #[test]
    fn failure_lines() {
        assert!(is_failure_line("# not ok 3 kernel log warns"));
        assert!(is_failure_line(
            "not ok 3 selftests: rseq: rseq_fuzz_test # exit=1"
        ));
        assert!(is_failure_line("# # MISMATCH registration: seed 1 ..."));
        assert!(!is_failure_line("# ok 7 flag warnings"));
        assert!(!is_failure_line("# not ok 2 x # SKIP no assembly"));
        assert!(!is_failure_line("    # rust_doctest: not ok in prose"));
    }
}
