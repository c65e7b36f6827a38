//! One module per protocol, each reading like the protocol's published description.

pub mod leader;
pub mod mls_dc;
pub mod mls_gateway;
/// The same algorithm with symbolic keys and the server as adversary.
pub mod orange_keys;
/// Cloudflare's TLA+ model of Orange Meets, ported step for step.
pub mod orange_tla;

use crate::adversary::{Net, NetOp};
use crate::checker::Checkable;
use crate::trace::Step;
use crate::{Bounds, ModelError, Mutant};
use stateright::Model;

/// Every protocol the crate knows, in the order `e2ee model list` prints them. Adding a protocol
/// is a module here with its [`ProtocolSpec`] (`pub static SPEC`) and one line in this list.
pub static REGISTRY: &[&ProtocolSpec] = &[
    &leader::SPEC,
    &mls_dc::SPEC,
    &mls_gateway::SPEC,
    &orange_tla::SPEC,
    &orange_keys::SPEC,
];

/// Everything the crate and the CLI know about one protocol, kept next to its model.
#[derive(Debug)]
pub struct ProtocolSpec {
    /// The name the CLI uses (`--protocol NAME`); unique in the registry.
    pub name: &'static str,
    /// The Rust module that defines it: `module_path!()`.
    pub module: &'static str,
    /// One line for `e2ee model list`.
    pub description: &'static str,
    /// Where the protocol is published, and what was modelled from.
    pub source: &'static str,
    /// The mutants whose spot this model's code has, in any order.
    pub mutants: &'static [Mutant],
    /// Why no mutant applies, for a protocol whose `mutants` is empty.
    pub no_mutants_because: Option<&'static str>,
    /// Whether `e2ee model check --protocol all` (and so the first, [`Bounds::assurance`] part
    /// of `e2ee check`) checks it. True for the symbolic group-key models, which read every
    /// field of [`Bounds`] the same way and share the properties and mutants. The Orange port
    /// and its keyed variant read `participants` as MaxTotalUsers (2 to 6) and have bounds of
    /// their own that fit in memory, so `--protocol all`'s shared bounds would mean something
    /// else for them; `e2ee check` runs them in requests of their own, at Cloudflare's bound.
    pub in_default_run: bool,
    /// The bounds `e2ee model check --protocol NAME` uses when given none.
    pub default_bounds: Bounds,
    /// Rejects bounds this model cannot represent or this machine cannot hold.
    pub validate: fn(&Bounds) -> Result<(), ModelError>,
    /// The model at these bounds, with this mutant (one of `mutants`) or none.
    pub build: fn(Bounds, Option<Mutant>) -> Box<dyn Checkable>,
}

impl ProtocolSpec {
    /// The last part of [`ProtocolSpec::module`]: the file name under `src/protocols/`.
    pub fn module_name(&self) -> &'static str {
        self.module.rsplit("::").next().unwrap_or(self.module)
    }
}

/// Turns a model's actions and states into words for counterexamples.
pub trait Describe: Model {
    /// One action taken in `state`, in words, with the messages it moved.
    fn describe(&self, state: &Self::State, action: &Self::Action) -> Step;
    /// A state in words: who is in which epoch with which key, and who knows what.
    fn summarize(&self, state: &Self::State) -> String;
    /// What a step changed, one clause each; none by default.
    fn effects(&self, _before: &Self::State, _after: &Self::State) -> Vec<String> {
        Vec::new()
    }
}

/// The words every protocol's summary shares: each participant's epoch, key and roster, and the
/// keys the server knows.
pub fn summarize_call(call: &crate::call::Call) -> String {
    use crate::knowledge::{Agent, Pid};
    let mut parts = Vec::new();
    for p in call.pids() {
        let part = call.part(p);
        let mut s = format!("{p} {:?}", part.status).to_lowercase();
        s = s.replacen('p', "P", 1);
        if let Some(k) = part.key {
            s.push_str(&format!(
                " in epoch {} with {k} and roster {}",
                part.epoch, part.roster
            ));
        }
        let known: Vec<String> = call
            .knowledge
            .media_keys()
            .filter(|(k, _)| call.knowledge.knows(Agent::Participant(Pid(p.0)), *k))
            .map(|(k, _)| k.to_string())
            .collect();
        if !known.is_empty() {
            s.push_str(&format!(", knows {}", known.join(" ")));
        }
        if let Some(e) = part.removed_at {
            s.push_str(&format!(", removed after epoch {e}"));
        }
        parts.push(s);
    }
    let server: Vec<String> = call
        .knowledge
        .media_keys()
        .filter(|(k, _)| call.knowledge.knows(Agent::Server, *k))
        .map(|(k, _)| k.to_string())
        .collect();
    if !server.is_empty() {
        parts.push(format!("the server knows media key {}", server.join(" ")));
    }
    parts.join("; ")
}

/// Words for the steps every protocol shares.
pub mod steps {
    use crate::knowledge::Pid;
    use crate::trace::Step;

    pub fn leave(p: Pid) -> Step {
        Step::new(p.to_string(), format!("{p} leaves (and keeps listening)")).arrow(
            p.to_string(),
            "Server",
            "leave",
        )
    }

    pub fn forge_leave(p: Pid) -> Step {
        Step::new("Server", format!("server falsely announces that {p} left"))
    }

    pub fn forge_ghost_join() -> Step {
        Step::new(
            "Server",
            "server announces a join of an identity it controls",
        )
    }

    pub fn forge_downgrade(p: Pid) -> Step {
        Step::new("Server", format!("server orders {p} to use the static key")).arrow(
            "Server",
            p.to_string(),
            "use the static key",
        )
    }
}

/// Words for a network operation, shared by the protocols.
pub fn describe_net<M: Clone + PartialEq>(
    net: &Net<M>,
    op: NetOp,
    words: impl Fn(&M) -> String,
    sender: impl Fn(&M) -> String,
) -> Step {
    let (to, index) = match op {
        NetOp::Deliver { to, index }
        | NetOp::Drop { to, index }
        | NetOp::Duplicate { to, index } => (to, index),
    };
    let Some(msg) = net.queue(to).get(index as usize) else {
        return Step::new("Server", "server does nothing (stale action)");
    };
    let what = words(msg);
    let from = sender(msg);
    match op {
        NetOp::Deliver { index: 0, .. } => {
            let step = Step::new(
                "Server",
                format!("server delivers {what} from {from} to {to}"),
            );
            step.arrow("Server", to.to_string(), what)
        }
        NetOp::Deliver { .. } => {
            let step = Step::new(
                "Server",
                format!("server delivers {what} from {from} to {to} out of order"),
            );
            step.arrow("Server", to.to_string(), format!("{what} (out of order)"))
        }
        NetOp::Drop { .. } => {
            Step::new("Server", format!("server drops {what} from {from} to {to}"))
        }
        NetOp::Duplicate { .. } => Step::new(
            "Server",
            format!("server keeps a copy of {what} to {to} to replay later"),
        ),
    }
}

/// What a step changed, in words: who moved to which epoch, who can newly unwrap which key.
/// Appended to each step so a reader sees the consequence, not only the message.
pub fn consequences(before: &crate::call::Call, after: &crate::call::Call) -> Vec<String> {
    use crate::knowledge::{Agent, KeyId};
    let mut out = Vec::new();
    for p in after.pids() {
        let (b, a) = (before.part(p), after.part(p));
        if (a.epoch, a.key, a.roster) != (b.epoch, b.key, b.roster) {
            if let Some(k) = a.key {
                out.push(format!(
                    "{p} uses {k} for epoch {} with roster {}",
                    a.epoch, a.roster
                ));
            }
        }
        if a.status != b.status
            && a.status == crate::call::Status::Gone
            && b.status == crate::call::Status::Member
        {
            out.push(format!("{p} is out of the call"));
        }
    }
    let newly = |agent: Agent| -> Vec<String> {
        (0..after.knowledge.keys.len() as u8)
            .map(KeyId)
            .filter(|k| {
                let existed = (k.0 as usize) < before.knowledge.keys.len();
                after.knowledge.knows(agent, *k) && !(existed && before.knowledge.knows(agent, *k))
            })
            .map(|k| k.to_string())
            .collect()
    };
    for p in after.pids() {
        let keys = newly(Agent::Participant(p));
        if !keys.is_empty() {
            out.push(format!("{p} can unwrap {}", keys.join(" ")));
        }
    }
    let keys = newly(Agent::Server);
    if !keys.is_empty() {
        out.push(format!("the server can unwrap {}", keys.join(" ")));
    }
    out
}

/// The Orange port speaks TLA+: its steps are the translation's actions, its states TLC's.
impl Describe for orange_tla::OrangeTla {
    fn describe(
        &self,
        _state: &orange_tla::OrangeState,
        action: &orange_tla::OrangeAction,
    ) -> Step {
        Step::new("TLC", format!("{action:?}"))
    }

    fn summarize(&self, state: &orange_tla::OrangeState) -> String {
        format!("{state:?}")
    }
}

/// UIDs are ordered (the designated committer is the lowest live one): no two are interchangeable.
impl stateright::Representative for orange_tla::OrangeState {
    fn representative(&self) -> Self {
        self.clone()
    }
}
