// SPDX-License-Identifier: GPL-2.0
//! A writer for the `newc` cpio format the kernel unpacks as initramfs.
//! Writing it ourselves lets the archive hold device nodes and fixed
//! owners without root, and keeps it reproducible.

use std::collections::BTreeMap;

/// One archive member.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A directory.
    Dir,
    /// A regular file with its mode bits (e.g. `0o755`) and content.
    File(u32, Vec<u8>),
    /// A symbolic link to the given target.
    Symlink(String),
    /// A character device with major and minor numbers.
    CharDev(u32, u32),
}

/// An archive being assembled: path (no leading `/`) to member.
#[derive(Debug, Default)]
pub struct Archive {
    entries: BTreeMap<String, Entry>,
}

impl Archive {
    /// Adds or replaces `path`, adding missing parent directories.
    pub fn add(&mut self, path: &str, e: Entry) {
        let path = path.trim_start_matches('/').to_string();
        let mut parent = String::new();
        for comp in path
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map(|x| x.1)
            .unwrap_or(&[])
        {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(comp);
            self.entries.entry(parent.clone()).or_insert(Entry::Dir);
        }
        self.entries.insert(path, e);
    }

    /// Whether `path` is present.
    #[cfg(test)]
    pub fn contains(&self, path: &str) -> bool {
        self.entries.contains_key(path.trim_start_matches('/'))
    }

    /// Serialises the archive, parents before children, with the trailer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (ino, (path, e)) in self.entries.iter().enumerate() {
            let (mode, data, rdev): (u32, &[u8], (u32, u32)) = match e {
                Entry::Dir => (0o040755, &[], (0, 0)),
                Entry::File(m, d) => (0o100000 | m, d, (0, 0)),
                Entry::Symlink(t) => (0o120777, t.as_bytes(), (0, 0)),
                Entry::CharDev(ma, mi) => (0o020600, &[], (*ma, *mi)),
            };
            let nlink = if matches!(e, Entry::Dir) { 2 } else { 1 };
            header(
                &mut out,
                ino as u32 + 1,
                mode,
                nlink,
                data.len(),
                rdev,
                path,
            );
            out.extend_from_slice(data);
            pad4(&mut out);
        }
        header(&mut out, 0, 0, 1, 0, (0, 0), "TRAILER!!!");
        out
    }
}

fn header(
    out: &mut Vec<u8>,
    ino: u32,
    mode: u32,
    nlink: u32,
    size: usize,
    rdev: (u32, u32),
    name: &str,
) {
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        0,
        size as u32,
        0,
        0,
        rdev.0,
        rdev.1,
        name.len() as u32 + 1,
        0,
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn parents_are_added_and_layout_is_aligned() {
        let mut a = Archive::default();
        a.add("/usr/bin/x", Entry::File(0o755, b"abc".to_vec()));
        assert!(a.contains("usr") && a.contains("usr/bin"));
        let bytes = a.to_bytes();
        assert_eq!(bytes.len() % 4, 0);
        assert!(bytes.starts_with(b"070701"));
    }

    /// The system's cpio must read back what we wrote.
    #[test]
    fn cpio_tool_lists_our_archive() {
        let mut a = Archive::default();
        a.add("init", Entry::File(0o755, b"#!/bin/sh\n".to_vec()));
        a.add("bin/sh", Entry::Symlink("busybox".into()));
        a.add("dev/console", Entry::CharDev(5, 1));
        let mut child = Command::new("cpio")
            .args(["-t", "-v"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cpio (installed by make deps)");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&a.to_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("bin/sh -> busybox"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("crw") && l.ends_with("dev/console")),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("-rwxr-xr-x") && l.ends_with("init")),
            "{text}"
        );
    }
}
