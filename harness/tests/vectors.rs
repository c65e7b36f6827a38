//! The vector replay against the real files in the shared vectors directory, and against
//! corrupted copies of them: each kind of check must turn from pass to fail when one byte of
//! what it compares is flipped.

use e2ee_harness::results::Verdict;
use e2ee_harness::vectors::{self, Outcome, Selection};
use std::path::{Path, PathBuf};

fn vectors_dir() -> PathBuf {
    vectors::dir_for_tests()
}

/// This repository's own vectors.
fn own_vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors")
}

fn clients(names: &[&str]) -> Selection {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    Selection::named(Some(&names)).expect("known clients")
}

fn run_one(file: &Path, names: &[&str]) -> Outcome {
    let mut outcome = Outcome::default();
    vectors::run_file(file, &clients(names), &mut outcome);
    outcome
}

fn verdict_of(outcome: &Outcome, client: &str, name: &str) -> Verdict {
    outcome
        .checks
        .iter()
        .find(|c| c.subject == client && c.name == name)
        .unwrap_or_else(|| panic!("no check {client} / {name}"))
        .verdict
}

/// A copy of `file` in a fresh temp dir with one byte of the hex string at JSON `pointer`
/// flipped (its first byte XOR 0x01).
fn corrupt(file: &Path, pointer: &str, tag: &str) -> PathBuf {
    corrupt_at(file, pointer, 0, tag)
}

/// [`corrupt`], flipping byte `at`.
fn corrupt_at(file: &Path, pointer: &str, at: usize, tag: &str) -> PathBuf {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let field = v.pointer_mut(pointer).expect("pointer into the vector");
    let mut bytes = hex::decode(field.as_str().unwrap()).unwrap();
    bytes[at] ^= 1;
    *field = serde_json::Value::String(hex::encode(bytes));
    let dir = std::env::temp_dir().join(format!("e2ee-vectors-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(file.file_name().unwrap());
    std::fs::write(&out, serde_json::to_string(&v).unwrap()).unwrap();
    out
}

#[test]
fn rfc9605_vectors_pass_through_the_sframe_crate() {
    let file = vectors_dir().join("sframe/rfc9605-test-vectors.json");
    let o = run_one(&file, &["sframe"]);
    assert!(o.input_errors.is_empty(), "{:?}", o.input_errors);
    let count = |v: Verdict| o.checks.iter().filter(|c| c.verdict == v).count();
    // 289 headers and 5 frames pass; the 3 AEAD cases need a caller's key, which the crate
    // does not take.
    assert_eq!(count(Verdict::Pass), 294);
    assert_eq!(count(Verdict::NotApplicable), 3);
    assert_eq!(count(Verdict::Fail), 0);
}

#[test]
fn a_flipped_byte_fails_each_sframe_check() {
    let file = vectors_dir().join("sframe/rfc9605-test-vectors.json");
    for (pointer, name) in [
        ("/header/7/encoded", "rfc9605-test-vectors.json[header.7]"),
        (
            "/sframe/0/ct",
            "rfc9605-test-vectors.json[sframe.0] suite 1",
        ),
        (
            "/sframe/4/pt",
            "rfc9605-test-vectors.json[sframe.4] suite 5",
        ),
    ] {
        let good = run_one(&file, &["sframe"]);
        assert_eq!(verdict_of(&good, "sframe", name), Verdict::Pass, "{name}");
        let bad = run_one(&corrupt(&file, pointer, "sframe"), &["sframe"]);
        assert_eq!(verdict_of(&bad, "sframe", name), Verdict::Fail, "{name}");
    }
}

#[test]
fn bad_input_names_file_case_and_field_and_the_rest_still_runs() {
    let dir = std::env::temp_dir().join(format!("e2ee-bad-vectors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("broken.json"), "{ not json").unwrap();
    std::fs::write(dir.join("mystery.json"), r#"[{"colour": "blue"}]"#).unwrap();
    let header = r#"{"header": [{"kid": 1, "ctr": 2, "encoded": "12"},
                                {"kid": 1, "ctr": 2, "encoded": "xx"}],
                     "aes_ctr_hmac": [], "sframe": []}"#;
    std::fs::write(dir.join("sframe.json"), header).unwrap();
    let mut progress = |_: &Path| {};
    let o = vectors::run(
        std::slice::from_ref(&dir),
        &clients(&["sframe"]),
        &mut progress,
    )
    .unwrap();
    let errors: Vec<String> = o.input_errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(errors
        .iter()
        .any(|e| e.contains("broken.json") && e.contains("not JSON")));
    assert!(errors.iter().any(|e| e.contains("mystery.json")
        && e.contains("unknown shape")
        && e.contains("colour")));
    assert!(errors.iter().any(|e| e.contains("sframe.json")
        && e.contains("case header.1")
        && e.contains("field encoded")
        && e.contains("bad hex")));
    // The good case of the same file still ran.
    assert_eq!(o.checks.len(), 1);
    assert_eq!(o.checks[0].verdict, Verdict::Pass);
    assert!(!o.nothing_read());
}

/// Each kind of MLS check, for both MLS clients: passes on the file, fails with one byte of
/// what it compares flipped.
#[test]
fn a_flipped_byte_fails_each_mls_check_for_each_client() {
    let mls = vectors_dir().join("mls");
    let cases = [
        (
            "passive-client-welcome.json",
            "/0/initial_epoch_authenticator",
            "passive-client-welcome.json[0] suite 1",
        ),
        (
            "passive-client-handling-commit.json",
            "/0/epochs/1/epoch_authenticator",
            "passive-client-handling-commit.json[0] suite 1",
        ),
        ("welcome.json", "/1/signer_pub", "welcome.json[1] suite 2"),
        (
            "deserialization.json",
            "/3/vlbytes_header",
            "deserialization.json[3]",
        ),
        (
            "deserialization.json",
            "/13/vlbytes_header@3",
            "deserialization.json[13]",
        ),
        // A round trip compares a structure with itself: flip a length prefix, not a value that
        // still decodes (byte 6 opens the Welcome's secrets<V>, byte 4 the group_id<V>).
        (
            "messages.json",
            "/0/mls_welcome@6",
            "messages.json[0.mls_welcome]",
        ),
        (
            "messages.json",
            "/3/private_message@4",
            "messages.json[3.private_message]",
        ),
        (
            "crypto-basics.json",
            "/0/ref_hash/out",
            "crypto-basics.json[0.ref_hash] suite 1",
        ),
        (
            "crypto-basics.json",
            "/1/expand_with_label/out",
            "crypto-basics.json[1.expand_with_label] suite 2",
        ),
        (
            "crypto-basics.json",
            "/2/derive_secret/out",
            "crypto-basics.json[2.derive_secret] suite 3",
        ),
        (
            "crypto-basics.json",
            "/0/derive_tree_secret/out",
            "crypto-basics.json[0.derive_tree_secret] suite 1",
        ),
        (
            "crypto-basics.json",
            "/1/sign_with_label/signature",
            "crypto-basics.json[1.sign_with_label] suite 2",
        ),
        (
            "crypto-basics.json",
            "/0/encrypt_with_label/plaintext",
            "crypto-basics.json[0.encrypt_with_label] suite 1",
        ),
    ];
    for (i, (file, pointer, name)) in cases.iter().enumerate() {
        let good = run_one(&mls.join(file), &["openmls", "mls-rs"]);
        let (pointer, at) = match pointer.split_once('@') {
            Some((p, at)) => (p, at.parse().unwrap()),
            None => (*pointer, 0),
        };
        let bad = run_one(
            &corrupt_at(&mls.join(file), pointer, at, &format!("mls{i}")),
            &["openmls", "mls-rs"],
        );
        for client in ["openmls", "mls-rs"] {
            assert_eq!(
                verdict_of(&good, client, name),
                Verdict::Pass,
                "{client} {name}"
            );
            assert_eq!(
                verdict_of(&bad, client, name),
                Verdict::Fail,
                "{client} {name} {pointer}"
            );
        }
    }
}

/// The whole directory through every client: the summary table, pinned. Every case of every
/// file is counted; nothing is dropped.
#[test]
fn every_vector_through_every_client_summary() {
    let dirs = [vectors_dir(), own_vectors()];
    let mut progress = |_: &Path| {};
    let o = vectors::run(
        &dirs,
        &clients(&["openmls", "mls-rs", "sframe"]),
        &mut progress,
    )
    .unwrap();
    assert!(o.input_errors.is_empty(), "{:?}", o.input_errors);
    // Paths differ between machines: pin the table, not its heading.
    let table = vectors::render(&o, &[PathBuf::from("<vectors>"), PathBuf::from("vectors")]);
    insta::assert_snapshot!("vectors_summary", table);
}

/// This project's MLS → SFrame vectors (made by mls-rs) verify under every MLS client, and a
/// flipped byte of the exported base key or of the frame fails them.
#[test]
fn own_mls_sframe_vectors_verify_and_fail_when_corrupted() {
    let file = own_vectors().join("mls-sframe.json");
    let names = ["openmls", "mls-rs", "sframe"];
    let good = run_one(&file, &names);
    assert!(good.input_errors.is_empty(), "{:?}", good.input_errors);
    assert!(good.checks.iter().all(|c| c.verdict != Verdict::Fail));
    for subject in ["openmls+sframe", "mls-rs+sframe"] {
        assert_eq!(
            verdict_of(&good, subject, "mls-sframe.json[0] suite 1"),
            Verdict::Pass
        );
    }
    for (pointer, tag) in [
        ("/0/sframe_base_key", "base"),
        ("/0/ct", "ct"),
        ("/0/join/welcome", "welcome"),
    ] {
        let bad = run_one(&corrupt_at(&file, pointer, 8, tag), &names);
        for subject in ["openmls+sframe", "mls-rs+sframe"] {
            assert_eq!(
                verdict_of(&bad, subject, "mls-sframe.json[0] suite 1"),
                Verdict::Fail,
                "{subject} {pointer}"
            );
        }
    }
}
