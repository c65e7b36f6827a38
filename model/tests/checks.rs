//! Exhaustive checks at small bounds: pinned state counts, every property of the correct
//! protocols, and every mutant caught with its shortest counterexample pinned as a snapshot.

use e2ee_model::properties::Kind;
use e2ee_model::{check, Bounds, CheckOptions, CheckOutcome, Mutant, Protocol, Strategy};

/// The default bounds: 3 participants, 2 of them members, 2 changes, 1 interference.
fn small() -> Bounds {
    Bounds::default()
}

/// Two outsiders, so that symmetry reduction has joiners to merge.
fn pins() -> Bounds {
    Bounds {
        participants: 4,
        ..small()
    }
}

fn run(
    protocol: Protocol,
    mutant: Option<Mutant>,
    strategy: Strategy,
    symmetry: bool,
) -> CheckOutcome {
    run_at(small(), protocol, mutant, strategy, symmetry)
}

fn run_at(
    bounds: Bounds,
    protocol: Protocol,
    mutant: Option<Mutant>,
    strategy: Strategy,
    symmetry: bool,
) -> CheckOutcome {
    let opts = CheckOptions {
        protocol,
        bounds,
        mutant,
        threads: 1,
        symmetry,
        strategy,
    };
    check(&opts, &mut |_| {}).expect("valid options")
}

/// (protocol, BFS unique, DFS unique, DFS+symmetry unique) at 4 participants, 2 initial members,
/// 2 changes, 1 interference.
const PINNED: &[(Protocol, usize, usize, usize)] = &[
    (Protocol::Leader, 5738, 5738, 2891),
    (Protocol::MlsDc, 191746, 191746, 95911),
    (Protocol::MlsGateway, 110251, 110251, 55166),
];

#[test]
fn correct_protocols_hold_every_property_with_pinned_state_counts() {
    for &(protocol, bfs, dfs, sym) in PINNED {
        let outcome = run_at(pins(), protocol, None, Strategy::Bfs, false);
        for p in &outcome.properties {
            assert!(
                p.holds,
                "{protocol}: {} fails:\n{}",
                p.name,
                p.trace.as_ref().map(|t| t.to_words()).unwrap_or_default()
            );
        }
        let got = (
            outcome.unique_state_count,
            run_at(pins(), protocol, None, Strategy::Dfs, false).unique_state_count,
            run_at(pins(), protocol, None, Strategy::Dfs, true).unique_state_count,
        );
        assert_eq!(
            got,
            (bfs, dfs, sym),
            "{protocol}: unique states (bfs, dfs, dfs+symmetry)"
        );
        assert!(got.2 < got.1, "{protocol}: symmetry must reduce");
    }
}

#[test]
fn every_mutant_is_caught_with_its_shortest_counterexample() {
    // Every `always` property must be seen failing under some mutant: none is unfalsifiable.
    let mut ever_violated = std::collections::BTreeSet::new();
    for protocol in Protocol::default_run() {
        for mutant in Mutant::ALL
            .into_iter()
            .filter(|m| m.applies_to().contains(&protocol))
        {
            let outcome = run(protocol, Some(mutant), Strategy::Bfs, false);
            ever_violated.extend(
                outcome
                    .properties
                    .iter()
                    .filter(|p| !p.holds)
                    .map(|p| p.name),
            );
            let target = outcome
                .property(mutant.target())
                .expect("target is a property");
            assert_eq!(target.kind, Kind::Always);
            assert!(
                !target.holds,
                "{protocol} + {mutant}: {} not violated",
                mutant.target()
            );
            assert!(outcome.expectation_met());
            let trace = target
                .trace
                .as_ref()
                .expect("a violated property has a counterexample");
            insta::assert_snapshot!(
                format!("{protocol}__{mutant}"),
                format!("{}\n{}", trace.to_words(), trace.to_mermaid())
            );
        }
    }
    for info in e2ee_model::properties::PROPERTIES
        .iter()
        .filter(|p| p.kind == Kind::Always)
    {
        assert!(
            ever_violated.contains(info.name),
            "no mutant violates {}",
            info.name
        );
    }
}

/// Symmetry reduction merges participants that have not arrived yet; with three of them
/// (5 participants, 2 initial members) it must cut the states at least fivefold, given enough
/// changes for the joiners to arrive (the leader's smaller space needs three).
#[test]
fn symmetry_cuts_states_fivefold_with_three_interchangeable_joiners() {
    for (protocol, max_changes) in [
        (Protocol::Leader, 3),
        (Protocol::MlsDc, 2),
        (Protocol::MlsGateway, 2),
    ] {
        let bounds = Bounds {
            participants: 5,
            initial_members: 2,
            max_changes,
            max_interference: 1,
        };
        let plain = run_at(bounds, protocol, None, Strategy::Dfs, false);
        let reduced = run_at(bounds, protocol, None, Strategy::Dfs, true);
        assert!(
            plain.expectation_met() && reduced.expectation_met(),
            "{protocol}"
        );
        let ratio = plain.unique_state_count as f64 / reduced.unique_state_count as f64;
        assert!(
            ratio >= 5.0,
            "{protocol}: symmetry cut {} to {} ({ratio:.2}x)",
            plain.unique_state_count,
            reduced.unique_state_count
        );
    }
}

/// Negative control for the vacuity witnesses: with no membership change allowed nothing
/// happens, so every `always` property holds and every witness must report that it never did.
#[test]
fn witnesses_fail_when_nothing_can_happen() {
    let frozen = Bounds {
        max_changes: 0,
        max_interference: 0,
        ..small()
    };
    for protocol in Protocol::default_run() {
        let outcome = run_at(frozen, protocol, None, Strategy::Bfs, false);
        for p in &outcome.properties {
            assert_eq!(p.holds, p.kind == Kind::Always, "{protocol}: {}", p.name);
        }
        assert!(!outcome.expectation_met());
    }
}

/// Bounds whose state space does not fit are a usage error, not a partial verdict.
#[test]
fn a_check_that_outgrows_its_state_budget_is_an_error() {
    let opts = CheckOptions {
        bounds: pins(),
        ..CheckOptions::new(Protocol::MlsDc)
    };
    match e2ee_model::check_within(&opts, 1_000, &mut |_| {}) {
        Err(e2ee_model::ModelError::TooBig { generated, .. }) => assert!(generated >= 1_000),
        other => panic!("expected TooBig, got {other:?}"),
    }
}
