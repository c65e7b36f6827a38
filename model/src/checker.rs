//! Runs a protocol model through Stateright and reports in plain data.

use crate::properties::Kind;
use crate::protocols::{
    leader::LeaderModel, mls_dc::MlsDcModel, mls_gateway::MlsGatewayModel, orange_tla::OrangeTla,
    Describe,
};
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
        if self.protocol == Protocol::OrangeDc {
            // The port packs UIDs in 3 bits; MaxTotalUsers 6 already outgrows memory.
            let n = self.bounds.participants;
            if !(2..=6).contains(&n) {
                return Err(ModelError::BadBounds(format!(
                    "MaxTotalUsers {n}: the Orange port takes 2 to 6 (Cloudflare checked 5)"
                )));
            }
        } else {
            self.bounds.validate()?;
        }
        if let Some(m) = self.mutant {
            if !m.applies_to().contains(&self.protocol) {
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
    let b = opts.bounds;
    let outcome = match opts.protocol {
        Protocol::Leader => run(
            LeaderModel::new(b, opts.mutant),
            opts,
            max_states,
            on_progress,
        ),
        Protocol::MlsDc => run(
            MlsDcModel::new(b, opts.mutant),
            opts,
            max_states,
            on_progress,
        ),
        Protocol::MlsGateway => run(
            MlsGatewayModel::new(b, opts.mutant),
            opts,
            max_states,
            on_progress,
        ),
        Protocol::OrangeDc => run(
            OrangeTla::new(b.participants),
            opts,
            max_states,
            on_progress,
        ),
    };
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
    let b = opts.bounds;
    match opts.protocol {
        Protocol::Leader => serve(LeaderModel::new(b, opts.mutant), addr),
        Protocol::MlsDc => serve(MlsDcModel::new(b, opts.mutant), addr),
        Protocol::MlsGateway => serve(MlsGatewayModel::new(b, opts.mutant), addr),
        Protocol::OrangeDc => serve(OrangeTla::new(b.participants), addr),
    }
    Ok(())
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
    let properties = model
        .properties()
        .into_iter()
        .map(|p| {
            let kind = match p.expectation {
                Expectation::Sometimes => Kind::Sometimes,
                Expectation::Always | Expectation::Eventually => Kind::Always,
            };
            let found = discovered.contains_key(p.name);
            let holds = match kind {
                Kind::Always => !found,
                Kind::Sometimes => found,
            };
            // Stateright keeps the last path it saw, not the first; search again for the shortest.
            let wanted = p.condition;
            let hit = |s: &M::State| match kind {
                Kind::Always => !wanted(model, s),
                Kind::Sometimes => wanted(model, s),
            };
            let trace = found
                .then(|| shortest_path(model, hit))
                .flatten()
                .map(|(path, last)| {
                    let steps = path
                        .iter()
                        .enumerate()
                        .map(|(i, (s, a))| {
                            let next = path.get(i + 1).map_or(&last, |(n, _)| n);
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
            PropertyOutcome {
                name: p.name,
                kind,
                holds,
                trace,
            }
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

/// Breadth-first search for the fewest actions that reach a state where `hit` holds.
pub(crate) fn shortest_path<M>(model: &M, hit: impl Fn(&M::State) -> bool) -> Option<Run<M>>
where
    M: Model,
    M::State: Hash + Eq + Clone,
    M::Action: Clone,
{
    use std::collections::{HashMap, VecDeque};
    type Parent<M> = Option<(<M as Model>::State, <M as Model>::Action)>;
    let mut parent: HashMap<M::State, Parent<M>> = HashMap::new();
    let mut queue = VecDeque::new();
    for s in model.init_states() {
        parent.insert(s.clone(), None);
        queue.push_back(s);
    }
    let mut actions = Vec::new();
    while let Some(state) = queue.pop_front() {
        if hit(&state) {
            let mut path = Vec::new();
            let mut cursor = state.clone();
            while let Some(Some((prev, action))) = parent.get(&cursor) {
                path.push((prev.clone(), action.clone()));
                cursor = prev.clone();
            }
            path.reverse();
            return Some((path, state));
        }
        model.actions(&state, &mut actions);
        for action in actions.drain(..) {
            if let Some(next) = model.next_state(&state, action.clone()) {
                if !parent.contains_key(&next) {
                    parent.insert(next.clone(), Some((state.clone(), action)));
                    queue.push_back(next);
                }
            }
        }
    }
    None
}
