//! `e2ee report`: results records merged into one report.

use super::write_report;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The results files.
    #[arg(long = "in", value_name = "FILE", num_args = 1.., required = true)]
    inputs: Vec<PathBuf>,
    /// Where to write the report.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Known findings to judge the inputs' failures against (TOML, as `e2ee check
    /// --expect`), on top of any their commands were judged against.
    #[arg(long, value_name = "FILE")]
    expect: Option<PathBuf>,
}

/// `e2ee report`: the report's exit code; an unreadable input is named and the report is
/// written from the others.
pub fn run(args: ReportArgs) -> anyhow::Result<u8> {
    let expectations = args
        .expect
        .as_deref()
        .map(crate::expect::Expectations::read)
        .transpose()?;
    let report = crate::report::Report::from_files_expecting(&args.inputs, expectations.as_ref());
    for r in &report.rejected {
        eprintln!("error: {}", r.error);
    }
    write_report(&report, &args.out)
}
