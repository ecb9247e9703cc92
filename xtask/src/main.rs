// SPDX-License-Identifier: GPL-2.0
//! `xtask`: turns this repository into a kernel tree, a patch series and
//! test results. The Makefile at the top of the repository is the front
//! door; run `xtask help` for the subcommands.

mod arch;
mod bench;
mod checks;
mod commits;
mod cpio;
#[cfg(test)]
mod engine_tests;
mod import;
mod initramfs;
mod kernel;
mod ktap;
mod manifest;
mod qemu;
mod refresh;
mod report;
mod tree;
mod util;

use arch::Arch;
use initramfs::GuestRun;
use report::Tally;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use util::{Paths, Result};

const HELP: &str = "\
usage: xtask COMMAND [ARGS]
  tree              extract the base once, build the series commits in build/linux
  series            tree, then git format-patch --cover-letter into build/series
  refresh           after editing a new file that later patches change by diff,
                    rewrite those diffs (edit taken relative to REFRESH_REV, default HEAD)
  import            after restructuring the series with git in a clone of build/linux
                    (IMPORT_FROM=DIR, IMPORT_REV default HEAD), write its commits back
                    as files, diffs and series.toml entries, and check the trees agree
  build ARCH        tree, config, kernel and kselftests for ARCH (x86_64, arm64)
  run ARCH          build, boot under QEMU, run the kselftests, print the verdict
                    (DEBUG=1: the debug kernel and the tests it runs)
  bench ARCH        rseq_bench with the Rust and with the C rseq (one tree, two configs),
                    ratios ours/C and the Rust rseq's counters
  check             static checks (rustfmt, Rust warnings, checkpatch --strict)
  check-commits ARCH [DEPTH]
                    build every commit of the series for ARCH (CLIPPY=1, no warnings,
                    rustfmtcheck), incrementally, in build/linux-commits; DEPTH
                    `image` (default) or `objects` (what CI runs after `test`)
  test              tooling tests, guest runs, checks; ends with N passed, N failed
                    (the quick tier, for CI: see `Tier`)
  test-full         the same, long: whole rseq parameter matrix, debug kernel on
                    every arch, fuzzers and hotplug storm run longer
  help              this text
environment: BUILD_DIR (default build/), DEBUG=1 (run and build: the debug kernel,
  configs/debug.config on top, in build/obj-ARCH-debug), NO_RUST=1 (run and build:
  the kernel without Rust and its C rseq, configs/no-rust.config, build/obj-ARCH-c),
  KSFT_ARGS (run_kselftest.sh arguments), GUEST_CMD (shell command run instead
  of the kselftest runner), GUEST_TIMEOUT (seconds, default 2400,
  3600 in test-full),
  RSEQ_PARAM_THREADS (param_test threads in run_param_test.sh, default 4),
  RSEQ_PARAM_MATRIX (arches running run_param_test.sh: all (default), none, or a list),
  BENCH_ARGS (rseq_bench iterations, repetitions, jobs; default \"100000 11 32\"),
  CPU_OPV_BENCH_ARGS (cpu_opv_bench iterations, repetitions; default \"2000 5\"),
  BENCH_ICOUNT_ARGS, CPU_OPV_BENCH_ICOUNT_ARGS (the same, for the sessions that count
  guest instructions; default \"20000 3 4\" and \"500 3\")";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let paths = Paths::discover();
    // Commands share the kernel tree and object folders: one at a time.
    let _lock = match args.first().map(String::as_str) {
        None | Some("help") => None,
        Some(_) => match lock_build_dir(&paths) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let res = match args.first().map(String::as_str) {
        Some("tree") => tree_up(&paths).map(|h| println!("{h}")),
        Some("series") => series(&paths, Signer::Person).map(|_| ()),
        Some("import") => import_cmd(&paths),
        Some("refresh") => manifest::Manifest::load(&paths.repo)
            .and_then(|m| refresh::refresh(&paths, &m))
            .map(|n| eprintln!("refresh: {n} diff(s) rewritten")),
        Some("build") => {
            one_arch(&args).and_then(|a| build(&paths, a, Flavour::from_env()).map(|_| ()))
        }
        Some("run") => one_arch(&args).and_then(|a| run_cmd(&paths, a)),
        Some("bench") => one_arch(&args).and_then(|a| bench_cmd(&paths, a)),
        Some("check") => check_cmd(&paths),
        Some("check-commits") => one_arch(&args).and_then(|a| {
            let depth = match args.get(2).map(String::as_str) {
                None | Some("") | Some("image") => commits::Depth::Image,
                Some("objects") => commits::Depth::Objects,
                Some(d) => return Err(format!("DEPTH must be image or objects, got \"{d}\"")),
            };
            check_commits_cmd(&paths, a, depth)
        }),
        Some("test") => test_cmd(&paths, Tier::Quick),
        Some("test-full") => test_cmd(&paths, Tier::Full),
        Some("help") | None => {
            println!("{HELP}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command \"{other}\"\n{HELP}")),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // An empty message: the failure was reported already (`test`
            // must end with its total line).
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Takes an exclusive lock on the build folder, waiting for another
/// xtask that holds it. Released when the returned file is dropped.
fn lock_build_dir(paths: &Paths) -> Result<std::fs::File> {
    util::mkdir(&paths.build)?;
    let path = paths.build.join(".xtask.lock");
    let f = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if f.try_lock().is_err() {
        eprintln!("waiting for another xtask using {}", paths.build.display());
        f.lock().map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(f)
}

fn one_arch(args: &[String]) -> Result<&'static Arch> {
    arch::find(args.get(1).map(String::as_str).unwrap_or("x86_64"))
}

/// Which kernel a guest run uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Flavour {
    /// The test configuration (`configs/common.config` and the arch's).
    Test,
    /// The test configuration plus `configs/debug.config` (KASAN, lockdep,
    /// UBSAN, KFENCE, ...), in its own object folder; it runs the tests in
    /// `DEBUG_TESTS` only, the rest being too slow under TCG with it.
    Debug,
    /// The test configuration without Rust (`configs/no-rust.config` on
    /// top): the C rseq of `kernel/rseq.c`, which every kernel without
    /// Rust keeps. It runs the rseq tests in `C_RSEQ_TESTS`.
    CRseq,
}

impl Flavour {
    /// `DEBUG=1` selects the debug kernel for `run` and `build`, `NO_RUST=1`
    /// the kernel without Rust.
    fn from_env() -> Self {
        let set = |k| std::env::var(k).is_ok_and(|v| v != "0" && !v.is_empty());
        if set("DEBUG") {
            Flavour::Debug
        } else if set("NO_RUST") {
            Flavour::CRseq
        } else {
            Flavour::Test
        }
    }

    fn target<'a>(self, paths: &Paths, a: &'a Arch) -> kernel::Target<'a> {
        match self {
            Flavour::Test => kernel::Target::series(paths, a),
            Flavour::Debug => kernel::Target::series_variant(paths, a, "debug"),
            Flavour::CRseq => kernel::Target::series_variant(paths, a, "c"),
        }
    }

    fn fragments(self) -> &'static [&'static str] {
        match self {
            Flavour::Test => &[],
            Flavour::Debug => &["debug"],
            Flavour::CRseq => &["no-rust"],
        }
    }
}

/// How much a `test` run covers. Both tiers run every test program on
/// every architecture; they differ in repetitions and in where the debug
/// kernel runs (`Tier::plan` prints what each leaves out).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tier {
    /// `make test`, what CI runs: under 50 minutes on the 2-core machine.
    Quick,
    /// `make test-full`: everything at full length.
    Full,
}

/// The one kernel `make test` boots: the debug kernel of x86-64 (bindgen's
/// layout tests and objtool's user-access checks run on x86-64 builds),
/// with `DEBUG_TESTS` but `DEBUG_FULL_ONLY`, and `DEBUG_QUICK_UPSTREAM`.
/// Each kernel build takes 11 to 16 minutes on the 2-core machine, so a
/// second one does not fit the CI budget of 50 minutes: the former quick
/// tier (the arm64 test kernel, then the x86-64 debug kernel) took 78
/// minutes from a fresh clone (session 9). `make test-full` boots all
/// four kernels.
const QUICK_ARCH: &str = "x86_64";

/// Upstream rseq selftests the quick tier's debug kernel runs as well,
/// since the quick tier boots no test kernel: the short ones. Their
/// per-CPU list tests with many threads (basic_percpu_ops_test ran for
/// over seven minutes under lockdep) and the `run_param_test.sh` matrix
/// run on the test kernels of `make test-full`.
const DEBUG_QUICK_UPSTREAM: &[&str] = &[
    "rseq:basic_test",
    "rseq:param_test",
    "rseq:param_test_benchmark",
    "rseq:param_test_compare_twice",
    "rseq:param_test_mm_cid",
    "rseq:param_test_mm_cid_benchmark",
    "rseq:param_test_mm_cid_compare_twice",
    "rseq:rseq_getcpu_test",
];

/// The tests the debug kernel runs (`run_kselftest.sh -t` names): the
/// rseq ABI, id and fuzz tests and every cpu_opv test. The upstream rseq
/// tests (basic_percpu_ops_test ran for over seven minutes under lockdep
/// and TCG) and the parameter matrix are left to the test kernel.
const DEBUG_TESTS: &[&str] = &[
    "rseq:rseq_abi_test",
    "rseq:rseq_ids_test",
    "rseq:rseq_fuzz_test",
    "cpu-opv:cpu_opv_test",
    "cpu-opv:cpu_opv_mem_test",
    "cpu-opv:cpu_opv_dos_test",
    "cpu-opv:cpu_opv_param_test",
    "cpu-opv:cpu_opv_fuzz_test",
    "cpu-opv:cpu_opv_hotplug_test",
    "cpu-opv:cpu_opv_cost_test",
];

/// The tests the kernel without Rust runs: the upstream rseq selftests
/// but the parameter matrix, and ours, which hold the C implementation to
/// the ABI the Rust one is tested against.
const C_RSEQ_TESTS: &[&str] = &[
    "rseq:basic_test",
    "rseq:basic_percpu_ops_test",
    "rseq:basic_percpu_ops_mm_cid_test",
    "rseq:param_test",
    "rseq:param_test_mm_cid",
    "rseq:rseq_abi_test",
    "rseq:rseq_getcpu_test",
    "rseq:rseq_ids_test",
    "rseq:rseq_fuzz_test",
];

/// Of `C_RSEQ_TESTS`, those `make test` runs, within the CI budget: the
/// kernel without Rust is built and booted to show the C side builds
/// and keeps the ABI; the threaded upstream tests take minutes under TCG
/// and are left to `make test-full`.
const C_RSEQ_QUICK: &[&str] = &[
    "rseq:basic_test",
    "rseq:rseq_abi_test",
    "rseq:rseq_getcpu_test",
    "rseq:rseq_ids_test",
    "rseq:rseq_fuzz_test",
];

/// The architecture both tiers build and boot the kernel without Rust on.
const C_RSEQ_ARCH: &str = "x86_64";

/// Of `DEBUG_TESTS`, those only `make test-full` runs on the debug
/// kernel: tests of many processes that take minutes with the debug
/// checks (cpu_opv_cost_test: 28 s on the arm64 test kernel, 498 s on the
/// x86-64 debug kernel). The test kernels of `make test-full` run them
/// too.
const DEBUG_FULL_ONLY: &[&str] = &["cpu-opv:cpu_opv_dos_test", "cpu-opv:cpu_opv_cost_test"];

impl Tier {
    /// The guest runs of this tier, in order.
    fn runs(self) -> Vec<(&'static Arch, Flavour)> {
        let full = self == Tier::Full;
        let mut v: Vec<_> = arch::ARCHES
            .iter()
            .filter(|_| full)
            .map(|a| (a, Flavour::Test))
            .collect();
        v.extend(
            arch::ARCHES
                .iter()
                .filter(|a| full || a.name == QUICK_ARCH)
                .map(|a| (a, Flavour::Debug)),
        );
        v.extend(
            arch::ARCHES
                .iter()
                .filter(|a| a.name == C_RSEQ_ARCH)
                .map(|a| (a, Flavour::CRseq)),
        );
        v
    }

    /// The per-commit builds of this tier: every architecture's kernel
    /// image for `make test-full`; none in `make test`. A kernel image per
    /// commit took 54 minutes on x86-64 on the 2-core machine (session 11:
    /// three near-full builds of 11-12 minutes, at the first commit, the
    /// one that changes `sched.h` and the one that wires the system call
    /// tables, and 20-150 s for each other commit), and even the objects
    /// depth does not fit next to the rest within 50 minutes (the rest took
    /// 47 minutes in session 11), so CI runs `make check-commits
    /// DEPTH=objects` after `make test` (`.ci/run`).
    fn commit_checks(self) -> &'static [Arch] {
        match self {
            Tier::Full => arch::ARCHES,
            Tier::Quick => &[],
        }
    }

    /// The tests the kernel without Rust runs in this tier.
    fn c_rseq_tests(self) -> &'static [&'static str] {
        match self {
            Tier::Quick => C_RSEQ_QUICK,
            Tier::Full => C_RSEQ_TESTS,
        }
    }

    /// The tests the debug kernel runs in this tier.
    fn debug_tests(self) -> Vec<&'static str> {
        match self {
            Tier::Quick => DEBUG_TESTS
                .iter()
                .filter(|t| !DEBUG_FULL_ONLY.contains(t))
                .chain(DEBUG_QUICK_UPSTREAM)
                .copied()
                .collect(),
            Tier::Full => DEBUG_TESTS.to_vec(),
        }
    }

    /// The repetitions of each `param_test` run of `run_param_test.sh`
    /// (`None`: its own, 1000 and 100 for the slow tests).
    fn param_reps(self) -> Option<&'static str> {
        match self {
            Tier::Quick => Some("100"),
            Tier::Full => None,
        }
    }

    /// The default wall-clock limit of one guest run, in seconds
    /// (`GUEST_TIMEOUT` overrides it). The quick tier's arm64 run took
    /// 1607 s from a fresh clone on the 2-core machine (session 8), and
    /// timed out at the former 1800 s with builds running next to it.
    fn guest_limit(self) -> u64 {
        match self {
            Tier::Quick => 2400,
            Tier::Full => 3600,
        }
    }

    /// `(name, value)` settings of the guest programs for this tier.
    fn guest_env(self, flavour: Flavour) -> Vec<(&'static str, &'static str)> {
        match (self, flavour) {
            // Fuzzers and storm capped by time, within the CI budget.
            (Tier::Quick, Flavour::Test) => vec![
                ("CPU_OPV_FUZZ_SECONDS", "120"),
                ("RSEQ_FUZZ_SECONDS", "90"),
                ("CPU_OPV_HOTPLUG_SECONDS", "30"),
            ],
            // Fuzzers and storm capped by time: the debug kernel is several
            // times slower.
            (Tier::Quick, Flavour::Debug) => vec![
                ("CPU_OPV_FUZZ_SECONDS", "90"),
                ("RSEQ_FUZZ_SECONDS", "60"),
                ("CPU_OPV_HOTPLUG_SECONDS", "20"),
            ],
            // About three times the quick tier, so that the whole tier
            // (four kernels) fits one session of the 2-core machine; the
            // same knobs in the host's environment run longer.
            (Tier::Full, Flavour::Test) => vec![
                ("CPU_OPV_FUZZ_ITERS", "200000"),
                ("CPU_OPV_FUZZ_SECONDS", "360"),
                ("RSEQ_FUZZ_ITERS", "200000"),
                ("RSEQ_FUZZ_SECONDS", "300"),
                ("CPU_OPV_HOTPLUG_SECONDS", "240"),
            ],
            (Tier::Full, Flavour::Debug) => vec![
                ("CPU_OPV_FUZZ_SECONDS", "240"),
                ("RSEQ_FUZZ_SECONDS", "180"),
                ("CPU_OPV_HOTPLUG_SECONDS", "120"),
            ],
            (Tier::Quick, Flavour::CRseq) => vec![("RSEQ_FUZZ_SECONDS", "30")],
            (Tier::Full, Flavour::CRseq) => vec![("RSEQ_FUZZ_SECONDS", "180")],
        }
    }

    /// What this tier runs and what it leaves to the other, printed at
    /// its start and end.
    fn plan(self) -> String {
        let runs = self
            .runs()
            .iter()
            .map(|(a, f)| match f {
                Flavour::Test => format!("{} (all kselftests)", a.name),
                Flavour::Debug => format!("{}-debug ({} tests)", a.name, self.debug_tests().len()),
                Flavour::CRseq => format!(
                    "{}-c (C rseq, no Rust: {} tests)",
                    a.name,
                    self.c_rseq_tests().len()
                ),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let left = match self {
            Tier::Quick => "left to make test-full: the test kernels (x86-64, arm64: every \
                 kselftest, with basic_percpu_ops_test, basic_percpu_ops_mm_cid_test and the \
                 run_param_test.sh matrix), the arm64 debug kernel, per-commit kernel images, \
                 cpu_opv_dos_test and cpu_opv_cost_test, the threaded upstream rseq tests on the kernel without \
                 Rust, long fuzzing and hotplug storm"
                .to_string(),
            Tier::Full => "nothing left out".to_string(),
        };
        let commits = match self {
            Tier::Full => self
                .commit_checks()
                .iter()
                .map(|a| format!("per-commit kernel images on {}", a.name))
                .collect::<Vec<_>>()
                .join(", "),
            Tier::Quick => "per-commit builds: none (CI runs make check-commits \
                            ARCH=x86_64 DEPTH=objects after this)"
                .to_string(),
        };
        format!(
            "tier {}: tooling tests; guest runs {runs}; static checks; {commits}; {left}",
            match self {
                Tier::Quick => "test",
                Tier::Full => "test-full",
            }
        )
    }
}

fn step(what: &str) -> Instant {
    eprintln!("==> {what}");
    Instant::now()
}

fn done(t: Instant) {
    eprintln!("    ({:.0?})", t.elapsed());
}

/// Who signs the series commits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Signer {
    /// The git identity of whoever runs the tool, required: `make series`,
    /// whose output is for posting. A sign-off is a person's statement.
    Person,
    /// That identity if there is one, else `tree::Identity::placeholder`:
    /// builds and static checks (checkpatch wants a sign-off), on CI too.
    AnyoneOrPlaceholder,
}

impl Signer {
    fn identity(self, paths: &Paths) -> Result<tree::Identity> {
        match (tree::Identity::from_git(&paths.repo), self) {
            (Some(who), _) => Ok(who),
            (None, Signer::AnyoneOrPlaceholder) => Ok(tree::Identity::placeholder()),
            (None, Signer::Person) => Err(
                "make series: no git identity. The series is written and signed off \
                 (Signed-off-by, the Developer's Certificate of Origin) by whoever emits \
                 it: set yours with git config user.name \"Your Name\" and \
                 git config user.email you@example.org, then run it again"
                    .to_string(),
            ),
        }
    }
}

/// Base tree plus series commits, written by whoever runs the tool (see
/// `Signer::AnyoneOrPlaceholder`); returns the head commit.
fn tree_up(paths: &Paths) -> Result<String> {
    tree_up_as(paths, Signer::AnyoneOrPlaceholder)
}

fn tree_up_as(paths: &Paths, signer: Signer) -> Result<String> {
    let m = manifest::Manifest::load(&paths.repo)?;
    let who = signer.identity(paths)?;
    let t = step("kernel tree");
    let version = tree::ensure_base(paths)?;
    let head = tree::assemble(paths, &m, &who)?;
    eprintln!(
        "    Linux {version} + {} patches, head {}",
        m.patches.len(),
        &head[..12]
    );
    done(t);
    Ok(head)
}

/// `xtask import`, then the series assembled again and its trees compared
/// with the imported commits'.
fn import_cmd(paths: &Paths) -> Result<()> {
    let entries = import::import(paths)?;
    tree_up(paths)?;
    let diffs = import::compare_trees(&paths.tree(), &entries)?;
    if !diffs.is_empty() {
        return util::fail(diffs.join("\n"));
    }
    eprintln!("    every assembled commit has the imported tree");
    Ok(())
}

/// The `git format-patch` series in `build/series`. For `make check` and
/// `make test` without a git identity the patches carry the placeholder
/// sign-off, and say so.
fn series(paths: &Paths, signer: Signer) -> Result<Vec<std::path::PathBuf>> {
    tree_up_as(paths, signer)?;
    if tree::Identity::from_git(&paths.repo).is_none() {
        eprintln!(
            "note: no git identity; build/series is signed off by \"{}\" for the checks only, \
             not for posting (make series refuses)",
            tree::Identity::placeholder().sign()
        );
    }
    let m = manifest::Manifest::load(&paths.repo)?;
    let files = tree::format_patches(paths, &m)?;
    for f in &files {
        println!("{}", f.display());
    }
    // For the man-pages project, not part of the kernel series.
    let who = signer.identity(paths)?;
    println!("{}", tree::man_pages_patch(paths, &m, &who)?.display());
    Ok(files)
}

/// Tree, configuration, kernel, kselftests. Returns image and kselftest
/// install folder.
fn build(
    paths: &Paths,
    a: &Arch,
    flavour: Flavour,
) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    tree_up(paths)?;
    let target = flavour.target(paths, a);
    let t = step(&format!(
        "{}: configure (tinyconfig + configs/*.config)",
        target.name
    ));
    kernel::configure(paths, &target, flavour.fragments())?;
    done(t);
    let t = step(&format!("{}: build kernel (LLVM=1 CLIPPY=1)", target.name));
    let image = kernel::build(paths, &target)?;
    done(t);
    let t = step(&format!("{}: build and install kselftests", target.name));
    let ksft = kernel::selftests(paths, &target)?;
    done(t);
    Ok((image, ksft))
}

/// Thread count for every `param_test` run of `run_param_test.sh` in the
/// guest (`RSEQ_PARAM_THREADS` overrides it). Its default, six per CPU,
/// makes the matrix of 1184 runs take hours under TCG. One per CPU keeps
/// the default loop counts and still gets threads preempted inside their
/// critical sections (by the injected delays, the runner and kernel
/// threads); the whole matrix then takes about 20 minutes on arm64.
const PARAM_THREADS: &str = "4";

/// Architectures whose default guest run includes the `run_param_test.sh`
/// matrix (`RSEQ_PARAM_MATRIX`, comma-separated, `all` or `none`).
const PARAM_MATRIX_ARCHES: &str = "all";

/// Settings of the guest test programs that the host environment may
/// override (passed into the guest when set).
const GUEST_KNOBS: &[&str] = &[
    "CPU_OPV_FUZZ_ITERS",
    "CPU_OPV_FUZZ_SECONDS",
    "RSEQ_FUZZ_ITERS",
    "RSEQ_FUZZ_SECONDS",
    "CPU_OPV_HOTPLUG_SECONDS",
    "CPU_OPV_COST_ITERS",
];

/// What the guest runs: unless `KSFT_ARGS` says otherwise, every installed
/// kselftest on the test kernel (without the param matrix on
/// architectures not in `RSEQ_PARAM_MATRIX`) and `DEBUG_TESTS` on the
/// debug kernel, with `run_param_test.sh` at a reduced thread count (and
/// repetition count in the quick tier) and the tier's program settings.
fn guest_run(a: &Arch, ksft: &std::path::Path, flavour: Flavour, tier: Tier) -> Result<GuestRun> {
    let threads = std::env::var("RSEQ_PARAM_THREADS").unwrap_or_else(|_| PARAM_THREADS.to_string());
    let matrix =
        std::env::var("RSEQ_PARAM_MATRIX").unwrap_or_else(|_| PARAM_MATRIX_ARCHES.to_string());
    let with_matrix = matrix == "all" || matrix.split(',').any(|m| m.trim() == a.name);
    let args = match std::env::var("KSFT_ARGS") {
        Ok(args) => args,
        Err(_) if flavour != Flavour::Test => {
            let tests = if flavour == Flavour::Debug {
                tier.debug_tests()
            } else {
                tier.c_rseq_tests().to_vec()
            };
            tests
                .iter()
                .map(|t| format!("-t {t}"))
                .collect::<Vec<_>>()
                .join(" ")
        }
        Err(_) if with_matrix => String::new(),
        Err(_) => util::read(&ksft.join("kselftest-list.txt"))?
            .lines()
            .filter(|l| !l.is_empty() && !l.ends_with(":run_param_test.sh"))
            .map(|l| format!("-t {l}"))
            .collect::<Vec<_>>()
            .join(" "),
    };
    let mut param = format!("-t {threads}");
    if let Some(reps) = tier.param_reps() {
        param.push_str(&format!(" -r {reps}"));
    }
    let mut env = vec![("KSELFTEST_RUN_PARAM_TEST_SH_ARGS".to_string(), param)];
    for (k, v) in tier.guest_env(flavour) {
        env.push((k.to_string(), v.to_string()));
    }
    for k in GUEST_KNOBS.iter().chain(&["GUEST_CMD"]) {
        if let Ok(v) = std::env::var(k) {
            env.retain(|(name, _)| name != k);
            env.push((k.to_string(), v));
        }
    }
    Ok(GuestRun { args, env })
}

/// Builds, boots and judges one kernel of one architecture. Returns the
/// label of the run (`ARCH` or `ARCH-debug`) and the verdict.
fn guest(paths: &Paths, a: &Arch, flavour: Flavour, tier: Tier) -> Result<(String, ktap::Verdict)> {
    let (image, ksft) = build(paths, a, flavour)?;
    let label = flavour.target(paths, a).name;
    let run = guest_run(a, &ksft, flavour, tier)?;
    let initrd = initramfs::build(paths, a, &ksft, &run)?;
    let c = boot(
        paths,
        a,
        &image,
        &initrd,
        &label,
        tier.guest_limit(),
        qemu::Clock::Host,
        |l| l.starts_with("ok ") || l.starts_with("not ok ") || l.starts_with("@@"),
    )?;
    // Without Rust there are no doctests: KUnit reports nothing at boot.
    let mut v = ktap::judge(&c.text, flavour != Flavour::CRseq);
    if let Some(limit) = c.timed_out {
        v.problems.insert(
            0,
            format!("guest timed out after {limit} s (GUEST_TIMEOUT)"),
        );
    }
    save_cost_table(paths, &label, &c.text)?;
    Ok((label, v))
}

/// Copies the cost table `cpu_opv_cost_test` printed (its `# cost:`
/// lines) to `build/results/cost-LABEL.table`, if it ran.
fn save_cost_table(paths: &Paths, label: &str, console: &str) -> Result<()> {
    let table: String = console
        .lines()
        .filter_map(|l| {
            l.split_once("# cost:")
                .map(|(_, r)| format!("{}\n", r.trim_end()))
        })
        .collect();
    if table.is_empty() {
        return Ok(());
    }
    let file = paths.results().join(format!("cost-{label}.table"));
    util::write(&file, &table)
}

fn run_cmd(paths: &Paths, a: &Arch) -> Result<()> {
    let (label, v) = guest(paths, a, Flavour::from_env(), Tier::Quick)?;
    let tally = report::print_verdict(paths, &label, &v);
    report::record(paths, &format!("guest-{label}"), &tally)?;
    if v.ok() {
        Ok(())
    } else {
        Err(format!("{label}: guest run failed"))
    }
}

/// What a guest run left: its console log, and the wall-clock limit in
/// seconds if QEMU was killed for reaching it.
struct Console {
    text: String,
    timed_out: Option<u64>,
}

/// Boots `image` with `initrd` under QEMU, its console logged to
/// `console-LABEL.log` and the lines `progress` picks echoed as it runs.
#[allow(clippy::too_many_arguments)] // each one is a different setting of the session
fn boot(
    paths: &Paths,
    a: &Arch,
    image: &std::path::Path,
    initrd: &std::path::Path,
    label: &str,
    default_limit: u64,
    clock: qemu::Clock,
    progress: impl Fn(&str) -> bool,
) -> Result<Console> {
    let limit = std::env::var("GUEST_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_limit);
    let log = paths.logs().join(format!("console-{label}.log"));
    util::mkdir(&paths.logs())?;
    let t = step(&format!(
        "{label}: boot under QEMU ({} vCPUs, {} MiB, limit {limit} s), console in {}",
        qemu::CPUS,
        qemu::MEM_MIB,
        log.display()
    ));
    let end = qemu::run(
        qemu::command(a, image, initrd, "", clock),
        &log,
        Duration::from_secs(limit),
        progress,
    )?;
    done(t);
    let text = std::fs::read(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    Ok(Console {
        text: String::from_utf8_lossy(&text).into_owned(),
        timed_out: (end == qemu::End::TimedOut).then_some(limit),
    })
}

/// Boots a benchmark session and returns its console log; a timeout is
/// an error.
fn bench_boot(
    paths: &Paths,
    a: &Arch,
    image: &std::path::Path,
    initrd: &std::path::Path,
    label: &str,
    clock: qemu::Clock,
) -> Result<String> {
    let c = boot(
        paths,
        a,
        image,
        initrd,
        label,
        Tier::Quick.guest_limit(),
        clock,
        |l| l.starts_with("rseq_bench ") || l.starts_with("@@"),
    )?;
    match c.timed_out {
        Some(limit) => Err(format!(
            "{label}: guest timed out after {limit} s (GUEST_TIMEOUT)"
        )),
        None => Ok(c.text),
    }
}

/// The value of the environment variable `name` (`default` if unset),
/// which must be a list of numbers.
fn numbers_env(name: &str, default: &str) -> Result<String> {
    let v = std::env::var(name).unwrap_or_else(|_| default.to_string());
    if v.split_whitespace().all(|w| w.parse::<u32>().is_ok()) {
        Ok(v)
    } else {
        Err(format!("{name} must be numbers, got \"{v}\""))
    }
}

/// Boots each benchmark kernel twice, in the order ours, C, C, ours, so
/// that neither a slow spell of the host nor going first favours one;
/// returns the console logs as `[kernel][session]`.
fn bench_sessions(
    paths: &Paths,
    a: &Arch,
    kernels: [&kernel::Target; 2],
    images: &[std::path::PathBuf],
    initrd: &std::path::Path,
    clock: qemu::Clock,
    tag: &str,
) -> Result<[[String; 2]; 2]> {
    let mut logs: [[String; 2]; 2] = Default::default();
    for (round, i) in [0, 1, 1, 0].into_iter().enumerate() {
        let session = round / 2;
        let label = format!("bench-{tag}-{}-{}", kernels[i].name, session + 1);
        logs[i][session] = bench_boot(paths, a, &images[i], initrd, &label, clock)?;
    }
    Ok(logs)
}

/// Runs `rseq_bench` and `cpu_opv_bench` on the series kernel with the
/// Rust rseq and with the C one (one tree, two configurations): first
/// counting guest instructions, then in host time, and prints the
/// ratios.
fn bench_cmd(paths: &Paths, a: &Arch) -> Result<()> {
    // The kselftests (rseq_bench among them) and the counters come from
    // the test build (CONFIG_RSEQ_STATS on); the measured kernels get
    // configs/bench.config on top of the test fragments.
    let (test_image, ksft) = build(paths, a, Flavour::Test)?;
    let ours = kernel::Target::series_variant(paths, a, "bench");
    let base = kernel::Target::series_variant(paths, a, "bench-c");
    let mut images = Vec::new();
    for (k, frags) in [(&ours, &["bench"][..]), (&base, &["bench", "rseq-c"][..])] {
        let t = step(&format!(
            "{}: configure (+ configs/{}.config) and build",
            k.name,
            frags.join(".config, configs/")
        ));
        kernel::configure(paths, k, frags)?;
        images.push(kernel::build(paths, k)?);
        done(t);
    }
    let initrd = |rseq: &str, opv: &str| {
        let cmd =
            format!("/kselftest/rseq/rseq_bench {rseq}; /kselftest/cpu-opv/cpu_opv_bench {opv}");
        let run = GuestRun {
            args: String::new(),
            env: vec![("GUEST_CMD".to_string(), cmd)],
        };
        initramfs::build(paths, a, &ksft, &run)
    };
    let icount_args = numbers_env("BENCH_ICOUNT_ARGS", "20000 3 4")?;
    let icount_opv_args = numbers_env("CPU_OPV_BENCH_ICOUNT_ARGS", "500 3")?;
    let args = numbers_env("BENCH_ARGS", "100000 11 32")?;
    let opv_args = numbers_env("CPU_OPV_BENCH_ARGS", "2000 5")?;
    let kernels = [&ours, &base];
    let counted = bench_sessions(
        paths,
        a,
        kernels,
        &images,
        &initrd(&icount_args, &icount_opv_args)?,
        qemu::Clock::Instructions,
        "icount",
    )?;
    let timed_initrd = initrd(&args, &opv_args)?;
    let timed = bench_sessions(
        paths,
        a,
        kernels,
        &images,
        &timed_initrd,
        qemu::Clock::Host,
        "time",
    )?;
    let stats = bench::parse(&bench_boot(
        paths,
        a,
        &test_image,
        &timed_initrd,
        &format!("bench-{}-stats", a.name),
        qemu::Clock::Host,
    )?);
    let parsed = |k: usize| [bench::parse(&counted[k][0]), bench::parse(&counted[k][1])];
    let (ours_n, base_n) = (parsed(0), parsed(1));
    let (rseq_table, rseq_worst) =
        bench::icount_table([&ours_n[0], &ours_n[1]], [&base_n[0], &base_n[1]])?;
    let mut out = format!(
        "Guest instructions on {} (QEMU -icount shift=0,sleep=off: 1 ns of guest time = 1 \
         instruction; 4 vCPUs on one host thread). rseq_bench {icount_args}, two sessions per \
         kernel (ours, C, C, ours), median instructions per iteration of each session; ours = \
         Rust rseq, C = kernel/rseq.c, one tree (test fragments + configs/bench.config; C: + \
         configs/rseq-c.config)\n",
        a.name
    );
    out.push_str(&rseq_table);
    let opv = |s: &str| bench::by_field(&bench::parse_opv(s));
    let (opv_1, opv_2) = (opv(&counted[0][0]), opv(&counted[0][1]));
    let opv_counted = bench::opv_icount_table([&opv_1, &opv_2]);
    out.push_str(&format!(
        "\ncpu_opv_bench {icount_opv_args} on the series kernel (CPU 0 to CPU 0), instructions \
         per call in each session; \"all vmap\" = cpu_opv/force_vmap\n"
    ));
    let mut worst = rseq_worst;
    match opv_counted {
        Ok((t, w)) => {
            out.push_str(&t);
            worst = worst.max(w);
        }
        Err(e) => out.push_str(&format!("{e}\n")),
    }
    out.push_str(&format!(
        "largest difference between two sessions of one kernel: {:.2} % ({} the {:.0} % goal)\n",
        100.0 * worst,
        if worst <= bench::AGREE {
            "within"
        } else {
            "OUTSIDE"
        },
        100.0 * bench::AGREE
    ));
    let joined = |k: usize| bench::parse(&format!("{}{}", timed[k][0], timed[k][1]));
    let rows = bench::compare(&joined(0), &joined(1))?;
    out.push_str(&format!(
        "\nHost time: rseq_bench {args} (4 vCPUs on host threads), two sessions per kernel: \
         median ns per iteration (\"per null\": ours/C of each time divided by the null \
         system call of the same repetition)\n"
    ));
    out.push_str(&bench::timing_table(&rows));
    if stats.stats.is_empty() {
        out.push_str("no rseq counters from the test kernel (CONFIG_RSEQ_STATS off?)\n");
    } else {
        out.push_str(
            "\nseries counters (test kernel, CONFIG_RSEQ_STATS on); \"C resumes\" = switches \
             out + signals + registrations, what the C code does\n",
        );
        out.push_str(&bench::stats_table(&stats));
    }
    out.push_str(&format!(
        "\ncpu_opv_bench {opv_args} in host time on the series kernel (both sessions; CPU 0 \
         to CPU 0), ratio to getppid() of the same repetition; \"all vmap\" = \
         cpu_opv/force_vmap\n"
    ));
    let timed_opv = bench::parse_opv(&format!("{}{}", timed[0][0], timed[0][1]));
    match bench::opv_table(&timed_opv) {
        Ok(t) => out.push_str(&t),
        Err(e) => out.push_str(&format!("{e}\n")),
    }
    print!("{out}");
    let file = paths.results().join(format!("bench-{}.txt", a.name));
    util::write(&file, &out)?;
    println!("written to {}", file.display());
    Ok(())
}

fn check_cmd(paths: &Paths) -> Result<()> {
    series(paths, Signer::AnyoneOrPlaceholder)?;
    let a = &arch::ARCHES[0];
    let tally = checks::run_all(paths, &[(a, a.name.to_string())]);
    report::record(paths, "checks", &tally)?;
    if tally.failed == 0 {
        Ok(())
    } else {
        Err(format!("{} static check(s) failed", tally.failed))
    }
}

fn check_commits_cmd(paths: &Paths, a: &Arch, depth: commits::Depth) -> Result<()> {
    tree_up(paths)?;
    let tally = commits::check(paths, a, depth);
    report::record(paths, &format!("commits-{}", a.name), &tally)?;
    println!("{} passed, {} failed", tally.passed, tally.failed);
    if tally.failed == 0 {
        Ok(())
    } else {
        Err(format!(
            "{} commit(s) of the series do not build",
            tally.failed
        ))
    }
}

/// The whole test suite at `tier`: every stage runs even when an earlier
/// one failed, and the last line is the total.
fn test_cmd(paths: &Paths, tier: Tier) -> Result<()> {
    report::clear(paths)?;
    let plan = tier.plan();
    eprintln!("{plan}");
    let t = step("tooling unit tests (cargo test)");
    let tooling = checks::tooling_tests(paths);
    done(t);
    report::record(paths, "tooling", &tooling)?;
    for (a, flavour) in tier.runs() {
        let label = flavour.target(paths, a).name;
        let tally = match guest(paths, a, flavour, tier) {
            Ok((label, v)) => report::print_verdict(paths, &label, &v),
            Err(e) => {
                eprintln!("error: {label}: {e}");
                Tally {
                    failed: 1,
                    ..Tally::default()
                }
            }
        };
        report::record(paths, &format!("guest-{label}"), &tally)?;
    }
    let checks = match series(paths, Signer::AnyoneOrPlaceholder) {
        Ok(_) => {
            let builds: Vec<_> = tier
                .runs()
                .into_iter()
                .map(|(a, f)| (a, f.target(paths, a).name))
                .collect();
            checks::run_all(paths, &builds)
        }
        Err(e) => {
            eprintln!("error: series: {e}");
            Tally {
                failed: 1,
                ..Tally::default()
            }
        }
    };
    report::record(paths, "checks", &checks)?;
    for a in tier.commit_checks() {
        let tally = commits::check(paths, a, commits::Depth::Image);
        report::record(paths, &format!("commits-{}", a.name), &tally)?;
    }
    println!("{plan}");
    let total = report::summary(paths)?;
    if total.failed == 0 {
        Ok(())
    } else {
        Err(String::new())
    }
}
