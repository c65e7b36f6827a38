//! The keyed Orange model (`orange-dc-keys`): the spec's algorithm with symbolic epoch keys,
//! MLS's commit checks and an adversarial server, judged by the group-key properties.

use e2ee_model::properties::Kind;
use e2ee_model::{check, Bounds, CheckOptions, CheckOutcome, Mutant, Protocol, Strategy};

fn run(max_total_users: u8, interference: u8, mutant: Option<Mutant>, dfs: bool) -> CheckOutcome {
    let opts = CheckOptions {
        protocol: Protocol::OrangeDcKeys,
        bounds: Bounds {
            participants: max_total_users,
            max_interference: interference,
            ..Bounds::default()
        },
        mutant,
        threads: 2,
        symmetry: false,
        strategy: if dfs { Strategy::Dfs } else { Strategy::Bfs },
    };
    check(&opts, &mut |_| {}).expect("valid options")
}

fn failing(o: &CheckOutcome) -> Vec<&'static str> {
    o.properties
        .iter()
        .filter(|p| p.kind == Kind::Always && !p.holds)
        .map(|p| p.name)
        .collect()
}

/// With an honest server the keys add no distinctions at 3 and 4 users: the keyed model has
/// exactly the spec's distinct states (TLC's 73 and the port's 18,241), so it runs the same
/// algorithm; keys are a function of the spec's history there.
#[test]
fn without_interference_the_keyed_model_has_the_specs_states() {
    for (n, spec_distinct) in [(3, 73), (4, 18_241)] {
        let o = run(n, 0, None, false);
        assert_eq!(o.unique_state_count, spec_distinct, "MaxTotalUsers = {n}");
    }
}

/// At 4 users with one server interference of any kind (drop, reorder, replay, ghost join),
/// every group-key property holds and every witness happens.
#[test]
fn every_property_holds_at_four_users_with_one_interference() {
    let o = run(4, 1, None, false);
    for p in &o.properties {
        assert!(
            p.holds,
            "{} fails:\n{}",
            p.name,
            p.trace.as_ref().map(|t| t.to_words()).unwrap_or_default()
        );
    }
    assert_eq!(o.unique_state_count, 160_033);
    // The server's moves reach states the honest spec does not.
    assert!(o.unique_state_count > run(4, 0, None, false).unique_state_count);
}

/// Each group-key mutant that touches the DC's commits or the members' checks is caught at 4
/// users, with its shortest counterexample pinned.
#[test]
fn group_key_mutants_are_caught_on_the_orange_algorithm() {
    let applicable: Vec<Mutant> = Mutant::ALL
        .into_iter()
        .filter(|m| m.applies_to().contains(&Protocol::OrangeDcKeys))
        .collect();
    assert_eq!(applicable.len(), 5);
    for mutant in applicable {
        let o = run(4, 1, Some(mutant), false);
        assert!(o.expectation_met(), "{mutant} not caught");
        let target = o.property(mutant.target()).expect("target checked");
        let trace = target.trace.as_ref().expect("counterexample");
        insta::assert_snapshot!(
            format!("orange-dc-keys__{mutant}"),
            format!("{}\n{}", trace.to_words(), trace.to_mermaid())
        );
    }
}

/// What the keys show that Cloudflare's invariants cannot: at the spec's own bound, with no
/// server interference at all, a joiner Welcomed by a DC that leaves before its Add holds that
/// DC's epoch secret while the next DC Welcomes it again into a different one of the same
/// number. It ignores the second Welcome (it is already welcomed) and its own Add, so it sits in
/// a fork of the group: `epoch_agreement` fails, and, since MLS cannot process a commit made in
/// another fork, it never catches up (`convergence`). The spec's epochs agree all along (TLC's
/// `EndWithEqualEpochs` holds): epoch numbers alone cannot tell the two epoch-3 secrets apart.
///
/// About 2.5 minutes on 2 cores (depth-first, then one breadth-first pass for the paths).
#[test]
fn a_joiner_welcomed_by_a_departing_dc_ends_in_a_fork() {
    let o = run(5, 0, None, true);
    assert_eq!(o.unique_state_count, 20_224_083);
    assert_eq!(failing(&o), ["epoch_agreement", "convergence"]);
    for name in ["epoch_agreement", "convergence"] {
        let trace = o.property(name).unwrap().trace.as_ref().unwrap();
        insta::assert_snapshot!(
            format!("orange-dc-keys__as_published__{name}"),
            format!("{}\n{}", trace.to_words(), trace.to_mermaid())
        );
    }
    // The secrecy properties hold: the fork is a failure to agree, not a leak.
    for name in [
        "server_never_learns_media_key",
        "leave_secrecy",
        "join_secrecy",
        "no_invisible_member",
    ] {
        assert!(o.property(name).unwrap().holds, "{name}");
    }
}
