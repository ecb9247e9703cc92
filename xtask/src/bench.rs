// SPDX-License-Identifier: GPL-2.0
//! The rseq benchmark: parses what `rseq_bench` prints in the guest and
//! compares two kernels of one tree (the Rust rseq and the C rseq of
//! `kernel/rseq.c`, "base" below) as ratios, with the spread of the repetitions, plus the work the
//! series' counters saw.

use std::collections::BTreeMap;

/// The timed paths, in the order `rseq_bench` prints them.
pub const PATHS: &[&str] = &["ctxsw", "signal", "regunreg", "null"];

/// What one guest run printed.
#[derive(Debug, Default, PartialEq)]
pub struct Run {
    /// Nanoseconds per iteration of each path, one entry per repetition.
    pub ns: BTreeMap<String, Vec<f64>>,
    /// Counter deltas per phase (`ctxsw`, ..., `build`), if the kernel
    /// has `CONFIG_RSEQ_STATS`.
    pub stats: BTreeMap<String, BTreeMap<String, u64>>,
}

/// Parses the `rseq_bench` lines of a console log.
pub fn parse(log: &str) -> Run {
    let mut run = Run::default();
    for line in log.lines() {
        let Some(rest) = line.trim_end_matches('\r').strip_prefix("rseq_bench ") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let first = words.next().unwrap_or("");
        if first.starts_with("rep=") {
            for w in words {
                if let Some((k, v)) = w.split_once("_ns=") {
                    if let Ok(v) = v.parse::<f64>() {
                        run.ns.entry(k.to_string()).or_default().push(v);
                    }
                }
            }
        } else if first == "stats" {
            let mut phase = None;
            let mut vals = BTreeMap::new();
            for w in words {
                let Some((k, v)) = w.split_once('=') else {
                    continue;
                };
                if k == "phase" {
                    phase = Some(v.to_string());
                } else if let Ok(v) = v.parse::<u64>() {
                    vals.insert(k.to_string(), v);
                }
            }
            if let Some(p) = phase {
                run.stats.insert(p, vals);
            }
        }
    }
    run
}

/// Median of `v` (which must not be empty).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Smallest value of `v`.
pub fn min(v: &[f64]) -> f64 {
    v.iter().cloned().fold(f64::MAX, f64::min)
}

/// Spread of the repetitions: `(max - min) / median`, as a fraction.
pub fn spread(v: &[f64]) -> f64 {
    let max = v.iter().cloned().fold(f64::MIN, f64::max);
    (max - min(v)) / median(v)
}

/// The vectors `cpu_opv_bench` times, in the order it prints them.
pub const OPV_VECTORS: &[(&str, &str)] = &[
    ("add", "1-op add"),
    ("cas", "compare+store"),
    ("max", "largest vector"),
];

/// The `cpu_opv_bench` lines of a console log: per repetition, each
/// field's nanoseconds.
pub fn parse_opv(log: &str) -> Vec<BTreeMap<String, f64>> {
    log.lines()
        .filter_map(|l| l.trim_end_matches('\r').strip_prefix("cpu_opv_bench rep="))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|w| w.split_once("_ns="))
                .filter_map(|(k, v)| Some((k.to_string(), v.parse::<f64>().ok()?)))
                .collect()
        })
        .collect()
}

/// The cpu_opv latency table: each vector as a ratio to the null system
/// call of the same repetition, with the direct path and with every
/// operand forced through a vmalloc alias, and what the direct path
/// saves. Ratios are medians of per-repetition ratios.
pub fn opv_table(reps: &[BTreeMap<String, f64>]) -> Result<String, String> {
    if reps.is_empty() {
        return Err("no cpu_opv_bench timings".into());
    }
    let ratio = |num: &str, den: &str| -> Result<Vec<f64>, String> {
        reps.iter()
            .map(|r| match (r.get(num), r.get(den)) {
                (Some(n), Some(d)) if *d > 0.0 => Ok(n / d),
                _ => Err(format!("cpu_opv_bench: no {num}/{den} in a repetition")),
            })
            .collect()
    };
    let null: Vec<f64> = reps.iter().filter_map(|r| r.get("null").copied()).collect();
    let mut out = format!(
        "vector            x getppid   x getppid (all vmap)   vmap/direct   spread   ({} reps, getppid {:.0} ns)\n",
        reps.len(),
        median(&null)
    );
    for (key, label) in OPV_VECTORS {
        let direct = ratio(key, "null")?;
        let vmap = ratio(&format!("{key}_vmap"), "null")?;
        let saved = ratio(&format!("{key}_vmap"), key)?;
        out.push_str(&format!(
            "{label:<16} {:>10.2} {:>22.2} {:>13.2} {:>7.0}%\n",
            median(&direct),
            median(&vmap),
            median(&saved),
            100.0 * spread(&direct)
        ));
    }
    Ok(out)
}

/// One row of the comparison.
#[derive(Debug, PartialEq)]
pub struct Row {
    /// Path name.
    pub path: String,
    /// Median ns of the series kernel.
    pub ours: f64,
    /// Median ns of the base kernel.
    pub base: f64,
    /// `ours / base` of the medians.
    pub ratio: f64,
    /// `ours / base` of the fastest repetitions: noise on a shared host
    /// only ever adds time.
    pub ratio_min: f64,
    /// `ours / base` of the medians of each repetition's time divided by
    /// the null system call's time in the same repetition: what the
    /// kernel adds on top of a system call, with the session-to-session
    /// drift of the host divided out.
    pub ratio_null: f64,
    /// Spread of each kernel's repetitions.
    pub spread_ours: f64,
    /// As above for the base kernel.
    pub spread_base: f64,
}

/// Compares the two runs path by path; a path missing from either run is
/// an error.
pub fn compare(ours: &Run, base: &Run) -> Result<Vec<Row>, String> {
    if let Some(p) = PATHS.iter().find(|p| {
        [ours, base]
            .iter()
            .any(|r| r.ns.get(**p).is_none_or(|v| v.is_empty()))
    }) {
        return Err(format!("no {p} timings from both kernels"));
    }
    let mut rows = Vec::new();
    for p in PATHS {
        // Present and non-empty in both, as checked above.
        let (o, b) = (&ours.ns[*p], &base.ns[*p]);
        let per_null = |run: &Run, v: &[f64]| -> Result<f64, String> {
            let null = run.ns.get("null").filter(|n| n.len() == v.len());
            let null = null.ok_or_else(|| format!("{p}: no null timing for every repetition"))?;
            Ok(median(
                &v.iter().zip(null).map(|(x, n)| x / n).collect::<Vec<_>>(),
            ))
        };
        rows.push(Row {
            ratio_null: per_null(ours, o)? / per_null(base, b)?,
            path: p.to_string(),
            ours: median(o),
            base: median(b),
            ratio: median(o) / median(b),
            ratio_min: min(o) / min(b),
            spread_ours: spread(o),
            spread_base: spread(b),
        });
    }
    Ok(rows)
}

/// The work the base kernel's C code does for a phase, from the series'
/// counters: one resume (one id store, one descriptor read) per switch
/// out of a thread with rseq, per signal delivered and per registration.
/// It is an upper bound, as switches without a return to user space in
/// between share one resume.
pub fn base_work(stats: &BTreeMap<String, u64>) -> u64 {
    ["sched_out", "signal", "register"]
        .iter()
        .map(|k| stats.get(*k).copied().unwrap_or(0))
        .sum()
}

/// The counters table: per phase, what the base kernel would have done
/// and what the series did, with the reduction of id stores and
/// descriptor reads.
pub fn stats_table(run: &Run) -> String {
    let mut s = format!(
        "{:<10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9}\n",
        "phase", "C resumes", "resumes", "ids", "cs reads", "fixups", "ids cut", "cs cut"
    );
    let get = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    let cut = |done: u64, before: u64| {
        if before == 0 {
            "-".to_string()
        } else {
            format!("{:.1}%", 100.0 * (1.0 - done as f64 / before as f64))
        }
    };
    for (phase, m) in &run.stats {
        let before = base_work(m);
        s.push_str(&format!(
            "{:<10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9}\n",
            phase,
            before,
            get(m, "resume"),
            get(m, "ids"),
            get(m, "cs"),
            get(m, "fixup"),
            cut(get(m, "ids"), before),
            cut(get(m, "cs"), before)
        ));
    }
    s
}

/// How closely two runs under the instruction clock must agree: their
/// difference over their mean.
pub const AGREE: f64 = 0.01;

/// `|a - b|` over the mean of `a` and `b`.
pub fn disagreement(a: f64, b: f64) -> f64 {
    if a + b == 0.0 {
        0.0
    } else {
        2.0 * (a - b).abs() / (a + b)
    }
}

/// The `cpu_opv_bench` repetitions as one list of values per field.
pub fn by_field(reps: &[BTreeMap<String, f64>]) -> BTreeMap<String, Vec<f64>> {
    let mut m: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in reps {
        for (k, v) in r {
            m.entry(k.clone()).or_default().push(*v);
        }
    }
    m
}

/// One measure from two runs under the instruction clock.
#[derive(Debug, PartialEq)]
pub struct Count {
    /// Median instructions per iteration of each run.
    pub runs: [f64; 2],
    /// Median over both runs of each repetition's count divided by the
    /// null system call's count in the same repetition.
    pub per_null: f64,
}

impl Count {
    /// Mean of the two runs.
    pub fn mean(&self) -> f64 {
        (self.runs[0] + self.runs[1]) / 2.0
    }

    /// How far apart the two runs are.
    pub fn disagreement(&self) -> f64 {
        disagreement(self.runs[0], self.runs[1])
    }
}

/// `key` from two runs (each field's values, one per repetition); the
/// per-null ratio divides by the `null` field of the same repetition.
pub fn count(runs: [&BTreeMap<String, Vec<f64>>; 2], key: &str) -> Result<Count, String> {
    let mut medians = [0.0; 2];
    let mut ratios = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let v = run.get(key).filter(|v| !v.is_empty());
        let v = v.ok_or_else(|| format!("run {}: no {key} count", i + 1))?;
        let null = run.get("null").filter(|n| n.len() == v.len());
        let null = null.ok_or_else(|| format!("run {}: no null count per repetition", i + 1))?;
        medians[i] = median(v);
        ratios.extend(v.iter().zip(null).map(|(x, n)| x / n));
    }
    Ok(Count {
        runs: medians,
        per_null: median(&ratios),
    })
}

/// The rseq table under the instruction clock: per path, instructions
/// per iteration of two runs of each kernel and ours/C of their means.
/// Also returns the largest disagreement between two runs of a kernel.
pub fn icount_table(ours: [&Run; 2], base: [&Run; 2]) -> Result<(String, f64), String> {
    let mut s = format!(
        "{:<10} {:>12} {:>12} {:>12} {:>12} {:>8} {:>9}\n",
        "path", "ours run 1", "ours run 2", "C run 1", "C run 2", "ours/C", "per null"
    );
    let mut worst: f64 = 0.0;
    for p in PATHS {
        let o = count([&ours[0].ns, &ours[1].ns], p).map_err(|e| format!("ours: {e}"))?;
        let b = count([&base[0].ns, &base[1].ns], p).map_err(|e| format!("C: {e}"))?;
        worst = worst.max(o.disagreement()).max(b.disagreement());
        s.push_str(&format!(
            "{:<10} {:>12.1} {:>12.1} {:>12.1} {:>12.1} {:>8.3} {:>9.3}\n",
            p,
            o.runs[0],
            o.runs[1],
            b.runs[0],
            b.runs[1],
            o.mean() / b.mean(),
            o.per_null / b.per_null
        ));
    }
    Ok((s, worst))
}

/// The cpu_opv table under the instruction clock: per vector, with the
/// direct path and with every operand forced through a vmalloc alias,
/// instructions per call of two runs and the multiple of `getppid()`.
/// Also returns the largest disagreement between the runs.
pub fn opv_icount_table(runs: [&BTreeMap<String, Vec<f64>>; 2]) -> Result<(String, f64), String> {
    let mut s = format!(
        "{:<28} {:>10} {:>10} {:>10}\n",
        "vector", "run 1", "run 2", "x getppid"
    );
    let mut worst: f64 = 0.0;
    let mut rows = vec![("null".to_string(), "getppid()".to_string())];
    for (key, label) in OPV_VECTORS {
        rows.push((key.to_string(), label.to_string()));
        rows.push((format!("{key}_vmap"), format!("{label} (all vmap)")));
    }
    for (key, label) in rows {
        let c = count(runs, &key)?;
        worst = worst.max(c.disagreement());
        s.push_str(&format!(
            "{label:<28} {:>10.0} {:>10.0} {:>10.2}\n",
            c.runs[0], c.runs[1], c.per_null
        ));
    }
    Ok((s, worst))
}

/// The timing table.
pub fn timing_table(rows: &[Row]) -> String {
    let mut s = format!(
        "{:<10} {:>10} {:>10} {:>8} {:>10} {:>10} {:>12} {:>12}\n",
        "path", "ours ns", "C ns", "ours/C", "min ratio", "per null", "spread ours", "spread C"
    );
    for r in rows {
        s.push_str(&format!(
            "{:<10} {:>10.1} {:>10.1} {:>8.2} {:>10.2} {:>10.2} {:>11.1}% {:>11.1}%\n",
            r.path,
            r.ours,
            r.base,
            r.ratio,
            r.ratio_min,
            r.ratio_null,
            100.0 * r.spread_ours,
            100.0 * r.spread_base
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
noise
rseq_bench stats phase=ctxsw sched_out=200 peek_hit=0 resume=2 ids=1 cs=0 fixup=0\r
rseq_bench rep=1 ctxsw_ns=10.0 signal_ns=5.0 regunreg_ns=2.0 null_ns=1.0
rseq_bench rep=2 ctxsw_ns=12.0 signal_ns=5.0 regunreg_ns=2.0 null_ns=1.0
rseq_bench rep=3 ctxsw_ns=11.0 signal_ns=6.0 regunreg_ns=2.0 null_ns=1.0
rseq_bench stats phase=build sched_out=1000 signal=10 resume=50 ids=30 cs=10 fixup=0
";

    #[test]
    fn parses_and_compares() {
        let ours = parse(LOG);
        assert_eq!(ours.ns["ctxsw"], [10.0, 12.0, 11.0]);
        assert_eq!(ours.stats["ctxsw"]["sched_out"], 200);
        assert_eq!(ours.stats["build"]["signal"], 10);
        let base = parse(&LOG.replace("ctxsw_ns=1", "ctxsw_ns=2"));
        let rows = compare(&ours, &base).unwrap();
        assert_eq!(rows[0].path, "ctxsw");
        assert_eq!(rows[0].ours, 11.0);
        assert_eq!(rows[0].base, 21.0);
        assert!((rows[0].ratio - 11.0 / 21.0).abs() < 1e-9);
        assert!((rows[0].ratio_min - 10.0 / 20.0).abs() < 1e-9);
        assert!((rows[0].spread_ours - 2.0 / 11.0).abs() < 1e-9);
        assert_eq!(rows[3].ratio, 1.0);
        // Twice the null time in the base run: per null, ours is twice as costly.
        let slow_null = parse(&LOG.replace("null_ns=1.0", "null_ns=2.0"));
        let rows = compare(&ours, &slow_null).unwrap();
        assert!((rows[2].ratio - 1.0).abs() < 1e-9 && (rows[2].ratio_null - 2.0).abs() < 1e-9);
        assert!((rows[3].ratio_null - 1.0).abs() < 1e-9);
        let t = stats_table(&ours);
        assert!(t.contains("build"), "{t}");
        // build: 1010 resumes before, 30 id stores and 10 reads now.
        assert!(t.contains("97.0%") && t.contains("99.0%"), "{t}");
    }

    #[test]
    fn missing_path_is_an_error() {
        let ours = parse(LOG);
        let base = parse("rseq_bench rep=1 ctxsw_ns=1.0\n");
        assert!(compare(&ours, &base).unwrap_err().contains("signal"));
    }

    #[test]
    fn cpu_opv_ratios() {
        let log = "cpu_opv_bench rep=1 null_ns=100.0 add_ns=300.0 cas_ns=400.0 max_ns=1000.0 \
                   add_vmap_ns=600.0 cas_vmap_ns=800.0 max_vmap_ns=1500.0\r\n\
                   noise\n\
                   cpu_opv_bench rep=2 null_ns=200.0 add_ns=600.0 cas_ns=800.0 max_ns=2000.0 \
                   add_vmap_ns=1200.0 cas_vmap_ns=1600.0 max_vmap_ns=3000.0\n";
        let reps = parse_opv(log);
        assert_eq!(reps.len(), 2);
        let t = opv_table(&reps).unwrap();
        assert!(
            t.contains("1-op add") && t.contains("3.00") && t.contains("6.00"),
            "{t}"
        );
        assert!(t.contains("largest vector") && t.contains("1.50"), "{t}");
        assert!(opv_table(&parse_opv("cpu_opv_bench rep=1 null_ns=1.0\n")).is_err());
        assert!(opv_table(&[]).is_err());
    }

    #[test]
    fn instruction_counts() {
        let run = |ctxsw: &str| parse(&LOG.replace("ctxsw_ns=1", ctxsw));
        let (a, b) = (run("ctxsw_ns=1"), run("ctxsw_ns=1"));
        let (c, d) = (run("ctxsw_ns=2"), run("ctxsw_ns=2"));
        let (t, worst) = icount_table([&a, &b], [&c, &d]).unwrap();
        assert_eq!(worst, 0.0);
        // ctxsw: 11 against 21 in both runs.
        assert!(t.contains(&format!("{:.3}", 11.0 / 21.0)), "{t}");
        // Two runs of ours apart by 10 %: reported, not hidden.
        let e = parse(&LOG.replace("ctxsw_ns=11.0", "ctxsw_ns=12.1"));
        let (_, worst) = icount_table([&a, &e], [&c, &d]).unwrap();
        assert!((worst - 2.0 * 1.0 / 23.0).abs() < 1e-9, "{worst}");
        assert!(icount_table([&a, &parse("")], [&c, &d]).is_err());
    }

    #[test]
    fn cpu_opv_instruction_counts() {
        let rep = |null: f64| {
            format!(
                "cpu_opv_bench rep=1 null_ns={null} add_ns=300 cas_ns=400 max_ns=1000 \
                 add_vmap_ns=600 cas_vmap_ns=800 max_vmap_ns=1500\n"
            )
        };
        let one = by_field(&parse_opv(&(rep(100.0) + &rep(100.0))));
        let two = by_field(&parse_opv(&(rep(100.0) + &rep(200.0))));
        assert_eq!(one["add"], [300.0, 300.0]);
        let (t, worst) = opv_icount_table([&one, &two]).unwrap();
        // null: 100 against a median of 150.
        assert!((worst - disagreement(100.0, 150.0)).abs() < 1e-9, "{worst}");
        assert!(t.contains("1-op add (all vmap)"), "{t}");
        // add per null: 3, 3, 3 and 1.5: median 3.
        assert!(
            t.lines()
                .any(|l| l.starts_with("1-op add ") && l.ends_with("3.00")),
            "{t}"
        );
        assert!(opv_icount_table([&one, &BTreeMap::new()]).is_err());
    }

    #[test]
    fn median_even_and_spread() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(spread(&[1.0, 2.0, 3.0]), 1.0);
    }
}
