//! Runs the built `e2ee` binary as a user would: exit codes, stderr messages, the JSON record.

use e2ee_harness::results::{Run, Verdict};
use e2ee_model::{Mutant, Protocol};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn e2ee(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_e2ee"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("the e2ee binary runs")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed by a signal")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh JSON path per test under cargo's scratch dir for integration tests.
fn json_path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli");
    let path = dir.join(format!("{name}-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn model_list_names_every_protocol_and_mutant() {
    let out = e2ee(&["model", "list"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for p in Protocol::all() {
        assert!(
            text.contains(p.name()),
            "{} missing from:\n{text}",
            p.name()
        );
    }
    for m in Mutant::ALL {
        assert!(
            text.contains(m.name()),
            "{} missing from:\n{text}",
            m.name()
        );
    }
}

/// Runs `args`, which must be a usage error: exit 2, and stderr naming every one of `names`.
fn assert_usage_error(args: &[&str], names: &[&str]) {
    let out = e2ee(args);
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{args:?}: {err}");
    for name in names {
        assert!(err.contains(name), "{args:?}: {name} missing from: {err}");
    }
}

#[test]
fn unknown_protocol_is_a_usage_error() {
    assert_usage_error(
        &["model", "check", "--protocol", "carrier-pigeon"],
        &["error:", "carrier-pigeon"],
    );
}

#[test]
fn zero_participants_is_a_usage_error() {
    assert_usage_error(
        &[
            "model",
            "check",
            "--protocol",
            "leader",
            "--participants",
            "0",
        ],
        &["participants"],
    );
}

#[test]
fn unknown_flag_is_a_usage_error() {
    assert_usage_error(&["model", "check", "--no-such-flag"], &["--no-such-flag"]);
}

#[test]
fn inapplicable_mutant_is_a_usage_error() {
    assert_usage_error(
        &[
            "model",
            "check",
            "--protocol",
            "mls-gateway",
            "--mutant",
            "server-generated-key",
        ],
        &["server-generated-key", "mls-gateway"],
    );
}

#[test]
fn unknown_mutant_is_a_usage_error() {
    assert_usage_error(
        &["model", "check", "--protocol", "leader", "--mutant", "nope"],
        &["nope"],
    );
}

#[test]
fn mutant_is_caught_and_recorded() {
    let json = json_path("mutant");
    let json_arg = json.to_str().expect("temp path is UTF-8");
    let out = e2ee(&[
        "model",
        "check",
        "--protocol",
        "leader",
        "--mutant",
        "no-rotate-on-leave",
        "--json",
        json_arg,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        code(&out),
        0,
        "stdout:\n{stdout}\nstderr:\n{}",
        stderr(&out)
    );
    assert!(stdout.contains("```mermaid\nsequenceDiagram"), "{stdout}");

    let run = Run::read_json(&json).expect("the record reads back");
    let leave = run
        .checks
        .iter()
        .find(|c| c.name == "leave_secrecy")
        .expect("a leave_secrecy check");
    assert_eq!(leave.verdict, Verdict::Pass, "{}", leave.reason);
    assert_eq!(leave.subject, "leader+no-rotate-on-leave");
    let evidence = leave
        .evidence
        .as_ref()
        .expect("the counterexample as evidence");
    assert!(!evidence.steps.is_empty());
    assert!(evidence.mermaid.as_ref().is_some_and(|m| !m.is_empty()));
    assert!(!run.any_failed());
}

#[test]
fn small_correct_run_passes_everything() {
    // Two joins-or-leaves are the fewest that can witness both a join and a leave.
    let json = json_path("small");
    let json_arg = json.to_str().expect("temp path is UTF-8");
    let out = e2ee(&[
        "model",
        "check",
        "--protocol",
        "leader",
        "--participants",
        "2",
        "--initial-members",
        "1",
        "--max-changes",
        "2",
        "--json",
        json_arg,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        code(&out),
        0,
        "stdout:\n{stdout}\nstderr:\n{}",
        stderr(&out)
    );
    let run = Run::read_json(&json).expect("the record reads back");
    assert!(!run.checks.is_empty());
    for c in &run.checks {
        assert_eq!(c.verdict, Verdict::Pass, "{}: {}", c.name, c.reason);
    }
    // stderr is not a terminal here, so progress is exactly one final line.
    assert!(stderr(&out).contains("states/s"), "{}", stderr(&out));
}

#[test]
fn unwitnessed_join_fails_the_run() {
    // Every participant is a member from the start and only one change is allowed: nobody can
    // join, so `witness_join` is never witnessed and the run must say so with exit code 1.
    let out = e2ee(&[
        "model",
        "check",
        "--protocol",
        "leader",
        "--participants",
        "2",
        "--max-changes",
        "1",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 1, "{stdout}");
    assert!(
        stdout.contains("never happens within the bounds"),
        "{stdout}"
    );
}

#[test]
fn top_level_check_records_every_protocol() {
    // Whether the models currently pass is the model's business; here only the plumbing:
    // a verdict exit code (not a usage error) and a record covering every protocol.
    let json = json_path("check");
    let json_arg = json.to_str().expect("temp path is UTF-8");
    let reports = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("check-reports");
    let _ = std::fs::remove_dir_all(&reports);
    let out = e2ee(&[
        "check",
        "--json",
        json_arg,
        "--reports",
        reports.to_str().unwrap(),
    ]);
    assert!(matches!(code(&out), 0 | 1), "{}", stderr(&out));
    let run = Run::read_json(&json).expect("the record reads back");
    assert_eq!(run.exit_code() as i32, code(&out));
    // Every level, the live call included, and the report where it says.
    assert!(run
        .checks
        .iter()
        .any(|c| c.level == e2ee_harness::results::Level::Deployment
            && c.name == "the SFU opens nothing it carried"
            && c.verdict == Verdict::Pass));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let shown = stdout
        .lines()
        .find_map(|l| l.strip_prefix("report: "))
        .expect("the report's path is printed");
    let dir = Path::new(shown).parent().unwrap().to_path_buf();
    assert_eq!(dir.parent(), Some(reports.as_path()));
    for f in [
        "index.html",
        "summary.md",
        "results.json",
        "junit.xml",
        "check.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing in {}", dir.display());
    }
    for p in Protocol::all() {
        assert!(
            run.checks
                .iter()
                .any(|c| c.subject == p.name() || c.subject.starts_with(&format!("{}[", p.name()))),
            "no checks for {}",
            p.name()
        );
    }
}

#[test]
fn orange_port_reports_the_specs_invariants_by_name() {
    let path = json_path("orange");
    let out = e2ee(&[
        "model",
        "check",
        "--protocol",
        "orange-dc",
        "--max-total-users",
        "4",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let run = Run::read_json(&path).expect("a results record");
    for name in [
        "UniqueTargetUidInvariant",
        "MonotonicEpochInvariant",
        "EndWithEqualEpochs",
        "WelcomeImpliesAdd",
    ] {
        let check = run
            .checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(check.verdict, Verdict::Pass, "{name}");
        assert_eq!(check.figures.get("unique_states"), Some(&18_241.0));
    }
}

#[test]
fn orange_bound_misused_is_a_usage_error() {
    assert_usage_error(
        &[
            "model",
            "check",
            "--protocol",
            "leader",
            "--max-total-users",
            "4",
        ],
        &["orange-dc and orange-dc-keys only"],
    );
    assert_usage_error(
        &[
            "model",
            "check",
            "--protocol",
            "orange-dc",
            "--max-total-users",
            "9",
        ],
        &["MaxTotalUsers 9"],
    );
}

#[test]
fn keyed_orange_catches_a_ghost_member_and_refuses_orange_only_mutants() {
    let out = e2ee(&[
        "model",
        "check",
        "--protocol",
        "orange-dc-keys",
        "--max-total-users",
        "4",
        "--mutant",
        "accept-server-add",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 0, "{stdout}{}", stderr(&out));
    assert!(stdout.contains("orange-dc-keys[users=4,interference=1]+accept-server-add"));
    assert!(stdout.contains("an identity it controls"), "{stdout}");
    assert_usage_error(
        &[
            "model",
            "check",
            "--protocol",
            "orange-dc-keys",
            "--max-total-users",
            "4",
            "--mutant",
            "add-before-welcome",
        ],
        &["add-before-welcome", "orange-dc-keys"],
    );
}

fn shared_vectors() -> PathBuf {
    e2ee_harness::vectors::dir_for_tests()
}

#[test]
fn vectors_usage_and_input_errors_exit_2_with_names() {
    assert_usage_error(
        &["vectors", "--client", "carrier-pigeon"],
        &["carrier-pigeon"],
    );
    assert_usage_error(
        &["vectors", "--vectors", "/no/such/dir"],
        &["/no/such/dir", "does not exist"],
    );
    let dir = std::env::temp_dir().join(format!("e2ee-cli-unreadable-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("broken.json"), "[{").unwrap();
    let out = e2ee(&["vectors", "--vectors", dir.to_str().unwrap()]);
    assert_eq!(code(&out), 2, "nothing readable: {}", stderr(&out));
    assert!(stderr(&out).contains("broken.json"), "{}", stderr(&out));
}

#[test]
fn sframe_vectors_run_and_are_recorded() {
    let json = json_path("vectors");
    let sframe = shared_vectors().join("sframe");
    let out = e2ee(&[
        "vectors",
        "--client",
        "sframe",
        "--vectors",
        sframe.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("rfc9605-test-vectors.json"), "{stdout}");
    let run = Run::read_json(&json).unwrap();
    assert_eq!(run.checks.len(), 297);
    assert!(run
        .checks
        .iter()
        .all(|c| c.level == e2ee_harness::results::Level::Implementation));
}

/// The shipped known findings, as a file a test can edit.
fn known_findings() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../expectations/known-findings.toml");
    std::fs::read_to_string(path).unwrap()
}

/// `text` without the `[[expect]]` entry whose id is `id`.
fn without(text: &str, id: &str) -> String {
    let mut entries: Vec<&str> = text.split("[[expect]]").collect();
    let before = entries.len();
    entries.retain(|e| !e.contains(&format!("id = \"{id}\"")));
    assert_eq!(entries.len() + 1, before, "{id} is one entry");
    entries.join("[[expect]]")
}

fn write_expectations(name: &str, text: &str) -> PathBuf {
    let path = json_path(name).with_extension("toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// Expectations as a CI gate, on the real vectors: with the shipped known findings the vectors
/// exit 0 (every failure expected, the record says which); without one of them exit 1 naming
/// that finding; with an expectation that no longer fails exit 1 saying it is stale; a bad file
/// is a usage error naming it.
#[test]
fn expectations_gate_the_exit_code() {
    let dir = e2ee_harness::vectors::dir_for_tests();
    let dir = dir.to_str().unwrap();
    let shipped = write_expectations("known", &known_findings());
    let json = json_path("expected");
    let out = e2ee(&[
        "vectors",
        "--vectors",
        dir,
        "--expect",
        shipped.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 0, "{stdout}{}", stderr(&out));
    let run = Run::read_json(&json).unwrap();
    assert!(run.checks.iter().all(|c| c.verdict != Verdict::Fail));
    let expected: Vec<&str> = run
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::ExpectedFail)
        .map(|c| c.expected.as_ref().unwrap().id.as_str())
        .collect();
    for id in ["openmls-reinit-ratchet-tree", "mls-rs-leaf-index-limit"] {
        assert!(expected.contains(&id), "{id}");
    }
    // The design and interop entries had nothing to judge here: unexercised, not stale.
    let status = |id: &str| {
        run.expectations
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.status)
            .unwrap()
    };
    use e2ee_harness::results::ExpectationStatus;
    assert_eq!(status("orange-fork-at-5"), ExpectationStatus::Unexercised);
    assert_eq!(status("mls-rs-leaf-index-limit"), ExpectationStatus::Met);

    // One finding's expectation deleted: exit 1, and that finding is named.
    let missing = write_expectations(
        "missing",
        &without(&known_findings(), "mls-rs-leaf-index-limit"),
    );
    let out = e2ee(&[
        "vectors",
        "--vectors",
        dir,
        "--expect",
        missing.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 1, "{stdout}");
    assert!(
        stdout.contains("unexpected: finding `mls-rs-leaf-index-limit` (299 checks)"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("finding `openmls-reinit-ratchet-tree`"),
        "{stdout}"
    );

    // An expectation for checks that pass: stale, exit 1.
    let stale = write_expectations(
        "stale",
        &format!(
            "{}\n[[expect]]\nid = \"sframe-frames\"\nreason = \"fixed long ago\"\nlink = \"x\"\n\
             [expect.match]\nkind = \"vector\"\nclient = \"sframe\"\n",
            known_findings()
        ),
    );
    let out = e2ee(&[
        "vectors",
        "--vectors",
        dir,
        "--expect",
        stale.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 1, "{stdout}");
    assert!(
        stdout.contains("stale expectation `sframe-frames`"),
        "{stdout}"
    );

    // The raw view: the failures are failures; `e2ee report --expect` judges them afterwards.
    let raw = json_path("raw");
    let out = e2ee(&[
        "vectors",
        "--vectors",
        dir,
        "--expect",
        "none",
        "--json",
        raw.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 1);
    let report_dir = raw.with_extension("report");
    let report = |expect: Option<&Path>| {
        let mut args = vec![
            "report",
            "--out",
            report_dir.to_str().unwrap(),
            "--in",
            raw.to_str().unwrap(),
        ];
        if let Some(e) = expect {
            args.extend(["--expect", e.to_str().unwrap()]);
        }
        e2ee(&args)
    };
    assert_eq!(code(&report(None)), 1);
    let out = report(Some(&shipped));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 0, "{stdout}");
    assert!(
        stdout.contains("mls-rs-leaf-index-limit        expected"),
        "{stdout}"
    );

    // A missing or malformed file: exit 2, named, before anything runs.
    let out = e2ee(&["vectors", "--vectors", dir, "--expect", "/nonexistent.toml"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("/nonexistent.toml"),
        "{}",
        stderr(&out)
    );
    let bad = write_expectations("bad", "[[expect]]\nid = \"x\"\n");
    let out = e2ee(&[
        "vectors",
        "--vectors",
        dir,
        "--expect",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains(&format!(
            "{} is not a valid expectations file",
            bad.display()
        )),
        "{}",
        stderr(&out)
    );
}

/// The interop finding, expected and not: openmls's PSK-order commits in the commit scenarios.
#[test]
fn the_interop_finding_is_expected_by_the_shipped_file() {
    let dir = e2ee_harness::vectors::dir_for_tests();
    let config = dir.join("mls-interop/commit.json");
    let config = config.to_str().unwrap();
    let args = |expect: &str| {
        vec![
            "interop".to_string(),
            "--config".into(),
            config.into(),
            "--suite".into(),
            "1".into(),
            "--random".into(),
            "2026".into(),
            "--sample".into(),
            "2".into(),
            "--expect".into(),
            expect.into(),
        ]
    };
    let shipped = write_expectations("interop-known", &known_findings());
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        e2ee(&a)
    };
    let out = run(args("none"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        code(&out),
        1,
        "the sample holds openmls PSK commits: {stdout}"
    );
    assert!(stdout.contains("finding `openmls-psk-order`"), "{stdout}");
    let out = run(args(shipped.to_str().unwrap()));
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
}

/// An `always` property whose situation never arises within the bounds is not-applicable, not
/// a pass: with no joins, join secrecy holds only vacuously (and the witness that says so fails
/// the run).
#[test]
fn a_vacuous_model_property_is_not_applicable() {
    let json = json_path("vacuous");
    let out = e2ee(&[
        "model",
        "check",
        "--protocol",
        "leader",
        "--max-changes",
        "0",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let run = Run::read_json(&json).unwrap();
    let verdict = |name: &str| {
        let c = run.checks.iter().find(|c| c.name == name).unwrap();
        (c.verdict, c.reason.clone())
    };
    let (v, reason) = verdict("join_secrecy");
    assert_eq!(v, Verdict::NotApplicable);
    assert_eq!(
        reason,
        "holds only vacuously: witness_join never happens within these bounds"
    );
    assert_eq!(verdict("witness_join").0, Verdict::Fail);
    // A leave still happens (the server may announce one), so leave secrecy was asked.
    assert_eq!(verdict("leave_secrecy").0, Verdict::Pass);
    // With changes allowed, the same property is asked and passes.
    let out = e2ee(&[
        "model",
        "check",
        "--protocol",
        "leader",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let run = Run::read_json(&json).unwrap();
    let leave = run
        .checks
        .iter()
        .find(|c| c.name == "leave_secrecy")
        .unwrap();
    assert_eq!(leave.verdict, Verdict::Pass);
}
