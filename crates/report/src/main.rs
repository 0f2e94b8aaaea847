//! `vitals-report [--out FILE] [--junit FILE] [DIR ...]`: the HTML report
//! and JUnit XML of one or more output directories.
//!
//! Exit 0 when both were written (failing trials included: reporting them
//! is the job), 2 when the input or the output is unusable.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Parser;
use vitals_report::{write_junit, write_report, Inputs};

#[derive(Parser)]
#[command(
    name = "vitals-report",
    about = "Merge results.jsonl and cells.jsonl of output directories into one offline HTML report and JUnit XML."
)]
struct Args {
    /// The HTML report to write.
    #[arg(long, default_value = "target/e2e/report/index.html")]
    out: PathBuf,
    /// The JUnit XML to write.
    #[arg(long, default_value = "target/e2e/junit.xml")]
    junit: PathBuf,
    /// Fail (exit 2) when a line cannot be read, after writing both files.
    #[arg(long)]
    strict: bool,
    /// Output directories to merge, later ones replacing earlier records of
    /// the same run and trial.
    #[arg(value_name = "DIR", default_value = "target/e2e")]
    dirs: Vec<PathBuf>,
}

/// A truncated multi-megabyte file is one problem, not a screenful per line.
const MALFORMED_SHOWN: usize = 20;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` is the context chain on one line; never a backtrace.
            eprintln!("vitals-report: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let start = Instant::now();
    let inputs = Inputs::load(&args.dirs)?;
    for m in inputs.malformed.iter().take(MALFORMED_SHOWN) {
        eprintln!("vitals-report: warning: {m}");
    }
    if inputs.malformed.len() > MALFORMED_SHOWN {
        eprintln!(
            "vitals-report: warning: ... and {} more unreadable lines (all in the report's footer)",
            inputs.malformed.len() - MALFORMED_SHOWN
        );
    }
    write_report(&inputs, &args.out).context("writing the HTML report")?;
    write_junit(&inputs.trials, &args.junit).context("writing the JUnit XML")?;

    let t = inputs.totals();
    println!(
        "vitals-report: {} trials ({} passed, {} failed, {} skipped) from {} run(s), {} install(s) in {:.2}s",
        t.total(),
        t.pass,
        t.fail,
        t.skip,
        inputs.runs().len(),
        inputs.cells.len(),
        start.elapsed().as_secs_f64()
    );
    println!("  report: {}", args.out.display());
    println!("  junit:  {}", args.junit.display());
    if !inputs.malformed.is_empty() {
        let n = inputs.malformed.len();
        if args.strict {
            bail!("{n} unreadable line(s), listed above (--strict)");
        }
        println!("  {n} unreadable line(s) left out (listed above and in the report's footer)");
    }
    Ok(())
}
