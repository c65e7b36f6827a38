//! MLS with a designated committer: Cloudflare Orange Meets (cloudflareresearch/orange-e2ee-model-check,
//! README "Designated Committer").
//!
//! - The app server is the delivery service: it announces `user_joined` and `user_left` to
//!   everyone connected, and relays every MLS message in one order.
//! - Every member tracks who joined and who left, in case it becomes the designated committer
//!   (DC): the live added member with the lowest UID (order of arrival).
//! - For a joiner, the DC first sends a Welcome (the next epoch's secret, wrapped to the joiner),
//!   then, as a separate step, the Add commit to the group (the new secret on the TreeKEM path,
//!   wrapped to the members). If the DC dies in between, the next DC welcomes again. A joiner
//!   keeps the newest Welcome (by epoch, then by committer UID: successors have higher UIDs) and
//!   joins when the group's Add commit confirms it.
//! - For a leaver, the DC commits a Remove whose path secret goes to the remaining members only.
//! - Members apply a commit only for the epoch after theirs.
//!
//! The server may drop, reorder and replay, announce a leave nobody made (it then no longer
//! relays that participant), announce a join of an identity of its own, and order a downgrade.

use super::{describe_net, steps, summarize_call, Describe};
use crate::adversary::{Dest, Forgery, Net, ServerMove, Targets};
use crate::call::{Call, Status};
use crate::knowledge::{Agent, KeyId, Pid, Roster, Wrap};
use crate::properties::{self, GroupView};
use crate::trace::Step;
use crate::{Bounds, Mutant};
use stateright::{Model, Property, Representative};

/// What a commit changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Add(Pid),
    Remove(Pid),
    /// A member the server added on its own (only a mutant commits this).
    AddGhost,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Msg {
    UserJoined(Pid),
    UserLeft(Pid),
    GhostJoined,
    /// DC to a joiner: the secret of `epoch`, the roster, and the DC's pending lists.
    Welcome {
        from_seq: u8,
        epoch: u8,
        key: KeyId,
        roster: Roster,
        pending_add: Roster,
        pending_remove: Roster,
    },
    /// DC to the group: the commit making `epoch`.
    Commit {
        from: Pid,
        epoch: u8,
        op: Op,
        key: KeyId,
        roster: Roster,
    },
    Downgrade,
}

impl Msg {
    fn words(&self) -> String {
        match self {
            Msg::UserJoined(p) => format!("'user_joined {p}'"),
            Msg::UserLeft(p) => format!("'user_left {p}'"),
            Msg::GhostJoined => "'user_joined (a server identity)'".into(),
            Msg::Welcome { epoch, key, .. } => format!("the Welcome to epoch {epoch} ({key})"),
            Msg::Commit { epoch, op, key, .. } => {
                let what = match op {
                    Op::Add(p) => format!("Add {p}"),
                    Op::Remove(p) => format!("Remove {p}"),
                    Op::AddGhost => "Add (server identity)".into(),
                };
                format!("the {what} commit for epoch {epoch} ({key})")
            }
            Msg::Downgrade => "'use the static key'".into(),
        }
    }

    fn permute(&self, perm: &[u8]) -> Msg {
        let pp = |p: &Pid| Pid(perm[p.0 as usize]);
        match *self {
            Msg::UserJoined(p) => Msg::UserJoined(pp(&p)),
            Msg::UserLeft(p) => Msg::UserLeft(pp(&p)),
            Msg::Welcome {
                from_seq,
                epoch,
                key,
                roster,
                pending_add,
                pending_remove,
            } => Msg::Welcome {
                from_seq,
                epoch,
                key,
                roster: roster.permute(perm),
                pending_add: pending_add.permute(perm),
                pending_remove: pending_remove.permute(perm),
            },
            Msg::Commit {
                from,
                epoch,
                op,
                key,
                roster,
            } => Msg::Commit {
                from: pp(&from),
                epoch,
                op: match op {
                    Op::Add(p) => Op::Add(pp(&p)),
                    Op::Remove(p) => Op::Remove(pp(&p)),
                    Op::AddGhost => Op::AddGhost,
                },
                key,
                roster: roster.permute(perm),
            },
            m @ (Msg::GhostJoined | Msg::Downgrade) => m,
        }
    }
}

/// A participant's own bookkeeping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Local {
    pub pending_add: Roster,
    pub pending_remove: Roster,
    /// A joiner's newest Welcome: (epoch, committer UID, key, roster).
    pub welcome: Option<(u8, u8, KeyId, Roster)>,
    /// A DC halfway through adding: the joiner and the key of the next epoch.
    pub adding: Option<(Pid, KeyId)>,
    /// A joiner that saw the group's Add of itself before any matching Welcome.
    pub added: Option<(u8, KeyId, Roster)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MlsDcState {
    pub call: Call,
    pub net: Net<Msg>,
    /// Who the server carries.
    pub connected: Roster,
    pub local: Vec<Local>,
}

impl GroupView for MlsDcState {
    fn call(&self) -> &Call {
        &self.call
    }
    fn quiescent(&self) -> bool {
        self.net.is_empty()
            && self.connected.iter().all(|p| {
                let l = &self.local[p.0 as usize];
                self.call.part(p).status != Status::Member
                    || (l.pending_add.is_empty()
                        && l.pending_remove.is_empty()
                        && l.adding.is_none())
            })
    }
    fn carried(&self) -> Roster {
        self.connected
    }
}

impl Representative for MlsDcState {
    fn representative(&self) -> Self {
        let perm = self.call.canonical_perm();
        let mut local = self.local.clone();
        for (i, l) in self.local.iter().enumerate() {
            local[perm[i] as usize] = Local {
                pending_add: l.pending_add.permute(&perm),
                pending_remove: l.pending_remove.permute(&perm),
                welcome: l.welcome.map(|(e, s, k, r)| (e, s, k, r.permute(&perm))),
                adding: l.adding.map(|(p, k)| (Pid(perm[p.0 as usize]), k)),
                added: l.added.map(|(e, k, r)| (e, k, r.permute(&perm))),
            };
        }
        MlsDcState {
            call: self.call.permute(&perm),
            net: self.net.permute(&perm, |m| m.permute(&perm)),
            connected: self.connected.permute(&perm),
            local,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Join(Pid),
    Leave(Pid),
    /// What the server does: deliver, drop, reorder, replay, or forge.
    Server(ServerMove),
    /// The DC sends `joiner` its Welcome (the first half of an add).
    DcWelcome {
        dc: Pid,
        joiner: Pid,
    },
    /// The DC commits the Add of `joiner` (the second half).
    DcAdd {
        dc: Pid,
        joiner: Pid,
    },
    /// The DC commits the Remove of `leaver`.
    DcRemove {
        dc: Pid,
        leaver: Pid,
    },
}

#[derive(Clone, Debug)]
pub struct MlsDcModel {
    pub bounds: Bounds,
    pub mutant: Option<Mutant>,
}

impl MlsDcModel {
    pub fn new(bounds: Bounds, mutant: Option<Mutant>) -> MlsDcModel {
        MlsDcModel { bounds, mutant }
    }

    fn is(&self, m: Mutant) -> bool {
        self.mutant == Some(m)
    }

    /// Whether `p` believes it is the designated committer: the live added member with the
    /// lowest UID in its own view.
    fn is_dc(s: &MlsDcState, p: Pid) -> bool {
        let part = s.call.part(p);
        let l = &s.local[p.0 as usize];
        part.status == Status::Member
            && Roster(part.roster.0 & !l.pending_remove.0)
                .iter()
                .min_by_key(|q| s.call.part(*q).seq)
                == Some(p)
    }

    /// The server relays `msg` from `from` to everyone it carries but the sender; it relays
    /// nothing from a participant it no longer carries.
    fn broadcast(s: &mut MlsDcState, from: Option<Pid>, msg: Msg) {
        if from.is_some_and(|f| !s.connected.contains(f)) {
            return;
        }
        for q in s.connected.iter().filter(|q| Some(*q) != from) {
            s.net.send(Dest::P(q), msg);
        }
    }

    fn install(s: &mut MlsDcState, p: Pid, epoch: u8, key: KeyId, roster: Roster) {
        let carried = s.connected.contains(p);
        s.call.install(p, epoch, key, roster, carried);
    }

    /// The key of the DC's next epoch: fresh, or (in mutants) the current one or one derived
    /// from it.
    fn next_key(&self, s: &mut MlsDcState, dc: Pid, reuse: bool, derive: bool) -> Option<KeyId> {
        let me = *s.call.part(dc);
        match me.key {
            Some(k) if reuse => Some(k),
            current => s.call.knowledge.fresh(
                me.epoch + 1,
                Agent::Participant(dc),
                if derive { current } else { None },
            ),
        }
    }

    /// The DC sends `joiner` the secret of `epoch`, whose roster is `roster`.
    fn welcome(
        &self,
        s: &mut MlsDcState,
        dc: Pid,
        joiner: Pid,
        key: KeyId,
        epoch: u8,
        roster: Roster,
    ) {
        let me = *s.call.part(dc);
        let l = s.local[dc.0 as usize];
        s.call
            .knowledge
            .send(key, Wrap::To(Roster::EMPTY.with(joiner)));
        if s.connected.contains(dc) {
            let msg = Msg::Welcome {
                from_seq: me.seq,
                epoch,
                key,
                roster,
                pending_add: l.pending_add.without(joiner),
                pending_remove: l.pending_remove,
            };
            s.net.send(Dest::P(joiner), msg);
        }
    }

    fn commit(&self, s: &mut MlsDcState, dc: Pid, op: Op, key: KeyId, path_to: Roster) {
        let me = *s.call.part(dc);
        let roster = match op {
            Op::Add(j) => me.roster.with(j),
            Op::Remove(r) => me.roster.without(r),
            Op::AddGhost => me.roster,
        };
        s.call.knowledge.send(key, Wrap::To(path_to.without(dc)));
        let epoch = me.epoch + 1;
        Self::broadcast(
            s,
            Some(dc),
            Msg::Commit {
                from: dc,
                epoch,
                op,
                key,
                roster,
            },
        );
        let l = &mut s.local[dc.0 as usize];
        match op {
            Op::Add(j) => l.pending_add = l.pending_add.without(j),
            Op::Remove(r) => l.pending_remove = l.pending_remove.without(r),
            Op::AddGhost => {}
        }
        Self::install(s, dc, epoch, key, roster);
    }

    fn receive(&self, s: &mut MlsDcState, r: Pid, msg: Msg) {
        let me = *s.call.part(r);
        let l = s.local[r.0 as usize];
        let view = match (me.status, l.welcome) {
            (Status::Member, _) => me.roster,
            (Status::Joining, Some((_, _, _, roster))) => roster,
            _ => Roster::EMPTY,
        };
        let alive = matches!(me.status, Status::Member | Status::Joining);
        match msg {
            Msg::UserJoined(j) if alive && !view.contains(j) => {
                s.local[r.0 as usize].pending_add = l.pending_add.with(j);
            }
            Msg::UserLeft(x) if alive => {
                let l = &mut s.local[r.0 as usize];
                l.pending_add = l.pending_add.without(x);
                if view.contains(x) {
                    l.pending_remove = l.pending_remove.with(x);
                }
            }
            Msg::GhostJoined if self.is(Mutant::AcceptServerAdd) && Self::is_dc(s, r) => {
                // The ghost cannot be listed on any screen: it has no verifiable identity.
                if let Some(key) = self.next_key(s, r, false, false) {
                    s.call.knowledge.send(key, Wrap::ToServerMember);
                    self.commit(s, r, Op::AddGhost, key, me.roster);
                }
            }
            Msg::Welcome {
                from_seq,
                epoch,
                key,
                roster,
                pending_add,
                pending_remove,
            } if me.status == Status::Joining => {
                let newer = l
                    .welcome
                    .is_none_or(|(e, s, _, _)| (epoch, from_seq) > (e, s));
                if newer {
                    s.local[r.0 as usize] = Local {
                        welcome: Some((epoch, from_seq, key, roster)),
                        pending_add: Roster(pending_add.0 | l.pending_add.0).without(r),
                        pending_remove: Roster(pending_remove.0 | l.pending_remove.0),
                        adding: None,
                        added: l.added,
                    };
                    if let Some((e, k, roster)) = l.added.filter(|(_, k, _)| *k == key) {
                        Self::install(s, r, e, k, roster);
                    }
                }
            }
            Msg::Commit {
                epoch,
                op,
                key,
                roster,
                ..
            } => {
                if me.status == Status::Member && epoch == me.epoch + 1 {
                    let l = &mut s.local[r.0 as usize];
                    match op {
                        Op::Add(j) => l.pending_add = l.pending_add.without(j),
                        Op::Remove(x) => l.pending_remove = l.pending_remove.without(x),
                        Op::AddGhost => {}
                    }
                    if op == Op::Remove(r) {
                        s.call.saw_own_removal(r);
                    } else {
                        Self::install(s, r, epoch, key, roster);
                    }
                } else if me.status == Status::Joining && op == Op::Add(r) {
                    if l.welcome.is_some_and(|(_, _, k, _)| k == key) {
                        Self::install(s, r, epoch, key, roster);
                    } else {
                        s.local[r.0 as usize].added = Some((epoch, key, roster));
                    }
                }
            }
            Msg::Downgrade if me.status == Status::Member && self.is(Mutant::ServerDowngrade) => {
                Self::install(s, r, me.epoch, KeyId::STATIC, me.roster);
            }
            _ => {}
        }
    }
}

impl Model for MlsDcModel {
    type State = MlsDcState;
    type Action = Action;

    fn init_states(&self) -> Vec<MlsDcState> {
        let b = self.bounds;
        let call = Call::from_bounds(&b);
        vec![MlsDcState {
            connected: call.with_status(Status::Member),
            net: Net::new(b.participants as usize),
            local: vec![Local::default(); b.participants as usize],
            call,
        }]
    }

    fn actions(&self, s: &MlsDcState, actions: &mut Vec<Action>) {
        let c = &s.call;
        for (p, join) in c.open_changes() {
            actions.push(if join {
                Action::Join(p)
            } else {
                Action::Leave(p)
            });
        }
        for p in c.pids() {
            let part = c.part(p);
            if Self::is_dc(s, p) {
                let l = &s.local[p.0 as usize];
                let add_first = self.is(Mutant::AddBeforeWelcome);
                match l.adding {
                    // Halfway through an add: the other half comes next, nothing else.
                    Some((joiner, _)) if add_first => {
                        actions.push(Action::DcWelcome { dc: p, joiner })
                    }
                    Some((joiner, _)) => actions.push(Action::DcAdd { dc: p, joiner }),
                    None => {
                        // Joiners are welcomed in the order they arrived.
                        let next = l.pending_add.iter().min_by_key(|q| c.part(*q).seq);
                        if let Some(joiner) = next {
                            if add_first {
                                actions.push(Action::DcAdd { dc: p, joiner });
                            } else {
                                actions.push(Action::DcWelcome { dc: p, joiner });
                            }
                        }
                        for leaver in Roster(l.pending_remove.0 & part.roster.0).iter() {
                            actions.push(Action::DcRemove { dc: p, leaver });
                        }
                    }
                }
            }
        }
        let mut moves = Vec::new();
        s.net.server_moves(
            &c.budget,
            Targets {
                kick: s.connected,
                ghost: true,
                downgrade: c.with_status(Status::Member),
            },
            &mut moves,
        );
        actions.extend(moves.into_iter().map(Action::Server));
    }

    fn next_state(&self, last: &MlsDcState, action: Action) -> Option<MlsDcState> {
        let mut s = last.clone();
        match action {
            Action::Join(p) => {
                s.call.arrive(p);
                Self::broadcast(&mut s, None, Msg::UserJoined(p));
                s.connected = s.connected.with(p);
            }
            Action::Leave(p) => {
                s.call.leave(p);
                if s.connected.contains(p) {
                    s.connected = s.connected.without(p);
                    Self::broadcast(&mut s, None, Msg::UserLeft(p));
                }
            }
            Action::Server(ServerMove::Net(op)) => {
                if let Some((Dest::P(r), msg)) = s.net.apply(op, &mut s.call.budget).ok()? {
                    self.receive(&mut s, r, msg);
                }
            }
            Action::DcWelcome { dc, joiner } => match s.local[dc.0 as usize].adding {
                Some((_, key)) => {
                    // Add-before-Welcome mutant: the Add went out already; the DC is in its epoch.
                    let me = *s.call.part(dc);
                    self.welcome(&mut s, dc, joiner, key, me.epoch, me.roster);
                    s.local[dc.0 as usize].adding = None;
                }
                None => {
                    let key = self.next_key(&mut s, dc, self.is(Mutant::NoRotateOnJoin), false)?;
                    let me = *s.call.part(dc);
                    self.welcome(
                        &mut s,
                        dc,
                        joiner,
                        key,
                        me.epoch + 1,
                        me.roster.with(joiner),
                    );
                    s.local[dc.0 as usize].adding = Some((joiner, key));
                }
            },
            Action::DcAdd { dc, joiner } => {
                let me = *s.call.part(dc);
                match s.local[dc.0 as usize].adding {
                    Some((_, key)) => {
                        s.local[dc.0 as usize].adding = None;
                        self.commit(&mut s, dc, Op::Add(joiner), key, me.roster);
                    }
                    None => {
                        let key =
                            self.next_key(&mut s, dc, self.is(Mutant::NoRotateOnJoin), false)?;
                        self.commit(&mut s, dc, Op::Add(joiner), key, me.roster);
                        s.local[dc.0 as usize].adding = Some((joiner, key));
                    }
                }
            }
            Action::DcRemove { dc, leaver } => {
                let me = *s.call.part(dc);
                let reuse = self.is(Mutant::NoRotateOnLeave);
                let derive = self.is(Mutant::RemoveWithoutPath);
                let key = self.next_key(&mut s, dc, reuse, derive)?;
                let path_to = if self.is(Mutant::WrapToRemoved) {
                    me.roster
                } else if derive {
                    Roster::EMPTY
                } else {
                    me.roster.without(leaver)
                };
                self.commit(&mut s, dc, Op::Remove(leaver), key, path_to);
            }
            Action::Server(ServerMove::Forge(Forgery::Kick(p))) => {
                s.call.spend_interference();
                s.connected = s.connected.without(p);
                Self::broadcast(&mut s, None, Msg::UserLeft(p));
            }
            Action::Server(ServerMove::Forge(Forgery::GhostJoin)) => {
                s.call.spend_interference();
                Self::broadcast(&mut s, None, Msg::GhostJoined);
            }
            Action::Server(ServerMove::Forge(Forgery::Downgrade(p))) => {
                s.call.spend_interference();
                s.net.send(Dest::P(p), Msg::Downgrade);
            }
        }
        // Take out what can change nothing: anything for someone gone, and a commit for an
        // epoch its member has passed (members apply only the next epoch's).
        let call = &s.call;
        s.net.retain(|to, m| match to {
            Dest::P(p) => {
                let part = call.part(p);
                match m {
                    _ if part.status == Status::Gone => false,
                    Msg::Commit { epoch, .. } => {
                        part.status != Status::Member || *epoch > part.epoch
                    }
                    _ => true,
                }
            }
            Dest::Server => true,
        });
        Some(s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        properties::all()
    }
}

impl Describe for MlsDcModel {
    fn describe(&self, s: &MlsDcState, action: &Action) -> Step {
        match *action {
            Action::Join(p) => Step::new(p.to_string(), format!("{p} connects and asks to join"))
                .arrow(p.to_string(), "Server", "join"),
            Action::Leave(p) => steps::leave(p),
            Action::Server(ServerMove::Net(op)) => describe_net(
                &s.net,
                op,
                |m| m.words(),
                |m| match m {
                    Msg::Welcome { .. } | Msg::Commit { .. } => "the DC".into(),
                    _ => "Server".into(),
                },
            ),
            Action::DcWelcome { dc, joiner } => Step::new(
                dc.to_string(),
                format!("{dc}, as DC, sends {joiner} a Welcome to the next epoch"),
            )
            .arrow(dc.to_string(), "Server", format!("Welcome for {joiner}")),
            Action::DcAdd { dc, joiner } => Step::new(
                dc.to_string(),
                format!("{dc}, as DC, commits the Add of {joiner} and moves to the next epoch"),
            )
            .arrow(dc.to_string(), "Server", format!("Add {joiner} commit")),
            Action::DcRemove { dc, leaver } => Step::new(
                dc.to_string(),
                format!("{dc}, as DC, commits the Remove of {leaver} and moves to the next epoch"),
            )
            .arrow(dc.to_string(), "Server", format!("Remove {leaver} commit")),
            Action::Server(ServerMove::Forge(Forgery::Kick(p))) => steps::forge_leave(p),
            Action::Server(ServerMove::Forge(Forgery::GhostJoin)) => steps::forge_ghost_join(),
            Action::Server(ServerMove::Forge(Forgery::Downgrade(p))) => steps::forge_downgrade(p),
        }
    }

    fn summarize(&self, s: &MlsDcState) -> String {
        summarize_call(&s.call)
    }

    fn effects(&self, before: &MlsDcState, after: &MlsDcState) -> Vec<String> {
        super::consequences(&before.call, &after.call)
    }
}

/// MLS with a designated committer's entry in [`super::REGISTRY`].
pub static SPEC: super::ProtocolSpec = super::ProtocolSpec {
    name: "mls-dc",
    module: module_path!(),
    description: "MLS, designated committer: the lowest-UID live added member sends Welcome, then \
                  Add; and Remove (Cloudflare Orange Meets, cloudflareresearch/orange-e2ee-model-check)",
    source: "Cloudflare Orange Meets (cloudflareresearch/orange-e2ee-model-check, README \
             \"Designated Committer\")",
    mutants: &[
        Mutant::NoRotateOnLeave,
        Mutant::NoRotateOnJoin,
        Mutant::WrapToRemoved,
        Mutant::AcceptServerAdd,
        Mutant::ServerDowngrade,
        Mutant::AddBeforeWelcome,
        Mutant::RemoveWithoutPath,
    ],
    no_mutants_because: None,
    in_default_run: true,
    default_bounds: Bounds::DEFAULT,
    validate: Bounds::validate,
    build: |bounds, mutant| Box::new(MlsDcModel::new(bounds, mutant)),
};
