// SPDX-License-Identifier: GPL-2.0
//! Tests and checks that need no guest: the tooling's own unit tests,
//! rustfmt, Rust/clippy warnings from the kernel builds, `// SAFETY:`
//! comments, Sphinx on the series' documentation, and `checkpatch.pl
//! --strict` on every patch of the series.

use crate::arch::Arch;
use crate::report::Tally;
use crate::util::{self, Paths};
use std::path::Path;
use std::process::Command;

/// Sums `test result: ok. N passed; M failed; ...` lines of cargo test.
pub fn parse_cargo_test(out: &str) -> Option<Tally> {
    let mut t = Tally::default();
    let mut seen = false;
    for l in out.lines() {
        let Some(rest) = l.strip_prefix("test result: ") else {
            continue;
        };
        seen = true;
        for part in rest.split([';', '.']) {
            let mut w = part.split_whitespace();
            if let (Some(n), Some(k)) = (w.next(), w.next()) {
                let n: usize = n.parse().unwrap_or(0);
                match k {
                    "passed" => t.passed += n,
                    "failed" => t.failed += n,
                    "ignored" => t.skipped += n,
                    _ => {}
                }
            }
        }
    }
    seen.then_some(t)
}

/// Runs `cargo test` on the xtask crate; its log is build/logs/tooling-tests.log.
pub fn tooling_tests(paths: &Paths) -> Tally {
    let log = paths.logs().join("tooling-tests.log");
    let _ = util::mkdir(&paths.logs());
    let out = Command::new("cargo")
        .args(["test", "--locked", "--manifest-path"])
        .arg(paths.repo.join("xtask/Cargo.toml"))
        .env("CARGO_TARGET_DIR", paths.build.join("cargo"))
        .output();
    let text = match out {
        Ok(o) => format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => format!("cannot run cargo: {e}"),
    };
    let _ = util::write(&log, &text);
    for l in text
        .lines()
        .filter(|l| l.starts_with("test ") && !l.ends_with(" ok"))
    {
        println!("  {l}");
    }
    match parse_cargo_test(&text) {
        Some(t) => {
            println!(
                "tooling: {} passed, {} failed (log {})",
                t.passed,
                t.failed,
                log.display()
            );
            t
        }
        None => {
            println!("tooling: cargo test did not run; log {}", log.display());
            Tally {
                failed: 1,
                ..Tally::default()
            }
        }
    }
}

/// Counts one check: passed when `problems` is empty; prints the first
/// problems otherwise.
pub fn verdict(t: &mut Tally, name: &str, problems: &[String]) {
    if problems.is_empty() {
        println!("  PASS   {name}");
        t.passed += 1;
    } else {
        println!("  FAIL   {name}");
        for p in problems.iter().take(20) {
            println!("         {p}");
        }
        t.failed += 1;
    }
}

/// What b4 (`build/venv`, installed by `make deps`) objects to when it
/// reads the emitted files, cover letter first, as one mail thread:
/// anything it warns about, and a patch count other than the files'.
fn b4_problems(paths: &Paths, patches: &[std::path::PathBuf]) -> Vec<String> {
    let dir = paths.build.join("b4-check");
    let _ = std::fs::remove_dir_all(&dir);
    let mut mbox = String::new();
    for p in patches {
        match util::read(p) {
            Ok(text) => mbox.push_str(&text),
            Err(e) => return vec![e],
        }
    }
    let file = dir.join("series.mbox");
    if let Err(e) = util::mkdir(&dir).and_then(|()| util::write(&file, &mbox)) {
        return vec![e];
    }
    let out = Command::new(paths.build.join("venv/bin/b4"))
        .args(["--offline-mode", "--no-interactive", "am", "-m"])
        .arg(&file)
        .arg("-o")
        .arg(dir.join("out"))
        .output();
    let o = match out {
        Ok(o) => o,
        Err(e) => return vec![format!("cannot run b4 (make deps installs it): {e}")],
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let mut problems: Vec<String> = text
        .lines()
        .filter(|l| l.contains("WARNING") || l.contains("ERROR") || l.contains("Traceback"))
        .map(str::to_string)
        .collect();
    let want = format!("Total patches: {}", patches.len().saturating_sub(1));
    if !o.status.success() || !text.lines().any(|l| l.trim() == want) {
        problems.push(format!(
            "b4 exited with {} and did not report \"{want}\"; last line: {}",
            o.status,
            text.lines().last().unwrap_or("")
        ));
    }
    if problems.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    problems
}

/// Files of the repository (tracked or new, not ignored) matching the
/// git pathspecs `specs`.
fn repo_files(repo: &Path, specs: &[&str]) -> Vec<std::path::PathBuf> {
    let out = util::output(
        Command::new("git")
            .arg("-C")
            .arg(repo)
            .args([
                "ls-files",
                "--cached",
                "--others",
                "--exclude-standard",
                "--",
            ])
            .args(specs),
    )
    .unwrap_or_default();
    out.lines().map(|l| repo.join(l)).collect()
}

/// Rust files of ours: everything under the kernel paths of the repo.
fn our_rust_files(repo: &Path) -> Vec<std::path::PathBuf> {
    repo_files(
        repo,
        &["rust/*.rs", "kernel/*.rs", "drivers/*.rs", "samples/*.rs"],
    )
}

/// `unsafe` blocks without a `// SAFETY:` comment right above them, and
/// `unsafe fn`s without a `# Safety` doc section.
pub fn missing_safety_comments(name: &str, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut armed = false;
    let mut doc_safety = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with("// SAFETY:") {
            armed = true;
            continue;
        }
        if t.starts_with("///") || t.starts_with("//!") {
            doc_safety |= t.contains("# Safety");
            continue;
        }
        if t.starts_with("//") || t.is_empty() || t.starts_with("#[") {
            continue;
        }
        let code = t.split("//").next().unwrap_or("");
        if code.contains("unsafe {") && !armed && !line.contains("SAFETY:") {
            out.push(format!("{name}:{}: unsafe block without // SAFETY:", i + 1));
        }
        if (code.contains("unsafe fn ") || code.contains("unsafe extern \"C\" fn "))
            && !doc_safety
            && !code.contains("extern \"C\" {")
        {
            out.push(format!(
                "{name}:{}: unsafe fn without a # Safety section",
                i + 1
            ));
        }
        armed = false;
        doc_safety = false;
    }
    out
}

/// Files a patch creates (`create mode` lines of its diffstat).
pub fn added_files(patch: &str) -> Vec<String> {
    patch
        .lines()
        .filter_map(|l| l.trim().strip_prefix("create mode "))
        .filter_map(|l| l.split_once(' ').map(|(_, f)| f.to_string()))
        .collect()
}

/// Whether a MAINTAINERS section other than THE REST covers `file`.
fn maintained(tree: &Path, file: &str) -> bool {
    let out = util::output(
        Command::new("perl")
            .arg(tree.join("scripts/get_maintainer.pl"))
            .args(["--no-git", "--no-git-fallback", "--sections", "-f", file])
            .current_dir(tree),
    )
    .unwrap_or_default();
    out.lines()
        .filter(|l| !l.is_empty() && !l.starts_with(char::is_whitespace) && !l.contains(":\t"))
        .any(|section| section != "THE REST")
}

/// What is left of checkpatch's terse `--show-types` output once its
/// "does MAINTAINERS need updating?" warning is set aside for patches
/// whose new files an existing MAINTAINERS section already covers.
pub fn checkpatch_problems(
    out: &str,
    added: &[String],
    covered: impl Fn(&str) -> bool,
) -> Vec<String> {
    let issues: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(": WARNING:") || l.contains(": ERROR:") || l.contains(": CHECK:"))
        .collect();
    if issues.is_empty() {
        // checkpatch failed without a finding we understand: show it all.
        return out.lines().map(str::to_string).collect();
    }
    let all_covered = !added.is_empty() && added.iter().all(|f| covered(f));
    issues
        .into_iter()
        .filter(|l| !(l.contains(":FILE_PATH_CHANGES:") && all_covered))
        .map(str::to_string)
        .collect()
}

/// Lines of a kernel docs build log in which Sphinx or docutils complains
/// about one of `ours` (paths from the top of the tree). Only ours: the
/// base's books do not build clean on their own (references into books
/// not built, no dot(1)).
pub fn sphinx_problems(log: &str, ours: &[String]) -> Vec<String> {
    const LEVELS: [&str; 4] = ["WARNING:", "ERROR:", "SEVERE:", "CRITICAL:"];
    log.lines()
        .filter(|l| LEVELS.iter().any(|k| l.contains(k)))
        .filter(|l| ours.iter().any(|f| l.contains(f.as_str())))
        .map(str::to_string)
        .collect()
}

/// Builds the HTML of the kernel books holding the series' .rst files
/// (`make htmldocs SPHINXDIRS=...` with the Sphinx `make deps` puts in
/// build/venv, output in build/htmldocs, log build/logs/htmldocs.log) and
/// returns what Sphinx says about those files and their books' index.
pub fn docs_problems(paths: &Paths) -> Vec<String> {
    let mut ours: Vec<String> = repo_files(&paths.repo, &["Documentation/*.rst"])
        .iter()
        .filter_map(|f| f.strip_prefix(&paths.repo).ok())
        .map(|f| f.display().to_string())
        .collect();
    let mut books: Vec<String> = ours
        .iter()
        .filter(|f| f.matches('/').count() > 1)
        .filter_map(|f| f.split('/').nth(1))
        .map(str::to_string)
        .collect();
    books.sort();
    books.dedup();
    if books.is_empty() {
        return Vec::new();
    }
    ours.extend(books.iter().map(|b| format!("Documentation/{b}/index.rst")));
    let obj = paths.build.join("htmldocs");
    let html = obj.join("Documentation/output");
    // Sphinx reads again only the documents whose cached doctree is gone
    // or older than the source, and warns only about those: drop ours.
    let doc =
        |f: &str, ext| Path::new(f.strip_prefix("Documentation/").unwrap_or(f)).with_extension(ext);
    for f in &ours {
        let _ = std::fs::remove_file(html.join(".doctrees").join(doc(f, "doctree")));
        let _ = std::fs::remove_file(html.join(doc(f, "html")));
    }
    let venv = paths.build.join("venv/bin");
    if !venv.join("sphinx-build").exists() {
        return vec![format!(
            "{}: no sphinx-build (make deps installs it)",
            venv.display()
        )];
    }
    let mut dirs = vec![venv];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let out = Command::new("make")
        .arg("-C")
        .arg(paths.tree())
        .arg(format!("O={}", obj.display()))
        .arg(format!("SPHINXDIRS={}", books.join(" ")))
        .arg("htmldocs")
        .env("PATH", std::env::join_paths(dirs).unwrap_or_default())
        .output();
    let o = match out {
        Ok(o) => o,
        Err(e) => return vec![format!("cannot run make htmldocs: {e}")],
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let log = paths.logs().join("htmldocs.log");
    let _ = util::write(&log, &text);
    let mut problems = sphinx_problems(&text, &ours);
    if !o.status.success() {
        problems.push(format!(
            "make htmldocs exited with {} (log {}); last line: {}",
            o.status,
            log.display(),
            text.lines().last().unwrap_or("")
        ));
    }
    for f in &ours {
        let page = html.join(doc(f, "html"));
        if !page.exists() {
            problems.push(format!("{f}: Sphinx wrote no {}", page.display()));
        }
    }
    problems
}

/// C structures whose Rust layout the series relies on.
const LAYOUT_TYPES: &[&str] = &[
    "task_struct",
    "pt_regs",
    "rseq",
    "ksignal",
    "mm_struct",
    "page",
];

/// Regenerates the kernel's `bindings_generated.rs` for `arch` with
/// bindgen's layout tests on, and runs those for [`LAYOUT_TYPES`] on the
/// build host (which must have the same ABI, so x86-64 only). Catches a
/// bindgen that lays a C struct out differently from the C compiler.
pub fn bindings_layout(paths: &Paths, name: &str) -> Vec<String> {
    let obj = paths.obj(name);
    let dir = paths.build.join(format!("layout-{name}"));
    let cmdfile = obj.join("rust/bindings/.bindings_generated.rs.cmd");
    let text = match util::read(&cmdfile) {
        Ok(t) => t,
        Err(e) => return vec![e],
    };
    let Some(cmd) = text
        .lines()
        .next()
        .and_then(|l| l.split_once(":= "))
        .map(|x| x.1)
    else {
        return vec![format!("{}: no command", cmdfile.display())];
    };
    let out = dir.join("bindings.rs");
    // The saved command is shell text (quoting, a trailing sed): edit it
    // as text and hand it to sh.
    let cmd = cmd.replace(" --no-layout-tests", "").replace(
        "rust/bindings/bindings_generated.rs",
        &out.display().to_string(),
    );
    let cmd: String = cmd
        .split(' ')
        .filter(|w| !w.starts_with("-Wp,-MMD"))
        .collect::<Vec<_>>()
        .join(" ");
    let _ = util::mkdir(&dir);
    let lib = dir.join("lib.rs");
    let prelude = "#![allow(warnings)]\nmod ffi { pub use core::ffi::*; }\n\
        pub type __kernel_size_t = usize;\npub type __kernel_ssize_t = isize;\n\
        pub type __kernel_ptrdiff_t = isize;\ninclude!(\"bindings.rs\");\n";
    let bin = dir.join("layout-tests");
    let steps = util::write(&lib, prelude)
        .and_then(|_| util::output(Command::new("sh").arg("-c").arg(&cmd).current_dir(&obj)))
        .and_then(|_| {
            util::output(
                Command::new("rustc")
                    .args(["--edition=2021", "--test", "-o"])
                    .arg(&bin)
                    .arg(&lib),
            )
        });
    if let Err(e) = steps {
        return vec![e.lines().next().unwrap_or("").to_string()];
    }
    let mut problems = Vec::new();
    for t in LAYOUT_TYPES {
        let name = format!("bindgen_test_layout_{t}");
        match Command::new(&bin).args([&name, "--exact"]).output() {
            Ok(o) => {
                let s = String::from_utf8_lossy(&o.stdout).into_owned()
                    + &String::from_utf8_lossy(&o.stderr);
                if s.contains("running 0 tests") {
                    problems.push(format!("{t}: no layout test generated"));
                } else if !o.status.success() {
                    let why = s.lines().filter(|l| {
                        l.contains("failed:") || l.contains("left:") || l.contains("right:")
                    });
                    problems.push(format!("{t}: {}", why.collect::<Vec<_>>().join(" ")));
                }
            }
            Err(e) => problems.push(format!("{}: {e}", bin.display())),
        }
    }
    problems
}

/// Runs every static check; each check is one test in the tally.
/// Runs every static check; `builds` names the kernels built (their
/// architecture and target name, `ARCH` or `ARCH-debug`), whose logs and
/// bindings the build checks read.
pub fn run_all(paths: &Paths, builds: &[(&Arch, String)]) -> Tally {
    let mut t = Tally::default();
    println!();
    println!("static checks:");
    let tree = paths.tree();
    let files = our_rust_files(&paths.repo);

    // rustfmt with the kernel's own configuration, on the series' files.
    let mut fmt = Vec::new();
    if !files.is_empty() {
        match Command::new("rustfmt")
            .arg("--check")
            .arg("--edition=2021")
            .arg(format!(
                "--config-path={}",
                tree.join(".rustfmt.toml").display()
            ))
            .args(&files)
            .output()
        {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                fmt.extend(
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .filter(|l| l.starts_with("Diff in"))
                        .map(str::to_string),
                );
                if fmt.is_empty() {
                    let err = String::from_utf8_lossy(&o.stderr);
                    fmt.push(format!(
                        "rustfmt failed: {}",
                        err.lines().next().unwrap_or("")
                    ));
                }
            }
            Err(e) => fmt.push(format!("cannot run rustfmt: {e}")),
        }
    }
    verdict(
        &mut t,
        "rustfmt (kernel .rustfmt.toml) on the series' Rust files",
        &fmt,
    );

    let mut safety = Vec::new();
    for f in &files {
        let name = f
            .strip_prefix(&paths.repo)
            .unwrap_or(f)
            .display()
            .to_string();
        match util::read(f) {
            Ok(text) => safety.extend(missing_safety_comments(&name, &text)),
            Err(e) => safety.push(e),
        }
    }
    verdict(&mut t, "SAFETY comments on unsafe blocks and fns", &safety);

    // kernel-doc on the kernel C files of the series (not the selftests).
    let c_files = repo_files(
        &paths.repo,
        &[
            "kernel/*.c",
            "rust/helpers/*.c",
            "include/*.h",
            "arch/*.c",
            "mm/*.c",
        ],
    );
    let kdoc = if c_files.is_empty() {
        Vec::new()
    } else {
        match Command::new("perl")
            .arg(tree.join("scripts/kernel-doc"))
            .args(["-none", "-Wall"])
            .args(&c_files)
            .output()
        {
            Ok(o) => String::from_utf8_lossy(&o.stderr)
                .lines()
                .chain(String::from_utf8_lossy(&o.stdout).lines())
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string)
                .collect(),
            Err(e) => vec![format!("cannot run kernel-doc: {e}")],
        }
    };
    verdict(&mut t, "kernel-doc -Wall on the series' C files", &kdoc);

    verdict(
        &mut t,
        "Sphinx htmldocs: no warnings on the series' .rst files (SPHINXDIRS of them)",
        &docs_problems(paths),
    );

    for (_, name) in builds {
        let w = crate::kernel::build_warnings(paths, name).unwrap_or_else(|e| vec![e]);
        verdict(
            &mut t,
            &format!("no warnings in the {name} build (LLVM=1 CLIPPY=1)"),
            &w,
        );
    }

    // The kernel without Rust (`ARCH-c`) has no bindings.
    for (_, name) in builds
        .iter()
        .filter(|(a, name)| a.native() && !name.ends_with("-c"))
    {
        let p = bindings_layout(paths, name);
        verdict(
            &mut t,
            &format!("bindgen layout of {} ({name})", LAYOUT_TYPES.join(", ")),
            &p,
        );
    }

    // checkpatch on each patch (the cover letter has no diff to check).
    let dir = paths.build.join("series");
    // Only the kernel series: build/series/man-pages holds the patch for
    // the man-pages project.
    let mut patches: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    patches.sort();
    for p in patches.iter().filter(|p| {
        p.extension().is_some_and(|e| e == "patch")
            && !p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("0000-"))
    }) {
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let out = Command::new("perl")
            .arg(tree.join("scripts/checkpatch.pl"))
            .args(["--strict", "--no-color", "--terse", "--show-types"])
            .arg(p)
            .current_dir(&tree)
            .output();
        let problems = match out {
            Ok(o) if o.status.success() => Vec::new(),
            Ok(o) => {
                let text = String::from_utf8_lossy(&o.stdout).into_owned();
                let patch = util::read(p).unwrap_or_default();
                checkpatch_problems(&text, &added_files(&patch), |f| maintained(&tree, f))
            }
            Err(e) => vec![format!("cannot run checkpatch: {e}")],
        };
        verdict(&mut t, &format!("checkpatch --strict {name}"), &problems);
    }
    if !patches.is_empty() {
        let p = crate::tree::am_roundtrip(paths, &patches).unwrap_or_else(|e| vec![e]);
        verdict(
            &mut t,
            "the emitted patches apply to base as git am does and reproduce every series commit",
            &p,
        );
        verdict(
            &mut t,
            "b4 am (offline) takes the emitted series as one complete thread",
            &b4_problems(paths, &patches),
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_test_lines() {
        let out = "test a ... ok\ntest result: ok. 5 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.1s\n\
                   test result: FAILED. 2 passed; 3 failed; 0 ignored; 0 measured\n";
        assert_eq!(
            parse_cargo_test(out),
            Some(Tally {
                passed: 7,
                failed: 3,
                skipped: 1
            })
        );
        assert_eq!(parse_cargo_test("error: could not compile"), None);
    }

    #[test]
    fn checkpatch_maintainers_warning() {
        let out = "x.patch:40: WARNING:FILE_PATH_CHANGES: added, moved or deleted file(s), does MAINTAINERS need updating?\n\
                   total: 0 errors, 1 warnings, 0 checks, 9 lines checked\n";
        let added = vec!["tools/testing/selftests/rseq/a.c".to_string()];
        assert!(checkpatch_problems(out, &added, |_| true).is_empty());
        assert_eq!(checkpatch_problems(out, &added, |_| false).len(), 1);
        let two = format!("{out}x.patch:9: CHECK:SPACING: spaces\n");
        assert_eq!(
            checkpatch_problems(&two, &added, |_| true),
            ["x.patch:9: CHECK:SPACING: spaces"]
        );
        assert_eq!(
            checkpatch_problems("garbage\n", &added, |_| true),
            ["garbage"]
        );
        let patch =
            " 2 files changed\n create mode 100644 kernel/a.rs\n create mode 100755 t/b.sh\n";
        assert_eq!(added_files(patch), ["kernel/a.rs", "t/b.sh"]);
    }

    #[test]
    fn sphinx_warnings_of_ours() {
        let ours = vec![
            "Documentation/userspace-api/rseq.rst".to_string(),
            "Documentation/userspace-api/index.rst".to_string(),
        ];
        let log = "Using alabaster theme\n\
            WARNING: dot(1) not found, for better output quality install graphviz\n\
            /l/Documentation/userspace-api/netlink/specs.rst:18: WARNING: undefined label: 'specs' [ref.ref]\n\
            /l/Documentation/userspace-api/rseq.rst:40: ERROR: Unexpected indentation. [docutils]\n\
            /l/Documentation/userspace-api/rseq.rst: WARNING: document isn't included in any toctree\n\
            /l/Documentation/userspace-api/index.rst:20: WARNING: toctree contains reference to nonexisting document 'x'\n\
            /l/Documentation/userspace-api/xrseq.rst:3: WARNING: Title underline too short.\n\
            /l/Documentation/userspace-api/rseq.rst:41: CRITICAL: Title level inconsistent:\n";
        let got = sphinx_problems(log, &ours);
        assert_eq!(got.len(), 4);
        assert!(got[0].contains("rseq.rst:40: ERROR"));
        assert!(got[2].contains("index.rst:20"));
        assert!(got[3].contains("CRITICAL"));
        assert!(sphinx_problems("rseq.rst WARNING: x\n", &ours).is_empty());
    }

    #[test]
    fn safety_comments() {
        // Built from pieces so that line-based scanners of this file do not
        // take the test data for real unsafe blocks.
        let block = format!("let x = {} {{ f() }};", "unsafe");
        let good = format!(
            "// SAFETY: fine.\n{block}\n/// # Safety\n///\n/// Caller.\npub unsafe fn g() {{}}\n"
        );
        assert!(missing_safety_comments("a.rs", &good).is_empty());
        let bad = format!("let y = 1;\n{block}\n/// Doc.\npub unsafe fn g() {{}}\n");
        let bad = bad.as_str();
        assert_eq!(
            missing_safety_comments("a.rs", bad),
            [
                "a.rs:2: unsafe block without // SAFETY:",
                "a.rs:4: unsafe fn without a # Safety section"
            ]
        );
    }
}
