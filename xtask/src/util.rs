// SPDX-License-Identifier: GPL-2.0
//! Errors, paths and child processes shared by the subcommands.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Every failure is one line of text saying what and where.
pub type Result<T> = std::result::Result<T, String>;

/// Returns `Err(msg)`.
pub fn fail<T>(msg: impl Into<String>) -> Result<T> {
    Err(msg.into())
}

/// Where the repository and its ignored build folder are.
#[derive(Clone, Debug)]
pub struct Paths {
    /// The repository (the folder holding `series.toml`).
    pub repo: PathBuf,
    /// The one ignored output folder (`build/` unless `BUILD_DIR` is set).
    pub build: PathBuf,
}

impl Paths {
    /// Finds the repository from the xtask crate's location.
    pub fn discover() -> Paths {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let build = std::env::var_os("BUILD_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo.join("build"));
        Paths { repo, build }
    }

    /// The assembled kernel tree (a git repository).
    pub fn tree(&self) -> PathBuf {
        self.build.join("linux")
    }

    /// Kernel object directory for one architecture.
    pub fn obj(&self, arch: &str) -> PathBuf {
        self.build.join(format!("obj-{arch}"))
    }

    /// Logs written by builds and runs.
    pub fn logs(&self) -> PathBuf {
        self.build.join("logs")
    }

    /// Machine-readable results of each test stage.
    pub fn results(&self) -> PathBuf {
        self.build.join("results")
    }
}

/// Creates `dir` and its parents.
pub fn mkdir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))
}

/// Writes `data` to `path`, creating the parent folder.
pub fn write(path: &Path, data: impl AsRef<[u8]>) -> Result<()> {
    if let Some(p) = path.parent() {
        mkdir(p)?;
    }
    std::fs::write(path, data).map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

/// Reads a text file.
pub fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` with inherited output; fails naming the command.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .map_err(|e| format!("{}: cannot start: {e}", describe(cmd)))?;
    if !status.success() {
        return fail(format!("{} failed ({status})", describe(cmd)));
    }
    Ok(())
}

/// Runs `cmd` with its output appended to `log`; on failure, names the
/// command and the log, after printing the log's last lines.
pub fn run_logged(cmd: &mut Command, log: &Path, what: &str) -> Result<()> {
    if let Some(p) = log.parent() {
        mkdir(p)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("{}: cannot open: {e}", log.display()))?;
    let err = file
        .try_clone()
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let status = cmd
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .status()
        .map_err(|e| format!("{}: cannot start: {e}", describe(cmd)))?;
    if !status.success() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        for l in &lines[lines.len().saturating_sub(30)..] {
            eprintln!("  | {l}");
        }
        return fail(format!(
            "{what} failed ({status}); full log: {}",
            log.display()
        ));
    }
    Ok(())
}

/// Runs `cmd` and returns its standard output; fails with its stderr.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: cannot start: {e}", describe(cmd)))?;
    if !out.status.success() {
        return fail(format!(
            "{} failed: {}",
            describe(cmd),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Number of parallel make jobs.
pub fn jobs() -> String {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .to_string()
}
