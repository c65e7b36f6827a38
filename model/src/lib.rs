//! Stateright models of how an end-to-end encrypted call keys its group, with the server as the
//! adversary.
//!
//! Each protocol is one module under [`protocols`] that reads like its published description.
//! They share the symbolic keys ([`knowledge`]), the server's powers ([`adversary`]), the state
//! skeleton the properties read ([`call`]) and the properties themselves ([`properties`]).
//! [`check`] runs a model and turns what the checker found into plain data ([`CheckOutcome`],
//! with counterexamples as [`trace::Trace`]s) so the CLI never touches Stateright types.

pub mod adversary;
pub mod call;
mod checker;
pub mod knowledge;
pub mod properties;
pub mod protocols;
pub mod trace;

pub use checker::{
    check, check_within, explore, CheckOptions, CheckOutcome, Checkable, Progress, PropertyOutcome,
    Strategy, MAX_GENERATED_STATES,
};

pub use protocols::ProtocolSpec;

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// Errors a caller can make; every one is a usage error, never a panic.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    #[error("unknown protocol `{0}` (known: {known})", known = Protocol::all().map(|p| p.name()).collect::<Vec<_>>().join(", "))]
    UnknownProtocol(String),
    #[error("unknown mutant `{0}` (known: {known})", known = Mutant::ALL.iter().map(|m| m.name()).collect::<Vec<_>>().join(", "))]
    UnknownMutant(String),
    #[error(
        "mutant `{mutant}` does not apply to protocol `{protocol}` (it applies to: {applies})"
    )]
    MutantNotApplicable {
        mutant: &'static str,
        protocol: &'static str,
        applies: String,
    },
    #[error("bad bounds: {0}")]
    BadBounds(String),
    #[error(
        "the bounds do not fit: the check gave up after {generated} states ({unique} distinct), \
         more than this machine's memory holds; lower --participants, --max-changes or \
         --max-interference"
    )]
    TooBig { generated: usize, unique: usize },
    #[error("cannot serve the Explorer on {0}")]
    Listen(String),
    #[error("bad options: {0}")]
    BadOptions(String),
}

/// A protocol, by the name the CLI uses: a handle to its [`ProtocolSpec`] in
/// [`protocols::REGISTRY`].
#[derive(Clone, Copy)]
pub struct Protocol(&'static ProtocolSpec);

/// Handles for the protocols callers name in code; a protocol needs none to be listed, parsed or
/// checked. Named as the enum variants they replace, so callers read the same.
#[allow(non_upper_case_globals)]
impl Protocol {
    /// Zoom's E2EE meetings: a leader makes and wraps every meeting key.
    pub const Leader: Protocol = Protocol(&protocols::leader::SPEC);
    /// MLS with a designated committer (Cloudflare Orange Meets).
    pub const MlsDc: Protocol = Protocol(&protocols::mls_dc::SPEC);
    /// MLS with the server as external sender and commit sequencer (Discord DAVE).
    pub const MlsGateway: Protocol = Protocol(&protocols::mls_gateway::SPEC);
    /// Cloudflare's own TLA+ model of Orange Meets, ported step for step; its bound is
    /// `participants` = MaxTotalUsers, its properties are the spec's invariants.
    pub const OrangeDc: Protocol = Protocol(&protocols::orange_tla::SPEC);
    /// The same port with symbolic epoch keys and the server as adversary; its bounds are
    /// `participants` = MaxTotalUsers and `max_interference`; its properties the shared ones.
    pub const OrangeDcKeys: Protocol = Protocol(&protocols::orange_keys::SPEC);
}

impl Protocol {
    /// Every protocol the CLI knows by name, in the registry's order.
    pub fn all() -> impl Iterator<Item = Protocol> {
        protocols::REGISTRY.iter().map(|spec| Protocol(spec))
    }

    /// The protocols `--protocol all` checks (see [`ProtocolSpec::in_default_run`]).
    pub fn default_run() -> Vec<Protocol> {
        Protocol::all().filter(|p| p.0.in_default_run).collect()
    }

    pub fn spec(self) -> &'static ProtocolSpec {
        self.0
    }

    pub fn name(self) -> &'static str {
        self.0.name
    }

    pub fn description(self) -> &'static str {
        self.0.description
    }
}

/// Names are unique in the registry (a test says so): a protocol is its name.
impl PartialEq for Protocol {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Protocol {}

impl std::hash::Hash for Protocol {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

impl fmt::Debug for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Protocol").field(&self.name()).finish()
    }
}

impl Serialize for Protocol {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Protocol {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Protocol::all()
            .find(|p| p.name() == s)
            .ok_or_else(|| ModelError::UnknownProtocol(s.to_string()))
    }
}

/// A small change an auditor would recognise, which the checker must catch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Mutant {
    /// The server makes the meeting key (Zoom before 2020: one AES-128-ECB key per meeting).
    ServerGeneratedKey,
    /// A leave changes the roster but not the key.
    NoRotateOnLeave,
    /// A join changes the roster but not the key.
    NoRotateOnJoin,
    /// The new key is also wrapped to the member being removed.
    WrapToRemoved,
    /// Members accept a member the server added on its own (no credential check).
    AcceptServerAdd,
    /// Members obey a server order to fall back to a static key (Trail of Bits TOB-DISCE2EC-16).
    ServerDowngrade,
    /// The designated committer sends the Add before the Welcome (Orange's README lesson).
    AddBeforeWelcome,
    /// Zoom-style members install a key update without checking it is newer (replay).
    AcceptReplayedKey,
    /// A Remove commit without an UpdatePath: the next epoch derives from one the removed
    /// member holds (RFC 9420 §12.4 requires a path).
    RemoveWithoutPath,
    /// A committer applies its own commit before the server sequenced it (DAVE requires waiting
    /// for the gateway's announcement).
    ApplyOwnCommit,
}

impl Mutant {
    pub const ALL: [Mutant; 10] = [
        Mutant::ServerGeneratedKey,
        Mutant::NoRotateOnLeave,
        Mutant::NoRotateOnJoin,
        Mutant::WrapToRemoved,
        Mutant::AcceptServerAdd,
        Mutant::ServerDowngrade,
        Mutant::AddBeforeWelcome,
        Mutant::AcceptReplayedKey,
        Mutant::RemoveWithoutPath,
        Mutant::ApplyOwnCommit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mutant::ServerGeneratedKey => "server-generated-key",
            Mutant::NoRotateOnLeave => "no-rotate-on-leave",
            Mutant::NoRotateOnJoin => "no-rotate-on-join",
            Mutant::WrapToRemoved => "wrap-to-removed",
            Mutant::AcceptServerAdd => "accept-server-add",
            Mutant::ServerDowngrade => "server-downgrade",
            Mutant::AddBeforeWelcome => "add-before-welcome",
            Mutant::AcceptReplayedKey => "accept-replayed-key",
            Mutant::RemoveWithoutPath => "remove-without-path",
            Mutant::ApplyOwnCommit => "apply-own-commit",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Mutant::ServerGeneratedKey => "the server generates the meeting key (Zoom before 2020)",
            Mutant::NoRotateOnLeave => "a leave changes the roster but keeps the key",
            Mutant::NoRotateOnJoin => "a join changes the roster but keeps the key",
            Mutant::WrapToRemoved => "the new key is also wrapped to the member being removed",
            Mutant::AcceptServerAdd => "members accept a member the server added on its own",
            Mutant::ServerDowngrade => {
                "members obey a server order to fall back to a static key (TOB-DISCE2EC-16)"
            }
            Mutant::AddBeforeWelcome => "the committer sends the Add before the Welcome (Orange)",
            Mutant::AcceptReplayedKey => "members install a replayed, older key update",
            Mutant::RemoveWithoutPath => {
                "a Remove commit carries no UpdatePath, so the new epoch derives from the old"
            }
            Mutant::ApplyOwnCommit => {
                "a committer applies its commit before the server sequenced it"
            }
        }
    }

    /// The property this mutant must violate.
    pub fn target(self) -> &'static str {
        use properties::*;
        match self {
            Mutant::ServerGeneratedKey | Mutant::ServerDowngrade => SERVER_NEVER_LEARNS_MEDIA_KEY,
            Mutant::NoRotateOnLeave | Mutant::WrapToRemoved | Mutant::RemoveWithoutPath => {
                LEAVE_SECRECY
            }
            Mutant::NoRotateOnJoin => JOIN_SECRECY,
            Mutant::AcceptServerAdd => NO_INVISIBLE_MEMBER,
            Mutant::AddBeforeWelcome | Mutant::AcceptReplayedKey => CONVERGENCE,
            Mutant::ApplyOwnCommit => EPOCH_AGREEMENT,
        }
    }

    /// The protocols whose code has the spot this mutant changes: those whose spec lists it.
    pub fn applies_to(self) -> Vec<Protocol> {
        Protocol::all()
            .filter(|p| p.spec().mutants.contains(&self))
            .collect()
    }
}

impl fmt::Display for Mutant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mutant {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mutant::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| ModelError::UnknownMutant(s.to_string()))
    }
}

/// How big a world the checker explores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Bounds {
    /// Participant slots, members or not.
    pub participants: u8,
    /// How many of them are members at the start.
    pub initial_members: u8,
    /// Joins and leaves the participants may make.
    pub max_changes: u8,
    /// Drops, reorders, duplicates and forgeries the server may make.
    pub max_interference: u8,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds::DEFAULT
    }
}

impl Bounds {
    /// [`Bounds::default`], for constants.
    pub const DEFAULT: Bounds = Bounds {
        participants: 3,
        initial_members: 2,
        max_changes: 2,
        max_interference: 1,
    };

    /// The bounds `e2ee check` proves every protocol at: four participants (two of them
    /// joiners), three joins or leaves, and one interference of any kind by the server.
    pub fn assurance() -> Bounds {
        Bounds {
            participants: 4,
            initial_members: 2,
            max_changes: 3,
            max_interference: 1,
        }
    }

    /// Rejects bounds the models cannot represent (rosters are bitsets of 7, keys of 32).
    pub fn validate(&self) -> Result<(), ModelError> {
        let n = self.participants as usize;
        if n == 0 {
            return Err(ModelError::BadBounds(
                "zero participants: a call needs at least one".into(),
            ));
        }
        if n > knowledge::MAX_PARTICIPANTS {
            return Err(ModelError::BadBounds(format!(
                "{n} participants: the models hold rosters as 7-bit sets and at most {} \
                 participants fit (and the state space would not fit in memory anyway)",
                knowledge::MAX_PARTICIPANTS
            )));
        }
        if self.initial_members == 0 || self.initial_members > self.participants {
            return Err(ModelError::BadBounds(format!(
                "{} initial members of {n} participants: need between 1 and {n}",
                self.initial_members
            )));
        }
        if self.max_changes > 12 || self.max_interference > 8 {
            return Err(ModelError::BadBounds(format!(
                "{} changes and {} interferences: each change and interference mints keys and \
                 epochs; beyond 12 changes or 8 interferences the 32-key ledger and any \
                 machine's memory run out",
                self.max_changes, self.max_interference
            )));
        }
        Ok(())
    }
}

/// One line per protocol, property and mutant, for `e2ee model list`.
pub fn listing() -> Vec<(String, String, String)> {
    let mut rows = Vec::new();
    for p in Protocol::all() {
        rows.push(("protocol".into(), p.name().into(), p.description().into()));
    }
    for p in properties::PROPERTIES {
        let kind = p.kind.as_str();
        rows.push((
            "property".into(),
            p.name.into(),
            format!("[{kind}] {}", p.meaning),
        ));
    }
    for m in Mutant::ALL {
        let protocols: Vec<&str> = m.applies_to().iter().map(|p| p.name()).collect();
        rows.push((
            "mutant".into(),
            m.name().into(),
            format!(
                "{} -> violates {} ({})",
                m.description(),
                m.target(),
                protocols.join(", ")
            ),
        ));
    }
    rows
}
