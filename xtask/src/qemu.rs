// SPDX-License-Identifier: GPL-2.0
//! Boots a kernel and initramfs under QEMU (TCG), captures the serial
//! console into a log file and enforces a wall-clock limit.

use crate::arch::Arch;
use crate::util::{fail, Result};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Guest size the tests run with.
pub const CPUS: u32 = 4;
/// Guest memory in MiB.
pub const MEM_MIB: u32 = 1024;

/// How a guest run ended.
#[derive(Debug, PartialEq)]
pub enum End {
    /// QEMU exited by itself (the guest powered off or panicked).
    Exited,
    /// The wall-clock limit passed; QEMU was killed.
    TimedOut,
}

/// What the guest's clocks count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clock {
    /// Host time; the vCPUs run on host threads of their own.
    Host,
    /// Guest instructions: `-icount shift=0,sleep=off` makes one
    /// nanosecond of guest time one instruction, and an idle guest skips
    /// ahead instead of waiting, so a time measured in the guest repeats
    /// from run to run. It needs the vCPUs on one host thread.
    Instructions,
}

/// The QEMU command line for `arch`.
pub fn command(
    arch: &Arch,
    image: &Path,
    initrd: &Path,
    extra_cmdline: &str,
    clock: Clock,
) -> Command {
    let mut c = Command::new(arch.qemu);
    c.args(arch.qemu_args);
    match clock {
        Clock::Host => c.args(["-accel", "tcg,thread=multi"]),
        Clock::Instructions => c.args([
            "-accel",
            "tcg,thread=single",
            "-icount",
            "shift=0,sleep=off",
        ]),
    };
    c.args(["-smp", &CPUS.to_string(), "-m", &format!("{MEM_MIB}M")])
        .args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
        .args(["-no-reboot", "-nodefaults"])
        .arg("-kernel")
        .arg(image)
        .arg("-initrd")
        .arg(initrd)
        .arg("-append")
        .arg(format!(
            "console={} panic=-1 rdinit=/init {extra_cmdline}",
            arch.console
        ));
    c
}

/// Runs `cmd`, writing every console line to `log`; lines for which
/// `progress` returns true are echoed. Kills QEMU after `limit`.
pub fn run(
    mut cmd: Command,
    log: &Path,
    limit: Duration,
    progress: impl Fn(&str) -> bool,
) -> Result<End> {
    let mut file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{:?}: cannot start: {e}", cmd.get_program()))?;
    let Some(out) = child.stdout.take() else {
        return fail("qemu: no stdout pipe");
    };
    let err = child.stderr.take();
    let (tx, rx) = std::sync::mpsc::channel::<Option<String>>();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(out);
        let mut buf = Vec::new();
        while let Ok(n) = r.read_until(b'\n', &mut buf) {
            if n == 0 {
                break;
            }
            let _ = tx.send(Some(String::from_utf8_lossy(&buf).into_owned()));
            buf.clear();
        }
        let _ = tx.send(None);
    });
    let errs = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut e) = err {
            let _ = std::io::Read::read_to_string(&mut e, &mut s);
        }
        s
    });
    let start = Instant::now();
    let mut end = End::Exited;
    loop {
        let left = limit.saturating_sub(start.elapsed());
        if left.is_zero() {
            let _ = child.kill();
            end = End::TimedOut;
            break;
        }
        match rx.recv_timeout(left.min(Duration::from_millis(500))) {
            Ok(Some(line)) => {
                let _ = file.write_all(line.as_bytes());
                let l = line.trim_end();
                if progress(l) {
                    eprintln!("  | {l}");
                }
            }
            Ok(None) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child.wait().map_err(|e| format!("qemu: {e}"))?;
    let _ = reader.join();
    let stderr = errs.join().unwrap_or_default();
    if end == End::Exited && !status.success() {
        return fail(format!(
            "qemu exited with {status}: {}",
            stderr.lines().next().unwrap_or("(no message)")
        ));
    }
    Ok(end)
}
