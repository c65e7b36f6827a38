//! The interop runner against the shipped IETF scenario configs, and every check it makes shown
//! to fail on a seeded bug: a client that lies about its epoch authenticator, returns an empty
//! one, garbles a plaintext or its authenticated data, or leaks the plaintext into the
//! ciphertext; the escrow and keep-removed controls.

use e2ee_harness::clients::{
    self, Client, ClientError, CommitOutput, Member, MemberClient, Plaintext, ProposalSpec,
    RawExtension,
};
use e2ee_harness::interop::runner::{self, Control, RunConfig, Stop};
use e2ee_harness::interop::script::{Config, Script};
use e2ee_harness::interop::{self, Plan};
use e2ee_harness::vectors::dir_for_tests;
use std::path::PathBuf;
use std::process::Command;

fn configs() -> Vec<Config> {
    let (configs, errors) = interop::load(&dir_for_tests().join("mls-interop"));
    assert!(errors.is_empty(), "{errors:?}");
    configs
}

fn script(file: &str, name: &str) -> Script {
    let configs = configs();
    let config = configs
        .iter()
        .find(|c| c.file.ends_with(file))
        .unwrap_or_else(|| panic!("{file} shipped"));
    config
        .scripts
        .iter()
        .find(|s| s.name == name)
        .cloned()
        .unwrap_or_else(|| panic!("{file} has {name}"))
}

/// A seeded bug in one client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    WrongAuthenticator,
    EmptyAuthenticator,
    WrongPlaintext,
    WrongAuthenticatedData,
    /// The plaintext rides along after the ciphertext, in clear.
    PlaintextInClear,
}

/// `inner` with `fault` in every member it makes: a client that only plays members, as a
/// client driven from outside does.
struct Faulty {
    inner: Box<dyn MemberClient>,
    fault: Fault,
}

impl Client for Faulty {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn version(&self) -> &'static str {
        self.inner.version()
    }
    fn cipher_suites(&self) -> Vec<u16> {
        self.inner.cipher_suites()
    }
}

impl MemberClient for Faulty {
    fn member(&self, identity: &[u8]) -> Result<Box<dyn Member>, ClientError> {
        Ok(Box::new(FaultyMember {
            inner: self.inner.member(identity)?,
            fault: self.fault,
        }))
    }
}

struct FaultyMember {
    inner: Box<dyn Member>,
    fault: Fault,
}

fn flip(mut v: Vec<u8>) -> Vec<u8> {
    match v.last_mut() {
        Some(b) => *b ^= 1,
        None => v.push(1),
    }
    v
}

impl Member for FaultyMember {
    fn client(&self) -> &'static str {
        self.inner.client()
    }
    fn identity(&self) -> &[u8] {
        self.inner.identity()
    }
    fn create_group(&mut self, id: &[u8], suite: u16, enc: bool) -> Result<(), ClientError> {
        self.inner.create_group(id, suite, enc)
    }
    fn create_key_package(&mut self, suite: u16) -> Result<Vec<u8>, ClientError> {
        self.inner.create_key_package(suite)
    }
    fn join(&mut self, w: &[u8], t: Option<&[u8]>, enc: bool) -> Result<(), ClientError> {
        self.inner.join(w, t, enc)
    }
    fn external_join(
        &mut self,
        gi: &[u8],
        t: Option<&[u8]>,
        enc: bool,
        remove_prior: bool,
        psks: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<Vec<u8>, ClientError> {
        self.inner.external_join(gi, t, enc, remove_prior, psks)
    }
    fn store_psk(&mut self, id: &[u8], secret: &[u8]) -> Result<(), ClientError> {
        self.inner.store_psk(id, secret)
    }
    fn group_info(&self, external_tree: bool) -> Result<(Vec<u8>, Option<Vec<u8>>), ClientError> {
        self.inner.group_info(external_tree)
    }
    fn epoch_authenticator(&self) -> Result<Vec<u8>, ClientError> {
        let ea = self.inner.epoch_authenticator()?;
        Ok(match self.fault {
            Fault::WrongAuthenticator => flip(ea),
            Fault::EmptyAuthenticator => Vec::new(),
            _ => ea,
        })
    }
    fn export_secret(&self, l: &[u8], c: &[u8], n: usize) -> Result<Vec<u8>, ClientError> {
        self.inner.export_secret(l, c, n)
    }
    fn epoch(&self) -> Option<u64> {
        self.inner.epoch()
    }
    fn own_leaf(&self) -> Option<u32> {
        self.inner.own_leaf()
    }
    fn active(&self) -> bool {
        self.inner.active()
    }
    fn cipher_suite(&self) -> Option<u16> {
        self.inner.cipher_suite()
    }
    fn roster(&self) -> Result<Vec<Vec<u8>>, ClientError> {
        self.inner.roster()
    }
    fn propose(&mut self, p: &ProposalSpec) -> Result<Vec<u8>, ClientError> {
        self.inner.propose(p)
    }
    fn propose_update(&mut self) -> Result<Vec<u8>, ClientError> {
        self.inner.propose_update()
    }
    fn commit(
        &mut self,
        by_reference: &[Vec<u8>],
        by_value: &[ProposalSpec],
        force_path: bool,
        external_tree: bool,
    ) -> Result<CommitOutput, ClientError> {
        self.inner
            .commit(by_reference, by_value, force_path, external_tree)
    }
    fn merge_pending_commit(&mut self) -> Result<(), ClientError> {
        self.inner.merge_pending_commit()
    }
    fn handle_commit(&mut self, proposals: &[Vec<u8>], commit: &[u8]) -> Result<(), ClientError> {
        self.inner.handle_commit(proposals, commit)
    }
    fn protect(&mut self, aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, ClientError> {
        let mut ct = self.inner.protect(aad, pt)?;
        if self.fault == Fault::PlaintextInClear {
            ct.extend_from_slice(pt);
        }
        Ok(ct)
    }
    fn unprotect(&mut self, ct: &[u8]) -> Result<Plaintext, ClientError> {
        let mut p = self.inner.unprotect(ct)?;
        match self.fault {
            Fault::WrongPlaintext => p.plaintext = flip(p.plaintext),
            Fault::WrongAuthenticatedData => p.authenticated_data = flip(p.authenticated_data),
            _ => {}
        }
        Ok(p)
    }
    fn reinit_commit(&mut self, p: &[u8]) -> Result<Vec<u8>, ClientError> {
        self.inner.reinit_commit(p)
    }
    fn merge_pending_reinit_commit(&mut self) -> Result<(Vec<u8>, Vec<u8>), ClientError> {
        self.inner.merge_pending_reinit_commit()
    }
    fn handle_reinit_commit(
        &mut self,
        p: &[u8],
        c: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), ClientError> {
        self.inner.handle_reinit_commit(p, c)
    }
    fn reinit_welcome(
        &mut self,
        kps: &[Vec<u8>],
        force_path: bool,
        external_tree: bool,
    ) -> Result<CommitOutput, ClientError> {
        self.inner.reinit_welcome(kps, force_path, external_tree)
    }
    fn handle_reinit_welcome(&mut self, w: &[u8], t: Option<&[u8]>) -> Result<(), ClientError> {
        self.inner.handle_reinit_welcome(w, t)
    }
    fn create_branch(
        &mut self,
        id: &[u8],
        exts: &[RawExtension],
        kps: &[Vec<u8>],
        force_path: bool,
        external_tree: bool,
    ) -> Result<CommitOutput, ClientError> {
        self.inner
            .create_branch(id, exts, kps, force_path, external_tree)
    }
    fn handle_branch(&mut self, w: &[u8], t: Option<&[u8]>) -> Result<(), ClientError> {
        self.inner.handle_branch(w, t)
    }
    fn new_member_add_proposal(&mut self, gi: &[u8]) -> Result<Vec<u8>, ClientError> {
        self.inner.new_member_add_proposal(gi)
    }
    fn create_external_signer(&mut self, suite: u16) -> Result<Vec<u8>, ClientError> {
        self.inner.create_external_signer(suite)
    }
    fn add_external_signer(&mut self, es: &[u8]) -> Result<Vec<u8>, ClientError> {
        self.inner.add_external_signer(es)
    }
    fn external_signer_proposal(
        &mut self,
        gi: &[u8],
        t: &[u8],
        p: &ProposalSpec,
    ) -> Result<Vec<u8>, ClientError> {
        self.inner.external_signer_proposal(gi, t, p)
    }
}

/// Runs `script` with `actor` on the faulty client and everyone else on the other client.
fn run_with_fault(s: &Script, fault: Fault, actor: &str) -> runner::RunOutcome {
    let mut all = clients::member_clients();
    let other = all.pop().expect("two clients");
    let faulty = Faulty {
        inner: all.pop().expect("two clients"),
        fault,
    };
    let clients: Vec<&dyn MemberClient> = vec![&faulty, other.as_ref()];
    let assignment = s.actors.iter().map(|a| usize::from(a != actor)).collect();
    let config = RunConfig {
        suite: 1,
        encrypt_handshake: true,
        assignment,
        control: None,
        seed: 7,
    };
    runner::run(s, &clients, &config)
}

fn failure(outcome: &runner::RunOutcome) -> runner::StepFailure {
    match &outcome.stop {
        Some(Stop::Fail(f)) => f.clone(),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn an_honest_pair_passes_the_application_scripts() {
    let s = script("application.json", "out_of_order_across_epochs");
    let all = clients::member_clients();
    let clients: Vec<&dyn MemberClient> = all.iter().map(|c| c.as_ref()).collect();
    for assignment in [vec![0, 1], vec![1, 0]] {
        for encrypt_handshake in [true, false] {
            let config = RunConfig {
                suite: 1,
                encrypt_handshake,
                assignment: assignment.clone(),
                control: None,
                seed: 1,
            };
            let out = runner::run(&s, &clients, &config);
            assert_eq!(out.stop, None);
            assert!(
                out.delivery.findings.is_empty(),
                "{:?}",
                out.delivery.findings
            );
            // createGroup's join, one fullCommit member; four unprotects, two final-round reads.
            assert_eq!((out.agreements, out.round_trips), (2, 6));
        }
    }
}

#[test]
fn a_client_that_disagrees_on_the_epoch_authenticator_fails_the_step() {
    let s = script("application.json", "in_order");
    let f = failure(&run_with_fault(&s, Fault::WrongAuthenticator, "alice"));
    assert_eq!((f.step, f.actor.as_str()), (Some(0), "bob"));
    assert!(f.error.contains("differs from the group's"), "{f}");
}

#[test]
fn an_empty_epoch_authenticator_fails_even_where_go_would_pass_it() {
    let s = script("application.json", "in_order");
    let f = failure(&run_with_fault(&s, Fault::EmptyAuthenticator, "alice"));
    assert_eq!((f.step, f.actor.as_str()), (Some(0), "alice"));
    assert_eq!(f.error, "empty epoch authenticator");
}

#[test]
fn a_garbled_plaintext_or_aad_fails_the_unprotect() {
    // Bob (the faulty client) reads what alice protected at step 1 first, at step 4.
    let s = script("application.json", "in_order");
    let f = failure(&run_with_fault(&s, Fault::WrongPlaintext, "bob"));
    assert_eq!((f.step, f.error.as_str()), (Some(4), "incorrect plaintext"));
    let f = failure(&run_with_fault(&s, Fault::WrongAuthenticatedData, "bob"));
    assert_eq!(
        (f.step, f.error.as_str()),
        (Some(4), "incorrect authenticated data")
    );
}

#[test]
fn a_plaintext_in_clear_is_found_by_the_delivery_service() {
    let s = script("application.json", "in_order");
    let out = run_with_fault(&s, Fault::PlaintextInClear, "alice");
    assert!(
        out.delivery.findings.iter().any(
            |f| f.starts_with("canary canary-") && f.contains("application message alice sent")
        ),
        "{:?}",
        out.delivery.findings
    );
}

fn control_records(file: &str, name: &str, control: Control) -> Vec<interop::RunRecord> {
    let s = script(file, name);
    let config = Config {
        file: PathBuf::from(file),
        scripts: vec![s],
    };
    let all = clients::member_clients();
    let clients: Vec<&dyn MemberClient> = all.iter().map(|c| c.as_ref()).collect();
    let plan = Plan {
        suite: Some(1),
        sample: None,
        control: Some(control),
        modes: vec![true, false],
    };
    let configs = vec![config];
    let jobs = interop::jobs(&configs, &clients, &plan);
    interop::execute(&configs, &clients, &jobs, &|_, _| {})
}

#[test]
fn escrow_is_caught_in_every_run() {
    let records = control_records("application.json", "in_order", Control::Escrow);
    assert_eq!(records.len(), 8);
    for r in &records {
        assert!(
            r.delivery_findings
                .iter()
                .any(|f| f.contains("media key of epoch") && f.contains("escrowed key")),
            "{:?}",
            r.delivery_findings
        );
        let checks = r.checks();
        assert_eq!(checks[1].verdict, e2ee_harness::results::Verdict::Fail);
    }
    // Without the control the same runs are clean.
    let s = script("application.json", "in_order");
    let all = clients::member_clients();
    let clients: Vec<&dyn MemberClient> = all.iter().map(|c| c.as_ref()).collect();
    let out = runner::run(
        &s,
        &clients,
        &RunConfig {
            suite: 1,
            encrypt_handshake: true,
            assignment: vec![0, 1],
            control: None,
            seed: 3,
        },
    );
    assert!(out.delivery.findings.is_empty());
    assert!(out.delivery.secrets() > 0 && out.delivery.canaries() > 0);
}

#[test]
fn keep_removed_is_caught_by_the_removed_members() {
    let records = control_records("commit.json", "remove", Control::KeepRemoved);
    assert_eq!(records.len(), 64);
    for r in &records {
        assert!(
            r.removed_leaks
                .iter()
                .any(|l| l.contains("(removed at step 10) decrypted a final-round message")),
            "{} {}: {:?} {:?}",
            r.assignment(),
            r.mode(),
            r.stop,
            r.removed_leaks
        );
    }
    // Honest committers: every removed member fails on everything after its removal.
    let s = script("commit.json", "remove");
    let all = clients::member_clients();
    let clients: Vec<&dyn MemberClient> = all.iter().map(|c| c.as_ref()).collect();
    let out = runner::run(
        &s,
        &clients,
        &RunConfig {
            suite: 1,
            encrypt_handshake: false,
            assignment: vec![0, 1, 0, 1, 0],
            control: None,
            seed: 3,
        },
    );
    assert_eq!(out.stop, None);
    assert!(out.removed_leaks.is_empty(), "{:?}", out.removed_leaks);
    assert!(out.removed_attempts > 0);
}

/// The shipped configs, a seeded sample of assignments: the summary is pinned, so a change in
/// what either client can do shows up in review.
#[test]
fn shipped_configs_sampled_summary() {
    let configs = configs();
    let all = clients::member_clients();
    let clients: Vec<&dyn MemberClient> = all.iter().map(|c| c.as_ref()).collect();
    let plan = Plan {
        suite: None,
        sample: Some((2026, 2)),
        control: None,
        modes: vec![true, false],
    };
    let jobs = interop::jobs(&configs, &clients, &plan);
    let records = interop::execute(&configs, &clients, &jobs, &|_, _| {});
    let text = interop::render(&records, &[]);
    let table: String = text
        .lines()
        .take_while(|l| !l.starts_with("failures"))
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("interop_sampled_summary", table);
    // A failing run is only ever a commit openmls made that its receivers reject (the PSK
    // ordering defect pinned by `openmls_mixed_psk_commit_is_rejected_by_every_receiver`).
    for r in &records {
        if let Some(Stop::Fail(f)) = &r.stop {
            assert!(
                f.error.contains(
                    "(openmls) made: process commit: InvalidCommit(ConfirmationTagMismatch)"
                ) || f.error.contains("(openmls) made: processing the commit: "),
                "{}: {f}",
                r.subject()
            );
        }
        assert!(r.delivery_findings.is_empty() && r.removed_leaks.is_empty());
    }
}

fn e2ee(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_e2ee"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("the e2ee binary runs")
}

#[test]
fn a_malformed_script_is_named_and_the_others_still_run() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("interop-bad");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("mixed.json");
    std::fs::write(
        &file,
        r#"{"scripts": {
            "good": [{"action": "createGroup", "actor": "alice", "members": ["bob"]},
                     {"action": "protect", "actor": "alice", "authenticatedData": "a", "plaintext": "p"},
                     {"action": "unprotect", "actor": "bob", "ciphertext": 1}],
            "bad": [{"action": "createGroup", "actor": "alice"},
                    {"action": "unprotect", "actor": "alice", "ciphertext": 5}],
            "unknown": [{"action": "dance", "actor": "alice"}]
        }}"#,
    )
    .unwrap();
    let json = dir.join("out.json");
    let out = e2ee(&[
        "interop",
        "--config",
        file.to_str().unwrap(),
        "--suite",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("mixed/good"), "{stdout}");
    assert!(
        stderr.contains("mixed.json, script `bad`, step 1")
            && stderr.contains("mixed.json, script `unknown`, step 0"),
        "{stderr}"
    );
    let run = e2ee_harness::results::Run::read_json(&json).unwrap();
    let good: Vec<_> = run
        .checks
        .iter()
        .filter(|c| c.subject == "mixed/good")
        .collect();
    assert_eq!(good.len(), 8 * 3);
    assert!(run
        .checks
        .iter()
        .any(|c| c.verdict == e2ee_harness::results::Verdict::Skipped
            && c.reason.contains("script `bad`")));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["interop", "--clients", "nope", "--config", "."],
        vec!["interop", "--control", "nope"],
        vec!["interop", "--suite", "9", "--config", "."],
        vec!["interop", "--config", "/nonexistent/x.json"],
    ] {
        let out = e2ee(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn every_shipped_script_parses_into_runs() {
    let configs = configs();
    let scripts: usize = configs.iter().map(|c| c.scripts.len()).sum();
    assert_eq!(scripts, 39);
    let all = clients::member_clients();
    let clients: Vec<&dyn MemberClient> = all.iter().map(|c| c.as_ref()).collect();
    // Suites 1-3 with both clients (964 assignments × 2 modes each), suite 7 with mls-rs alone.
    assert_eq!(
        interop::jobs(&configs, &clients, &Plan::default()).len(),
        3 * 1928 + 78
    );
}

/// openmls 0.9.2 derives `psk_secret` over a commit's by-value PSKs before its by-reference
/// ones (commit_builder.rs:490-505) but lists them the other way (719-728): every receiver,
/// of either client, rejects such a commit; the same commit shape from mls-rs is accepted.
#[test]
fn openmls_mixed_psk_commit_is_rejected_by_every_receiver() {
    let all = clients::member_clients();
    let by_name = |n: &str| all.iter().find(|c| c.name() == n).unwrap();
    for committer_client in ["openmls", "mls-rs"] {
        let mut committer = by_name(committer_client).member(b"alice").unwrap();
        let mut om = by_name("openmls").member(b"bob").unwrap();
        let mut mr = by_name("mls-rs").member(b"carol").unwrap();
        committer.create_group(b"mixed-psk", 1, false).unwrap();
        let adds = [
            ProposalSpec::Add {
                key_package: om.create_key_package(1).unwrap(),
            },
            ProposalSpec::Add {
                key_package: mr.create_key_package(1).unwrap(),
            },
        ];
        let out = committer.commit(&[], &adds, false, false).unwrap();
        committer.merge_pending_commit().unwrap();
        let welcome = out.welcome.unwrap();
        om.join(&welcome, None, false).unwrap();
        mr.join(&welcome, None, false).unwrap();
        for m in [&mut committer, &mut om, &mut mr] {
            m.store_psk(b"psk-id", b"psk secret").unwrap();
        }
        let external = ProposalSpec::ExternalPsk {
            psk_id: b"psk-id".to_vec(),
        };
        let by_ref = mr.propose(&external).unwrap();
        let epoch = committer.epoch().unwrap();
        let out = committer
            .commit(
                std::slice::from_ref(&by_ref),
                &[ProposalSpec::ResumptionPsk { epoch }],
                false,
                false,
            )
            .unwrap();
        committer.merge_pending_commit().unwrap();
        let at_om = om.handle_commit(std::slice::from_ref(&by_ref), &out.commit);
        let at_mr = mr.handle_commit(&[], &out.commit);
        if committer_client == "openmls" {
            assert!(at_om.is_err() && at_mr.is_err(), "{at_om:?} {at_mr:?}");
        } else {
            assert!(at_om.is_ok() && at_mr.is_ok(), "{at_om:?} {at_mr:?}");
            let ea = committer.epoch_authenticator().unwrap();
            assert_eq!(om.epoch_authenticator().unwrap(), ea);
            assert_eq!(mr.epoch_authenticator().unwrap(), ea);
        }
    }
}

/// The actions no shipped script uses (commit, handlePendingCommit, joinGroup, handleCommit,
/// groupInfo) run too, between the two clients, and the final round covers their group.
#[test]
fn the_unshipped_actions_run_across_clients() {
    let config = serde_json::json!({"scripts": {"manual": [
        {"action": "createGroup", "actor": "alice"},
        {"action": "createKeyPackage", "actor": "bob"},
        {"action": "commit", "actor": "alice",
         "byValue": [{"proposalType": "add", "keyPackage": 1}]},
        {"action": "handlePendingCommit", "actor": "alice"},
        {"action": "joinGroup", "actor": "bob", "welcome": 2},
        {"action": "groupInfo", "actor": "alice", "externalTree": true},
        {"action": "updateProposal", "actor": "bob"},
        {"action": "commit", "actor": "alice", "byReference": [6], "force_path": true},
        {"action": "handleCommit", "actor": "bob", "commit": 7, "byReference": [6]},
        {"action": "handlePendingCommit", "actor": "alice"},
        {"action": "protect", "actor": "bob", "authenticatedData": "ad", "plaintext": "pt"},
        {"action": "unprotect", "actor": "alice", "ciphertext": 10}
    ]}});
    let (parsed, errors) =
        e2ee_harness::interop::script::parse(std::path::Path::new("manual.json"), &config);
    assert!(errors.is_empty(), "{errors:?}");
    let s = parsed.unwrap().scripts.remove(0);
    let all = clients::member_clients();
    let clients: Vec<&dyn MemberClient> = all.iter().map(|c| c.as_ref()).collect();
    for assignment in [vec![0, 1], vec![1, 0]] {
        for encrypt_handshake in [true, false] {
            let out = runner::run(
                &s,
                &clients,
                &RunConfig {
                    suite: 1,
                    encrypt_handshake,
                    assignment: assignment.clone(),
                    control: None,
                    seed: 5,
                },
            );
            assert_eq!(out.stop, None, "{assignment:?} {encrypt_handshake}");
            // One unprotect in the script, two final-round reads.
            assert_eq!(out.round_trips, 3);
        }
    }
}

/// A run's checks when their questions were never asked: not-applicable with the reason, and
/// the same checks fail or pass once they are asked.
#[test]
fn unasked_questions_are_not_applicable() {
    use e2ee_harness::results::Verdict;
    let record = |messages, canaries, secrets| interop::RunRecord {
        file: "x.json".into(),
        script: "s".into(),
        suite: 1,
        encrypt_handshake: true,
        actors: vec![("alice".into(), "openmls"), ("bob".into(), "mls-rs")],
        control: None,
        stop: None,
        steps: 3,
        delivery_findings: vec![],
        messages,
        bytes: messages * 100,
        canaries,
        secrets,
        removed_leaks: vec![],
        removed_attempts: 0,
        removed_evicted: 0,
        agreements: 0,
        round_trips: 0,
        unexported: vec![],
    };
    let verdicts =
        |r: &interop::RunRecord| -> Vec<Verdict> { r.checks().iter().map(|c| c.verdict).collect() };
    // Nothing compared, nothing carried, nobody removed.
    let none = record(0, 0, 0);
    assert_eq!(verdicts(&none), [Verdict::NotApplicable; 3]);
    assert!(none.checks()[1]
        .reason
        .starts_with("the delivery service carried nothing"));
    // Carried, but nothing to search for.
    assert_eq!(verdicts(&record(5, 0, 0))[1], Verdict::NotApplicable);
    // Asked: a key to search for is enough, and a finding fails it.
    let asked = record(5, 0, 2);
    assert_eq!(verdicts(&asked)[1], Verdict::Pass);
    assert!(asked.checks()[1]
        .reason
        .contains("no canary was searched for"));
    let leaked = interop::RunRecord {
        delivery_findings: vec!["canary in message 3".into()],
        ..record(0, 0, 0)
    };
    assert_eq!(verdicts(&leaked)[1], Verdict::Fail);
    // Compared: check 1 passes.
    let compared = interop::RunRecord {
        agreements: 2,
        ..record(5, 1, 2)
    };
    assert_eq!(verdicts(&compared)[0], Verdict::Pass);
    // Removed, but every later message refused as evicted before any key lookup.
    let evicted = interop::RunRecord {
        removed_attempts: 4,
        removed_evicted: 4,
        ..record(5, 1, 2)
    };
    assert_eq!(verdicts(&evicted)[2], Verdict::NotApplicable);
    let tried = interop::RunRecord {
        removed_evicted: 3,
        ..evicted.clone()
    };
    assert_eq!(verdicts(&tried)[2], Verdict::Pass);
    let leak = interop::RunRecord {
        removed_leaks: vec!["bob decrypted".into()],
        ..evicted
    };
    assert_eq!(verdicts(&leak)[2], Verdict::Fail);
    // A client that cannot export: the canary search still runs, the key part is named n/a.
    let unexported = interop::RunRecord {
        unexported: vec!["grpc:x: Export answered no bytes".into()],
        ..record(5, 2, 0)
    };
    let check = &unexported.checks()[1];
    assert_eq!(check.verdict, Verdict::Pass);
    assert!(
        check.reason.contains("2 canaries")
            && check.reason.contains(
                "key search not applicable to members of grpc:x: Export answered no bytes"
            ),
        "{}",
        check.reason
    );
    let nothing_to_search = interop::RunRecord {
        unexported: vec!["grpc:x: Export answered no bytes".into()],
        ..record(5, 0, 0)
    };
    assert_eq!(verdicts(&nothing_to_search)[1], Verdict::NotApplicable);
    assert!(nothing_to_search.checks()[1]
        .reason
        .contains("Export answered no bytes"));
    // A run not started because its server had died: every check skipped, naming it.
    let skipped = interop::RunRecord {
        stop: Some(interop::runner::Stop::Skipped {
            client: "grpc:x",
            reason: "Commit answered Unavailable".into(),
        }),
        ..record(0, 0, 0)
    };
    for c in skipped.checks() {
        assert_eq!(c.verdict, Verdict::Skipped);
        assert!(c
            .reason
            .contains("grpc:x stopped answering earlier (Commit answered Unavailable)"));
    }
}

/// commit/remove, every assignment: where openmls plays the removed member it refuses every
/// later message as evicted (not-applicable); where mls-rs does, it tries and fails (pass).
#[test]
fn an_evicted_openmls_member_does_not_answer_the_removal_question() {
    use e2ee_harness::results::Verdict;
    let s = script("commit.json", "remove");
    let config = Config {
        file: PathBuf::from("commit.json"),
        scripts: vec![s],
    };
    let all = clients::member_clients();
    let clients: Vec<&dyn MemberClient> = all.iter().map(|c| c.as_ref()).collect();
    let plan = Plan {
        suite: Some(1),
        sample: None,
        control: None,
        modes: vec![true],
    };
    let configs = vec![config];
    let jobs = interop::jobs(&configs, &clients, &plan);
    let records = interop::execute(&configs, &clients, &jobs, &|_, _| {});
    let removed: Vec<Verdict> = records.iter().map(|r| r.checks()[2].verdict).collect();
    assert!(removed.contains(&Verdict::NotApplicable), "{removed:?}");
    assert!(removed.contains(&Verdict::Pass), "{removed:?}");
    assert!(!removed.contains(&Verdict::Fail), "{removed:?}");
    for r in &records {
        let all_evicted = r.removed_attempts > 0 && r.removed_evicted == r.removed_attempts;
        assert_eq!(
            r.checks()[2].verdict == Verdict::NotApplicable,
            all_evicted,
            "{}",
            r.assignment()
        );
    }
}
