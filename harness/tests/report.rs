//! `e2ee report`: a fixed set of results files (every level, a failure with a counterexample,
//! skipped / not-applicable / unimplemented checks, a version-1 record, a truncated file and one
//! of a newer schema version) becomes the same summary.md and junit.xml every time; the merged
//! JSON and every input validate against reports/schema; the HTML renders in a real headless
//! Chromium; and the report of real `e2ee vectors`, `interop`, `live` and `model check` runs
//! places every check where its scope says.

use e2ee_harness::report::Report;
use e2ee_harness::results::{Machine, Question, Verdict};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report")
}

fn inputs() -> Vec<PathBuf> {
    [
        "design.json",
        "vectors.json",
        "interop.json",
        "live.json",
        "v1-vectors.json",
        "truncated.json",
        "schema-v3.json",
    ]
    .iter()
    .map(|f| fixtures().join(f))
    .collect()
}

/// The report of the fixtures, with what depends on where and when it is made pinned.
fn fixed_report() -> Report {
    let mut r = Report::from_files(&inputs());
    r.generated = "2026-11-26T02:00:00Z".into();
    r.machine = Machine {
        os: "linux".into(),
        arch: "x86_64".into(),
        cpus: 2,
        hostname: "report-box".into(),
    };
    let base = format!("{}/", fixtures().display());
    for s in &mut r.sources {
        s.file = s.file.replace(&base, "");
    }
    for rej in &mut r.rejected {
        rej.file = rej.file.replace(&base, "");
        rej.error = rej.error.replace(&base, "");
    }
    r
}

#[test]
fn summary_md_is_stable() {
    insta::assert_snapshot!(fixed_report().summary_md());
}

#[test]
fn junit_xml_is_stable() {
    insta::assert_snapshot!(fixed_report().junit_xml());
}

#[test]
fn bad_inputs_are_named_and_the_rest_still_reported() {
    let r = fixed_report();
    let rejected: Vec<(&str, &str)> = r
        .rejected
        .iter()
        .map(|x| (x.file.as_str(), x.error.as_str()))
        .collect();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert_eq!(rejected[0].0, "truncated.json");
    assert!(
        rejected[0]
            .1
            .starts_with("truncated.json is not a valid e2ee results record: "),
        "{}",
        rejected[0].1
    );
    assert_eq!(
        rejected[1].1,
        "schema-v3.json has results schema version 3, but this e2ee reads only versions 1 and 2"
    );
    assert_eq!(r.sources.len(), 5);
    assert_eq!(r.checks.len(), 20);
    assert_eq!(r.exit_code(), 1);
    assert_eq!(
        r.headline(),
        "3 of 20 checks failed unexpectedly (3 findings: unclassified-1, unclassified-2, \
         unclassified-3); 2 results files could not be read."
    );
    // The version-1 record is read, named, and its checks are in no matrix.
    assert_eq!(r.sources[4].schema_version, 1);
    assert_eq!(r.v1_notes().len(), 1);
    // The matrices: protocol × property, client × vector file, client pair × scenario,
    // participant × call check.
    let m = r.matrices();
    let titles: Vec<&str> = m.iter().map(|m| m.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "Design: protocol × property",
            "Implementation: client × vector file",
            "Implementation: client pair × scenario",
            "Deployment: participant × call check — live/default (4 participants, Designated committer)"
        ]
    );
    let cell = |i: usize, row: &str, col: &str| m[i].cell(row, col).and_then(|c| c.verdict());
    assert_eq!(
        cell(0, "leader+no-rotate-on-leave", "leave_secrecy"),
        Some(Verdict::Fail)
    );
    assert_eq!(
        cell(1, "openmls", "crypto-basics.json"),
        Some(Verdict::Pass)
    );
    assert_eq!(
        cell(2, "mls-rs × openmls", "commit/external_psk"),
        Some(Verdict::Fail)
    );
    assert_eq!(
        cell(2, "mls-rs", "welcome_join/remove_all"),
        Some(Verdict::Pass)
    );
    // The v1 record's openmls rows would have added an unimplemented cell here.
    assert_eq!(
        cell(1, "openmls", "passive-client-random.json"),
        Some(Verdict::Unimplemented)
    );
    assert_eq!(
        m[1].cells.values().map(|c| c.checks.len()).sum::<usize>(),
        5
    );
    // Only the participant the check found at fault fails; the other passes that check.
    let call = "members open every frame sent while they are members";
    assert_eq!(cell(3, "bob", call), Some(Verdict::Fail));
    assert_eq!(cell(3, "alice", call), Some(Verdict::Pass));
    // Nothing readable at all: exit 2.
    let none = Report::from_files(&[fixtures().join("truncated.json")]);
    assert_eq!(none.exit_code(), 2);
}

#[test]
fn the_security_questions_are_answered_from_the_checks_that_asked_them() {
    let vectors = Report::from_files(&[fixtures().join("vectors.json")]);
    // Vectors alone never ask whether a server could read anything.
    assert!(vectors.answers.iter().all(|a| a.answer == "not asked"));
    assert!(
        vectors.answers[0].text.starts_with("not asked"),
        "{}",
        vectors.answers[0].text
    );
    let r = fixed_report();
    let server = &r.answers[0];
    assert_eq!(server.question, Question::ServerBlind);
    // The design fixture's leader passes it; the mutant's checks are seeded bugs, left out.
    assert_eq!(server.answer, "no", "{}", server.text);
    assert_eq!(server.text, "no, in 2 checks across design 1, deployment 1");
    // Removed members: only the not-applicable live check and the leader's pass.
    assert_eq!(r.answers[1].answer, "no");
    assert_eq!(r.answers[2].answer, "not asked");
    let md = r.summary_md();
    let answers = md.find("## Security questions").unwrap();
    let findings = md.find("## Findings").unwrap();
    let matrices = md.find("## Matrices").unwrap();
    assert!(answers < findings && findings < matrices, "{md}");

    let mut run = e2ee_harness::results::Run::read_json(fixtures().join("live.json")).unwrap();
    run.checks.retain(|c| c.verdict != Verdict::Fail);
    let r = Report::from_runs(vec![("live.json".into(), run)], vec![]);
    assert_eq!(r.exit_code(), 0);
    assert_eq!(
        r.headline(),
        "Every check met its expectation: 2 checks.",
        "{}",
        r.headline()
    );
}

fn schema(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../reports/schema")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_merged_json_and_every_input_validate_against_the_schemas() {
    let results = schema("results-v2.schema.json");
    let report = schema("report-v2.schema.json");
    let id = results["$id"].as_str().unwrap().to_string();
    let registry = jsonschema::Registry::new()
        .add(&id, &results)
        .unwrap()
        .prepare()
        .unwrap();
    let report_v = jsonschema::options()
        .with_registry(&registry)
        .build(&report)
        .unwrap();
    let results_v = jsonschema::validator_for(&results).unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-schema");
    let r = Report::from_files(&inputs());
    r.write(&dir).unwrap();
    let merged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let errors: Vec<String> = report_v
        .iter_errors(&merged)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    for f in ["design.json", "vectors.json", "interop.json", "live.json"] {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixtures().join(f)).unwrap()).unwrap();
        assert!(results_v.is_valid(&v), "{f}");
    }
    // A record the tool writes itself.
    let mut run = e2ee_harness::results::Run::new("e2ee test");
    run.checks = r.plain_checks();
    run.finish();
    // With the remote clients it drove, named as they reported themselves.
    run.clients = vec![e2ee_harness::results::Component {
        name: "grpc:127.0.0.1:50051".into(),
        version: "OpenMLS".into(),
        role: "MLS client over the IETF interop gRPC interface (MLSClient)".into(),
    }];
    let v = serde_json::to_value(&run).unwrap();
    let errors: Vec<String> = results_v.iter_errors(&v).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    // The schemas bite: a wrong verdict and a missing field are refused.
    let mut bad = merged.clone();
    bad["checks"][0]["verdict"] = "maybe".into();
    assert!(!report_v.is_valid(&bad));
    let mut bad = merged;
    bad.as_object_mut().unwrap().remove("sources");
    assert!(!report_v.is_valid(&bad));
}

/// Debian's Chromium, or a failure that names the command installing it (never a skip).
fn chromium() -> &'static str {
    ["chromium", "/usr/bin/chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .unwrap_or_else(|| {
            panic!(
                "chromium is not installed: run `bash scripts/setup.sh` (it installs Debian's \
                 chromium; `bash .ci/run`, the README's test command, runs it first)"
            )
        })
}

/// The HTML in a real browser: Debian's Chromium, headless (`scripts/setup.sh` installs it).
/// Its DOM must hold the verdict, the security answers, the findings, the four matrices and the
/// counterexample's diagram, and a screenshot must come out.
#[test]
fn the_html_renders_in_headless_chromium() {
    let chromium = chromium();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-html");
    let _ = std::fs::remove_dir_all(&dir);
    fixed_report().write(&dir).unwrap();
    let page = format!("file://{}", dir.join("index.html").display());
    let browser = |extra: &[String]| {
        let profile = tempdir(&dir, "profile");
        let out = std::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                &format!("--user-data-dir={}", profile.display()),
            ])
            .args(extra)
            .arg(&page)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = browser(&["--dump-dom".into()]);
    assert!(dom.contains("id=\"verdict\" class=\"bad\""), "{dom}");
    assert!(dom.contains("3 of 20 checks failed unexpectedly"));
    let answers = dom.find("id=\"answers\"").unwrap();
    let findings = dom.find("<h2>Findings</h2>").unwrap();
    let matrices = dom.find("<h2>Matrices</h2>").unwrap();
    assert!(answers < findings && findings < matrices);
    assert!(dom.contains("data-question=\"server_blind\""));
    assert_eq!(dom.matches("<div class=\"finding ").count(), 3);
    assert_eq!(dom.matches("<table class=\"matrix\"").count(), 4);
    assert!(dom.contains("<svg"), "the counterexample's diagram");
    assert!(dom.contains("schema-v3.json has results schema version 3"));
    assert!(dom.contains("v1-vectors.json is a version-1 results record"));
    let shot = dir.join("index.png");
    browser(&[
        format!("--screenshot={}", shot.display()),
        "--window-size=1200,1600".into(),
    ]);
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() > 20_000,
        "a blank page is smaller: {} bytes",
        png.len()
    );
}

fn tempdir(base: &Path, name: &str) -> PathBuf {
    let d = base.join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The command: exit 1 when a check failed or an input was rejected (naming it on stderr),
/// 2 when nothing could be read or the flags are wrong; the four files are written either way.
#[test]
fn e2ee_report_exit_codes_and_files() {
    let e2ee = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_e2ee"))
            .args(args)
            .output()
            .unwrap()
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-cli");
    let _ = std::fs::remove_dir_all(&dir);
    let files: Vec<String> = inputs().iter().map(|p| p.display().to_string()).collect();
    let mut args = vec!["report", "--out", dir.to_str().unwrap(), "--in"];
    args.extend(files.iter().map(String::as_str));
    let out = e2ee(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.starts_with("\nCould the server decrypt? no, in 2 checks"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\n3 of 20 checks failed unexpectedly"),
        "{stdout}"
    );
    assert!(
        stderr.contains("schema-v3.json has results schema version 3"),
        "{stderr}"
    );
    assert!(
        stderr.contains("truncated.json is not a valid e2ee results record"),
        "{stderr}"
    );
    for f in ["index.html", "summary.md", "results.json", "junit.xml"] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let only_bad = fixtures().join("truncated.json");
    let out = e2ee(&[
        "report",
        "--out",
        dir.join("bad").to_str().unwrap(),
        "--in",
        only_bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        dir.join("bad/index.html").is_file(),
        "the report lists the rejected input"
    );
    assert_eq!(e2ee(&["report", "--out", "x"]).status.code(), Some(2));
}

/// Many failures with one cause: one finding, all its checks in the HTML (folded), the others
/// open; the Markdown shows the first five and says how many more there are.
#[test]
fn many_failures_of_one_cause_are_one_finding_and_none_is_dropped() {
    let mut run = e2ee_harness::results::Run::read_json(fixtures().join("vectors.json")).unwrap();
    let template = run.checks[0].clone();
    for i in 0..12 {
        let mut c = template.clone();
        c.scope = e2ee_harness::results::Scope::Vector {
            client: "openmls".into(),
            file: "messages.json".into(),
            case: i.to_string(),
            suite: None,
        };
        c.name = format!("messages.json[{i}]");
        c.verdict = Verdict::Fail;
        c.reason = format!("case {i} refused");
        run.checks.push(c);
    }
    let design = e2ee_harness::results::Run::read_json(fixtures().join("design.json")).unwrap();
    let r = Report::from_runs(
        vec![("vectors.json".into(), run), ("design.json".into(), design)],
        vec![],
    );
    assert_eq!(r.findings.len(), 2, "{:#?}", r.findings);
    assert_eq!(r.findings[0].checks.len(), 12);
    assert_eq!(
        r.findings[0].fault,
        "client openmls on vector file messages.json"
    );
    let html = r.index_html();
    assert_eq!(html.matches("<div class=\"failure\">").count(), 13);
    assert!(html.contains("<details class=\"group\"><summary>the 12 failed checks</summary>"));
    assert!(html.contains("<details class=\"group\" open><summary>the 1 failed check</summary>"));
    let md = r.summary_md();
    assert!(
        md.contains("case 4 refused") && !md.contains("case 5 refused"),
        "{md}"
    );
    assert!(md.contains("  - … and 7 more (index.html and results.json have them all)"));
}

/// The report of real runs, not fixtures: `e2ee vectors` over the shared vectors, a sampled
/// `e2ee interop` of the commit scenarios (which remove members), a 3-participant `e2ee live`
/// call and `e2ee model check` of one protocol. Every check lands where its typed scope says —
/// interop checks only in the client pair × scenario matrix — the merged JSON validates against
/// the v2 schema, and the security questions are answered at all three levels.
#[test]
fn the_report_of_real_runs_places_every_check_by_its_scope() {
    use e2ee_harness::results::Scope;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-real");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let vectors = e2ee_harness::vectors::dir_for_tests();
    let json = |name: &str| dir.join(name).display().to_string();
    let runs: [(&str, Vec<String>); 4] = [
        (
            "vectors.json",
            vec![
                "vectors".into(),
                "--vectors".into(),
                vectors.display().to_string(),
            ],
        ),
        (
            "interop.json",
            vec![
                "interop".into(),
                "--config".into(),
                vectors
                    .join("mls-interop/commit.json")
                    .display()
                    .to_string(),
                "--suite".into(),
                "1".into(),
                "--random".into(),
                "7".into(),
                "--sample".into(),
                "1".into(),
            ],
        ),
        (
            "live.json",
            vec!["live".into(), "--participants".into(), "3".into()],
        ),
        (
            "design.json",
            vec![
                "model".into(),
                "check".into(),
                "--protocol".into(),
                "leader".into(),
            ],
        ),
    ];
    let mut files = Vec::new();
    for (name, mut args) in runs {
        args.extend(["--json".into(), json(name)]);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_e2ee"))
            .args(&args)
            .output()
            .unwrap();
        // Exit 1 is a finding (vectors and interop have known ones); 2 would be our error.
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "e2ee {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        files.push(dir.join(name));
    }
    let r = Report::from_files(&files);
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    let m = r.matrices();
    let by_title = |t: &str| m.iter().find(|x| x.title == t).unwrap();
    let vectors_m = by_title("Implementation: client × vector file");
    let interop_m = by_title("Implementation: client pair × scenario");
    // Every interop check is in the interop matrix and nowhere else; the vector matrix's rows
    // are clients, its columns files.
    let interop_checks: Vec<usize> = r
        .checks
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c.check.scope, Scope::Interop { .. }))
        .map(|(i, _)| i)
        .collect();
    assert!(interop_checks.len() >= 3, "{}", interop_checks.len());
    let in_matrix = |mx: &e2ee_harness::report::Matrix, i: usize| {
        mx.cells.values().any(|c| c.checks.contains(&i))
    };
    for &i in &interop_checks {
        assert!(in_matrix(interop_m, i), "{:?}", r.checks[i].check.scope);
        assert!(!in_matrix(vectors_m, i), "{:?}", r.checks[i].check.scope);
    }
    for row in &vectors_m.rows {
        assert!(
            ["openmls", "mls-rs", "sframe"]
                .iter()
                .any(|c| row.starts_with(c)),
            "{row}"
        );
    }
    assert!(vectors_m.columns.iter().all(|c| c.ends_with(".json")));
    assert!(interop_m.columns.iter().all(|c| c.starts_with("commit/")));
    for row in &interop_m.rows {
        assert!(
            row.split(" × ").all(|c| c == "openmls" || c == "mls-rs"),
            "{row}"
        );
    }
    // The interop run's server-side and removal checks are asked in a removal scenario.
    let questions: Vec<&Question> = interop_checks
        .iter()
        .map(|&i| &r.checks[i].check.question)
        .collect();
    for q in [
        Question::ServerBlind,
        Question::RemovedBlind,
        Question::Agreement,
    ] {
        assert!(questions.contains(&&q), "{q:?}");
    }
    // Could the server decrypt? Asked, and answered no, at every level.
    let server = &r.answers[0];
    assert_eq!(server.answer, "no", "{}", server.text);
    assert_eq!(server.passed.len(), 3, "{}", server.text);
    // The vectors' two known causes, each once.
    let ids: Vec<&str> = r.findings.iter().map(|f| f.id.as_str()).collect();
    for id in ["openmls-reinit-ratchet-tree", "mls-rs-leaf-index-limit"] {
        assert_eq!(ids.iter().filter(|x| **x == id).count(), 1, "{ids:?}");
    }
    // The merged record validates against the v2 schema.
    r.write(&dir.join("report")).unwrap();
    let results = schema("results-v2.schema.json");
    let report = schema("report-v2.schema.json");
    let registry = jsonschema::Registry::new()
        .add(results["$id"].as_str().unwrap(), &results)
        .unwrap()
        .prepare()
        .unwrap();
    let validator = jsonschema::options()
        .with_registry(&registry)
        .build(&report)
        .unwrap();
    let merged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report/results.json")).unwrap())
            .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&merged)
        .take(5)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}
