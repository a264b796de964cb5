//! `hearth check-headers` and `hearth bench checker`: the share checker
//! (hearth-shacheck) from the command line.

use anyhow::{Context, Result};
use hearth::cli::{BenchCheckerArgs, BenchCommand, CheckHeadersArgs};
use hearth_shacheck::{header_bits, header_from_hex, Backend, Checker, Target, Targets};
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Instant;

fn checker(name: Option<&str>) -> Result<Checker> {
    let backend = match name {
        Some(n) => Backend::from_name(n)?,
        None => Backend::from_env()?,
    };
    Ok(Checker::new(backend)?)
}

enum Line {
    Header([u8; 80], Target),
    Bad(String),
}

pub fn check_headers(args: &CheckHeadersArgs) -> Result<ExitCode> {
    let checker = checker(args.backend.as_deref())?;
    let reader: Box<dyn BufRead> = match &args.file {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let mut lines = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.context("reading headers")?;
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let parsed = header_from_hex(text)
            .map_err(|e| e.to_string())
            .and_then(|h| {
                Target::from_compact(header_bits(&h))
                    .map(|t| Line::Header(h, t))
                    .map_err(|e| e.to_string())
            });
        lines.push(parsed.unwrap_or_else(|e| Line::Bad(format!("line {}: {e}", i + 1))));
    }
    let (headers, targets): (Vec<[u8; 80]>, Vec<Target>) = lines
        .iter()
        .filter_map(|l| match l {
            Line::Header(h, t) => Some((*h, *t)),
            Line::Bad(_) => None,
        })
        .unzip();
    let checked = checker.check_headers(&headers, Targets::Each(&targets))?;
    let mut results = checked.iter();
    let mut out = std::io::stdout().lock();
    let mut malformed = false;
    for l in &lines {
        match l {
            Line::Header(..) => match results.next() {
                Some(c) => writeln!(out, "{} {}", c.hash, if c.ok { "ok" } else { "fail" })?,
                None => anyhow::bail!("internal: a header lost its result"),
            },
            Line::Bad(reason) => {
                malformed = true;
                writeln!(out, "error: {reason}")?
            }
        }
    }
    Ok(if malformed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn bench(what: &BenchCommand) -> Result<()> {
    match what {
        BenchCommand::Checker(args) => bench_checker(args),
        BenchCommand::Sharechain(args) => bench_sharechain(args),
        BenchCommand::Work(args) => hearth::work::bench::main(args),
    }
}

/// Hashes `count` distinct headers (a mainnet template with a counter in the
/// merkle root and the nonce) in batches, against difficulty 1.
fn bench_checker(args: &BenchCheckerArgs) -> Result<()> {
    const BATCH: u64 = 4096;
    let checker = checker(args.backend.as_deref())?;
    let template = header_from_hex(
        "010000006fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000982051fd1e4ba744bbbe680e1fee14677ba1a3c3540bf7b1cdb606e857233e0e61bc6649ffff001d01e36299",
    )?;
    let target = Target::from_compact(0x1d00ffff)?;
    let mut batch = vec![template; BATCH as usize];
    let mut passed = 0u64;
    let mut done = 0u64;
    let start = Instant::now();
    while done < args.count {
        let n = (args.count - done).min(BATCH) as usize;
        for (i, h) in batch[..n].iter_mut().enumerate() {
            let k = done + i as u64;
            h[36..40].copy_from_slice(&((k >> 32) as u32).to_le_bytes());
            h[76..80].copy_from_slice(&(k as u32).to_le_bytes());
        }
        let checked = checker.check_headers(&batch[..n], Targets::Same(target))?;
        passed += checked.iter().filter(|c| c.ok).count() as u64;
        done += n as u64;
    }
    let seconds = start.elapsed().as_secs_f64();
    let per_s = if seconds > 0.0 {
        done as f64 / seconds
    } else {
        0.0
    };
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "backend": checker.backend().name(),
                "headers": done,
                "seconds": seconds,
                "headers_per_s": per_s,
            })
        );
    } else {
        println!(
            "{}: {done} headers in {seconds:.3} s, {per_s:.0} headers/s ({passed} met difficulty 1)",
            checker.backend()
        );
    }
    Ok(())
}

fn bench_sharechain(args: &hearth::cli::BenchSharechainArgs) -> Result<()> {
    anyhow::ensure!(
        (1..=1_000_000).contains(&args.shares),
        "--shares must be 1..=1000000"
    );
    let db = args.db.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("hearth-bench-sharechain-{}.db", std::process::id()))
    });
    let r = hearth::sharechain::bench::run(args.shares, args.miners, &db)?;
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "{} shares validated and stored in {:.3} s ({:.0} shares/s, SQLite {:.3} s), peak RSS {:.1} MB, backend {}, {} payees, window {}",
            r.shares, r.validate_seconds, r.shares_per_s, r.store_seconds, r.peak_rss_mb, r.backend, r.miners, r.window_shares
        );
    }
    Ok(())
}
