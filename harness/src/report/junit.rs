//! `junit.xml`: one test case per check, one suite per (level, subject), for CI systems. A fail
//! is a `<failure>`; skipped, not-applicable and unimplemented are `<skipped>` with the verdict
//! and reason in the message, so no CI counts them as passes.

use super::{escape, markdown::level, Report};
use crate::results::Verdict;
use std::collections::BTreeMap;
use std::fmt::Write;

pub fn render(r: &Report) -> String {
    let mut suites: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, c) in r.checks.iter().enumerate() {
        suites
            .entry((level(c.check.level).to_string(), c.check.subject.clone()))
            .or_default()
            .push(i);
    }
    let count = |idx: &[usize], f: &dyn Fn(Verdict) -> bool| {
        idx.iter()
            .filter(|&&i| f(r.checks[i].check.verdict))
            .count()
    };
    let all: Vec<usize> = (0..r.checks.len()).collect();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"e2ee\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
        all.len(),
        count(&all, &|v| v == Verdict::Fail),
        count(&all, &|v| !matches!(v, Verdict::Pass | Verdict::Fail))
    );
    for ((lvl, subject), idx) in &suites {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
            escape(&format!("{lvl}/{subject}")),
            idx.len(),
            count(idx, &|v| v == Verdict::Fail),
            count(idx, &|v| !matches!(v, Verdict::Pass | Verdict::Fail))
        );
        for &i in idx {
            let c = &r.checks[i].check;
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\"",
                escape(&format!("{lvl}.{subject}")),
                escape(&c.name)
            );
            match c.verdict {
                Verdict::Pass => out.push_str("/>\n"),
                Verdict::Fail => {
                    let steps = c
                        .evidence
                        .as_ref()
                        .map(|e| e.steps.join("\n"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                        escape(&c.reason),
                        escape(&steps)
                    );
                }
                other => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        escape(&format!("{other}: {}", c.reason))
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    for rej in &r.rejected {
        let _ = writeln!(
            out,
            "  <testsuite name=\"input\" tests=\"1\" failures=\"0\" errors=\"1\">\n    <testcase classname=\"input\" name=\"{}\">\n      <error message=\"{}\"/>\n    </testcase>\n  </testsuite>",
            escape(&rej.file),
            escape(&rej.error)
        );
    }
    out.push_str("</testsuites>\n");
    out
}
