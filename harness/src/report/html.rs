//! `index.html`: one self-contained page (inline CSS and SVG, no script, no network) — the
//! verdict first, then what failed with its evidence (counterexamples drawn as sequence
//! diagrams), the matrices, what was not checked, and the provenance.

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
td.pass{background:#c8e6c9}td.fail{background:#ef9a9a;font-weight:700}
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

/// Subjects with more failures than this start folded.
const FOLD: usize = 10;

fn failure(out: &mut String, c: &crate::results::Check) {
    let _ = writeln!(
        out,
        "<div class=\"failure\"><p>{}</p><p>{}</p>",
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
    let ok = r.failed().is_empty() && r.rejected.is_empty() && !r.checks.is_empty();
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
    let groups = r.failures_by_subject();
    if !groups.is_empty() {
        let _ = writeln!(out, "<h2>What failed</h2>");
        // Every failure is here; a subject with many (a client refusing a whole vector file)
        // starts folded, so the others stay in sight.
        for ((lvl, subject), failed) in groups {
            let _ = writeln!(
                out,
                "<details class=\"group\"{}><summary><b>{}</b> <code>{}</code>: {} failed</summary>",
                if failed.len() <= FOLD { " open" } else { "" },
                level(lvl),
                escape(&subject),
                failed.len()
            );
            for c in failed {
                failure(&mut out, &c.check);
            }
            out.push_str("</details>\n");
        }
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
