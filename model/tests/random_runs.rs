//! proptest: random runs of the correct protocols, the server's interference included, never
//! violate an `always` property; the same walker does find violations in a mutant, so these
//! runs can fail.

use e2ee_model::protocols::{
    leader::LeaderModel, mls_dc::MlsDcModel, mls_gateway::MlsGatewayModel,
};
use e2ee_model::{Bounds, Mutant};
use proptest::prelude::*;
use stateright::{Expectation, Model};

/// Follows `choices` (each taken modulo the actions available) from the initial state and
/// checks every `always` property after every step. Err names the property and the step.
fn walk<M: Model>(model: &M, choices: &[usize]) -> Result<(), String> {
    let properties = model.properties();
    let mut state = model.init_states().remove(0);
    let mut actions = Vec::new();
    for (step, choice) in choices.iter().enumerate() {
        for p in properties
            .iter()
            .filter(|p| p.expectation == Expectation::Always)
        {
            if !(p.condition)(model, &state) {
                return Err(format!("{} violated before step {}", p.name, step + 1));
            }
        }
        model.actions(&state, &mut actions);
        if actions.is_empty() {
            return Ok(());
        }
        let action = actions.swap_remove(choice % actions.len());
        actions.clear();
        if let Some(next) = model.next_state(&state, action) {
            state = next;
        }
    }
    Ok(())
}

fn bounds() -> impl Strategy<Value = Bounds> {
    (3u8..=4, 1u8..=2, 1u8..=3, 0u8..=2).prop_map(
        |(participants, initial_members, max_changes, max_interference)| Bounds {
            participants,
            initial_members,
            max_changes,
            max_interference,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn leader_random_runs_keep_every_property(b in bounds(), choices in prop::collection::vec(any::<usize>(), 0..60)) {
        prop_assert_eq!(walk(&LeaderModel::new(b, None), &choices), Ok(()));
    }

    #[test]
    fn mls_dc_random_runs_keep_every_property(b in bounds(), choices in prop::collection::vec(any::<usize>(), 0..60)) {
        prop_assert_eq!(walk(&MlsDcModel::new(b, None), &choices), Ok(()));
    }

    #[test]
    fn mls_gateway_random_runs_keep_every_property(b in bounds(), choices in prop::collection::vec(any::<usize>(), 0..60)) {
        prop_assert_eq!(walk(&MlsGatewayModel::new(b, None), &choices), Ok(()));
    }
}

/// Negative control: the walker is not blind. Deterministic pseudo-random runs of a mutant
/// find its violation.
#[test]
fn random_runs_find_a_mutants_violation() {
    let bounds = Bounds {
        participants: 3,
        initial_members: 2,
        max_changes: 2,
        max_interference: 1,
    };
    let model = LeaderModel::new(bounds, Some(Mutant::NoRotateOnLeave));
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let found = (0..500).any(|_| {
        let choices: Vec<usize> = (0..30)
            .map(|_| {
                // xorshift: a fixed, dependency-free sequence.
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as usize
            })
            .collect();
        walk(&model, &choices).is_err()
    });
    assert!(
        found,
        "500 random runs of no-rotate-on-leave found no violation"
    );
}
