//! The named properties, shared by every protocol. Each reads only the [`Call`] skeleton (and,
//! for convergence, the protocol's own notion of "no pending work").
//!
//! Names follow RFC 9750 §8 and the group-key-agreement literature: leave secrecy (a removed
//! member learns no later key), join secrecy (a joiner learns no earlier key), membership
//! agreement.

use crate::call::{Call, Status};
use crate::knowledge::{Agent, Pid};
use stateright::{Model, Property};

/// A protocol state the properties can read.
pub trait GroupView {
    fn call(&self) -> &Call;
    /// Nothing in flight and no participant or server holding work it has yet to do.
    fn quiescent(&self) -> bool;
    /// Participants the server still carries: it may refuse or kick anyone (that is denial of
    /// service, which no E2EE design prevents), so convergence is owed only to these.
    fn carried(&self) -> crate::knowledge::Roster;
}

/// Always or sometimes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Must hold in every reachable state (a counterexample is a violation).
    Always,
    /// Must hold in some reachable state (a vacuity witness; no example is a failure).
    Sometimes,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Always => "always",
            Kind::Sometimes => "sometimes",
        }
    }
}

/// A property's name, kind and one-line meaning.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct PropertyInfo {
    pub name: &'static str,
    pub kind: Kind,
    pub meaning: &'static str,
}

pub const SERVER_NEVER_LEARNS_MEDIA_KEY: &str = "server_never_learns_media_key";
pub const LEAVE_SECRECY: &str = "leave_secrecy";
pub const JOIN_SECRECY: &str = "join_secrecy";
pub const EPOCH_AGREEMENT: &str = "epoch_agreement";
pub const NO_INVISIBLE_MEMBER: &str = "no_invisible_member";
pub const ROTATION_ON_MEMBERSHIP_CHANGE: &str = "rotation_on_membership_change";
pub const CONVERGENCE: &str = "convergence";

/// Every property, in report order.
pub const PROPERTIES: &[PropertyInfo] = &[
    PropertyInfo {
        name: SERVER_NEVER_LEARNS_MEDIA_KEY,
        kind: Kind::Always,
        meaning: "the server never knows a key an honest member uses for media",
    },
    PropertyInfo {
        name: LEAVE_SECRECY,
        kind: Kind::Always,
        meaning: "a participant removed at epoch e never learns the key of a later epoch (a key whose \
                  honest roster no longer lists it)",
    },
    PropertyInfo {
        name: JOIN_SECRECY,
        kind: Kind::Always,
        meaning: "a participant added at epoch e never learns the key of an earlier epoch (a key whose \
                  honest roster did not list it yet)",
    },
    PropertyInfo {
        name: EPOCH_AGREEMENT,
        kind: Kind::Always,
        meaning: "honest members in the same epoch hold the same key and the same roster (while the \
                  server delivers in order)",
    },
    PropertyInfo {
        name: NO_INVISIBLE_MEMBER,
        kind: Kind::Always,
        meaning: "whoever holds the key of epoch e is on the roster every honest member of e sees",
    },
    PropertyInfo {
        name: ROTATION_ON_MEMBERSHIP_CHANGE,
        kind: Kind::Always,
        meaning: "a key is only ever used with one roster: every membership change brings a new key",
    },
    PropertyInfo {
        name: CONVERGENCE,
        kind: Kind::Always,
        meaning: "when nothing is in flight and no work is pending, and the server delivered \
                  everything in order (replays and forgeries allowed), all live members share one epoch",
    },
    PropertyInfo {
        name: "witness_leave",
        kind: Kind::Sometimes,
        meaning: "some participant is removed (vacuity witness)",
    },
    PropertyInfo {
        name: "witness_join",
        kind: Kind::Sometimes,
        meaning: "some participant joins after the start (vacuity witness)",
    },
    PropertyInfo {
        name: "witness_rotation",
        kind: Kind::Sometimes,
        meaning: "a member uses a key made after the start (vacuity witness)",
    },
    PropertyInfo {
        name: "witness_removed_listener_after_rotation",
        kind: Kind::Sometimes,
        meaning: "a removed participant is still listening when a later key is in use (vacuity witness)",
    },
];

pub fn info(name: &str) -> Option<&'static PropertyInfo> {
    PROPERTIES.iter().find(|p| p.name == name)
}

/// The properties as Stateright sees them, for any model whose state is a [`GroupView`].
pub fn all<M>() -> Vec<Property<M>>
where
    M: Model,
    M::State: GroupView,
{
    vec![
        Property::always(SERVER_NEVER_LEARNS_MEDIA_KEY, |_, s: &M::State| {
            server_never_learns_media_key(s.call())
        }),
        Property::always(LEAVE_SECRECY, |_, s: &M::State| leave_secrecy(s.call())),
        Property::always(JOIN_SECRECY, |_, s: &M::State| join_secrecy(s.call())),
        Property::always(EPOCH_AGREEMENT, |_, s: &M::State| epoch_agreement(s)),
        Property::always(NO_INVISIBLE_MEMBER, |_, s: &M::State| {
            no_invisible_member(s.call())
        }),
        Property::always(ROTATION_ON_MEMBERSHIP_CHANGE, |_, s: &M::State| {
            rotation_on_membership_change(s.call())
        }),
        Property::always(CONVERGENCE, |_, s: &M::State| convergence(s)),
        Property::sometimes("witness_leave", |_, s: &M::State| witness_leave(s.call())),
        Property::sometimes("witness_join", |_, s: &M::State| witness_join(s.call())),
        Property::sometimes("witness_rotation", |_, s: &M::State| {
            witness_rotation(s.call())
        }),
        Property::sometimes(
            "witness_removed_listener_after_rotation",
            |_, s: &M::State| witness_removed_listener_after_rotation(s.call()),
        ),
    ]
}

pub fn server_never_learns_media_key(c: &Call) -> bool {
    c.knowledge
        .media_keys()
        .all(|(k, _)| !c.knowledge.knows(Agent::Server, k))
}

pub fn leave_secrecy(c: &Call) -> bool {
    c.pids()
        .filter(|p| c.part(*p).removed_at.is_some())
        .all(|p| knows_only_keys_that_list_it(c, p))
}

pub fn join_secrecy(c: &Call) -> bool {
    // Joiners that were later removed are judged by leave secrecy.
    c.pids()
        .filter(|p| {
            let part = c.part(*p);
            part.joined_at.is_some_and(|a| a > 1) && part.removed_at.is_none()
        })
        .all(|p| knows_only_keys_that_list_it(c, p))
}

/// Every media key `p` could unwrap was only ever used with rosters listing `p`. Stated over
/// rosters, not epoch numbers: "the key of an epoch after its removal (before its join)" is a key
/// whose roster does not list it, and rosters stay comparable where epoch numbers fork.
fn knows_only_keys_that_list_it(c: &Call, p: Pid) -> bool {
    c.knowledge.media_keys().all(|(k, info)| {
        !c.knowledge.knows(Agent::Participant(p), k) || info.roster_all.contains(p)
    })
}

/// Members that are in the call in their own view, that the server carries and that no honest
/// roster has dropped. (One the server kicked without telling it is not one of them.)
fn current_members<S: GroupView>(s: &S) -> impl Iterator<Item = Pid> + '_ {
    let c = s.call();
    let carried = s.carried();
    c.pids().filter(move |p| {
        let part = c.part(*p);
        part.status == Status::Member && part.removed_at.is_none() && carried.contains(*p)
    })
}

pub fn epoch_agreement<S: GroupView>(s: &S) -> bool {
    let c = s.call();
    // A delivery service that reorders or drops can fork any group it orders (RFC 9750 §5: the
    // DS is trusted for ordering, not secrecy); members then disagree but learn nothing new.
    if c.budget.disrupted {
        return true;
    }
    let members: Vec<Pid> = current_members(s).collect();
    members.iter().all(|a| {
        members.iter().all(|b| {
            let (a, b) = (c.part(*a), c.part(*b));
            a.epoch != b.epoch || (a.key == b.key && a.roster == b.roster)
        })
    })
}

pub fn no_invisible_member(c: &Call) -> bool {
    c.knowledge.media_keys().all(|(k, info)| {
        !c.knowledge.knows(Agent::Server, k)
            && c.pids().all(|p| {
                !c.knowledge.knows(Agent::Participant(p), k) || info.roster_all.contains(p)
            })
    })
}

pub fn rotation_on_membership_change(c: &Call) -> bool {
    c.knowledge
        .media_keys()
        .all(|(_, info)| info.roster_all == info.roster_any)
}

pub fn convergence<S: GroupView>(s: &S) -> bool {
    let c = s.call();
    if c.budget.disrupted || !s.quiescent() {
        return true;
    }
    // Live: in the call or waiting to be let in, carried by the server, on no honest roster's
    // list of the removed.
    let carried = s.carried();
    let live: Vec<Pid> = c
        .pids()
        .filter(|p| {
            let part = c.part(*p);
            matches!(part.status, Status::Member | Status::Joining)
                && part.removed_at.is_none()
                && carried.contains(*p)
        })
        .collect();
    // With no member left the call has ended for everyone; nobody is owed an epoch.
    let Some(first) = live.iter().find(|p| c.part(**p).status == Status::Member) else {
        return true;
    };
    let first = c.part(*first);
    live.iter().all(|p| {
        let part = c.part(*p);
        part.status == Status::Member && part.epoch == first.epoch && part.key == first.key
    })
}

pub fn witness_leave(c: &Call) -> bool {
    c.parts.iter().any(|p| p.removed_at.is_some())
}

pub fn witness_join(c: &Call) -> bool {
    c.parts.iter().any(|p| p.joined_at.is_some_and(|a| a > 1))
}

pub fn witness_rotation(c: &Call) -> bool {
    c.parts.iter().any(|p| p.epoch > 1)
}

pub fn witness_removed_listener_after_rotation(c: &Call) -> bool {
    c.parts.iter().any(|p| {
        p.removed_at.is_some_and(|e| {
            c.knowledge
                .media_keys()
                .any(|(_, info)| info.used.is_some_and(|(_, hi)| hi > e))
        })
    })
}
