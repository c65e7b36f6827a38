//! The port of Cloudflare's TLA+ model of Orange Meets (orange_draft1.tla at 404f994) explores
//! exactly TLC's distinct states. TLC 2.19, MaxTotalUsers = 5 (Orange.toolbox/Model_1/MC.out):
//! 55,374,565 states generated, 20,165,835 distinct, depth 48, no invariant violated.

use e2ee_model::protocols::orange_tla::OrangeTla;
use stateright::{Checker, Model};

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

#[test]
fn three_and_four_users_pinned() {
    assert_eq!(count(3), (73, 142, 12));
    assert_eq!(count(4), (18_241, 47_090, 25));
}

/// TLC's own number. Generated states differ: this port counts 54,785,164, TLC 55,374,565
/// (589,401 more); unexplained yet (distinct states and depth agree).
#[test]
fn five_users_match_tlc_distinct_states() {
    let (distinct, _generated, depth) = count(5);
    assert_eq!(distinct, 20_165_835);
    assert_eq!(depth, 48);
}
