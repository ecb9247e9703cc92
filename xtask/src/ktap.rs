// SPDX-License-Identifier: GPL-2.0
//! The verdict on a guest console log: KTAP from KUnit (the Rust doctests
//! run at boot), TAP from the kselftest runner, and kernel splats.

/// Marker the guest init prints before starting the kselftest runner.
pub const KSFT_BEGIN: &str = "@@ guest: kselftest begin";
/// Marker the guest init prints after the runner returns.
pub const KSFT_END: &str = "@@ guest: kselftest end";

/// How one test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `ok`.
    Pass,
    /// `not ok`.
    Fail,
    /// `ok`/`not ok` with a `# SKIP` directive.
    Skip,
}

/// One test result.
#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    /// The suite (KUnit suite, or `kselftest`).
    pub suite: String,
    /// The test's name.
    pub name: String,
    /// Its outcome.
    pub outcome: Outcome,
    /// Directive or reason text after `#`, if any.
    pub detail: String,
}

/// Everything a console log says.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Leaf test results, in order.
    pub results: Vec<TestResult>,
    /// Problems that fail the run on their own (missing plan, splat, ...).
    pub problems: Vec<String>,
}

impl Verdict {
    /// Number of results with outcome `o`.
    pub fn count(&self, o: Outcome) -> usize {
        self.results.iter().filter(|r| r.outcome == o).count()
    }

    /// Whether the run passed as a whole.
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.count(Outcome::Fail) == 0
    }
}

/// Strings that mean the kernel complained. Matched on kernel lines only
/// (not on the `# `-prefixed output of tests).
const SPLATS: &[&str] = &[
    "BUG:",
    "WARNING:",
    "Oops",
    "Kernel panic",
    "Call Trace",
    "KASAN",
    "UBSAN",
    "possible circular locking dependency",
    "possible recursive locking",
    "inconsistent lock state",
    "suspicious RCU usage",
    "bad unlock balance",
    "held lock freed",
    "lock held when returning to user space",
    "DEBUG_LOCKS_WARN_ON",
    "lockdep is turned off",
    "rcu: INFO:",
    "hung_task",
    "general protection fault",
    "Unable to handle kernel",
];

/// Removes a printk timestamp (`[   12.345678] `) and carriage returns.
fn clean(line: &str) -> &str {
    let line = line.trim_end_matches('\r');
    if let Some(rest) = line.strip_prefix('[') {
        if let Some((ts, tail)) = rest.split_once("] ") {
            if ts.trim().chars().all(|c| c.is_ascii_digit() || c == '.') {
                return tail;
            }
        }
    }
    line
}

#[derive(Debug)]
struct Level {
    plan: Option<usize>,
    seen: usize,
    // Leaf results gathered under this level's not-yet-closed test.
    children: Vec<TestResult>,
    suite: String,
}

impl Level {
    fn new() -> Level {
        Level {
            plan: None,
            seen: 0,
            children: Vec::new(),
            suite: String::new(),
        }
    }
}

/// Parses `ok N name # directive` / `not ok N name`.
fn parse_result(s: &str) -> Option<(bool, String, String)> {
    let (ok, rest) = if let Some(r) = s.strip_prefix("ok ") {
        (true, r)
    } else {
        (false, s.strip_prefix("not ok ")?)
    };
    let (num, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (name, detail) = match rest.split_once(" # ") {
        Some((n, d)) => (n.trim(), d.trim()),
        None => (rest.trim_end_matches(" #").trim(), ""),
    };
    let name = name.trim_start_matches("- ");
    Some((ok, name.to_string(), detail.to_string()))
}

fn outcome(ok: bool, detail: &str) -> Outcome {
    if detail.to_ascii_uppercase().starts_with("SKIP") {
        Outcome::Skip
    } else if ok {
        Outcome::Pass
    } else {
        Outcome::Fail
    }
}

/// A KTAP/TAP document: nesting by four-space indentation; results of a
/// nested level are reported as leaves under the parent's name, results
/// without children are leaves themselves.
fn parse_tap(lines: &[&str], top_suite: &str, what: &str, v: &mut Verdict) {
    let mut stack: Vec<Level> = Vec::new();
    let mut started = false;
    for raw in lines {
        let indent = raw.len() - raw.trim_start_matches(' ').len();
        let depth = indent / 4;
        let s = raw.trim();
        let is_version = s.starts_with("KTAP version") || s.starts_with("TAP version");
        let is_plan = s.starts_with("1..");
        let result = parse_result(s);
        if !is_version && !is_plan && result.is_none() {
            // Subtest names, diagnostics, kernel chatter.
            if let Some(name) = s.strip_prefix("# Subtest: ") {
                if let Some(l) = stack.get_mut(depth) {
                    l.suite = name.to_string();
                }
            }
            continue;
        }
        if is_version {
            if depth == 0 && started {
                // A second top-level document in the same range: close the first.
                close_levels(&mut stack, 0, top_suite, what, v);
            }
            started = true;
            while stack.len() > depth + 1 {
                close_level(&mut stack, top_suite, what, v);
            }
            while stack.len() < depth + 1 {
                stack.push(Level::new());
            }
            stack[depth] = Level::new();
            continue;
        }
        if !started {
            continue;
        }
        while stack.len() < depth + 1 {
            stack.push(Level::new());
        }
        if is_plan {
            let n = s[3..].split_whitespace().next().unwrap_or("").parse().ok();
            stack[depth].plan = n;
            continue;
        }
        let Some((ok, name, detail)) = result else {
            continue;
        };
        // Levels deeper than this result are finished: their leaves
        // belong to this result.
        let mut leaves = Vec::new();
        while stack.len() > depth + 1 {
            let l = stack.pop().unwrap_or_else(Level::new);
            check_plan(&l, &name, what, v);
            leaves.extend(l.children);
        }
        let lvl = &mut stack[depth];
        lvl.seen += 1;
        if leaves.is_empty() {
            let suite = if depth == 0 {
                top_suite.to_string()
            } else {
                lvl.suite.clone()
            };
            lvl.children.push(TestResult {
                suite,
                name,
                outcome: outcome(ok, &detail),
                detail,
            });
        } else {
            if !ok && !leaves.iter().any(|l| l.outcome == Outcome::Fail) {
                leaves.push(TestResult {
                    suite: name.clone(),
                    name: format!("{name} (suite)"),
                    outcome: outcome(ok, &detail),
                    detail,
                });
            }
            lvl.children.extend(leaves);
        }
    }
    if !started {
        v.problems.push(format!("{what}: no TAP/KTAP output found"));
        return;
    }
    close_levels(&mut stack, 0, top_suite, what, v);
}

fn check_plan(l: &Level, name: &str, what: &str, v: &mut Verdict) {
    let name = if name == what {
        String::new()
    } else {
        format!(" {name}:")
    };
    match l.plan {
        None => v.problems.push(format!("{what}:{name} missing plan")),
        Some(n) if n != l.seen => v.problems.push(format!(
            "{what}:{name} plan says {n} tests, {} reported",
            l.seen
        )),
        _ => {}
    }
}

fn close_level(stack: &mut Vec<Level>, top: &str, what: &str, v: &mut Verdict) {
    if let Some(l) = stack.pop() {
        let name = if stack.is_empty() {
            top.to_string()
        } else {
            l.suite.clone()
        };
        check_plan(&l, &name, what, v);
        match stack.last_mut() {
            Some(parent) => {
                // A nested level never closed by a result line: the run
                // stopped inside it.
                v.problems
                    .push(format!("{what}: {name}: ended without a result line"));
                parent.children.extend(l.children);
            }
            None => v.results.extend(l.children),
        }
    }
}

fn close_levels(stack: &mut Vec<Level>, to: usize, top: &str, what: &str, v: &mut Verdict) {
    while stack.len() > to {
        close_level(stack, top, what, v);
    }
}

/// Judges a whole console log. `expect_kunit` says whether the kernel was
/// built with KUnit tests that must have run at boot.
pub fn judge(log: &str, expect_kunit: bool) -> Verdict {
    let mut v = Verdict::default();
    let lines: Vec<&str> = log.lines().map(clean).collect();
    let begin = lines.iter().position(|l| l.starts_with(KSFT_BEGIN));
    let end = lines.iter().position(|l| l.starts_with(KSFT_END));
    for l in &lines {
        let t = l.trim_start();
        if t.starts_with('#') || t.starts_with("@@") {
            continue;
        }
        if let Some(p) = SPLATS.iter().find(|p| l.contains(*p)) {
            v.problems
                .push(format!("kernel splat (\"{p}\"): {}", l.trim()));
        }
    }
    let boot_end = begin.unwrap_or(lines.len());
    if expect_kunit {
        parse_tap(&lines[..boot_end], "kunit", "KUnit", &mut v);
    }
    match (begin, end) {
        (Some(b), Some(e)) if e > b => {
            parse_tap(&lines[b + 1..e], "kselftest", "kselftest", &mut v)
        }
        (Some(b), _) => {
            v.problems
                .push("kselftest: runner did not finish (no end marker)".to_string());
            parse_tap(&lines[b + 1..], "kselftest", "kselftest", &mut v);
        }
        (None, _) => v
            .problems
            .push("kselftest: the guest never started the runner".to_string()),
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUNIT_OK: &str = "\
[    0.900000] KTAP version 1
[    0.900001] 1..1
[    0.900002]     KTAP version 1
[    0.900003]     # Subtest: rust_doctests_kernel
[    0.900004]     # speed: normal
[    0.900005]     1..2
[    0.900006]     # rust_doctest_kernel_a.location: rust/kernel/a.rs:10
[    0.900007]     ok 1 rust_doctest_kernel_a_0
[    0.900008]     ok 2 rust_doctest_kernel_b_0
[    0.900009] # rust_doctests_kernel: pass:2 fail:0 skip:0 total:2
[    0.900010] ok 1 rust_doctests_kernel
";

    const KSFT_OK: &str = "\
@@ guest: kselftest begin
TAP version 13
1..2
# timeout set to 0
# selftests: rseq: basic_test
# testing current cpu
# ok 1 nested output is ignored
ok 1 selftests: rseq: basic_test
# selftests: rseq: param_test
ok 2 selftests: rseq: param_test # SKIP
@@ guest: kselftest end, runner exit 0
";

    fn log(parts: &[&str]) -> String {
        parts.concat()
    }

    #[test]
    fn passing_run() {
        let v = judge(&log(&[KUNIT_OK, KSFT_OK]), true);
        assert!(v.ok(), "{:?}", v.problems);
        assert_eq!(v.count(Outcome::Pass), 3);
        assert_eq!(v.count(Outcome::Skip), 1);
        assert_eq!(v.results[0].suite, "rust_doctests_kernel");
        assert_eq!(v.results[0].name, "rust_doctest_kernel_a_0");
        assert_eq!(v.results[2].name, "selftests: rseq: basic_test");
    }

    #[test]
    fn failed_test_fails() {
        let l = log(&[
            KUNIT_OK,
            &KSFT_OK.replace("ok 1 selftests", "not ok 1 selftests"),
        ]);
        let v = judge(
            &l.replace("basic_test\n@@", "basic_test # exit=1\n@@"),
            true,
        );
        assert!(!v.ok());
        assert_eq!(v.count(Outcome::Fail), 1);
        let k = log(&[&KUNIT_OK.replace("    ok 2", "    not ok 2"), KSFT_OK]);
        let v = judge(&k, true);
        assert_eq!(v.count(Outcome::Fail), 1);
        assert_eq!(v.results[1].name, "rust_doctest_kernel_b_0");
    }

    #[test]
    fn missing_plan_and_short_plan() {
        let v = judge(&log(&[KUNIT_OK, &KSFT_OK.replace("1..2\n", "")]), true);
        assert!(
            v.problems.iter().any(|p| p.contains("missing plan")),
            "{:?}",
            v.problems
        );
        let v = judge(
            &log(&[KUNIT_OK, &KSFT_OK.replace("1..2\n", "1..3\n")]),
            true,
        );
        assert!(v
            .problems
            .iter()
            .any(|p| p.contains("plan says 3 tests, 2 reported")));
        let v = judge(
            &log(&[&KUNIT_OK.replace("    1..2", "    1..5"), KSFT_OK]),
            true,
        );
        assert!(
            v.problems
                .iter()
                .any(|p| p.contains("rust_doctests_kernel: plan says 5")),
            "{:?}",
            v.problems
        );
    }

    #[test]
    fn truncated_runs() {
        let cut = &KSFT_OK[..KSFT_OK.find("# selftests: rseq: param_test").unwrap()];
        let v = judge(&log(&[KUNIT_OK, cut]), true);
        assert!(v.problems.iter().any(|p| p.contains("no end marker")));
        assert!(v
            .problems
            .iter()
            .any(|p| p.contains("plan says 2 tests, 1 reported")));
        let v = judge(KUNIT_OK, true);
        assert!(v.problems.iter().any(|p| p.contains("never started")));
        let v = judge(KSFT_OK, true);
        assert!(v
            .problems
            .iter()
            .any(|p| p.contains("KUnit: no TAP/KTAP output")));
        // KUnit stopped inside the suite (e.g. a panic in a doctest).
        let kcut = &KUNIT_OK[..KUNIT_OK.find("[    0.900009]").unwrap()];
        let v = judge(&log(&[kcut, KSFT_OK]), true);
        assert!(!v.ok());
    }

    #[test]
    fn splats_fail_but_test_output_does_not() {
        let splat = "[   5.0] WARNING: CPU: 1 PID: 40 at kernel/rseq.c:100 rseq_x+0x1/0x2\n";
        let v = judge(&log(&[KUNIT_OK, splat, KSFT_OK]), true);
        assert!(!v.ok());
        assert!(v.problems[0].contains("WARNING:"));
        let quoted = KSFT_OK.replace("# testing current cpu", "# BUG: this is test output");
        assert!(judge(&log(&[KUNIT_OK, &quoted]), true).ok());
        let lockdep = "[ 3.1] ======================================================\n[ 3.1] WARNING: possible circular locking dependency detected\n";
        assert!(!judge(&log(&[KUNIT_OK, lockdep, KSFT_OK]), true).ok());
        // Lockdep's boot banner is not a complaint.
        let banner = "[ 0.1] rcu: \tRCU lockdep checking is enabled.\n";
        assert!(judge(&log(&[banner, KUNIT_OK, KSFT_OK]), true).ok());
    }

    #[test]
    fn kernel_lines_between_results_are_ignored() {
        let noisy = KSFT_OK.replace(
            "ok 1 selftests: rseq: basic_test\n",
            "ok 1 selftests: rseq: basic_test\nrandom: crng init done\n",
        );
        let v = judge(&log(&[KUNIT_OK, &noisy]), true);
        assert!(v.ok(), "{:?}", v.problems);
    }

    #[test]
    fn result_line_forms() {
        assert_eq!(
            parse_result("ok 3 - foo # SKIP no cpu"),
            Some((true, "foo".into(), "SKIP no cpu".into()))
        );
        assert_eq!(
            parse_result("not ok 12 bar"),
            Some((false, "bar".into(), String::new()))
        );
        assert_eq!(parse_result("ok then"), None);
        assert_eq!(outcome(false, "SKIP x"), Outcome::Skip);
    }
}
