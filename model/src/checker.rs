//! Runs a protocol model through Stateright and reports in plain data.

use crate::properties::Kind;
use crate::protocols::Describe;
use crate::trace::Trace;
use crate::{Bounds, ModelError, Mutant, Protocol};
use serde::Serialize;
use stateright::{Checker, Expectation, Model, Representative};
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Breadth-first finds shortest counterexamples; depth-first needs less memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    #[default]
    Bfs,
    Dfs,
}

/// What to check and how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckOptions {
    pub protocol: Protocol,
    pub bounds: Bounds,
    pub mutant: Option<Mutant>,
    pub threads: usize,
    pub symmetry: bool,
    pub strategy: Strategy,
}

impl CheckOptions {
    pub fn new(protocol: Protocol) -> CheckOptions {
        CheckOptions {
            protocol,
            bounds: Bounds::default(),
            mutant: None,
            threads: 1,
            symmetry: false,
            strategy: Strategy::Bfs,
        }
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        let spec = self.protocol.spec();
        (spec.validate)(&self.bounds)?;
        if let Some(m) = self.mutant {
            if !spec.mutants.contains(&m) {
                return Err(ModelError::MutantNotApplicable {
                    mutant: m.name(),
                    protocol: self.protocol.name(),
                    applies: m
                        .applies_to()
                        .iter()
                        .map(|p| p.name())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        if self.symmetry && self.strategy == Strategy::Bfs {
            return Err(ModelError::BadOptions(
                "symmetry reduction needs --strategy dfs: Stateright 0.31's breadth-first checker ignores it".into(),
            ));
        }
        if self.threads == 0 {
            return Err(ModelError::BadOptions("zero threads".into()));
        }
        Ok(())
    }
}

/// A snapshot of the checker's progress.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub states: usize,
    pub unique: usize,
    pub max_depth: usize,
    pub elapsed: Duration,
}

/// One property's verdict.
#[derive(Clone, Debug, Serialize)]
pub struct PropertyOutcome {
    pub name: &'static str,
    pub kind: Kind,
    /// Always: no counterexample. Sometimes: an example exists.
    pub holds: bool,
    /// The counterexample of a violated `always`, or the example of a `sometimes`: the shortest,
    /// found by a breadth-first search of its own whatever the checker's threads and strategy.
    pub trace: Option<Trace>,
}

/// Everything one check found.
#[derive(Clone, Debug, Serialize)]
pub struct CheckOutcome {
    pub options: CheckOptions,
    pub state_count: usize,
    pub unique_state_count: usize,
    pub max_depth: usize,
    #[serde(with = "secs")]
    pub elapsed: Duration,
    pub properties: Vec<PropertyOutcome>,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

impl CheckOutcome {
    pub fn property(&self, name: &str) -> Option<&PropertyOutcome> {
        self.properties.iter().find(|p| p.name == name)
    }

    /// Did the run meet its expectation: a correct protocol holds everything; a mutant violates
    /// its target property.
    pub fn expectation_met(&self) -> bool {
        match self.options.mutant {
            None => self.properties.iter().all(|p| p.holds),
            Some(m) => self.property(m.target()).is_some_and(|p| !p.holds),
        }
    }
}

/// Checks `opts`, calling `on_progress` every tenth of a second while it runs.
pub fn check(
    opts: &CheckOptions,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<CheckOutcome, ModelError> {
    check_within(opts, MAX_GENERATED_STATES, on_progress)
}

/// The most states a check generates before it gives up: about 150 million distinct states,
/// some 20 GiB at the models' 130 bytes or so a state — what a 24 GiB machine holds.
pub const MAX_GENERATED_STATES: usize = 600_000_000;

/// [`check`], giving up with [`ModelError::TooBig`] once `max_states` states were generated: a
/// partial exploration is no verdict, and bounds that do not fit in memory are a usage error.
pub fn check_within(
    opts: &CheckOptions,
    max_states: usize,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<CheckOutcome, ModelError> {
    opts.validate()?;
    let model = (opts.protocol.spec().build)(opts.bounds, opts.mutant);
    let outcome = model.check(opts, max_states, on_progress);
    if outcome.state_count >= max_states {
        return Err(ModelError::TooBig {
            generated: outcome.state_count,
            unique: outcome.unique_state_count,
        });
    }
    Ok(outcome)
}

/// Serves Stateright's Explorer for `opts` on `addr`, calling `on_ready` once the address is
/// known to be free; blocks.
pub fn explore(opts: &CheckOptions, addr: &str, on_ready: impl FnOnce()) -> Result<(), ModelError> {
    opts.validate()?;
    // Stateright's Explorer panics when it cannot bind; find out first and say so.
    std::net::TcpListener::bind(addr).map_err(|e| ModelError::Listen(format!("{addr}: {e}")))?;
    on_ready();
    (opts.protocol.spec().build)(opts.bounds, opts.mutant).serve(addr);
    Ok(())
}

/// A model the checker can run or serve, whatever its state and action types: what a
/// [`crate::ProtocolSpec`] builds.
pub trait Checkable {
    /// Checks the model as `opts` say, giving up after `max_states` states.
    fn check(
        self: Box<Self>,
        opts: &CheckOptions,
        max_states: usize,
        on_progress: &mut dyn FnMut(Progress),
    ) -> CheckOutcome;
    /// Serves Stateright's Explorer on `addr`; blocks.
    fn serve(self: Box<Self>, addr: &str);
}

impl<M> Checkable for M
where
    M: Model + Describe + Send + Sync + 'static,
    M::State: Representative + Debug + Hash + Clone + Eq + Send + Sync,
    M::Action: Debug + Clone + PartialEq + Send + Sync,
{
    fn check(
        self: Box<Self>,
        opts: &CheckOptions,
        max_states: usize,
        on_progress: &mut dyn FnMut(Progress),
    ) -> CheckOutcome {
        run(*self, opts, max_states, on_progress)
    }

    fn serve(self: Box<Self>, addr: &str) {
        serve(*self, addr)
    }
}

fn serve<M>(model: M, addr: &str)
where
    M: Model + Send + Sync + 'static,
    M::State: Debug + Hash + Clone + PartialEq + Send + Sync,
    M::Action: Debug + Clone + PartialEq + Send + Sync,
{
    let _checker = model.checker().serve(addr.to_string());
}

fn run<M>(
    model: M,
    opts: &CheckOptions,
    max_states: usize,
    on_progress: &mut dyn FnMut(Progress),
) -> CheckOutcome
where
    M: Model + Describe + Send + Sync + 'static,
    M::State: Representative + Debug + Hash + Clone + Eq + Send + Sync,
    M::Action: Debug + Clone + PartialEq + Send + Sync,
{
    let mut builder = model
        .checker()
        .threads(opts.threads)
        .target_state_count(max_states);
    if opts.symmetry {
        builder = builder.symmetry();
    }
    match opts.strategy {
        Strategy::Bfs => finish(builder.spawn_bfs(), opts, on_progress),
        Strategy::Dfs => finish(builder.spawn_dfs(), opts, on_progress),
    }
}

fn finish<M, C>(
    checker: C,
    opts: &CheckOptions,
    on_progress: &mut dyn FnMut(Progress),
) -> CheckOutcome
where
    M: Model + Describe,
    M::State: Debug + Hash + Clone + Eq,
    M::Action: Debug + Clone + PartialEq,
    C: Checker<M>,
{
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    while !checker.is_done() {
        on_progress(Progress {
            states: checker.state_count(),
            unique: checker.unique_state_count(),
            max_depth: checker.max_depth(),
            elapsed: start.elapsed(),
        });
        // Small models finish in milliseconds; poll quickly at first, then every 100 ms.
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
    let checker = checker.join();
    let elapsed = start.elapsed();
    on_progress(Progress {
        states: checker.state_count(),
        unique: checker.unique_state_count(),
        max_depth: checker.max_depth(),
        elapsed,
    });
    let model = checker.model();
    let discovered = checker.discoveries();
    // The model's own properties, in its order: the shared group-key ones, or a port's invariants.
    let props = model.properties();
    let kinds: Vec<Kind> = props
        .iter()
        .map(|p| match p.expectation {
            Expectation::Sometimes => Kind::Sometimes,
            Expectation::Always | Expectation::Eventually => Kind::Always,
        })
        .collect();
    let found: Vec<bool> = props
        .iter()
        .map(|p| discovered.contains_key(p.name))
        .collect();
    // Stateright keeps the last path it saw, not the first: search again for the shortest, one
    // breadth-first pass for every property that has a counterexample or an example.
    let targets: Vec<usize> = (0..props.len()).filter(|&i| found[i]).collect();
    let hits: Vec<Hit<'_, M>> = targets
        .iter()
        .map(|&i| {
            let (wanted, kind) = (props[i].condition, kinds[i]);
            Box::new(move |s: &M::State| match kind {
                Kind::Always => !wanted(model, s),
                Kind::Sometimes => wanted(model, s),
            }) as Box<dyn Fn(&M::State) -> bool>
        })
        .collect();
    let mut runs = shortest_paths(model, &hits).into_iter();
    let mut traces: Vec<Option<Trace>> = vec![None; props.len()];
    for &i in &targets {
        traces[i] = runs.next().flatten().map(|(path, last)| {
            let steps = path
                .iter()
                .enumerate()
                .map(|(j, (s, a))| {
                    let next = path.get(j + 1).map_or(&last, |(n, _)| n);
                    let mut step = model.describe(s, a);
                    step.effects = model.effects(s, next);
                    step
                })
                .collect();
            Trace {
                steps,
                final_state: model.summarize(&last),
            }
        });
    }
    let properties = props
        .iter()
        .zip(traces)
        .enumerate()
        .map(|(i, (p, trace))| PropertyOutcome {
            name: p.name,
            kind: kinds[i],
            holds: match kinds[i] {
                Kind::Always => !found[i],
                Kind::Sometimes => found[i],
            },
            trace,
        })
        .collect();
    CheckOutcome {
        options: opts.clone(),
        state_count: checker.state_count(),
        unique_state_count: checker.unique_state_count(),
        max_depth: checker.max_depth(),
        elapsed,
        properties,
    }
}

/// The steps of a run (each state with the action taken in it) and the state it ends in.
type Run<M> = (
    Vec<(<M as Model>::State, <M as Model>::Action)>,
    <M as Model>::State,
);

/// A predicate on states: "this state shows the property's counterexample (or example)".
type Hit<'a, M> = Box<dyn Fn(&<M as Model>::State) -> bool + 'a>;

/// One breadth-first search for the fewest actions to a state where each of `hits` holds.
///
/// Keeps only 64-bit fingerprints of the states seen (with their parent's), as Stateright does,
/// and the frontier: a map of whole states to whole parents held two copies of every state and
/// ran a 24 GiB machine out of memory on the keyed Orange model at MaxTotalUsers = 5. A path is
/// rebuilt by replaying from the initial state, choosing at each step the successor whose
/// fingerprint comes next.
pub(crate) fn shortest_paths<M>(model: &M, hits: &[Hit<'_, M>]) -> Vec<Option<Run<M>>>
where
    M: Model,
    M::State: Hash + Eq + Clone,
    M::Action: Clone,
{
    use std::collections::{HashMap, VecDeque};
    let mut parent: HashMap<u64, Option<u64>, std::hash::BuildHasherDefault<Identity>> =
        HashMap::default();
    let mut queue = VecDeque::new();
    for s in model.init_states() {
        parent.entry(fingerprint(&s)).or_insert(None);
        queue.push_back(s);
    }
    let mut chains: Vec<Option<Vec<u64>>> = vec![None; hits.len()];
    let mut left = hits.len();
    let mut actions = Vec::new();
    while let Some(state) = queue.pop_front() {
        if left == 0 {
            break;
        }
        let here = fingerprint(&state);
        for (i, hit) in hits.iter().enumerate() {
            if chains[i].is_none() && hit(&state) {
                let mut chain = vec![here];
                while let Some(Some(up)) = parent.get(chain.last().expect("non-empty")) {
                    chain.push(*up);
                }
                chain.reverse();
                chains[i] = Some(chain);
                left -= 1;
            }
        }
        model.actions(&state, &mut actions);
        for action in actions.drain(..) {
            if let Some(next) = model.next_state(&state, action) {
                let f = fingerprint(&next);
                if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(f) {
                    e.insert(Some(here));
                    queue.push_back(next);
                }
            }
        }
    }
    drop(queue);
    chains
        .into_iter()
        .map(|c| c.and_then(|c| replay(model, &c)))
        .collect()
}

/// A state's 64-bit fingerprint: ahash with fixed seeds, so the same state always gets the same.
fn fingerprint<T: Hash>(t: &T) -> u64 {
    ahash::RandomState::with_seeds(0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344).hash_one(t)
}

/// Fingerprints are already uniform: the parent map uses them as their own hash.
#[derive(Default)]
struct Identity(u64);

impl std::hash::Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The run through the states whose fingerprints are `chain`, from an initial state.
fn replay<M>(model: &M, chain: &[u64]) -> Option<Run<M>>
where
    M: Model,
    M::State: Hash + Clone,
    M::Action: Clone,
{
    let mut state = model
        .init_states()
        .into_iter()
        .find(|s| fingerprint(s) == chain[0])?;
    let mut path = Vec::new();
    let mut actions = Vec::new();
    for &want in &chain[1..] {
        model.actions(&state, &mut actions);
        let (action, next) = actions.drain(..).find_map(|a| {
            let next = model.next_state(&state, a.clone())?;
            (fingerprint(&next) == want).then_some((a, next))
        })?;
        path.push((state, action));
        state = next;
    }
    Some((path, state))
}
