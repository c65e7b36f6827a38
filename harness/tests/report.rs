//! `e2ee report`: a fixed set of results files (every level, a failure with a counterexample,
//! skipped / not-applicable / unimplemented checks, a truncated file and one of another schema
//! version) becomes the same summary.md and junit.xml every time; the merged JSON and every
//! input validate against reports/schema; the HTML renders in a real headless Chromium.

use e2ee_harness::report::Report;
use e2ee_harness::results::{Machine, Verdict};
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
        "truncated.json",
        "schema-v2.json",
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
        "schema-v2.json has results schema version 2, but this e2ee reads only version 1"
    );
    assert_eq!(r.sources.len(), 4);
    assert_eq!(r.checks.len(), 15);
    assert_eq!(r.exit_code(), 1);
    assert_eq!(r.headline(), "3 of 15 checks failed their expectation.");
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
    // Only the participant the evidence names fails; the other passes that check.
    let call = "members open every frame sent while they are members";
    assert_eq!(cell(3, "bob", call), Some(Verdict::Fail));
    assert_eq!(cell(3, "alice", call), Some(Verdict::Pass));
    // Nothing readable at all: exit 2.
    let none = Report::from_files(&[fixtures().join("truncated.json")]);
    assert_eq!(none.exit_code(), 2);
}

#[test]
fn a_clean_run_says_no_server_could_decrypt() {
    let clean = Report::from_files(&[fixtures().join("vectors.json")]);
    // Vectors alone never ask whether a server could read anything.
    assert!(
        clean
            .headline()
            .contains("none of them asked whether a server could decrypt"),
        "{}",
        clean.headline()
    );
    let mut run = e2ee_harness::results::Run::read_json(fixtures().join("live.json")).unwrap();
    run.checks.retain(|c| c.verdict != Verdict::Fail);
    let r = Report::from_runs(vec![("live.json".into(), run)], vec![]);
    assert_eq!(r.exit_code(), 0);
    assert!(
        r.headline().starts_with("No server could decrypt"),
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
    let results = schema("results-v1.schema.json");
    let report = schema("report-v1.schema.json");
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

/// The HTML in a real browser: Debian's Chromium, headless (`.ci/run` installs it). Its DOM
/// must hold the verdict, the four matrices and the counterexample's diagram, and a screenshot
/// must come out.
#[test]
fn the_html_renders_in_headless_chromium() {
    let chromium = ["chromium", "/usr/bin/chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("chromium is not installed (.ci/run installs Debian's `chromium`)");
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
    assert!(dom.contains("3 of 15 checks failed their expectation."));
    assert_eq!(dom.matches("<table class=\"matrix\"").count(), 4);
    assert!(dom.contains("<svg"), "the counterexample's diagram");
    assert!(dom.contains("schema-v2.json has results schema version 2"));
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
        stdout.starts_with("3 of 15 checks failed their expectation."),
        "{stdout}"
    );
    assert!(
        stderr.contains("schema-v2.json has results schema version 2"),
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

/// Many failures of one subject: all in the HTML, that subject folded, the others open; the
/// Markdown shows the first five and says how many more there are.
#[test]
fn many_failures_of_one_subject_fold_but_none_is_dropped() {
    let mut run = e2ee_harness::results::Run::read_json(fixtures().join("vectors.json")).unwrap();
    let template = run.checks[0].clone();
    for i in 0..12 {
        let mut c = template.clone();
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
    let html = r.index_html();
    assert_eq!(html.matches("<div class=\"failure\">").count(), 13);
    assert!(html.contains(
        "<details class=\"group\"><summary><b>implementation</b> <code>openmls</code>: 12 failed"
    ));
    assert!(html.contains("<details class=\"group\" open><summary><b>design</b>"));
    let md = r.summary_md();
    assert!(
        md.contains("- **implementation** `openmls`: 12 failed"),
        "{md}"
    );
    assert!(
        md.contains("case 4 refused") && !md.contains("case 5 refused"),
        "{md}"
    );
    assert!(md.contains("  - … and 7 more (index.html and results.json have them all)"));
}
