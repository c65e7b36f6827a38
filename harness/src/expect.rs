//! Expectations: known findings a run is judged against, as BoGo's `DisabledTests` (with a
//! reason each) and web-platform-tests' expectation files do. A failure an expectation matches
//! becomes `expected-fail` — shown apart, never as a pass; an expectation whose checks ran and
//! no longer fail is *stale*, and a stale expectation fails the run like an unexpected failure,
//! so a fixed finding is noticed and its expectation removed.
//!
//! The file (TOML):
//!
//! ```toml
//! [[expect]]
//! id = "mls-rs-leaf-index-limit"      # the finding's id
//! reason = "mls-rs refuses leaf indexes above 2^24-1 (a design limit)"
//! link = "https://github.com/awslabs/mls-rs"
//! title = "..."                       # optional: the finding in the report (title, what is
//! what = "..."                        # wrong, where the fault lies, upstream reference);
//! fault = "..."                       # the shipped file has them all, being also the
//! reference = "..."                   # catalogue of known causes (`findings.rs`)
//! [expect.match]                      # every key given must match; `*` is a wildcard
//! kind = "vector"                     # design | vector | interop | live | input
//! client = "mls-rs"                   # a vector's client, or any client of an interop run
//! file = "messages.json"
//! question = "conformance"            # as in the results record
//! reason = "*leaf index*"             # the failure's reason (matched failures only)
//! ```
//!
//! Other match keys: `protocol`, `mutant` (a model's mutant or a run's control; `none` for
//! none), `participants` (a model's bound), `scenario`, `call`, `case`, `name` (the check's).

use crate::results::{
    Check, ExpectationOutcome, ExpectationStatus, ExpectedBy, Question, Run, Scope, Verdict,
};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The expectations `e2ee check` uses unless told otherwise: today's known findings.
pub const KNOWN_FINDINGS: &str = include_str!("../../expectations/known-findings.toml");

/// Where the built-in expectations came from, for messages.
pub const KNOWN_FINDINGS_NAME: &str = "expectations/known-findings.toml (built in)";

/// A bad expectations file; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ExpectError {
    #[error("cannot read expectations from {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{name} is not a valid expectations file: {message}")]
    Parse { name: String, message: String },
    #[error("{name}: expectation `{id}`: {message}")]
    Entry {
        name: String,
        id: String,
        message: String,
    },
}

/// A set of expectations, read from one file.
#[derive(Clone, Debug, Default)]
pub struct Expectations {
    /// Where they came from (a path, or the built-in name).
    pub source: String,
    pub entries: Vec<Expectation>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    expect: Vec<Expectation>,
}

/// One known finding: which checks it covers, why they fail, where to read about it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub id: String,
    pub reason: String,
    pub link: String,
    /// The finding in words, for the report.
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub what: Option<String>,
    /// Where the fault lies: a client and version, a protocol, a vector file.
    #[serde(default)]
    pub fault: Option<String>,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(rename = "match")]
    pub matcher: Match,
}

impl Expectation {
    /// Whether `c` is a failure of this finding: in its scope, with its reason.
    pub fn covers_failure(&self, c: &Check) -> bool {
        self.matcher.covers(c) && self.matcher.reason_matches(&c.reason)
    }
}

/// What a check must be for an expectation to cover it; absent keys match anything.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    pub kind: Option<String>,
    pub question: Option<String>,
    pub protocol: Option<String>,
    pub mutant: Option<String>,
    pub participants: Option<u64>,
    pub client: Option<String>,
    pub file: Option<String>,
    pub case: Option<String>,
    pub scenario: Option<String>,
    pub call: Option<String>,
    pub name: Option<String>,
    /// Matched against failures only: a passing check's reason says something else.
    pub reason: Option<String>,
}

impl Expectations {
    /// The shipped known findings.
    pub fn known_findings() -> Expectations {
        // Tested (`the_shipped_expectations_parse`): the built-in file always parses.
        Expectations::parse(KNOWN_FINDINGS_NAME, KNOWN_FINDINGS)
            .expect("the shipped expectations parse")
    }

    pub fn read(path: &Path) -> Result<Expectations, ExpectError> {
        let text = std::fs::read_to_string(path).map_err(|source| ExpectError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Expectations::parse(&path.display().to_string(), &text)
    }

    pub fn parse(name: &str, text: &str) -> Result<Expectations, ExpectError> {
        let file: File = toml::from_str(text).map_err(|e| ExpectError::Parse {
            name: name.to_string(),
            message: e.to_string(),
        })?;
        let mut seen = std::collections::BTreeSet::new();
        for e in &file.expect {
            let bad = |message: String| ExpectError::Entry {
                name: name.to_string(),
                id: e.id.clone(),
                message,
            };
            if e.id.trim().is_empty() {
                return Err(bad("`id` is empty".into()));
            }
            if !seen.insert(e.id.clone()) {
                return Err(bad("the id is used twice".into()));
            }
            if let Some(k) = &e.matcher.kind {
                const KINDS: [&str; 5] = ["design", "vector", "interop", "live", "input"];
                if !KINDS.contains(&k.as_str()) {
                    return Err(bad(format!(
                        "match.kind `{k}` is not one of {}",
                        KINDS.join(", ")
                    )));
                }
            }
            if let Some(q) = &e.matcher.question {
                let known = serde_json::from_value::<Question>(serde_json::json!(q)).is_ok()
                    || q.starts_with("property:");
                if !known {
                    return Err(bad(format!("match.question `{q}` is not a question")));
                }
            }
            if e.matcher.is_empty() {
                return Err(bad("`match` is empty: it would cover every check".into()));
            }
        }
        Ok(Expectations {
            source: name.to_string(),
            entries: file.expect,
        })
    }

    /// Turns the failures each expectation covers into `expected-fail`, and records what
    /// became of each expectation in the run.
    pub fn apply(&self, run: &mut Run) {
        for e in &self.entries {
            let (mut matched, mut passing) = (0, 0);
            for c in &mut run.checks {
                if !e.matcher.covers(c) {
                    continue;
                }
                match c.verdict {
                    Verdict::Fail if e.matcher.reason_matches(&c.reason) => {
                        matched += 1;
                        c.verdict = Verdict::ExpectedFail;
                        c.expected = Some(ExpectedBy {
                            id: e.id.clone(),
                            reason: e.reason.clone(),
                            link: e.link.clone(),
                        });
                    }
                    Verdict::ExpectedFail if c.expected.as_ref().is_some_and(|x| x.id == e.id) => {
                        matched += 1;
                    }
                    Verdict::Pass => passing += 1,
                    _ => {}
                }
            }
            let status = if matched > 0 {
                ExpectationStatus::Met
            } else if passing > 0 {
                ExpectationStatus::Stale
            } else {
                ExpectationStatus::Unexercised
            };
            run.expectations.push(ExpectationOutcome {
                id: e.id.clone(),
                reason: e.reason.clone(),
                link: e.link.clone(),
                status,
                matched,
                passing,
            });
        }
    }
}

impl Match {
    fn is_empty(&self) -> bool {
        let Match {
            kind,
            question,
            protocol,
            mutant,
            participants,
            client,
            file,
            case,
            scenario,
            call,
            name,
            reason,
        } = self;
        kind.is_none()
            && question.is_none()
            && protocol.is_none()
            && mutant.is_none()
            && participants.is_none()
            && client.is_none()
            && file.is_none()
            && case.is_none()
            && scenario.is_none()
            && call.is_none()
            && name.is_none()
            && reason.is_none()
    }

    fn reason_matches(&self, reason: &str) -> bool {
        self.reason.as_deref().is_none_or(|p| glob(p, reason))
    }

    /// Whether `c` is in this expectation's scope (its reason aside). A key the check's
    /// scope has no value for (a `client` asked of a model check) does not match.
    pub fn covers(&self, c: &Check) -> bool {
        let Some(f) = Facets::of(&c.scope) else {
            // A version-1 check has no scope to match.
            return false;
        };
        let key = |want: &Option<String>, got: Option<&str>| {
            want.as_deref()
                .is_none_or(|w| got.is_some_and(|g| glob(w, g)))
        };
        key(&self.question, Some(&c.question.key()))
            && key(&self.name, Some(&c.name))
            && key(&self.kind, Some(f.kind))
            && key(&self.protocol, f.protocol)
            && key(&self.mutant, f.mutant)
            && key(&self.file, f.file)
            && key(&self.case, f.case)
            && key(&self.scenario, f.scenario)
            && key(&self.call, f.call)
            && self
                .client
                .as_deref()
                .is_none_or(|w| f.clients.iter().any(|c| glob(w, c)))
            && self.participants.is_none_or(|n| f.participants == Some(n))
    }
}

/// What a scope says, key by key, for matching; `None` where it has no such key.
#[derive(Default)]
struct Facets<'a> {
    kind: &'static str,
    protocol: Option<&'a str>,
    /// The mutant or control, "none" for none.
    mutant: Option<&'a str>,
    participants: Option<u64>,
    /// A vector's client, or every client of an interop assignment.
    clients: Vec<&'a str>,
    file: Option<&'a str>,
    case: Option<&'a str>,
    scenario: Option<&'a str>,
    call: Option<&'a str>,
}

impl<'a> Facets<'a> {
    fn of(scope: &'a Scope) -> Option<Facets<'a>> {
        Some(match scope {
            Scope::Design {
                protocol,
                mutant,
                bounds,
            } => Facets {
                kind: "design",
                protocol: Some(protocol),
                mutant: Some(mutant.as_deref().unwrap_or("none")),
                participants: bounds.get("participants").copied(),
                ..Facets::default()
            },
            Scope::Vector {
                client, file, case, ..
            } => Facets {
                kind: "vector",
                clients: vec![client.as_str()],
                file: Some(file),
                case: Some(case),
                ..Facets::default()
            },
            Scope::Interop {
                scenario,
                assignment,
                control,
                ..
            } => Facets {
                kind: "interop",
                scenario: Some(scenario),
                clients: assignment.values().map(String::as_str).collect(),
                mutant: Some(control.as_deref().unwrap_or("none")),
                ..Facets::default()
            },
            Scope::Live { call, control, .. } => Facets {
                kind: "live",
                call: Some(call),
                mutant: Some(control.as_deref().unwrap_or("none")),
                ..Facets::default()
            },
            Scope::Input { file, case, .. } => Facets {
                kind: "input",
                file: Some(file),
                case: Some(case.as_deref().unwrap_or("")),
                ..Facets::default()
            },
            Scope::Unscoped { .. } => return None,
        })
    }
}

/// `*` matches any run of characters; everything else matches itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    // Both ends match first, so the slice between them falls on character boundaries.
    if !text.starts_with(first) || !text.ends_with(last) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn globs() {
        assert!(glob("abc", "abc"));
        assert!(!glob("abc", "abcd"));
        assert!(glob("*", ""));
        assert!(glob("a*", "abc"));
        assert!(glob("*c", "abc"));
        assert!(glob("*b*", "abc"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "aXcYb"));
        assert!(!glob("ab*ba", "aba"), "the ends may not overlap");
    }

    #[test]
    fn the_shipped_expectations_parse() {
        let e = Expectations::known_findings();
        assert_eq!(e.entries.len(), 6, "{e:?}");
        // Being the catalogue of known causes, every entry describes its finding.
        for x in &e.entries {
            for (field, v) in [
                ("title", &x.title),
                ("what", &x.what),
                ("fault", &x.fault),
                ("reference", &x.reference),
            ] {
                assert!(
                    v.as_deref().is_some_and(|t| !t.is_empty()),
                    "{}: {field}",
                    x.id
                );
            }
        }
    }

    fn vector_fail(client: &str, reason: &str) -> Check {
        Check::new(
            Scope::Vector {
                client: client.into(),
                file: "messages.json".into(),
                case: "3".into(),
                suite: None,
            },
            Question::Conformance,
            "messages.json[3]",
            Verdict::Fail,
            reason,
        )
    }

    #[test]
    fn matching_failures_become_expected_and_a_fixed_one_is_stale() {
        let e = Expectations::parse(
            "t.toml",
            r#"
            [[expect]]
            id = "limit"
            reason = "a design limit"
            link = "https://example.org"
            [expect.match]
            kind = "vector"
            client = "mls-rs"
            reason = "*leaf index*"
            "#,
        )
        .unwrap();
        let mut run = Run::new("t");
        run.checks = vec![
            vector_fail("mls-rs", "refused: leaf index 16777216 too large"),
            vector_fail("mls-rs", "another defect"),
            vector_fail("openmls", "refused: leaf index"),
        ];
        e.apply(&mut run);
        let verdicts: Vec<Verdict> = run.checks.iter().map(|c| c.verdict).collect();
        assert_eq!(
            verdicts,
            [Verdict::ExpectedFail, Verdict::Fail, Verdict::Fail]
        );
        assert_eq!(run.expectations[0].status, ExpectationStatus::Met);
        assert_eq!(run.exit_code(), 1, "unexpected failures remain");

        // Fixed: the same checks pass, so the expectation is stale and the run fails.
        let mut fixed = Run::new("t");
        fixed.checks = vec![Check {
            verdict: Verdict::Pass,
            ..vector_fail("mls-rs", "ok")
        }];
        e.apply(&mut fixed);
        assert_eq!(fixed.expectations[0].status, ExpectationStatus::Stale);
        assert_eq!(fixed.exit_code(), 1);

        // Not run at all (no vectors): unexercised, not stale.
        let mut none = Run::new("t");
        e.apply(&mut none);
        assert_eq!(none.expectations[0].status, ExpectationStatus::Unexercised);
        assert_eq!(none.exit_code(), 0);
    }

    #[test]
    fn design_matches_on_protocol_and_bounds() {
        let m = Match {
            kind: Some("design".into()),
            protocol: Some("orange-dc-keys".into()),
            participants: Some(5),
            mutant: Some("none".into()),
            ..Match::default()
        };
        let at = |n: u64, mutant: Option<&str>| {
            Check::new(
                Scope::Design {
                    protocol: "orange-dc-keys".into(),
                    mutant: mutant.map(str::to_string),
                    bounds: BTreeMap::from([("participants".into(), n)]),
                },
                Question::Agreement,
                "epoch_agreement",
                Verdict::Fail,
                "",
            )
        };
        assert!(m.covers(&at(5, None)));
        assert!(!m.covers(&at(4, None)));
        assert!(!m.covers(&at(5, Some("x"))));
    }

    #[test]
    fn bad_files_name_the_file_and_the_entry() {
        let err = Expectations::parse("x.toml", "[[expect]]\nid = 1").unwrap_err();
        assert!(
            err.to_string().starts_with("x.toml is not a valid"),
            "{err}"
        );
        let err = Expectations::parse(
            "x.toml",
            "[[expect]]\nid = \"a\"\nreason = \"r\"\nlink = \"l\"\n[expect.match]\nkind = \"vectors\"",
        )
        .unwrap_err();
        assert!(err.to_string().contains("expectation `a`"), "{err}");
        assert!(err.to_string().contains("vectors"), "{err}");
        let err = Expectations::parse(
            "x.toml",
            "[[expect]]\nid = \"a\"\nreason = \"r\"\nlink = \"l\"\n[expect.match]\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("every check"), "{err}");
        let err = Expectations::parse(
            "x.toml",
            "[[expect]]\nid = \"a\"\nreason = \"r\"\nlink = \"l\"\n[expect.match]\nkind = \"vector\"\nwhat = 1",
        )
        .unwrap_err();
        assert!(err.to_string().contains("what"), "{err}");
    }
}
