//! Remote clients over the IETF interop gRPC interface: the harness drives its own `e2ee serve`
//! processes over loopback and reaches the verdicts it reaches in-process, and a server seeded
//! with a fault (a wrong epoch authenticator, an RPC answered UNIMPLEMENTED, a call never
//! answered, a crash mid-run) gets the verdict that fault deserves, naming the server and RPC.

use e2ee_harness::clients::{self, MemberClient};
use e2ee_harness::interop::runner::Stop;
use e2ee_harness::interop::script::Config;
use e2ee_harness::interop::{self, Plan, RunRecord};
use e2ee_harness::results::Verdict;
use e2ee_harness::vectors::dir_for_tests;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// An `e2ee serve` process, killed when dropped.
struct Server {
    child: Child,
    /// `grpc:127.0.0.1:PORT`, as `--clients` names it.
    name: String,
}

impl Server {
    /// Serves `client` on a free loopback port with `faults` seeded.
    fn start(client: &str, faults: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_e2ee"));
        cmd.args(["serve", "--client", client, "--listen", "127.0.0.1:0"]);
        for f in faults {
            cmd.args(["--fault", f]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("e2ee serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("a first line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("`listening on ADDR`, got {line:?}"))
            .to_string();
        Server {
            child,
            name: format!("grpc:{addr}"),
        }
    }

    fn connect(&self, timeout: Duration) -> Box<dyn MemberClient> {
        let mut c = clients::member_clients_named(Some(std::slice::from_ref(&self.name)), timeout)
            .unwrap_or_else(|e| panic!("{}: {e}", self.name));
        c.remove(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn configs() -> Vec<Config> {
    let (configs, errors) = interop::load(&dir_for_tests().join("mls-interop"));
    assert!(errors.is_empty(), "{errors:?}");
    configs
}

/// Only `file`'s script `name`.
fn only(file: &str, name: &str) -> Vec<Config> {
    configs()
        .into_iter()
        .filter(|c| c.file.ends_with(file))
        .map(|mut c| {
            c.scripts.retain(|s| s.name == name);
            c
        })
        .collect()
}

fn run(configs: &[Config], clients: &[Box<dyn MemberClient>], plan: &Plan) -> Vec<RunRecord> {
    let chosen: Vec<&dyn MemberClient> = clients.iter().map(|c| c.as_ref()).collect();
    let jobs = interop::jobs(configs, &chosen, plan);
    assert!(!jobs.is_empty(), "nothing to run");
    interop::execute(configs, &chosen, &jobs, &|_, _| {})
}

fn verdicts(r: &RunRecord) -> Vec<Verdict> {
    r.checks().iter().map(|c| c.verdict).collect()
}

/// Where our own server cannot follow the interface (listed in the README): the interface
/// makes a branch's key package apart from the member that holds the group it branches, our
/// adapters keep them together.
fn our_server_gap(r: &RunRecord) -> bool {
    matches!(&r.stop, Some(Stop::Unimplemented { feature, .. })
        if feature.starts_with("HandleBranch answered Unimplemented"))
}

/// Every shipped scenario, sampled: two `e2ee serve` processes (openmls, mls-rs) reach the
/// verdicts the same clients reach in-process, run for run, check for check.
#[test]
fn served_clients_reach_the_in_process_verdicts() {
    let openmls = Server::start("openmls", &[]);
    let mls_rs = Server::start("mls-rs", &[]);
    let remote = vec![
        openmls.connect(Duration::from_secs(30)),
        mls_rs.connect(Duration::from_secs(30)),
    ];
    // The name each server reports (Name RPC) is the version a report shows.
    assert!(
        remote[0].version().starts_with("openmls ")
            && remote[0].version().ends_with("(e2ee serve)"),
        "{}",
        remote[0].version()
    );
    let local = clients::member_clients_named(
        Some(&["openmls".to_string(), "mls-rs".to_string()]),
        Duration::from_secs(30),
    )
    .unwrap();
    let configs = configs();
    let plan = Plan {
        suite: None,
        sample: Some((7, 2)),
        control: None,
        modes: vec![true, false],
    };
    let here = run(&configs, &local, &plan);
    let there = run(&configs, &remote, &plan);
    assert_eq!(here.len(), there.len());
    let (mut same, mut gaps, mut passed) = (0, 0, 0);
    for (h, t) in here.iter().zip(&there) {
        let named = |c: &str| {
            if c == openmls.name {
                "openmls"
            } else if c == mls_rs.name {
                "mls-rs"
            } else {
                panic!("{c} is not a served client")
            }
        };
        let assignment: Vec<(String, &str)> = t
            .actors
            .iter()
            .map(|(a, c)| (a.clone(), named(c)))
            .collect();
        assert_eq!(h.actors, assignment, "the same jobs in the same order");
        if our_server_gap(t) {
            gaps += 1;
            continue;
        }
        assert_eq!(
            verdicts(h),
            verdicts(t),
            "{} [{}]: in-process {:?} / served {:?}",
            h.subject(),
            h.assignment(),
            h.stop,
            t.stop
        );
        same += 1;
        assert_eq!(
            (h.agreements, h.round_trips),
            (t.agreements, t.round_trips),
            "{} [{}]: the same comparisons",
            h.subject(),
            h.assignment()
        );
        passed += usize::from(h.stop.is_none());
        // The delivery service searched the same number of member keys: Export answered.
        assert_eq!(h.secrets, t.secrets, "{} [{}]", h.subject(), h.assignment());
    }
    let scripts: usize = configs.iter().map(|c| c.scripts.len()).sum();
    eprintln!("{same} runs compared, {passed} passed on both sides, {gaps} met our server's gaps");
    assert!(
        here.len() >= 3 * scripts,
        "every script sampled in both handshake modes"
    );
    assert!(
        gaps <= here.len() / 10,
        "{gaps} runs met our server's listed gaps"
    );
    assert!(
        passed >= here.len() / 2,
        "only {passed} runs passed on both sides ({same} compared)"
    );
}

/// A script with an application message, two actors: every check is asked.
fn application() -> Vec<Config> {
    only("application.json", "in_order")
}

#[test]
fn a_wrong_epoch_authenticator_fails_the_run() {
    let server = Server::start("openmls", &["wrong-authenticator"]);
    let remote = vec![server.connect(Duration::from_secs(30))];
    let records = run(&application(), &remote, &Plan::default());
    for r in &records {
        let Some(Stop::Fail(f)) = &r.stop else {
            panic!("{}: {:?}", r.assignment(), r.stop)
        };
        assert!(f.error.contains("authenticator"), "{f}");
        assert_eq!(f.client, server.name);
        assert_eq!(verdicts(r)[0], Verdict::Fail);
    }
}

#[test]
fn an_rpc_answered_unimplemented_is_unimplemented() {
    let server = Server::start("mls-rs", &["unimplemented:Protect"]);
    let remote = vec![server.connect(Duration::from_secs(30))];
    for r in run(&application(), &remote, &Plan::default()) {
        let Some(Stop::Unimplemented {
            client, feature, ..
        }) = &r.stop
        else {
            panic!("{}: {:?}", r.assignment(), r.stop)
        };
        assert_eq!(*client, server.name);
        assert!(
            feature.starts_with("Protect answered Unimplemented"),
            "{feature}"
        );
        assert_eq!(verdicts(&r)[0], Verdict::Unimplemented);
    }
}

#[test]
fn a_call_never_answered_fails_after_the_timeout() {
    let server = Server::start("openmls", &["hang:Unprotect"]);
    let remote = vec![server.connect(Duration::from_millis(500))];
    let plan = Plan {
        modes: vec![true],
        suite: Some(1),
        ..Plan::default()
    };
    for r in run(&application(), &remote, &plan) {
        let Some(Stop::Fail(f)) = &r.stop else {
            panic!("{}: {:?}", r.assignment(), r.stop)
        };
        assert_eq!(
            f.error,
            format!("Unprotect: no answer from {} within 0.5 s", server.name)
        );
        assert_eq!(verdicts(&r)[0], Verdict::Fail);
    }
}

/// A handler that panics (openmls's interop server on its `todo!()` RPCs) fails the run naming
/// the RPC; the server lives on, so later runs are not skipped.
#[test]
fn a_handler_that_panics_fails_the_run_and_the_server_lives_on() {
    let server = Server::start("openmls", &["panic:Unprotect"]);
    let remote = vec![server.connect(Duration::from_secs(30))];
    let records = run(&application(), &remote, &Plan::default());
    assert!(records.len() >= 2);
    for r in &records {
        let Some(Stop::Fail(f)) = &r.stop else {
            panic!("{}: {:?}", r.assignment(), r.stop)
        };
        assert!(f.error.starts_with("Unprotect answered "), "{f}");
    }
    assert!(remote[0].gone().is_none(), "{:?}", remote[0].gone());
}

/// The server exits mid-run: that run fails naming the RPC, the server is named once, and the
/// runs it had not started are skipped with the reason.
#[test]
fn a_server_that_crashes_is_named_once_and_its_remaining_runs_skipped() {
    let mut server = Server::start("mls-rs", &["crash-after:12"]);
    let remote = vec![server.connect(Duration::from_secs(30))];
    let records = run(&application(), &remote, &Plan::default());
    assert!(records.len() >= 4, "{} runs", records.len());
    let status = server.child.wait().expect("the server exited");
    assert_eq!(status.code(), Some(3), "the seeded crash");
    let failed: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.stop {
            Some(Stop::Fail(f)) => Some(f),
            _ => None,
        })
        .collect();
    assert!(!failed.is_empty() && failed.len() <= 2, "{failed:?}");
    for f in &failed {
        assert!(
            f.error
                .contains(&format!("{} stopped answering", server.name)),
            "{f}"
        );
    }
    let skipped = records
        .iter()
        .filter(|r| matches!(r.stop, Some(Stop::Skipped { .. })))
        .count();
    assert_eq!(
        skipped + failed.len(),
        records.len(),
        "no run outlived the crash"
    );
    for r in records
        .iter()
        .filter(|r| matches!(r.stop, Some(Stop::Skipped { .. })))
    {
        assert_eq!(verdicts(r), [Verdict::Skipped; 3]);
    }
    let summary = interop::render(&records, &[]);
    assert_eq!(
        summary.matches("remaining runs were skipped").count(),
        1,
        "named once:\n{summary}"
    );
    assert!(
        summary.contains(&format!("its {skipped} remaining runs were skipped")),
        "{summary}"
    );
}

/// `e2ee ARGS` exits 2 with `expected` in its error.
fn usage_error(args: &[&str], expected: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_e2ee"))
        .args(args)
        .env("E2EE_VECTORS", dir_for_tests())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
}

/// The command line: an address nobody serves is a usage error naming it; a bad fault too; a
/// remote client where only compiled-in ones play says where it does play.
#[test]
fn unreachable_servers_and_bad_faults_are_usage_errors() {
    usage_error(
        &[
            "interop",
            "--clients",
            "grpc:127.0.0.1:9",
            "--rpc-timeout",
            "2",
        ],
        "grpc:127.0.0.1:9: cannot connect",
    );
    usage_error(
        &[
            "interop",
            "--clients",
            "grpc:127.0.0.1:9",
            "--rpc-timeout",
            "0",
        ],
        "--rpc-timeout 0: expected seconds > 0",
    );
    usage_error(
        &["serve", "--client", "openmls", "--fault", "hang:Comit"],
        "`Comit` is not an MLSClient RPC",
    );
    usage_error(
        &["vectors", "--client", "grpc:127.0.0.1:9"],
        "plays members in `e2ee interop` only",
    );
}

/// From the command line, in-process and remote clients in one matrix; the record and the
/// report name the remote one with what it reported (Name RPC).
#[test]
fn the_command_line_mixes_clients_and_the_report_names_the_server() {
    let server = Server::start("mls-rs", &[]);
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("grpc-cli");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let record = dir.join("interop.json");
    let config = dir_for_tests().join("mls-interop/application.json");
    let e2ee = env!("CARGO_BIN_EXE_e2ee");
    let clients = format!("openmls,{}", server.name);
    let out = Command::new(e2ee)
        .args(["interop", "--clients", &clients, "--suite", "1", "--config"])
        .arg(&config)
        .arg("--json")
        .arg(&record)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    // 3 scripts × 2 handshake modes × 4 assignments of two clients to two actors.
    // No one is removed in these scripts: check 3 is not-applicable in every run.
    assert!(
        stdout.contains("72 checks: 48 pass, 24 not-applicable"),
        "{stdout}"
    );
    let report = dir.join("report");
    let out = Command::new(e2ee)
        .args(["report", "--in"])
        .arg(&record)
        .arg("--out")
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let merged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("results.json")).unwrap())
            .unwrap();
    let remote = merged["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == server.name.as_str())
        .unwrap_or_else(|| panic!("{} among {}", server.name, merged["components"]));
    assert!(
        remote["version"].as_str().unwrap().starts_with("mls-rs "),
        "{remote}"
    );
}
