//! Design level: runs the Stateright models and judges what they found.
//!
//! The judging ([`checks_for`]) and the printing ([`render_outcome`]) are pure functions of an
//! [`e2ee_model::CheckOutcome`]; only [`run_plan`] runs the checker.

use crate::columns::table;
use crate::progress::Spinner;
use crate::results::{Check, Evidence, Question, Scope, Verdict};
use e2ee_model::properties::Kind;
use e2ee_model::trace::Trace;
use e2ee_model::{
    Bounds, CheckOptions, CheckOutcome, ModelError, Mutant, PropertyOutcome, Protocol, Strategy,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

/// What went wrong before or while checking; every variant is the caller's input or I/O.
#[derive(Debug, thiserror::Error)]
pub enum ModelCmdError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("cannot write the report to stdout")]
    Io(#[from] std::io::Error),
}

/// A check request as the user typed it, before names are resolved.
#[derive(Clone, Debug)]
pub struct Request {
    /// A protocol name or "all".
    pub protocol: String,
    pub mutant: Option<String>,
    pub bounds: Bounds,
    pub threads: usize,
    pub symmetry: bool,
    pub strategy: Strategy,
}

impl Request {
    /// Every protocol at default bounds, no mutant.
    pub fn defaults() -> Request {
        Request {
            protocol: ALL.into(),
            mutant: None,
            bounds: Bounds::default(),
            threads: available_cores(),
            symmetry: false,
            strategy: Strategy::Bfs,
        }
    }
}

impl Request {
    /// The Orange port at Cloudflare's own bound (MaxTotalUsers = 5), as TLC checked it.
    pub fn orange_as_published() -> Request {
        Request {
            protocol: Protocol::OrangeDc.name().into(),
            bounds: Bounds {
                participants: 5,
                ..Bounds::default()
            },
            ..Request::defaults()
        }
    }

    /// The keyed Orange model twice: at 4 users with one server interference of any kind, and
    /// at Cloudflare's bound of 5 users with an honest server (depth-first: 20 M states), where
    /// the published algorithm forks a joiner (see README).
    pub fn orange_with_keys() -> [Request; 2] {
        let keyed = |participants, max_interference, strategy| Request {
            protocol: Protocol::OrangeDcKeys.name().into(),
            bounds: Bounds {
                participants,
                max_interference,
                ..Bounds::default()
            },
            strategy,
            ..Request::defaults()
        };
        [keyed(4, 1, Strategy::Bfs), keyed(5, 0, Strategy::Dfs)]
    }

    /// What `e2ee check` runs: every protocol, no mutant, at [`Bounds::assurance`].
    pub fn assurance() -> Request {
        Request {
            bounds: Bounds::assurance(),
            ..Request::defaults()
        }
    }
}

/// The checker threads a run uses unless told otherwise: one per core.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The protocol name that means every protocol.
pub const ALL: &str = "all";

/// One item of work: a model to check, or a protocol the selected mutant does not touch.
#[derive(Clone, Debug)]
pub enum Planned {
    Run(CheckOptions),
    MutantNotApplicable { protocol: Protocol, mutant: Mutant },
}

/// Resolves and validates the whole request up front, so a usage error never comes after
/// minutes of checking. With `all` and a mutant, protocols the mutant does not apply to are
/// recorded as not applicable; naming such a protocol explicitly is an error.
pub fn plan(req: &Request) -> Result<Vec<Planned>, ModelCmdError> {
    let mutant = req
        .mutant
        .as_deref()
        .map(str::parse::<Mutant>)
        .transpose()?;
    let protocols: Vec<Protocol> = if req.protocol == ALL {
        Protocol::default_run()
    } else {
        vec![req.protocol.parse()?]
    };
    let mut planned = Vec::new();
    for protocol in protocols {
        if let Some(m) = mutant {
            if req.protocol == ALL && !m.applies_to().contains(&protocol) {
                planned.push(Planned::MutantNotApplicable {
                    protocol,
                    mutant: m,
                });
                continue;
            }
        }
        let opts = CheckOptions {
            protocol,
            bounds: req.bounds,
            mutant,
            threads: req.threads,
            symmetry: req.symmetry,
            strategy: req.strategy,
        };
        opts.validate()?;
        planned.push(Planned::Run(opts));
    }
    Ok(planned)
}

/// "leader", or "leader+no-rotate-on-leave" under a mutant.
/// The keyed Orange model runs at two bounds in `e2ee check`, so its subject names them:
/// "orange-dc-keys[users=5,interference=0]".
pub fn subject(opts: &CheckOptions) -> String {
    let mut name = opts.protocol.name().to_string();
    if opts.protocol == Protocol::OrangeDcKeys {
        name = format!(
            "{name}[users={},interference={}]",
            opts.bounds.participants, opts.bounds.max_interference
        );
    }
    match opts.mutant {
        None => name,
        Some(m) => format!("{name}+{}", m.name()),
    }
}

/// Where a model check applies: the protocol, its seeded bug and the bounds it was explored at.
pub fn scope(opts: &CheckOptions) -> Scope {
    let b = opts.bounds;
    Scope::Design {
        protocol: opts.protocol.name().to_string(),
        mutant: opts.mutant.map(|m| m.name().to_string()),
        bounds: BTreeMap::from([
            ("participants".to_string(), u64::from(b.participants)),
            ("initial_members".to_string(), u64::from(b.initial_members)),
            ("max_changes".to_string(), u64::from(b.max_changes)),
            (
                "max_interference".to_string(),
                u64::from(b.max_interference),
            ),
        ]),
    }
}

fn evidence(trace: &Trace) -> Evidence {
    Evidence {
        // The closing "then:" line of `Trace::to_words` is `final_state` here.
        steps: trace.numbered_steps(),
        mermaid: Some(trace.to_mermaid()),
        final_state: Some(trace.final_state.clone()),
    }
}

fn figures(o: &CheckOutcome) -> BTreeMap<String, f64> {
    BTreeMap::from([
        ("states".to_string(), o.state_count as f64),
        ("unique_states".to_string(), o.unique_state_count as f64),
        ("max_depth".to_string(), o.max_depth as f64),
        ("seconds".to_string(), o.elapsed.as_secs_f64()),
    ])
}

/// The verdict and reason for one property: a correct protocol must hold everything; a mutant
/// must violate its target, and its other effects are reported but not judged.
fn judge(p: &PropertyOutcome, mutant: Option<Mutant>) -> (Verdict, String) {
    let held = match p.kind {
        Kind::Always => "holds in every reachable state",
        Kind::Sometimes => "witnessed",
    };
    match mutant {
        None => match (p.kind, p.holds) {
            (_, true) => (Verdict::Pass, held.into()),
            (Kind::Always, false) => (Verdict::Fail, "counterexample found".into()),
            (Kind::Sometimes, false) => (
                Verdict::Fail,
                "never happens within the bounds: the secrecy properties may hold vacuously".into(),
            ),
        },
        Some(m) if m.target() == p.name => {
            if p.holds {
                (
                    Verdict::Fail,
                    format!("mutant not caught: {} {held}", p.name),
                )
            } else {
                (
                    Verdict::Pass,
                    format!("mutant caught: {} violated as expected", p.name),
                )
            }
        }
        Some(m) => {
            if p.holds {
                (Verdict::Pass, held.into())
            } else {
                let what = match p.kind {
                    Kind::Always => "violated",
                    Kind::Sometimes => "never happens",
                };
                (
                    Verdict::NotApplicable,
                    format!("{what} under mutant {m}; only {} is judged", m.target()),
                )
            }
        }
    }
}

/// The witnesses that show an `always` property's situation arises: leave secrecy means
/// nothing unless someone leaves, and so on. Properties not listed need none (they are about
/// every state, or no witness of theirs exists yet).
const NEEDS: &[(&str, &[&str])] = &[
    ("leave_secrecy", &["witness_leave"]),
    ("join_secrecy", &["witness_join"]),
    (
        "rotation_on_membership_change",
        &["witness_leave", "witness_join"],
    ),
    ("server_never_learns_media_key", &["witness_rotation"]),
];

/// For a property that holds in a correct model: the witness it needs that the model checked
/// and never saw, if any (then its pass would be vacuous).
fn vacuous(outcome: &CheckOutcome, p: &PropertyOutcome) -> Option<&'static str> {
    if outcome.options.mutant.is_some() || p.kind != Kind::Always || !p.holds {
        return None;
    }
    let (_, needs) = NEEDS.iter().find(|(name, _)| *name == p.name)?;
    let checked: Vec<&PropertyOutcome> = needs.iter().filter_map(|w| outcome.property(w)).collect();
    let seen = checked.iter().any(|w| w.holds);
    (!checked.is_empty() && !seen).then(|| checked[0].name)
}

/// One [`Check`] per property of `outcome`, judged as `judge` says. Any trace the checker
/// kept (a counterexample, or a witness's example) becomes the evidence.
pub fn checks_for(outcome: &CheckOutcome) -> Vec<Check> {
    let subject = subject(&outcome.options);
    let figures = figures(outcome);
    let mut checks: Vec<Check> = outcome
        .properties
        .iter()
        .map(|p| {
            let (mut verdict, mut reason) = judge(p, outcome.options.mutant);
            if let Some(w) = vacuous(outcome, p) {
                verdict = Verdict::NotApplicable;
                reason = format!("holds only vacuously: {w} never happens within these bounds");
            }
            let check = Check::new(
                scope(&outcome.options),
                Question::of_property(p.name),
                p.name,
                verdict,
                reason,
            )
            .with_subject(subject.clone())
            .with_figures(figures.clone());
            match p.trace.as_ref() {
                Some(t) => check.with_evidence(evidence(t)),
                None => check,
            }
        })
        .collect();
    // A mutant whose target was never checked has not been caught; say so rather than pass.
    if let Some(m) = outcome.options.mutant {
        if outcome.property(m.target()).is_none() {
            checks.push(
                Check::new(
                    scope(&outcome.options),
                    Question::of_property(m.target()),
                    m.target(),
                    Verdict::Fail,
                    format!("mutant not caught: the model does not check {}", m.target()),
                )
                .with_subject(subject)
                .with_figures(figures),
            );
        }
    }
    checks
}

/// The record of a protocol skipped because the selected mutant does not touch it.
pub fn not_applicable_check(protocol: Protocol, mutant: Mutant) -> Check {
    let applies: Vec<&str> = mutant.applies_to().iter().map(|p| p.name()).collect();
    let scope = Scope::Design {
        protocol: protocol.name().to_string(),
        mutant: Some(mutant.name().to_string()),
        bounds: BTreeMap::new(),
    };
    Check::new(
        scope,
        Question::of_property(mutant.target()),
        mutant.target(),
        Verdict::NotApplicable,
        format!(
            "mutant {mutant} does not apply to {protocol} (it applies to: {})",
            applies.join(", ")
        ),
    )
}

/// 1234567 -> "1,234,567".
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The bounds and search settings in words, for a heading.
pub fn describe_options(o: &CheckOptions) -> String {
    let b = o.bounds;
    if o.protocol == Protocol::OrangeDc {
        return format!(
            "MaxTotalUsers = {} (Cloudflare's Orange.toolbox/Model_1 checked 5); {}",
            b.participants,
            plural(o.threads, "thread", "threads")
        );
    }
    if o.protocol == Protocol::OrangeDcKeys {
        return format!(
            "MaxTotalUsers = {}, {}; {}, {}",
            b.participants,
            match b.max_interference {
                0 => "an honest server".to_string(),
                j => format!(
                    "up to {}",
                    plural(j.into(), "server interference", "server interferences")
                ),
            },
            strategy_words(o.strategy),
            plural(o.threads, "thread", "threads")
        );
    }
    let strategy = strategy_words(o.strategy);
    format!(
        "{} ({} at the start), up to {} and {}; {strategy}, {}{}",
        plural(b.participants.into(), "participant", "participants"),
        plural(b.initial_members.into(), "member", "members"),
        plural(b.max_changes.into(), "join or leave", "joins and leaves"),
        plural(
            b.max_interference.into(),
            "server interference",
            "server interferences"
        ),
        plural(o.threads, "thread", "threads"),
        if o.symmetry {
            ", symmetry reduction"
        } else {
            ""
        },
    )
}

fn strategy_words(s: Strategy) -> &'static str {
    match s {
        Strategy::Bfs => "breadth-first",
        Strategy::Dfs => "depth-first",
    }
}

/// The verdict table for one outcome, then every counterexample in words and as Mermaid.
pub fn render_outcome(outcome: &CheckOutcome) -> String {
    let o = &outcome.options;
    let checks = checks_for(outcome);
    let mut out = String::new();
    let _ = writeln!(out, "== {} ==", subject(o));
    let _ = writeln!(out, "bounds: {}", describe_options(o));
    if let Some(m) = o.mutant {
        let _ = writeln!(
            out,
            "mutant: {}; must violate {}",
            m.description(),
            m.target()
        );
    }
    let _ = writeln!(
        out,
        "explored {} states ({} unique, depth {}) in {:.2} s",
        thousands(outcome.state_count),
        thousands(outcome.unique_state_count),
        outcome.max_depth,
        outcome.elapsed.as_secs_f64()
    );
    out.push('\n');
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            let p = outcome.property(&c.name);
            let kind = p.map_or("-", |p| p.kind.as_str());
            let mut detail = c.reason.clone();
            if let Some(t) = p.filter(|p| violated(p)).and_then(|p| p.trace.as_ref()) {
                let _ = write!(
                    detail,
                    " ({}, below)",
                    plural(t.steps.len(), "step", "steps")
                );
            }
            vec![
                c.name.clone(),
                kind.to_string(),
                c.verdict.to_string(),
                detail,
            ]
        })
        .collect();
    out.push_str(&table(&["property", "kind", "verdict", "detail"], &rows));
    for p in outcome.properties.iter().filter(|p| violated(p)) {
        let Some(trace) = &p.trace else { continue };
        let _ = writeln!(
            out,
            "\nShortest counterexample to {} ({}):",
            p.name,
            plural(trace.steps.len(), "step", "steps")
        );
        out.push_str(&trace.to_words());
        let _ = writeln!(out, "\n```mermaid\n{}```", trace.to_mermaid());
    }
    out
}

/// An `always` with a counterexample; a `sometimes` never witnessed has no trace to show.
fn violated(p: &PropertyOutcome) -> bool {
    p.kind == Kind::Always && !p.holds
}

/// One line of the spinner: how far the checker has got and how fast.
pub fn progress_line(label: &str, p: &e2ee_model::Progress) -> String {
    let secs = p.elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        p.states as f64 / secs
    } else {
        0.0
    };
    format!(
        "{label}: {} states, {} unique, depth {}, {} states/s, {secs:.1} s",
        thousands(p.states),
        thousands(p.unique),
        p.max_depth,
        thousands(rate as usize),
    )
}

/// `e2ee model list`: one aligned line per protocol, property and mutant.
pub fn render_listing(rows: &[(String, String, String)]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|(kind, name, what)| vec![kind.clone(), name.clone(), what.clone()])
        .collect();
    let mut out = table(&["what", "name", "meaning"], &rows);
    // The table's header and rule are for the verdicts; a listing reads better without them.
    out = out.lines().skip(2).map(|l| format!("{l}\n")).collect();
    out
}

/// Runs every planned check in turn, printing each table to `out` as soon as it is done and
/// progress to stderr. Returns the checks for the results record.
pub fn run_plan(planned: &[Planned], out: &mut dyn Write) -> Result<Vec<Check>, ModelCmdError> {
    let mut checks = Vec::new();
    for (i, item) in planned.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        match item {
            Planned::MutantNotApplicable { protocol, mutant } => {
                let check = not_applicable_check(*protocol, *mutant);
                writeln!(
                    out,
                    "== {} ==\n{}: {}",
                    check.subject, check.verdict, check.reason
                )?;
                checks.push(check);
            }
            Planned::Run(opts) => {
                let label = subject(opts);
                tracing::info!(subject = %label, options = ?opts, "checking");
                let spinner = Spinner::start();
                let outcome =
                    e2ee_model::check(opts, &mut |p| spinner.update(&progress_line(&label, &p)))?;
                let last = e2ee_model::Progress {
                    states: outcome.state_count,
                    unique: outcome.unique_state_count,
                    max_depth: outcome.max_depth,
                    elapsed: outcome.elapsed,
                };
                spinner.finish(&format!("{} (done)", progress_line(&label, &last)));
                tracing::debug!(subject = %label, met = outcome.expectation_met(), "checked");
                out.write_all(render_outcome(&outcome).as_bytes())?;
                out.flush()?;
                checks.extend(checks_for(&outcome));
            }
        }
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Level;
    use e2ee_model::properties::{self, Kind};
    use e2ee_model::trace::Step;
    use std::time::Duration;

    fn named<'a>(checks: &'a [Check], name: &str) -> &'a Check {
        checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no check {name}"))
    }

    fn trace() -> Trace {
        Trace {
            steps: vec![
                Step::new("P1", "P1 leaves the call").arrow("P1", "Server", "Leave"),
                Step::new("Server", "server tells P0 that P1 left").arrow(
                    "Server",
                    "P0",
                    "Roster {P0}",
                ),
                Step::new("P0", "P0 keeps key K1 for epoch 2"),
            ],
            final_state: "P1 was removed at epoch 1 but knows K1, used in epoch 2".into(),
        }
    }

    fn witness() -> Trace {
        Trace {
            steps: vec![Step::new("P1", "P1 leaves the call").arrow("P1", "Server", "Leave")],
            final_state: "P1 is removed".into(),
        }
    }

    /// A hand-made outcome, so the snapshots move neither with the models' state counts nor
    /// with their list of properties.
    fn outcome(mutant: Option<Mutant>, leave_holds: bool) -> CheckOutcome {
        let prop = |name, kind, holds| {
            let trace = match (kind, holds) {
                (Kind::Always, false) => Some(trace()),
                (Kind::Sometimes, true) => Some(witness()),
                _ => None,
            };
            PropertyOutcome {
                name,
                kind,
                holds,
                trace,
            }
        };
        let side_effect = mutant.is_none();
        CheckOutcome {
            options: CheckOptions {
                mutant,
                ..CheckOptions::new(Protocol::Leader)
            },
            state_count: 123_456,
            unique_state_count: 7_890,
            max_depth: 17,
            elapsed: Duration::from_millis(1_250),
            properties: vec![
                prop(
                    properties::SERVER_NEVER_LEARNS_MEDIA_KEY,
                    Kind::Always,
                    true,
                ),
                prop(properties::LEAVE_SECRECY, Kind::Always, leave_holds),
                prop(
                    properties::ROTATION_ON_MEMBERSHIP_CHANGE,
                    Kind::Always,
                    side_effect,
                ),
                prop("witness_leave", Kind::Sometimes, true),
                prop(
                    "witness_removed_listener_after_rotation",
                    Kind::Sometimes,
                    side_effect,
                ),
            ],
        }
    }

    fn verdicts(checks: &[Check]) -> Vec<(String, Verdict, String)> {
        checks
            .iter()
            .map(|c| (c.name.clone(), c.verdict, c.reason.clone()))
            .collect()
    }

    #[test]
    fn correct_protocol_all_pass() {
        let o = outcome(None, true);
        let checks = checks_for(&o);
        assert_eq!(checks.len(), o.properties.len());
        assert!(checks.iter().all(|c| c.verdict == Verdict::Pass));
        assert!(checks
            .iter()
            .all(|c| c.subject == "leader" && c.level == Level::Design));
        assert_eq!(checks[0].figures["states"], 123_456.0);
        assert_eq!(checks[0].figures["seconds"], 1.25);
        insta::assert_snapshot!(render_outcome(&o));
    }

    #[test]
    fn violation_fails_with_evidence() {
        let o = outcome(None, false);
        let checks = checks_for(&o);
        let leave = named(&checks, properties::LEAVE_SECRECY);
        assert_eq!(leave.verdict, Verdict::Fail);
        assert_eq!(leave.reason, "counterexample found");
        let ev = leave.evidence.as_ref().unwrap();
        assert_eq!(ev.steps[0], "1. P1 leaves the call");
        assert_eq!(ev.steps.len(), 3);
        assert!(ev.mermaid.as_ref().unwrap().starts_with("sequenceDiagram"));
        assert!(ev
            .final_state
            .as_ref()
            .unwrap()
            .contains("removed at epoch 1"));
        insta::assert_snapshot!(render_outcome(&o));

        // The model finds counterexamples by its own breadth-first search, whatever the
        // checker's threads and strategy: they are the shortest either way.
        let mut o = o;
        o.options.threads = 2;
        o.options.strategy = Strategy::Dfs;
        let text = render_outcome(&o);
        assert!(
            text.contains("\nShortest counterexample to leave_secrecy"),
            "{text}"
        );
    }

    #[test]
    fn unwitnessed_sometimes_fails() {
        let mut o = outcome(None, true);
        let w = o
            .properties
            .iter_mut()
            .find(|p| p.name == "witness_leave")
            .unwrap();
        w.holds = false;
        w.trace = None;
        let checks = checks_for(&o);
        let w = named(&checks, "witness_leave");
        assert_eq!(w.verdict, Verdict::Fail);
        assert!(w.reason.starts_with("never happens within the bounds"));
        assert!(w.evidence.is_none());
    }

    #[test]
    fn mutant_caught() {
        let o = outcome(Some(Mutant::NoRotateOnLeave), false);
        let checks = checks_for(&o);
        insta::assert_debug_snapshot!("mutant_caught_verdicts", verdicts(&checks));
        let leave = named(&checks, properties::LEAVE_SECRECY);
        assert_eq!(leave.subject, "leader+no-rotate-on-leave");
        assert!(leave.evidence.is_some());
        let side = named(&checks, properties::ROTATION_ON_MEMBERSHIP_CHANGE);
        assert_eq!(side.verdict, Verdict::NotApplicable);
        assert!(side.evidence.is_some(), "side effects keep their evidence");
        assert!(!checks.iter().any(|c| c.verdict == Verdict::Fail));
        insta::assert_snapshot!("mutant_caught_table", render_outcome(&o));
    }

    #[test]
    fn mutant_not_caught_fails() {
        let o = outcome(Some(Mutant::NoRotateOnLeave), true);
        let checks = checks_for(&o);
        let leave = named(&checks, properties::LEAVE_SECRECY);
        assert_eq!(leave.verdict, Verdict::Fail);
        assert!(
            leave.reason.starts_with("mutant not caught"),
            "{}",
            leave.reason
        );
    }

    #[test]
    fn mutant_target_missing_fails() {
        let mut o = outcome(Some(Mutant::NoRotateOnLeave), false);
        o.properties.retain(|p| p.name != properties::LEAVE_SECRECY);
        let checks = checks_for(&o);
        let leave = named(&checks, properties::LEAVE_SECRECY);
        assert_eq!(leave.verdict, Verdict::Fail);
    }

    #[test]
    fn plan_resolves_names_and_rejects_bad_input() {
        let mut req = Request::defaults();
        assert_eq!(plan(&req).unwrap().len(), Protocol::default_run().len());

        req.protocol = "nope".into();
        let err = plan(&req).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");

        req.protocol = "mls-gateway".into();
        req.mutant = Some("server-generated-key".into());
        assert!(matches!(
            plan(&req),
            Err(ModelCmdError::Model(ModelError::MutantNotApplicable { .. }))
        ));

        // With "all", protocols the mutant does not touch are recorded, not an error.
        req.protocol = ALL.into();
        let p = plan(&req).unwrap();
        let n_a = p
            .iter()
            .filter(|p| matches!(p, Planned::MutantNotApplicable { .. }))
            .count();
        assert_eq!(
            n_a,
            Protocol::default_run().len() - Mutant::ServerGeneratedKey.applies_to().len()
        );

        req.mutant = None;
        req.bounds.participants = 0;
        assert!(matches!(
            plan(&req),
            Err(ModelCmdError::Model(ModelError::BadBounds(_)))
        ));

        req.bounds = Bounds::default();
        req.symmetry = true;
        assert!(matches!(
            plan(&req),
            Err(ModelCmdError::Model(ModelError::BadOptions(_)))
        ));
        req.strategy = Strategy::Dfs;
        assert!(plan(&req).is_ok());
    }

    #[test]
    fn not_applicable_record() {
        let c = not_applicable_check(Protocol::MlsGateway, Mutant::ServerGeneratedKey);
        assert_eq!(c.verdict, Verdict::NotApplicable);
        assert_eq!(c.subject, "mls-gateway+server-generated-key");
        assert!(c.reason.contains("applies to: leader"), "{}", c.reason);
    }

    #[test]
    fn progress_and_numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        let p = e2ee_model::Progress {
            states: 20_000,
            unique: 5_000,
            max_depth: 9,
            elapsed: Duration::from_secs(2),
        };
        assert_eq!(
            progress_line("leader", &p),
            "leader: 20,000 states, 5,000 unique, depth 9, 10,000 states/s, 2.0 s"
        );
    }

    #[test]
    fn listing_and_summary() {
        let rows = vec![
            (
                "protocol".to_string(),
                "leader".to_string(),
                "Zoom E2EE".to_string(),
            ),
            (
                "property".into(),
                "leave_secrecy".into(),
                "[always] removed members".into(),
            ),
            (
                "mutant".into(),
                "no-rotate-on-leave".into(),
                "keeps the key".into(),
            ),
        ];
        insta::assert_snapshot!(render_listing(&rows));
        let checks = checks_for(&outcome(Some(Mutant::NoRotateOnLeave), false));
        assert_eq!(
            crate::results::summary_line(&checks),
            "5 checks: 3 pass, 2 not-applicable"
        );
    }
}
