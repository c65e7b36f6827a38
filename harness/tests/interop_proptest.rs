//! Random but valid interop scripts — adds, removes, updates, empty commits (with and without
//! a forced path), protect/unprotect — over a pool of five actors, each actor played by openmls
//! or mls-rs at random, run through `interop::runner::run` in both handshake modes. Every run
//! must pass, the delivery service must learn nothing, removed members must read nothing, and
//! the runner's counts (epoch-authenticator agreements, round trips, attempts by removed
//! members) must be the ones the script implies.

use e2ee_harness::clients::{member_clients, MemberClient};
use e2ee_harness::interop::runner::{self, RunConfig, RunOutcome};
use e2ee_harness::interop::script::{self, Action, CommitSpec, ProposalDescription, Script, Step};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

/// The actor pool; `a0` creates the group with `a1`.
const POOL: [&str; 5] = ["a0", "a1", "a2", "a3", "a4"];

/// The clients, in `member_clients()` order (0 = openmls, 1 = mls-rs).
fn clients() -> &'static [Box<dyn MemberClient>] {
    static CLIENTS: OnceLock<Vec<Box<dyn MemberClient>>> = OnceLock::new();
    CLIENTS.get_or_init(member_clients)
}

/// One abstract operation; each `u8` picks, modulo its size, from the candidates the current
/// membership allows (sorted by name), so every op list yields a valid script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// A non-member that was never removed joins, added by value by a member.
    Add { joiner: u8, committer: u8 },
    /// A member other than the committer is removed by value (only with ≥ 3 members).
    Remove { removed: u8, committer: u8 },
    /// `updateProposal` by one member, committed by reference by another (or the same).
    Update { proposer: u8, committer: u8 },
    /// An empty `fullCommit`.
    Commit { committer: u8, force_path: bool },
    /// `protect` by a member, `unprotect` by every other member.
    Protect { sender: u8 },
}

/// What a script should make the runner count, if it passes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Expected {
    agreements: usize,
    round_trips: usize,
    removed_attempts: usize,
    commits: usize,
}

/// Builds a script step by step while tracking who is in the group.
#[derive(Debug, Default)]
struct Builder {
    steps: Vec<Step>,
    members: BTreeSet<String>,
    removed: BTreeSet<String>,
    expected: Expected,
    /// One line per op: what it became, or why it was skipped.
    log: Vec<String>,
}

impl Builder {
    fn push(&mut self, actor: &str, name: &str, action: Action) -> usize {
        self.steps.push(Step {
            name: name.to_string(),
            actor: Some(actor.to_string()),
            action,
        });
        self.steps.len() - 1
    }

    fn member_list(&self) -> Vec<String> {
        self.members.iter().cloned().collect()
    }

    /// Step 0: `creator` makes the group with `others`.
    fn create_group(&mut self, creator: &str, others: &[&str]) {
        assert!(self.steps.is_empty(), "createGroup is step 0");
        let others: Vec<String> = others.iter().map(|s| s.to_string()).collect();
        self.push(
            creator,
            "createGroup",
            Action::CreateGroup {
                members: others.clone(),
            },
        );
        self.members.insert(creator.to_string());
        self.members.extend(others.iter().cloned());
        self.expected.agreements += others.len();
    }

    /// A `fullCommit` by `committer` processed by every other remaining member; `removed`
    /// leaves the group, `joiner` joins from the Welcome.
    fn full_commit(
        &mut self,
        committer: &str,
        by_reference: Vec<usize>,
        by_value: Vec<ProposalDescription>,
        removed: Option<&str>,
        joiner: Option<&str>,
        force_path: bool,
    ) -> usize {
        assert!(self.members.contains(committer), "{committer} commits");
        // Removed members are fed every later commit (not the one that removes them).
        self.expected.removed_attempts += self.removed.len();
        if let Some(r) = removed {
            assert!(r != committer && self.members.remove(r), "{r} removable");
            self.removed.insert(r.to_string());
        }
        let members: Vec<String> = self
            .members
            .iter()
            .filter(|m| *m != committer)
            .cloned()
            .collect();
        let joiners: Vec<String> = joiner.map(str::to_string).into_iter().collect();
        self.expected.agreements += members.len() + joiners.len();
        self.expected.commits += 1;
        let i = self.push(
            committer,
            "fullCommit",
            Action::FullCommit {
                commit: CommitSpec {
                    by_reference,
                    by_value,
                    force_path,
                    external_tree: false,
                },
                members,
                joiners: joiners.clone(),
            },
        );
        self.members.extend(joiners);
        i
    }

    fn add(&mut self, joiner: &str, committer: &str) {
        assert!(!self.members.contains(joiner) && !self.removed.contains(joiner));
        let kp = self.push(joiner, "createKeyPackage", Action::CreateKeyPackage);
        self.full_commit(
            committer,
            vec![],
            vec![ProposalDescription::Add { key_package: kp }],
            None,
            Some(joiner),
            false,
        );
    }

    fn remove(&mut self, removed: &str, committer: &str) {
        self.full_commit(
            committer,
            vec![],
            vec![ProposalDescription::Remove {
                removed: removed.to_string(),
            }],
            Some(removed),
            None,
            false,
        );
    }

    fn update(&mut self, proposer: &str, committer: &str) {
        assert!(self.members.contains(proposer));
        let p = self.push(proposer, "updateProposal", Action::UpdateProposal);
        self.full_commit(committer, vec![p], vec![], None, None, false);
    }

    fn commit(&mut self, committer: &str, force_path: bool) {
        self.full_commit(committer, vec![], vec![], None, None, force_path);
    }

    fn protect(&mut self, sender: &str) {
        assert!(self.members.contains(sender));
        let n = self.steps.len();
        let ct = self.push(
            sender,
            "protect",
            Action::Protect {
                authenticated_data: format!("aad {n}"),
                plaintext: format!("message {n} from {sender}"),
            },
        );
        self.expected.removed_attempts += self.removed.len();
        for r in self.member_list().iter().filter(|m| *m != sender) {
            self.push(r, "unprotect", Action::Unprotect { ciphertext: ct });
            self.expected.round_trips += 1;
        }
    }

    /// Applies one abstract op, or logs why it does not apply.
    fn apply(&mut self, op: Op) {
        let members = self.member_list();
        let pick = |v: &[String], k: u8| v[usize::from(k) % v.len()].clone();
        let first = self.steps.len();
        match op {
            Op::Add { joiner, committer } => {
                let candidates: Vec<String> = POOL
                    .iter()
                    .map(|s| s.to_string())
                    .filter(|a| !self.members.contains(a) && !self.removed.contains(a))
                    .collect();
                if candidates.is_empty() {
                    self.log
                        .push(format!("{op:?}: skipped, nobody left to add"));
                    return;
                }
                let j = pick(&candidates, joiner);
                let c = pick(&members, committer);
                self.add(&j, &c);
                self.log
                    .push(format!("{op:?}: {c} adds {j} (steps {first}..)"));
            }
            Op::Remove { removed, committer } => {
                if members.len() < 3 {
                    self.log
                        .push(format!("{op:?}: skipped, only {} members", members.len()));
                    return;
                }
                let c = pick(&members, committer);
                let others: Vec<String> = members.iter().filter(|m| **m != c).cloned().collect();
                let r = pick(&others, removed);
                self.remove(&r, &c);
                self.log
                    .push(format!("{op:?}: {c} removes {r} (step {first})"));
            }
            Op::Update {
                proposer,
                committer,
            } => {
                let p = pick(&members, proposer);
                let c = pick(&members, committer);
                self.update(&p, &c);
                self.log.push(format!(
                    "{op:?}: {p} proposes an update, {c} commits it (steps {first}..)"
                ));
            }
            Op::Commit {
                committer,
                force_path,
            } => {
                let c = pick(&members, committer);
                self.commit(&c, force_path);
                self.log.push(format!(
                    "{op:?}: {c} commits nothing, force_path {force_path} (step {first})"
                ));
            }
            Op::Protect { sender } => {
                let s = pick(&members, sender);
                self.protect(&s);
                self.log.push(format!(
                    "{op:?}: {s} protects, the others unprotect (steps {first}..)"
                ));
            }
        }
    }

    /// The script, and what the runner should count (the final round included).
    fn finish(mut self, name: &str) -> (Script, Expected, Vec<String>) {
        let n = self.members.len();
        self.expected.round_trips += n * (n - 1);
        self.expected.removed_attempts += n * self.removed.len();
        let mut actors: BTreeSet<String> = BTreeSet::new();
        for s in &self.steps {
            actors.extend(s.actor.clone());
            if let Action::CreateGroup { members } = &s.action {
                actors.extend(members.iter().cloned());
            }
        }
        let script = Script {
            name: name.to_string(),
            steps: self.steps,
            actors: actors.into_iter().collect(),
            warnings: Vec::new(),
        };
        (script, self.expected, self.log)
    }
}

/// One generated case: the abstract ops, which client plays each pool actor (bit i of
/// `clients` for `a{i}`: 0 openmls, 1 mls-rs), the handshake mode and the canary seed.
#[derive(Clone)]
struct Case {
    ops: Vec<Op>,
    clients: u8,
    encrypt_handshake: bool,
    seed: u64,
}

impl Case {
    fn build(&self) -> (Script, Expected, Vec<String>) {
        let mut b = Builder::default();
        b.create_group("a0", &["a1"]);
        for op in &self.ops {
            b.apply(*op);
        }
        b.finish("proptest")
    }

    fn config(&self, script: &Script) -> RunConfig {
        RunConfig {
            suite: 1,
            encrypt_handshake: self.encrypt_handshake,
            assignment: script
                .actors
                .iter()
                .map(|a| {
                    let i = POOL.iter().position(|p| p == a).expect("a pool actor");
                    usize::from((self.clients >> i) & 1)
                })
                .collect(),
            control: None,
            seed: self.seed,
        }
    }
}

/// One line per step: `  3 fullCommit by a1: byValue [add kp@2] members [a0] joiners [a2]`.
fn render(script: &Script, config: &RunConfig) -> String {
    let client = |i: usize| clients()[i].name();
    let mut s = format!(
        "suite {}, encrypt_handshake {}, seed {}, {}\n",
        config.suite,
        config.encrypt_handshake,
        config.seed,
        script
            .actors
            .iter()
            .zip(&config.assignment)
            .map(|(a, c)| format!("{a}={}", client(*c)))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for (i, step) in script.steps.iter().enumerate() {
        let actor = step.actor.as_deref().unwrap_or("-");
        let detail = match &step.action {
            Action::CreateGroup { members } => format!("members {members:?}"),
            Action::FullCommit {
                commit:
                    CommitSpec {
                        by_reference,
                        by_value,
                        force_path,
                        ..
                    },
                members,
                joiners,
            } => {
                let values: Vec<String> = by_value
                    .iter()
                    .map(|d| match d {
                        ProposalDescription::Add { key_package } => {
                            format!("add kp@{key_package}")
                        }
                        ProposalDescription::Remove { removed } => format!("remove {removed}"),
                        other => format!("{other:?}"),
                    })
                    .collect();
                format!(
                    "byReference {by_reference:?} byValue {values:?} members {members:?} \
                     joiners {joiners:?} force_path {force_path}"
                )
            }
            Action::Unprotect { ciphertext } => format!("ciphertext@{ciphertext}"),
            _ => String::new(),
        };
        s.push_str(&format!("  {i:>2} {} by {actor}: {detail}\n", step.name));
    }
    s
}

/// The script as an IETF config step list (`{"action": "fullCommit", ...}`), as the interop
/// configs spell it, so a failing case can be saved and rerun with `e2ee interop --config`.
fn to_json(script: &Script) -> Value {
    let steps: Vec<Value> = script
        .steps
        .iter()
        .map(|s| {
            let mut v = json!({ "action": s.name, "actor": s.actor });
            let extra = match &s.action {
                Action::CreateGroup { members } => json!({ "members": members }),
                Action::FullCommit {
                    commit:
                        CommitSpec {
                            by_reference,
                            by_value,
                            force_path,
                            external_tree,
                        },
                    members,
                    joiners,
                } => {
                    let values: Vec<Value> = by_value
                        .iter()
                        .map(|d| match d {
                            ProposalDescription::Add { key_package } => {
                                json!({ "proposalType": "add", "keyPackage": key_package })
                            }
                            ProposalDescription::Remove { removed } => {
                                json!({ "proposalType": "remove", "removed": removed })
                            }
                            other => panic!("not generated: {other:?}"),
                        })
                        .collect();
                    json!({
                        "byReference": by_reference,
                        "byValue": values,
                        "members": members,
                        "joiners": joiners,
                        "force_path": force_path,
                        "external_tree": external_tree,
                    })
                }
                Action::Protect {
                    authenticated_data,
                    plaintext,
                } => json!({ "authenticatedData": authenticated_data, "plaintext": plaintext }),
                Action::Unprotect { ciphertext } => json!({ "ciphertext": ciphertext }),
                Action::CreateKeyPackage | Action::UpdateProposal => json!({}),
                other => panic!("not generated: {other:?}"),
            };
            if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
                v.extend(extra);
            }
            v
        })
        .collect();
    json!({ "scripts": { script.name.clone(): steps } })
}

/// The library's own parser must read the JSON back as this very script: the references
/// point at earlier steps that store what they need, every named actor is a script actor, and
/// `actors` is the runner's `Script.Actors()`.
fn parses_back(script: &Script) -> Result<(), String> {
    let json = to_json(script);
    let (config, errors) = script::parse(Path::new("proptest.json"), &json);
    match config {
        Some(c) if errors.is_empty() && c.scripts.len() == 1 && c.scripts[0] == *script => Ok(()),
        other => Err(format!(
            "the generated script does not parse back: {errors:?}\n{other:#?}\n{json:#}"
        )),
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (script, _, log) = self.build();
        writeln!(f, "Case {{ ops:")?;
        for l in &log {
            writeln!(f, "    {l}")?;
        }
        write!(f, "  script: {}}}", render(&script, &self.config(&script)))
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<u8>(), any::<u8>())
            .prop_map(|(joiner, committer)| Op::Add { joiner, committer }),
        2 => any::<u8>().prop_map(|sender| Op::Protect { sender }),
        2 => (any::<u8>(), any::<bool>())
            .prop_map(|(committer, force_path)| Op::Commit { committer, force_path }),
        2 => (any::<u8>(), any::<u8>())
            .prop_map(|(proposer, committer)| Op::Update { proposer, committer }),
        2 => (any::<u8>(), any::<u8>())
            .prop_map(|(removed, committer)| Op::Remove { removed, committer }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(op(), 1..=10),
        any::<u8>(),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(ops, clients, encrypt_handshake, seed)| Case {
            ops,
            clients,
            encrypt_handshake,
            seed,
        })
}

fn run(script: &Script, config: &RunConfig) -> RunOutcome {
    let refs: Vec<&dyn MemberClient> = clients().iter().map(|c| c.as_ref()).collect();
    runner::run(script, &refs, config)
}

/// Every property of one run; `Err` describes the first that fails.
fn check(
    script: &Script,
    config: &RunConfig,
    expected: &Expected,
    out: &RunOutcome,
) -> Result<(), String> {
    let head = || format!("{}JSON: {}", render(script, config), to_json(script));
    if let Some(stop) = &out.stop {
        return Err(format!("the run stopped: {stop:?}\n{}", head()));
    }
    if !out.delivery.findings.is_empty() {
        return Err(format!(
            "the delivery service recovered: {:#?}\n{}",
            out.delivery.findings,
            head()
        ));
    }
    if !out.removed_leaks.is_empty() {
        return Err(format!(
            "removed members read: {:#?}\n{}",
            out.removed_leaks,
            head()
        ));
    }
    if expected.commits > 0 && out.agreements == 0 {
        return Err(format!("commits but no agreements\n{}", head()));
    }
    let got = (out.agreements, out.round_trips, out.removed_attempts);
    let want = (
        expected.agreements,
        expected.round_trips,
        expected.removed_attempts,
    );
    if got != want {
        return Err(format!(
            "(agreements, round_trips, removed_attempts) = {got:?}, expected {want:?}\n{}",
            head()
        ));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        // 48 by default (milliseconds each in release); PROPTEST_CASES=N for a longer search.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(48),
        // No regression files: this test's only file is this one. A failure prints the
        // shrunk case in full (the op list and the script it became).
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_scripts_pass_between_openmls_and_mls_rs(case in case()) {
        let (script, expected, _) = case.build();
        parses_back(&script).map_err(TestCaseError::fail)?;
        let config = case.config(&script);
        let out = run(&script, &config);
        if let Err(e) = check(&script, &config, &expected, &out) {
            return Err(TestCaseError::fail(e));
        }
    }
}

/// A fixed script with every op kind, computed by hand:
///
/// | step | op | agreements | round trips | removed attempts |
/// |---|---|---|---|---|
/// | 0 | createGroup a0 [a1] | 1 (a1) | | |
/// | 1-2 | a2's key package; a1 adds a2 | 2 (a0, a2) | | |
/// | 3-4 | a3's key package; a2 adds a3 | 3 (a0, a1, a3) | | |
/// | 5-6 | a3 proposes an update, a0 commits it | 3 | | |
/// | 7-8 | a1 proposes an update and commits it | 3 | | |
/// | 9 | a3 commits nothing | 3 | | |
/// | 10 | a2 commits nothing, force_path | 3 | | |
/// | 11-14 | a1 protects; a0, a2, a3 unprotect | | 3 | |
/// | 15 | a0 removes a2 | 2 (a1, a3) | | (its own removal: not counted) |
/// | 16-18 | a3 protects; a0, a1 unprotect | | 2 | 1 (a2) |
/// | 19-20 | a4's key package; a3 adds a4 | 3 (a0, a1, a4) | | 1 (a2) |
/// | final | a0, a1, a3, a4 each send to the three others | | 12 | 4 (a2) |
/// | total | | 23 | 17 | 6 |
#[test]
fn fixed_mixed_script_counts() {
    let mut b = Builder::default();
    b.create_group("a0", &["a1"]);
    b.add("a2", "a1");
    b.add("a3", "a2");
    b.update("a3", "a0");
    b.update("a1", "a1");
    b.commit("a3", false);
    b.commit("a2", true);
    b.protect("a1");
    b.remove("a2", "a0");
    b.protect("a3");
    b.add("a4", "a3");
    let (script, expected, _) = b.finish("fixed");
    assert_eq!(script.steps.len(), 21);
    parses_back(&script).unwrap();
    assert_eq!(script.actors, POOL.map(str::to_string).to_vec());
    assert_eq!(
        expected,
        Expected {
            agreements: 23,
            round_trips: 17,
            removed_attempts: 6,
            commits: 8,
        },
        "the builder's bookkeeping matches the hand count"
    );
    // Alternating clients, and the complement: both clients commit, propose, send and receive.
    let mut failures = Vec::new();
    for clients in [0b01010u8, 0b10101] {
        for encrypt_handshake in [false, true] {
            let config = RunConfig {
                suite: 1,
                encrypt_handshake,
                assignment: (0..POOL.len())
                    .map(|i| usize::from((clients >> i) & 1))
                    .collect(),
                control: None,
                seed: 7,
            };
            let out = run(&script, &config);
            assert!(out.removed_attempts > 0, "a removal followed by a protect");
            let out = run(&script, &config);
            if let Err(e) = check(&script, &config, &expected, &out) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
