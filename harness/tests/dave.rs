//! Discord's DAVE against the real clients (libdave through PyPI's dave.py, the davey crate),
//! through our voice gateway: every assignment of the two to every shipped scenario passes
//! every check, and each check fails on its seeded bug: escrow (gateway blind), no-rotate
//! (removed blind, members read), fork (agreement), a participant that opens what it is not
//! owed (joiner blind, removed blind). Needs `bash scripts/setup.sh` (the sidecars).

use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::sync::{Arc, Mutex};

use e2ee_harness::dave::participant::{
    Implementation, Media, Participant, ParticipantError, Shown,
};
use e2ee_harness::dave::runner::{self, Control, CHANNEL};
use e2ee_harness::dave::{self, scenario, RunRecord};
use e2ee_harness::results::{Check, Verdict};

/// The shipped scenarios of an honest gateway (`probe-*` are the hostile ones).
fn honest() -> Vec<scenario::Scenario> {
    scenario::shipped()
        .into_iter()
        .filter(|s| !s.name.starts_with("probe-"))
        .collect()
}

fn probes() -> Vec<scenario::Scenario> {
    scenario::shipped()
        .into_iter()
        .filter(|s| s.name.starts_with("probe-"))
        .collect()
}

/// Every assignment of every honest scenario; under a control, every third (the control
/// flips the same checks in each, and the suite stays short).
fn run_all(control: Option<Control>) -> Vec<RunRecord> {
    let scenarios = honest();
    let jobs = dave::jobs(&scenarios, &Implementation::ALL, control);
    let stride = if control.is_some() { 3 } else { 1 };
    let jobs: Vec<dave::Job> = jobs.into_iter().step_by(stride).collect();
    dave::execute(&scenarios, &jobs, &|_, _| {})
}

/// Verdicts by check name.
fn tally(checks: &[Check]) -> BTreeMap<(String, Verdict), usize> {
    let mut t = BTreeMap::new();
    for c in checks {
        *t.entry((c.name.clone(), c.verdict)).or_default() += 1;
    }
    t
}

fn count(t: &BTreeMap<(String, Verdict), usize>, name: &str, v: Verdict) -> usize {
    t.get(&(name.to_string(), v)).copied().unwrap_or(0)
}

#[test]
fn every_assignment_of_libdave_davey_and_ours_passes_every_scenario() {
    let records = run_all(None);
    // 3^seats assignments: create, kick, join-leave, sole-member-reset, invalid-welcome have
    // 3 seats; batch-join and revoke 4 (probes are tested below).
    assert_eq!(records.len(), 5 * 27 + 2 * 81);
    let checks = dave::into_checks(&records);
    let bad: Vec<String> = checks
        .iter()
        .filter(|c| !matches!(c.verdict, Verdict::Pass | Verdict::NotApplicable))
        .map(|c| format!("{} {}: {} {}", c.verdict, c.subject, c.name, c.reason))
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    let t = tally(&checks);
    // Every check's question is asked somewhere, and where it is not, it says so.
    for name in [
        "dave-agreement",
        "dave-members-read",
        "dave-gateway-blind",
        "dave-removed-blind",
        "dave-joiner-blind",
    ] {
        assert!(
            count(&t, name, Verdict::Pass) > 0,
            "{name} never passed: {t:?}"
        );
    }
    // Mixed calls happened: a run where libdave and davey shared a group and agreed.
    let mixed = records.iter().find(|r| {
        r.scenario == "join-leave"
            && r.assignment["A"] == "libdave"
            && r.assignment["B"] == "davey"
            && r.assignment["C"] == "ours"
    });
    let mixed = mixed.expect("a join-leave run of all three");
    assert!(mixed.outcome.agreements >= 3, "{:?}", mixed.outcome.log);
    assert!(mixed.outcome.owed >= 12, "{}", mixed.outcome.owed);
    assert!(mixed.outcome.removed_attempts > 0 && mixed.outcome.joiner_attempts > 0);
    assert!(
        mixed.outcome.windows_tried > 1000,
        "{}",
        mixed.outcome.windows_tried
    );
}

#[test]
fn escrow_fails_the_gateway_check_and_nothing_else() {
    let records = run_all(Some(Control::Escrow));
    assert!(!records.is_empty());
    for r in &records {
        let checks = r.checks();
        let blind = checks
            .iter()
            .find(|c| c.name == "dave-gateway-blind")
            .unwrap();
        assert_eq!(
            blind.verdict,
            Verdict::Fail,
            "{} {}",
            r.scenario,
            r.assignment_line()
        );
        assert!(blind.reason.contains("escrowed key"), "{}", blind.reason);
        assert!(
            blind.reason.contains("as a base secret"),
            "{}",
            blind.reason
        );
        for c in checks.iter().filter(|c| c.name != "dave-gateway-blind") {
            assert_ne!(c.verdict, Verdict::Fail, "{}: {}", c.name, c.reason);
        }
    }
}

#[test]
fn no_rotate_lets_removed_members_read_on() {
    let t = tally(&dave::into_checks(&run_all(Some(Control::NoRotate))));
    assert_eq!(count(&t, "dave-removed-blind", Verdict::Pass), 0, "{t:?}");
    assert!(
        count(&t, "dave-removed-blind", Verdict::Fail) >= 24,
        "{t:?}"
    );
    assert!(count(&t, "dave-members-read", Verdict::Fail) > 0, "{t:?}");
    assert_eq!(count(&t, "dave-gateway-blind", Verdict::Fail), 0, "{t:?}");
}

#[test]
fn a_forked_group_shows_different_codes() {
    let records = run_all(Some(Control::Fork));
    let mut forked = 0;
    for r in &records {
        if !r.outcome.log.iter().any(|l| l.contains("the commit of")) {
            continue;
        }
        forked += 1;
        let agreement = r
            .checks()
            .into_iter()
            .find(|c| c.name == "dave-agreement")
            .unwrap();
        assert_eq!(
            agreement.verdict,
            Verdict::Fail,
            "{} {}",
            r.scenario,
            r.assignment_line()
        );
        assert!(
            agreement.reason.contains("shows code"),
            "{}",
            agreement.reason
        );
    }
    // Every scenario with a join or leave after the group formed forks: join-leave, kick and
    // invalid-welcome (27 runs each), batch-join and revoke (81 each), a third of them run.
    assert_eq!(forked, (3 * 27 + 2 * 81) / 3);
}

/// A real participant with a bug seeded around it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Bug {
    /// Opens every frame anyone in the call sent: what a client that kept old epochs' keys,
    /// or was handed them, would do.
    Leaky,
    /// Takes every user id as recognized (ignores op 11/13).
    TrustsEveryone,
    /// Shows a roster without users it was not told of by op 11 at connect time.
    HidesLateUsers,
}

struct Seeded {
    inner: Box<dyn Participant>,
    bug: Bug,
    seen: Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>>,
    shown_roster: Option<Vec<u64>>,
}

impl Seeded {
    fn recognized<'a>(&self, r: &'a [u64]) -> std::borrow::Cow<'a, [u64]> {
        if self.bug == Bug::TrustsEveryone {
            (0..20).map(runner::user_id).collect::<Vec<_>>().into()
        } else {
            r.into()
        }
    }
}

impl Participant for Seeded {
    fn implementation(&self) -> &str {
        self.inner.implementation()
    }
    fn user_id(&self) -> u64 {
        self.inner.user_id()
    }
    fn start(&mut self, es: &[u8]) -> Result<Vec<u8>, ParticipantError> {
        self.inner.start(es)
    }
    fn restart(&mut self) -> Result<Vec<u8>, ParticipantError> {
        self.inner.restart()
    }
    fn proposals(&mut self, p: &[u8], r: &[u64]) -> Result<Option<Vec<u8>>, ParticipantError> {
        let r = self.recognized(r);
        self.inner.proposals(p, &r)
    }
    fn commit(&mut self, c: &[u8]) -> Result<bool, ParticipantError> {
        self.inner.commit(c)
    }
    fn welcome(&mut self, w: &[u8], r: &[u64]) -> Result<(), ParticipantError> {
        let r = self.recognized(r);
        self.inner.welcome(w, &r)
    }
    fn prepare(&mut self, t: u16) -> Result<(), ParticipantError> {
        self.inner.prepare(t)
    }
    fn execute(&mut self, t: u16) -> Result<(), ParticipantError> {
        self.inner.execute(t)
    }
    fn shown(&mut self) -> Result<Shown, ParticipantError> {
        let mut shown = self.inner.shown()?;
        if self.bug == Bug::HidesLateUsers {
            // The first roster it showed is the one it keeps showing.
            let first = self
                .shown_roster
                .get_or_insert_with(|| shown.roster.clone().unwrap_or_default());
            shown.roster = Some(first.clone());
        }
        Ok(shown)
    }
    fn encrypt(&mut self, m: Media, f: &[u8]) -> Result<Option<Vec<u8>>, ParticipantError> {
        let sealed = self.inner.encrypt(m, f)?;
        if let Some(s) = &sealed {
            self.seen.lock().unwrap().insert(s.clone(), f.to_vec());
        }
        Ok(sealed)
    }
    fn decrypt(&mut self, s: u64, m: Media, f: &[u8]) -> Result<Option<Vec<u8>>, ParticipantError> {
        Ok(self
            .inner
            .decrypt(s, m, f)?
            .or_else(|| self.seen.lock().unwrap().get(f).cloned()))
    }
    fn fingerprint(&mut self, o: u64) -> Result<Option<Vec<u8>>, ParticipantError> {
        self.inner.fingerprint(o)
    }
    fn media_key(&mut self, u: u64) -> Result<Vec<u8>, ParticipantError> {
        self.inner.media_key(u)
    }
}

/// Runs shipped scenario `name` with every seat `imp` and `bug` seeded around every seat.
fn run_seeded(name: &str, imp: Implementation, bug: Bug) -> Vec<Check> {
    let scenario = scenario::shipped()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap();
    let mut sidecars = BTreeMap::new();
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let participants: Vec<Box<dyn Participant>> = (0..scenario.seats.len())
        .map(|i| {
            let (inner, _) = imp
                .participant(&mut sidecars, runner::user_id(i), CHANNEL)
                .expect("bash scripts/setup.sh");
            Box::new(Seeded {
                inner,
                bug,
                seen: seen.clone(),
                shown_roster: None,
            }) as Box<dyn Participant>
        })
        .collect();
    let outcome = runner::run_with(&scenario, participants, None);
    RunRecord {
        scenario: scenario.name.clone(),
        assignment: BTreeMap::new(),
        control: None,
        outcome,
    }
    .checks()
}

fn verdict_of(checks: &[Check], name: &str) -> (Verdict, String) {
    let c = checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name}"));
    (c.verdict, c.reason.clone())
}

#[test]
fn a_participant_that_opens_what_it_is_not_owed_fails_joiner_and_removed_checks() {
    for imp in Implementation::ALL {
        let checks = run_seeded("join-leave", imp, Bug::Leaky);
        assert_eq!(
            verdict_of(&checks, "dave-removed-blind").0,
            Verdict::Fail,
            "{}",
            imp.name()
        );
        assert_eq!(
            verdict_of(&checks, "dave-members-read").0,
            Verdict::Pass,
            "{}",
            imp.name()
        );
        let (v, reason) = verdict_of(&checks, "dave-joiner-blind");
        assert_eq!(v, Verdict::Fail, "{}", imp.name());
        assert!(
            reason.contains("C opened A's Opus frame of step 2"),
            "{reason}"
        );
        // ...and it takes a replayed frame: the tamper probe's check fails.
        let (v, reason) = verdict_of(
            &run_seeded("probe-tamper", imp, Bug::Leaky),
            "dave-frame-integrity",
        );
        assert_eq!(v, Verdict::Fail, "{}", imp.name());
        assert!(reason.contains("accepted a replay of"), "{reason}");
    }
}

#[test]
fn probes_fail_on_their_seeded_bugs() {
    for imp in Implementation::ALL {
        // A client that takes every user id as recognized commits the unannounced ghost...
        let checks = run_seeded("probe-unrecognized-add", imp, Bug::TrustsEveryone);
        let (v, reason) = verdict_of(&checks, "dave-refuses-unrecognized-add");
        assert_eq!(v, Verdict::Fail, "{}", imp.name());
        assert!(reason.contains("committed the Add of G"), "{reason}");
        let checks = run_seeded("probe-batch-ghost", imp, Bug::TrustsEveryone);
        assert_eq!(
            verdict_of(&checks, "dave-refuses-batch-with-unrecognized-add").0,
            Verdict::Fail
        );
        // ...and accepts a Welcome listing a user it was never told of.
        let checks = run_seeded("probe-welcome-ghost", imp, Bug::TrustsEveryone);
        let (v, reason) = verdict_of(&checks, "dave-welcome-refuses-unrecognized");
        assert_eq!(v, Verdict::Fail, "{}", imp.name());
        assert!(
            reason.contains("J (") && reason.contains("accepted a Welcome"),
            "{reason}"
        );
        // A client whose roster never shows later users hides the gateway's ghost.
        let checks = run_seeded("probe-recognized-ghost", imp, Bug::HidesLateUsers);
        let (v, reason) = verdict_of(&checks, "dave-ghost-visible");
        assert_eq!(v, Verdict::Fail, "{}", imp.name());
        assert!(reason.contains("does not list it"), "{reason}");
    }
}

#[test]
fn probes_find_what_each_implementation_does() {
    let scenarios = probes();
    let jobs = dave::jobs(&scenarios, &Implementation::ALL, None);
    let records = dave::execute(&scenarios, &jobs, &|_, _| {});
    let mut by: BTreeMap<(String, String, Verdict), usize> = BTreeMap::new();
    for r in &records {
        for c in r.checks() {
            *by.entry((r.scenario.clone(), c.name.clone(), c.verdict))
                .or_default() += 1;
            let evidence = c.evidence.map(|e| e.steps.join("\n")).unwrap_or_default();
            match (r.scenario.as_str(), c.name.as_str()) {
                ("probe-unrecognized-add", "dave-refuses-unrecognized-add") => {
                    assert_eq!(c.verdict, Verdict::Pass, "{}", c.reason);
                    for (seat, imp) in [("A", &r.assignment["A"]), ("B", &r.assignment["B"])] {
                        let why = match imp.as_str() {
                            "libdave" => {
                                "ValidateProposalMessage: Unexpected user ID in add proposal"
                            }
                            "davey" => "UnexpectedUser(1090000000000000003)",
                            _ => "an Add of user 1090000000000000003, not recognized",
                        };
                        assert!(
                            evidence.contains(&format!("{seat} ({imp}) refused"))
                                && evidence.contains(why),
                            "{evidence}"
                        );
                    }
                }
                ("probe-recognized-ghost", "dave-ghost-visible") => {
                    assert_eq!(c.verdict, Verdict::Pass, "{}", c.reason);
                    assert!(
                        evidence.contains("comparing codes does not reveal G"),
                        "{evidence}"
                    );
                    // All three compute the same pairwise fingerprint with the ghost.
                    assert!(
                        !evidence.contains("gave no pairwise fingerprint"),
                        "{evidence}"
                    );
                    assert_eq!(
                        evidence
                            .matches("compute the same pairwise verification code")
                            .count(),
                        2,
                        "{evidence}"
                    );
                }
                ("probe-recognized-ghost", "dave-gateway-blind") => {
                    assert_eq!(c.verdict, Verdict::Fail);
                    assert!(
                        c.reason
                            .contains("the gateway's own client G opened A's Opus frame of step 4"),
                        "{}",
                        c.reason
                    );
                }
                ("probe-batch-ghost", "dave-refuses-batch-with-unrecognized-add") => {
                    // Nobody commits the unannounced Add.
                    assert_eq!(c.verdict, Verdict::Pass, "{}", c.reason);
                }
                ("probe-batch-ghost", "dave-recovers-after-refused-batch") => {
                    // The committers are A and B: davey among them keeps C's Add queued.
                    let davey_commits =
                        r.assignment["A"] == "davey" || r.assignment["B"] == "davey";
                    if davey_commits {
                        assert_eq!(c.verdict, Verdict::Fail);
                        assert!(
                            c.reason
                                .contains("InvalidRoster(DuplicateUser(1090000000000000003))"),
                            "{}",
                            c.reason
                        );
                    } else {
                        assert_eq!(c.verdict, Verdict::Pass, "{}", c.reason);
                    }
                }
                ("probe-welcome-ghost", "dave-welcome-refuses-unrecognized") => {
                    assert_eq!(c.verdict, Verdict::Pass, "{}", c.reason);
                    let why = match r.assignment["J"].as_str() {
                        "libdave" => {
                            "VerifyWelcomeState: Welcome message lists unrecognized user ID"
                        }
                        "davey" => "UnrecognizedUser",
                        _ => "its roster lists user 1090000000000000004, not recognized",
                    };
                    assert!(evidence.contains(why), "{evidence}");
                }
                ("probe-tamper", "dave-frame-integrity") => {
                    assert_eq!(c.verdict, Verdict::Pass, "{}", c.reason);
                    assert!(
                        evidence.contains("plays Opus silence injected as"),
                        "{evidence}"
                    );
                }
                (_, "dave-gateway-blind") => assert_eq!(c.verdict, Verdict::Pass, "{}", c.reason),
                _ => assert_ne!(
                    c.verdict,
                    Verdict::Fail,
                    "{} {}: {}",
                    r.scenario,
                    c.name,
                    c.reason
                ),
            }
        }
    }
    // Every probe asked its question in every run.
    for (scenario, probe, runs) in [
        (
            "probe-unrecognized-add",
            "dave-refuses-unrecognized-add",
            81,
        ),
        ("probe-recognized-ghost", "dave-ghost-visible", 27),
        (
            "probe-batch-ghost",
            "dave-refuses-batch-with-unrecognized-add",
            81,
        ),
        ("probe-batch-ghost", "dave-recovers-after-refused-batch", 81),
        (
            "probe-welcome-ghost",
            "dave-welcome-refuses-unrecognized",
            81,
        ),
        ("probe-tamper", "dave-frame-integrity", 27),
    ] {
        let asked: usize = [Verdict::Pass, Verdict::Fail]
            .iter()
            .map(|&v| {
                by.get(&(scenario.into(), probe.into(), v))
                    .copied()
                    .unwrap_or(0)
            })
            .sum();
        assert_eq!(asked, runs, "{scenario} {probe}: {by:?}");
    }
}

fn e2ee(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_e2ee"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("e2ee runs")
}

#[test]
fn cli_runs_a_scenario_and_names_what_it_cannot_read() {
    let dir = std::env::temp_dir().join(format!("e2ee-dave-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let record = dir.join("dave.json");
    let out = e2ee(
        &[
            "dave",
            "--participants",
            "libdave,davey",
            "--only",
            "create",
            "--json",
            record.to_str().unwrap(),
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("dave/create                  8       0        0"),
        "{stdout}"
    );
    let run = e2ee_harness::results::Run::read_json(&record).unwrap();
    assert_eq!(run.checks.len(), 40);
    assert!(run
        .clients
        .iter()
        .any(|c| c.name == "libdave" && c.version == "1.1.0"));
    assert!(run
        .clients
        .iter()
        .any(|c| c.name == "davey" && c.version == "0.2.0"));

    // A bad scenario is named with its step; the good one still runs; exit 1.
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "description = \"x\"\nsteps = [\"connect A B\", \"kick Z\"]\n",
    )
    .unwrap();
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "description = \"x\"\nsteps = [\"connect A B\", \"media\"]\n",
    )
    .unwrap();
    let out = e2ee(
        &[
            "dave",
            "--participants",
            "libdave",
            "--scenario",
            bad.to_str().unwrap(),
            "--scenario",
            good.to_str().unwrap(),
        ],
        &[],
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("bad.toml: steps[1] `kick Z`: Z is not connected"),
        "{all}"
    );
    assert!(all.contains("dave/good"), "{all}");

    // The two findings are known: with the shipped expectations they are expected-fail, exit 0.
    let known = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../expectations/known-findings.toml");
    let record = dir.join("known.json");
    let out = e2ee(
        &[
            "dave",
            "--only",
            "probe-recognized-ghost,probe-batch-ghost",
            "--expect",
            known.to_str().unwrap(),
            "--json",
            record.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let run = e2ee_harness::results::Run::read_json(&record).unwrap();
    let met: Vec<&str> = run
        .expectations
        .iter()
        .filter(|e| e.status == e2ee_harness::results::ExpectationStatus::Met)
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(
        met,
        [
            "dave-gateway-names-members",
            "davey-refused-batch-keeps-proposals"
        ]
    );
    assert!(run.checks.iter().all(|c| c.verdict != Verdict::Fail));

    // Usage errors: exit 2 with the reason.
    let out = e2ee(&["dave", "--participants", "dave-rs"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown implementation `dave-rs`"));
    let out = e2ee(
        &["dave", "--participants", "davey"],
        &[("E2EE_DAVEY_SIDECAR", "/nonexistent/davey-sidecar")],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("run `bash scripts/setup.sh`"), "{stderr}");
    let out = e2ee(
        &["dave", "--participants", "libdave", "--control", "escrow"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
