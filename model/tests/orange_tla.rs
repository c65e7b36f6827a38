//! The port of Cloudflare's TLA+ model of Orange Meets (orange_draft1.tla at 404f994) explores
//! exactly TLC's distinct states. TLC 2.19, MaxTotalUsers = 5 (Orange.toolbox/Model_1/MC.out):
//! 55,374,565 states generated, 20,165,835 distinct, depth 48, no invariant violated.

use e2ee_model::protocols::orange_tla::{
    Msg, OrangeAction, OrangeMutant, OrangeState, OrangeTla, Ty,
};
use stateright::{Checker, Model};
use std::collections::{HashMap, VecDeque};

/// (distinct, generated, depth) of a breadth-first check, with every invariant holding.
fn count(max_total_users: u8) -> (usize, usize, usize) {
    let model = OrangeTla::new(max_total_users);
    let names: Vec<&str> = model.properties().iter().map(|p| p.name).collect();
    let checker = model.checker().threads(2).spawn_bfs().join();
    let found = checker.discoveries();
    for name in names {
        assert!(
            !found.contains_key(name),
            "N={max_total_users}: {name} violated"
        );
    }
    (
        checker.unique_state_count(),
        checker.state_count(),
        checker.max_depth(),
    )
}

/// (distinct, generated, depth) as TLC reports them: TLC built from tlaplus/tlaplus (cc6b616),
/// BFS, one worker, on the spec and MC.cfg at 404f994 with MaxTotalUsers = 3 and 4.
#[test]
fn three_and_four_users_match_tlc() {
    assert_eq!(count(3), (73, 142, 12));
    assert_eq!(count(4), (18_241, 47_289, 25));
}

/// TLC 2.19's own numbers at Cloudflare's bound (the repository's MC.out): distinct, generated
/// and depth, all three.
#[test]
fn five_users_match_tlc() {
    assert_eq!(count(5), (20_165_835, 55_374_565, 48));
}

// ---------------------------------------------------------------------------------------------
// Orange's README "Lessons learned" as mutants: each must make the checker find a counterexample.
// ---------------------------------------------------------------------------------------------

/// A shortest path (in steps) from an initial state to the first state, in breadth-first order,
/// where property `name` fails: the init state followed by (action, state) pairs.
fn shortest_counterexample(
    model: &OrangeTla,
    name: &str,
) -> Option<(OrangeState, Vec<(OrangeAction, OrangeState)>)> {
    let properties = model.properties();
    let property = properties
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no property {name}"));
    let mut parent: HashMap<OrangeState, Option<(OrangeState, OrangeAction)>> = HashMap::new();
    let mut queue = VecDeque::new();
    for s in model.init_states() {
        if parent.insert(s.clone(), None).is_none() {
            queue.push_back(s);
        }
    }
    let mut actions = Vec::new();
    while let Some(s) = queue.pop_front() {
        if !(property.condition)(model, &s) {
            let mut steps = Vec::new();
            let mut cur = s;
            while let Some((prev, action)) = parent[&cur].clone() {
                steps.push((action, cur));
                cur = prev;
            }
            steps.reverse();
            return Some((cur, steps));
        }
        actions.clear();
        model.actions(&s, &mut actions);
        for &a in &actions {
            if let Some(t) = model.next_state(&s, a) {
                if !parent.contains_key(&t) {
                    parent.insert(t.clone(), Some((s.clone(), a)));
                    queue.push_back(t);
                }
            }
        }
    }
    None
}

fn msg_words(m: Msg) -> String {
    match m.ty() {
        Ty::UserJoined => format!("user_joined of uid {}", m.uid()),
        Ty::UserLeft => format!("user_left of uid {}", m.uid()),
        Ty::MlsWelcome => format!(
            "Welcome to uid {} at epoch {} from uid {}",
            m.uid(),
            m.epoch(),
            m.sender()
        ),
        Ty::MlsAdd => format!(
            "Add of uid {} at epoch {} from uid {}",
            m.uid(),
            m.epoch(),
            m.sender()
        ),
        Ty::MlsRemove => format!(
            "Remove of uid {} at epoch {} from uid {}",
            m.uid(),
            m.epoch(),
            m.sender()
        ),
    }
}

/// One line of words for the step `a` from `s` to `t`.
fn describe(s: &OrangeState, a: OrangeAction, t: &OrangeState) -> String {
    let sent = (t.n_msgs > s.n_msgs).then(|| t.messages()[s.n_msgs as usize]);
    match a {
        OrangeAction::Join => format!("uid {} joins", s.next_free_uid),
        OrangeAction::Leave(i) => format!("uid {i} leaves"),
        OrangeAction::DeliveryServiceDone => "delivery service stops".to_string(),
        OrangeAction::Read(u) => {
            let m = t.new_msg;
            let mut line = format!("uid {u} reads message {}: {}", t.new_idx, msg_words(m));
            let before = s.user(u as u32);
            let after = t.user(u as u32);
            if matches!(m.ty(), Ty::MlsAdd | Ty::MlsRemove) && t.ignore_msg {
                line.push_str(" (ignored)");
            }
            if !before.welcomed && after.welcomed {
                line.push_str(&format!(" (now welcomed, epoch {})", after.epoch));
            } else if after.epoch != before.epoch {
                line.push_str(&format!(" (epoch {} -> {})", before.epoch, after.epoch));
            }
            if t.assert_failed && !s.assert_failed {
                line.push_str(" -- ASSERT FAILS");
            }
            line
        }
        OrangeAction::UsersDone => "users process stops".to_string(),
        OrangeAction::DcMain(_) | OrangeAction::DcSendAdd => match sent {
            Some(m) => format!("DC (uid {}) sends {}", m.sender(), msg_words(m)),
            None => format!(
                "DC step DcSendAdd: uid {} has left, sends nothing",
                s.dc_uid_at_start_of_add
            ),
        },
        OrangeAction::DcDone => "DC process stops".to_string(),
        OrangeAction::Terminating => "all processes done (stutter)".to_string(),
    }
}

fn render(init: &OrangeState, steps: &[(OrangeAction, OrangeState)]) -> String {
    let mut out = String::new();
    let mut prev = init;
    for (i, (a, t)) in steps.iter().enumerate() {
        out.push_str(&format!("{:2}. {}\n", i + 1, describe(prev, *a, t)));
        prev = t;
    }
    out
}

/// Stateright's own single-threaded BFS: the names of the properties it found violated, sorted.
fn discovered(model: &OrangeTla) -> Vec<&'static str> {
    let checker = model.clone().checker().spawn_bfs().join();
    let mut names: Vec<&'static str> = checker.discoveries().keys().copied().collect();
    names.sort_unstable();
    names
}

/// The shortest counterexample for `property`, as (steps, rendering).
fn pinned(model: &OrangeTla, property: &str) -> (usize, String) {
    let (init, steps) =
        shortest_counterexample(model, property).unwrap_or_else(|| panic!("{property} holds"));
    (steps.len(), render(&init, &steps))
}

/// README, "Welcomes must come before Adds": the DC sends the Add, then dies; the joiner is
/// Added (here it even becomes the DC) but never Welcomed. Needs N = 4: the delivery service
/// only makes users leave while `next_free_uid < MaxTotalUsers`, so at N = 3 the DC cannot
/// leave after uid 2 joins. Cloudflare's `JoinImpliesWelcome` catches it (and
/// `EndWithNoPendings`: the stranded joiner never processes the `user_left`).
#[test]
fn mutant_add_before_welcome() {
    let model = OrangeTla::with_mutant(4, Some(OrangeMutant::AddBeforeWelcome));
    assert_eq!(
        discovered(&model),
        [
            "EndWithNoPendings",
            "JoinImpliesWelcome",
            "WelcomeImpliesAdd"
        ]
    );
    let (len, text) = pinned(&model, "JoinImpliesWelcome");
    assert_eq!(len, 9);
    insta::assert_snapshot!("orange_add_before_welcome_join_implies_welcome", text);
}

/// At N = 3 the swap is still caught, but only by `WelcomeImpliesAdd`, which states the order
/// itself ("every Welcome is followed by an Add"): the counterexample has no death in it and
/// nobody is harmed. Pinned to show that this is not the README's failure.
#[test]
fn mutant_add_before_welcome_three_users_only_order_invariant() {
    let model = OrangeTla::with_mutant(3, Some(OrangeMutant::AddBeforeWelcome));
    assert_eq!(discovered(&model), ["WelcomeImpliesAdd"]);
    let (len, text) = pinned(&model, "WelcomeImpliesAdd");
    assert_eq!(len, 8);
    insta::assert_snapshot!("orange_add_before_welcome_n3_welcome_implies_add", text);
}

/// README, "Users should be welcomed in the order they arrive": the DC welcomes the newest
/// pending joiner first. At N = 3 there is only one joiner, so nothing changes. At N = 4 the
/// shortest failure needs no death: uid 2 is still unwelcomed when it reads the Add of uid 3,
/// ignores it, and keeps 3 pending forever (`EndWithNoPendings`).
#[test]
fn mutant_welcome_out_of_order() {
    let three = OrangeTla::with_mutant(3, Some(OrangeMutant::WelcomeOutOfOrder));
    assert!(discovered(&three).is_empty());
    let model = OrangeTla::with_mutant(4, Some(OrangeMutant::WelcomeOutOfOrder));
    assert_eq!(discovered(&model), ["EndWithNoPendings"]);
    let (len, text) = pinned(&model, "EndWithNoPendings");
    assert_eq!(len, 21);
    insta::assert_snapshot!("orange_welcome_out_of_order_end_with_no_pendings", text);
}
