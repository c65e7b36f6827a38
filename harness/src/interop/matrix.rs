//! Which client plays which actor. The IETF runner means to run every assignment of clients to
//! a script's actors, but its enumeration reuses one slice and covers only 372 of the 964 the
//! shipped scripts have with two clients (mlswg/mls-implementations main.go, `Assignments`);
//! here every assignment is enumerated, or a seeded sample of them is drawn.

use rand::rngs::StdRng;
use rand::SeedableRng;

/// How many assignments `clients` clients have over `actors` actors: clients^actors, or None if
/// that overflows.
pub fn count(actors: usize, clients: usize) -> Option<usize> {
    clients.checked_pow(u32::try_from(actors).ok()?)
}

/// Assignment number `n` (0-based, `n < count`) as one client index per actor, the first actor
/// varying slowest.
pub fn assignment(n: usize, actors: usize, clients: usize) -> Vec<usize> {
    let mut out = vec![0; actors];
    let mut rest = n;
    for slot in out.iter_mut().rev() {
        *slot = rest % clients;
        rest /= clients;
    }
    out
}

/// Every assignment, in order.
pub fn all(actors: usize, clients: usize) -> Vec<Vec<usize>> {
    let total = count(actors, clients).unwrap_or(0);
    (0..total).map(|n| assignment(n, actors, clients)).collect()
}

/// `k` distinct assignments drawn with `seed` (all of them if there are no more than `k`), in
/// ascending order so a run reads like the full matrix with gaps.
pub fn sample(actors: usize, clients: usize, k: usize, seed: u64) -> Vec<Vec<usize>> {
    let total = count(actors, clients).unwrap_or(usize::MAX);
    if total <= k {
        return all(actors, clients);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut picked = rand::seq::index::sample(&mut rng, total, k).into_vec();
    picked.sort_unstable();
    picked
        .into_iter()
        .map(|n| assignment(n, actors, clients))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn all_assignments_are_distinct_and_complete() {
        let a = all(3, 2);
        assert_eq!(a.len(), 8);
        assert_eq!(a.iter().collect::<BTreeSet<_>>().len(), 8);
        assert_eq!(a[0], [0, 0, 0]);
        assert_eq!(a[1], [0, 0, 1]);
        assert_eq!(a[7], [1, 1, 1]);
    }

    #[test]
    fn the_shipped_scripts_have_964_assignments_with_two_clients() {
        let dir = crate::vectors::dir_for_tests().join("mls-interop");
        let mut total = 0;
        for file in crate::vectors::json_files(&dir).unwrap() {
            let (config, errors) = super::super::script::load(&file);
            assert!(errors.is_empty(), "{errors:?}");
            for s in config.unwrap().scripts {
                total += count(s.actors.len(), 2).unwrap();
            }
        }
        assert_eq!(total, 964);
    }

    #[test]
    fn samples_are_seeded_distinct_and_sorted() {
        let one = sample(6, 2, 10, 7);
        assert_eq!(one, sample(6, 2, 10, 7));
        assert_ne!(one, sample(6, 2, 10, 8));
        assert_eq!(one.iter().collect::<BTreeSet<_>>().len(), 10);
        assert!(one.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sample(2, 2, 10, 7), all(2, 2));
    }
}
