//! `summary.md`: the report in Markdown, fit for a pull-request comment — the verdict, the
//! security questions answered, the findings (each once, with evidence), the matrices, what was
//! not checked, and where it all came from.

use super::{Matrix, Report};
use crate::results::Verdict;
use std::fmt::Write;

/// The symbol a matrix cell shows.
pub fn symbol(v: Option<Verdict>) -> &'static str {
    match v {
        Some(Verdict::Pass) => "✅",
        Some(Verdict::Fail) => "❌",
        Some(Verdict::ExpectedFail) => "⚠️",
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

/// Steps of a finding's first counterexample shown.
const STEPS: usize = 12;

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# E2EE conformance report\n");
    let _ = writeln!(out, "**{}**\n", r.headline());
    let _ = writeln!(out, "{}\n", crate::results::summary_line(&r.plain_checks()));
    for rej in &r.rejected {
        let _ = writeln!(out, "- ⚠ rejected input: {}", rej.error);
    }
    for note in r.v1_notes() {
        let _ = writeln!(out, "- ⚠ {note}");
    }
    if !r.rejected.is_empty() || !r.v1_notes().is_empty() {
        out.push('\n');
    }
    let _ = writeln!(out, "## Security questions\n");
    for a in &r.answers {
        let _ = writeln!(out, "- **{}** {}", a.question.in_words(), a.text);
    }
    out.push('\n');
    if !r.findings.is_empty() {
        let _ = writeln!(out, "## Findings\n");
        for (n, f) in r.findings.iter().enumerate() {
            let status = match (&f.status, &f.expected_by) {
                (super::FindingStatus::Expected, Some(e)) => {
                    format!("expected ({})", e.link)
                }
                (super::FindingStatus::Mixed, _) => "partly expected".to_string(),
                _ => "**unexpected**".to_string(),
            };
            let _ = writeln!(out, "### {}. `{}` — {}\n", n + 1, f.id, f.title);
            let _ = writeln!(out, "- status: {status}");
            let _ = writeln!(out, "- what is wrong: {}", f.what);
            let _ = writeln!(out, "- where the fault lies: {}", f.fault);
            if !f.reference.is_empty() {
                let _ = writeln!(out, "- reference: {}", f.reference);
            }
            let _ = writeln!(
                out,
                "- shown by {} check{} ({}; {})",
                f.checks.len(),
                if f.checks.len() == 1 { "" } else { "s" },
                f.levels
                    .iter()
                    .map(|l| level(*l))
                    .collect::<Vec<_>>()
                    .join(", "),
                f.questions
                    .iter()
                    .map(|q| q.key())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let _ = writeln!(out, "- evidence:");
            for e in &f.evidence {
                let _ = writeln!(out, "  - {}", cell(e));
            }
            if f.checks.len() > f.evidence.len() {
                let _ = writeln!(
                    out,
                    "  - … and {} more (index.html and results.json have them all)",
                    f.checks.len() - f.evidence.len()
                );
            }
            // The first check's counterexample or steps, where it has them.
            if let Some(e) = f
                .checks
                .first()
                .and_then(|&i| r.checks[i].check.evidence.as_ref())
            {
                let _ = writeln!(out, "- steps of the first:");
                for s in e.steps.iter().take(STEPS) {
                    let _ = writeln!(out, "  - {s}");
                }
                if e.steps.len() > STEPS {
                    let _ = writeln!(out, "  - … {} more steps", e.steps.len() - STEPS);
                }
                if let Some(f) = &e.final_state {
                    let _ = writeln!(out, "  - then: {f}");
                }
            }
            out.push('\n');
        }
    }
    let stale = r.stale();
    if !stale.is_empty() {
        let _ = writeln!(out, "## Stale expectations\n");
        for e in stale {
            let _ = writeln!(
                out,
                "- `{}`: {} checks in its scope ran and none failed — remove it if the finding \
                 is fixed ({})",
                e.outcome.id, e.outcome.passing, e.outcome.link
            );
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
