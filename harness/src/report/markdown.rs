//! `summary.md`: the report in Markdown, fit for a pull-request comment — the verdict, what
//! failed with its evidence, the matrices, what was not checked, and where it all came from.

use super::{Matrix, Report};
use crate::results::Verdict;
use std::fmt::Write;

/// The symbol a matrix cell shows.
pub fn symbol(v: Option<Verdict>) -> &'static str {
    match v {
        Some(Verdict::Pass) => "✅",
        Some(Verdict::Fail) => "❌",
        Some(Verdict::Skipped) => "⏭",
        Some(Verdict::NotApplicable) => "➖",
        Some(Verdict::Unimplemented) => "🚧",
        None => " ",
    }
}

/// A Markdown table cell: no pipes or line breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn matrix(out: &mut String, m: &Matrix) {
    let _ = writeln!(out, "### {}\n", m.title);
    let _ = writeln!(
        out,
        "| {} | {} |",
        cell(&m.row_label),
        m.columns
            .iter()
            .map(|c| cell(c))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(out, "|---|{}", "---|".repeat(m.columns.len()));
    for r in &m.rows {
        let cells: Vec<String> = m
            .columns
            .iter()
            .map(|c| {
                m.cell(r, c).map_or_else(String::new, |x| {
                    let n: usize = x.counts.values().sum();
                    if n > 1 {
                        format!("{} {}", symbol(x.verdict()), x.tally())
                    } else {
                        symbol(x.verdict()).to_string()
                    }
                })
            })
            .collect();
        let _ = writeln!(out, "| {} | {} |", cell(r), cells.join(" | "));
    }
    out.push('\n');
}

/// Failures shown per subject.
const SHOWN: usize = 5;

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# E2EE conformance report\n");
    let _ = writeln!(out, "**{}**\n", r.headline());
    let _ = writeln!(out, "{}\n", crate::results::summary_line(&r.plain_checks()));
    for rej in &r.rejected {
        let _ = writeln!(out, "- ⚠ rejected input: {}", rej.error);
    }
    if !r.rejected.is_empty() {
        out.push('\n');
    }
    let groups = r.failures_by_subject();
    if !groups.is_empty() {
        let _ = writeln!(out, "## What failed\n");
        for ((lvl, subject), failed) in groups {
            let _ = writeln!(
                out,
                "- **{}** `{}`: {} failed",
                level(lvl),
                subject,
                failed.len()
            );
            // A pull-request comment shows the first few; all are in results.json.
            for c in failed.iter().take(SHOWN) {
                let c = &c.check;
                let _ = writeln!(out, "  - {}: {}", c.name, c.reason);
                if let Some(e) = &c.evidence {
                    for s in e.steps.iter().take(12) {
                        let _ = writeln!(out, "    - {s}");
                    }
                    if e.steps.len() > 12 {
                        let _ = writeln!(out, "    - … {} more steps", e.steps.len() - 12);
                    }
                    if let Some(f) = &e.final_state {
                        let _ = writeln!(out, "    - then: {f}");
                    }
                }
            }
            if failed.len() > SHOWN {
                let _ = writeln!(
                    out,
                    "  - … and {} more (index.html and results.json have them all)",
                    failed.len() - SHOWN
                );
            }
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Matrices\n");
    for m in r.matrices() {
        matrix(&mut out, &m);
    }
    let not = r.not_checked();
    if !not.is_empty() {
        let _ = writeln!(out, "## Not checked\n");
        for ((v, reason), idx) in &not {
            let _ = writeln!(out, "- {} × {v}: {}", idx.len(), cell(reason));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Provenance\n");
    for line in r.provenance() {
        let _ = writeln!(out, "- {line}");
    }
    out
}

pub fn level(l: crate::results::Level) -> &'static str {
    match l {
        crate::results::Level::Design => "design",
        crate::results::Level::Implementation => "implementation",
        crate::results::Level::Deployment => "deployment",
    }
}
