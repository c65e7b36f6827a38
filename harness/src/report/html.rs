//! `index.html`: one self-contained page (inline CSS and SVG, no script, no network) — the
//! verdict first, the security questions answered, then the findings with their evidence
//! (counterexamples drawn as sequence diagrams), the matrices, what was not checked, and the
//! provenance.

use super::markdown::level;
use super::{escape, svg, Matrix, Report};
use crate::results::Verdict;
use std::fmt::Write;

const STYLE: &str = "
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.6em}
#verdict{padding:1em 1.2em;border-radius:6px;font-size:1.25em;font-weight:600}
#verdict.ok{background:#e3f6e5;border:2px solid #2e7d32}
#verdict.bad{background:#fde7e7;border:2px solid #c62828}
table.matrix{border-collapse:collapse;margin:.5em 0 1.5em;font-size:12px}
table.matrix th,table.matrix td{border:1px solid #ccc;padding:3px 6px;text-align:center}
table.matrix th.row{text-align:left;white-space:nowrap}
td.pass{background:#c8e6c9}td.fail{background:#ef9a9a;font-weight:700}td.expected-fail{background:#ffe0b2}
ul#answers{font-size:1.1em;list-style:none;padding-left:0}ul#answers li{margin:.3em 0}
.answer-no{color:#2e7d32;font-weight:700}.answer-yes{color:#c62828;font-weight:700}.answer-not{color:#777;font-weight:700}
.finding{border:1px solid #ddd;border-radius:6px;padding:.3em 1em;margin:1em 0}
.finding.unexpected{border-left:6px solid #c62828}.finding.expected{border-left:6px solid #ef6c00}
.finding dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em}.finding dt{font-weight:600}
td.skipped,td.not-applicable{background:#eeeeee}td.unimplemented{background:#fff3c4}
.failure{border-left:4px solid #c62828;padding:.2em 1em;margin:1em 0;background:#fff8f8}
details.group{margin:.6em 0}details.group>summary{cursor:pointer;font-size:1.05em}
.failure ul.steps{font-size:12px;list-style:none;padding-left:1em}
svg.sequence{background:#fff;border:1px solid #ddd;margin:.5em 0;max-width:100%;height:auto}
svg .actor{fill:#e8eaf6;stroke:#3949ab}svg .actortext{font:12px sans-serif}
svg .life{stroke:#9fa8da;stroke-dasharray:4 3}svg .arrow{stroke:#333}svg .head{fill:#333}
svg .msg{font:11px sans-serif}svg .note{fill:#fffde7;stroke:#c0a000}svg .notetext{font:11px sans-serif}
code{background:#f4f4f4;padding:0 3px}
";

fn class(v: Option<Verdict>) -> &'static str {
    v.map_or("", Verdict::as_str)
}

/// What a cell shows: marks any font has (the Markdown's emoji need an emoji font).
fn mark(v: Option<Verdict>) -> &'static str {
    match v {
        Some(Verdict::Pass) => "✓",
        Some(Verdict::Fail) => "✗",
        Some(Verdict::ExpectedFail) => "xfail",
        Some(Verdict::Skipped) => "skip",
        Some(Verdict::NotApplicable) => "n/a",
        Some(Verdict::Unimplemented) => "unimpl.",
        None => "",
    }
}

fn matrix(out: &mut String, m: &Matrix, id: usize) {
    let _ = writeln!(
        out,
        "<h3>{}</h3>\n<table class=\"matrix\" id=\"matrix-{id}\" data-title=\"{}\">\n<tr><th class=\"row\">{}</th>{}</tr>",
        escape(&m.title),
        escape(&m.title),
        escape(&m.row_label),
        m.columns
            .iter()
            .map(|c| format!("<th>{}</th>", escape(c)))
            .collect::<String>()
    );
    for r in &m.rows {
        let _ = write!(out, "<tr><th class=\"row\">{}</th>", escape(r));
        for c in &m.columns {
            match m.cell(r, c) {
                Some(x) => {
                    let v = x.verdict();
                    let _ = write!(
                        out,
                        "<td class=\"{}\" title=\"{}\">{}</td>",
                        class(v),
                        escape(&x.tally()),
                        mark(v)
                    );
                }
                None => out.push_str("<td></td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

/// Failed checks shown in full per finding (all are in results.json).
const SHOWN: usize = 50;

fn failure(out: &mut String, c: &crate::results::Check) {
    let _ = writeln!(
        out,
        "<div class=\"failure\"><p><b>{}</b> <code>{}</code>: {}</p><p>{}</p>",
        level(c.level),
        escape(&c.subject),
        escape(&c.name),
        escape(&c.reason)
    );
    if let Some(e) = &c.evidence {
        if let Some(diagram) = e.mermaid.as_deref().and_then(svg::sequence_diagram) {
            out.push_str(&diagram);
        }
        out.push_str("<ul class=\"steps\">");
        for s in e.steps.iter().take(50) {
            let _ = write!(out, "<li>{}</li>", escape(s));
        }
        if e.steps.len() > 50 {
            let _ = write!(out, "<li>… {} more</li>", e.steps.len() - 50);
        }
        out.push_str("</ul>");
        if let Some(f) = &e.final_state {
            let _ = write!(out, "<p>Then: {}</p>", escape(f));
        }
    }
    out.push_str("</div>\n");
}

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let ok = r.ok();
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>E2EE conformance report</title><style>{STYLE}</style></head><body>"
    );
    let _ = writeln!(out, "<h1>E2EE conformance report</h1>");
    let _ = writeln!(
        out,
        "<p id=\"verdict\" class=\"{}\">{}</p>\n<p id=\"summary\">{}</p>",
        if ok { "ok" } else { "bad" },
        escape(&r.headline()),
        escape(&crate::results::summary_line(&r.plain_checks()))
    );
    if !r.rejected.is_empty() {
        let _ = writeln!(out, "<h2>Rejected inputs</h2><ul id=\"rejected\">");
        for rej in &r.rejected {
            let _ = writeln!(out, "<li>{}</li>", escape(&rej.error));
        }
        out.push_str("</ul>\n");
    }
    for note in r.v1_notes() {
        let _ = writeln!(out, "<p class=\"v1\">⚠ {}</p>", escape(&note));
    }
    let _ = writeln!(out, "<h2>Security questions</h2>\n<ul id=\"answers\">");
    for a in &r.answers {
        let class = match a.answer.as_str() {
            "no" => "answer-no",
            "yes" => "answer-yes",
            _ => "answer-not",
        };
        let _ = writeln!(
            out,
            "<li data-question=\"{}\">{} <span class=\"{class}\">{}</span></li>",
            escape(&a.question.key()),
            escape(&a.question.in_words()),
            escape(&a.text)
        );
    }
    out.push_str("</ul>\n");
    if !r.findings.is_empty() {
        let _ = writeln!(out, "<h2>Findings</h2>");
        for f in &r.findings {
            let (class, status) = match (&f.status, &f.expected_by) {
                (super::FindingStatus::Expected, Some(e)) => (
                    "expected",
                    format!(
                        "expected: {} (<a href=\"{}\">{}</a>)",
                        escape(&e.reason),
                        escape(&e.link),
                        escape(&e.link)
                    ),
                ),
                (super::FindingStatus::Mixed, _) => ("unexpected", "partly expected".into()),
                _ => ("unexpected", "<b>unexpected</b>".into()),
            };
            let _ = writeln!(
                out,
                "<div class=\"finding {class}\" id=\"finding-{}\"><h3><code>{}</code> {}</h3>\
                 <dl><dt>status</dt><dd>{status}</dd><dt>what is wrong</dt><dd>{}</dd>\
                 <dt>where the fault lies</dt><dd>{}</dd><dt>reference</dt><dd>{}</dd>\
                 <dt>shown by</dt><dd>{} checks ({}; {})</dd></dl>",
                escape(&f.id),
                escape(&f.id),
                escape(&f.title),
                escape(&f.what),
                escape(&f.fault),
                escape(&f.reference),
                f.checks.len(),
                f.levels
                    .iter()
                    .map(|l| level(*l))
                    .collect::<Vec<_>>()
                    .join(", "),
                escape(
                    &f.questions
                        .iter()
                        .map(|q| q.key())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            );
            let _ = writeln!(
                out,
                "<details class=\"group\"{}><summary>the {} failed check{}</summary>",
                if f.checks.len() <= 10 { " open" } else { "" },
                f.checks.len(),
                if f.checks.len() == 1 { "" } else { "s" }
            );
            for &i in f.checks.iter().take(SHOWN) {
                failure(&mut out, &r.checks[i].check);
            }
            if f.checks.len() > SHOWN {
                let _ = writeln!(
                    out,
                    "<p>… and {} more in results.json</p>",
                    f.checks.len() - SHOWN
                );
            }
            out.push_str("</details></div>\n");
        }
    }
    let stale = r.stale();
    if !stale.is_empty() {
        let _ = writeln!(out, "<h2>Stale expectations</h2><ul id=\"stale\">");
        for e in stale {
            let _ = writeln!(
                out,
                "<li><code>{}</code>: {} checks in its scope ran and none failed — remove it if \
                 the finding is fixed</li>",
                escape(&e.outcome.id),
                e.outcome.passing
            );
        }
        out.push_str("</ul>\n");
    }
    let _ = writeln!(out, "<h2>Matrices</h2>");
    for (i, m) in r.matrices().iter().enumerate() {
        matrix(&mut out, m, i);
    }
    let not = r.not_checked();
    if !not.is_empty() {
        let _ = writeln!(out, "<h2>Not checked</h2><ul id=\"not-checked\">");
        for ((v, reason), idx) in &not {
            let _ = writeln!(out, "<li>{} × {v}: {}</li>", idx.len(), escape(reason));
        }
        out.push_str("</ul>\n");
    }
    let _ = writeln!(out, "<h2>Provenance</h2><ul id=\"provenance\">");
    for line in r.provenance() {
        let _ = writeln!(out, "<li>{}</li>", escape(&line));
    }
    out.push_str("</ul>\n</body></html>\n");
    out
}
