//! Zoom's end-to-end encrypted meetings (zoom/zoom-e2e-whitepaper, `doc/meetings.tex`).
//!
//! - A participant joins by telling the server (Zoom's MMR) it is there; the server tells the
//!   meeting's *leader*. Join requests are signed with the participant's identity key, so the
//!   leader only admits participants whose request it can verify, and only once.
//! - The leader makes a fresh meeting key on every join and every leave ("The leader should
//!   trigger a rekey whenever a participant enters or leaves the meeting"), wraps it to each
//!   participant's public key, and sends each wrapped copy with the new participant list.
//! - A participant installs a key update only from the leader it follows and only if its
//!   sequence number (here: epoch) is greater than the one it has ("otherwise the key rotation is
//!   ignored").
//! - When the leader drops out, "the Zoom server picks a new leader arbitrarily and sends a signal
//!   to participants indicating that the leader has changed"; here it picks the longest-present
//!   participant, hands it the present participants and the latest epoch it saw, and numbers its
//!   appointments (terms) so that an old appointment cannot be replayed. The new leader rotates.
//!
//! The server may also drop, reorder and replay, announce a leave nobody made (a kick of anyone
//! but the leader: deposing a live leader partitions the meeting, which the whitepaper names "one
//! unavoidable attack the Zoom server can perform" — a denial of service, no secret at stake),
//! announce a join of an identity of its own, and order participants to fall back to a static key.
//!
//! Simplified: rekeys are immediate (Zoom may delay a rekey on leave by up to 10 s and batch
//! joins), and the leader participant list's heartbeat chain is folded into the key update.

use super::{describe_net, steps, summarize_call, Describe};
use crate::adversary::{Dest, Forgery, Net, ServerMove, Targets};
use crate::call::{Call, Status};
use crate::knowledge::{Agent, KeyId, Pid, Roster, Wrap};
use crate::properties::{self, GroupView};
use crate::trace::Step;
use crate::{Bounds, Mutant};
use stateright::{Model, Property, Representative};

/// A message as the server carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// Server to leader: `p` joined (with its signed request).
    Joined(Pid),
    /// Server to leader: an identity of the server's own joined (no valid signature).
    GhostJoined,
    /// Server to leader: `p` left.
    Left(Pid),
    /// Server to the new leader: the old one left; who is present; the latest epoch seen.
    Handover {
        left: Pid,
        present: Roster,
        latest: u8,
        term: u8,
    },
    /// Server to a participant: `leader` leads now, in the server's `term`-th leadership.
    LeaderIs { leader: Pid, term: u8 },
    /// Leader to one participant: the meeting key of `epoch`, wrapped to that participant.
    KeyUpdate {
        from: Pid,
        epoch: u8,
        roster: Roster,
        key: KeyId,
    },
    /// Server to a participant: fall back to the static key.
    Downgrade,
}

impl Msg {
    fn words(&self) -> String {
        match self {
            Msg::Joined(p) => format!("'{p} joined'"),
            Msg::GhostJoined => "'a server identity joined'".into(),
            Msg::Left(p) => format!("'{p} left'"),
            Msg::Handover {
                left,
                present,
                latest,
                ..
            } => {
                format!("'{left} left, you lead {present} after epoch {latest}'")
            }
            Msg::KeyUpdate {
                epoch, roster, key, ..
            } => {
                format!("the key update for epoch {epoch} ({key}, roster {roster})")
            }
            Msg::Downgrade => "'use the static key'".into(),
            Msg::LeaderIs { leader, term } => format!("'{leader} leads (term {term})'"),
        }
    }

    fn permute(&self, perm: &[u8]) -> Msg {
        let pp = |p: &Pid| Pid(perm[p.0 as usize]);
        match self {
            Msg::Joined(p) => Msg::Joined(pp(p)),
            Msg::Left(p) => Msg::Left(pp(p)),
            Msg::LeaderIs { leader, term } => Msg::LeaderIs {
                leader: pp(leader),
                term: *term,
            },
            Msg::Handover {
                left,
                present,
                latest,
                term,
            } => Msg::Handover {
                left: pp(left),
                present: present.permute(perm),
                latest: *latest,
                term: *term,
            },
            Msg::KeyUpdate {
                from,
                epoch,
                roster,
                key,
            } => Msg::KeyUpdate {
                from: pp(from),
                epoch: *epoch,
                roster: roster.permute(perm),
                key: *key,
            },
            m @ (Msg::GhostJoined | Msg::Downgrade) => *m,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LeaderState {
    pub call: Call,
    pub net: Net<Msg>,
    /// The server's view: who leads, who is present, the newest epoch it carried.
    pub leader: Option<Pid>,
    pub present: Roster,
    pub latest_epoch: u8,
    /// How many leaders the server has appointed, so that appointments cannot be replayed.
    pub term: u8,
    /// Each participant's own view: the leader it follows, and who it has seen leave.
    pub local: Vec<Local>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Local {
    pub follows: Option<Pid>,
    pub term: u8,
    pub departed: Roster,
}

impl GroupView for LeaderState {
    fn call(&self) -> &Call {
        &self.call
    }
    fn quiescent(&self) -> bool {
        self.net.is_empty()
    }
    fn carried(&self) -> Roster {
        self.present
    }
}

impl Representative for LeaderState {
    fn representative(&self) -> Self {
        let perm = self.call.canonical_perm();
        LeaderState {
            call: self.call.permute(&perm),
            net: self.net.permute(&perm, |m| m.permute(&perm)),
            leader: self.leader.map(|p| Pid(perm[p.0 as usize])),
            present: self.present.permute(&perm),
            latest_epoch: self.latest_epoch,
            term: self.term,
            local: {
                let mut local = self.local.clone();
                for (i, l) in self.local.iter().enumerate() {
                    local[perm[i] as usize] = Local {
                        follows: l.follows.map(|p| Pid(perm[p.0 as usize])),
                        term: l.term,
                        departed: l.departed.permute(&perm),
                    };
                }
                local
            },
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `p` tells the server it joins.
    Join(Pid),
    /// `p` tells the server it leaves.
    Leave(Pid),
    /// What the server does: deliver, drop, reorder, replay, or forge.
    Server(ServerMove),
}

#[derive(Clone, Debug)]
pub struct LeaderModel {
    pub bounds: Bounds,
    pub mutant: Option<Mutant>,
}

impl LeaderModel {
    pub fn new(bounds: Bounds, mutant: Option<Mutant>) -> LeaderModel {
        LeaderModel { bounds, mutant }
    }

    fn is(&self, m: Mutant) -> bool {
        self.mutant == Some(m)
    }

    /// The server picks the longest-present participant to lead.
    fn pick_leader(call: &Call, present: Roster) -> Option<Pid> {
        present.iter().min_by_key(|p| call.part(*p).seq)
    }

    /// The server tells whoever should hear of `p`'s departure.
    fn announce_departure(&self, s: &mut LeaderState, p: Pid) {
        s.present = s.present.without(p);
        if s.leader == Some(p) {
            s.leader = Self::pick_leader(&s.call, s.present);
            if let Some(next) = s.leader {
                self.appoint(s, next, p);
            }
        } else if let Some(leader) = s.leader {
            s.net.send(Dest::P(leader), Msg::Left(p));
        }
    }

    /// The server makes `next` the leader after `left`, and tells everyone present.
    fn appoint(&self, s: &mut LeaderState, next: Pid, left: Pid) {
        s.term += 1;
        let handover = Msg::Handover {
            left,
            present: s.present,
            latest: s.latest_epoch,
            term: s.term,
        };
        s.net.send(Dest::P(next), handover);
        for q in s.present.without(next).iter() {
            let term = s.term;
            s.net.send(Dest::P(q), Msg::LeaderIs { leader: next, term });
        }
    }

    /// Leader `l` makes the key of its next epoch for `roster` and wraps it to each member.
    /// `also` is who else gets a copy (a mutant's extra recipient).
    fn rotate(
        &self,
        s: &mut LeaderState,
        l: Pid,
        epoch: u8,
        roster: Roster,
        also: Option<Wrap>,
        reuse: bool,
    ) {
        let current = s.call.part(l).key;
        let key = match current {
            Some(k) if reuse => k,
            _ => {
                let maker = if self.is(Mutant::ServerGeneratedKey) {
                    Agent::Server
                } else {
                    Agent::Participant(l)
                };
                match s.call.knowledge.fresh(epoch, maker, None) {
                    Some(k) => k,
                    None => return,
                }
            }
        };
        for q in roster.without(l).iter() {
            s.call.knowledge.send(key, Wrap::To(Roster::EMPTY.with(q)));
            s.net.send(
                Dest::P(q),
                Msg::KeyUpdate {
                    from: l,
                    epoch,
                    roster,
                    key,
                },
            );
        }
        if let Some(w) = also {
            s.call.knowledge.send(key, w);
        }
        s.latest_epoch = s.latest_epoch.max(epoch);
        self.install(s, l, epoch, key, roster);
    }

    fn install(&self, s: &mut LeaderState, p: Pid, epoch: u8, key: KeyId, roster: Roster) {
        let old = s.call.part(p).roster;
        let local = &mut s.local[p.0 as usize];
        local.departed = Roster(local.departed.0 | (old.0 & !roster.0));
        s.call.install(p, epoch, key, roster, s.present.contains(p));
    }

    /// `r` handles a message the server delivered.
    fn receive(&self, s: &mut LeaderState, r: Pid, msg: Msg) {
        let me = *s.call.part(r);
        let local = s.local[r.0 as usize];
        let active = matches!(me.status, Status::Member | Status::Joining);
        let leading = me.status == Status::Member && local.follows == Some(r);
        match msg {
            Msg::Joined(j) if leading && !me.roster.contains(j) && !local.departed.contains(j) => {
                let reuse = self.is(Mutant::NoRotateOnJoin);
                self.rotate(s, r, me.epoch + 1, me.roster.with(j), None, reuse);
            }
            Msg::GhostJoined if leading && self.is(Mutant::AcceptServerAdd) => {
                // The ghost has no verifiable identity, so no honest screen lists it.
                self.rotate(
                    s,
                    r,
                    me.epoch + 1,
                    me.roster,
                    Some(Wrap::ToServerMember),
                    false,
                );
            }
            Msg::Left(x) if leading && me.roster.contains(x) => {
                s.local[r.0 as usize].departed = local.departed.with(x);
                let also = self
                    .is(Mutant::WrapToRemoved)
                    .then_some(Wrap::To(Roster::EMPTY.with(x)));
                let reuse = self.is(Mutant::NoRotateOnLeave);
                self.rotate(s, r, me.epoch + 1, me.roster.without(x), also, reuse);
            }
            Msg::Handover {
                left,
                present,
                latest,
                term,
            } if active && term > local.term => {
                let also = self
                    .is(Mutant::WrapToRemoved)
                    .then_some(Wrap::To(Roster::EMPTY.with(left)));
                let reuse = self.is(Mutant::NoRotateOnLeave);
                let epoch = me.epoch.max(latest) + 1;
                let departed = local.departed.with(left);
                s.local[r.0 as usize] = Local {
                    follows: Some(r),
                    term,
                    departed,
                };
                let roster = Roster(present.0 & !departed.0).with(r);
                self.rotate(s, r, epoch, roster, also, reuse);
            }
            Msg::LeaderIs { leader, term } if active && term >= local.term => {
                s.local[r.0 as usize].follows = Some(leader);
                s.local[r.0 as usize].term = term;
            }
            Msg::KeyUpdate {
                from,
                epoch,
                roster,
                key,
            } if active && local.follows == Some(from) => {
                let newer = if self.is(Mutant::AcceptReplayedKey) {
                    epoch != me.epoch
                } else {
                    epoch > me.epoch
                };
                if newer && roster.contains(r) {
                    self.install(s, r, epoch, key, roster);
                }
            }
            Msg::Downgrade if me.status == Status::Member && self.is(Mutant::ServerDowngrade) => {
                self.install(s, r, me.epoch, KeyId::STATIC, me.roster);
            }
            _ => {}
        }
    }
}

impl Model for LeaderModel {
    type State = LeaderState;
    type Action = Action;

    fn init_states(&self) -> Vec<LeaderState> {
        let b = self.bounds;
        let call = Call::from_bounds(&b);
        let present = call.with_status(Status::Member);
        let local = (0..b.participants)
            .map(|i| Local {
                follows: (i < b.initial_members).then_some(Pid(0)),
                term: 0,
                departed: Roster::EMPTY,
            })
            .collect();
        vec![LeaderState {
            local,
            net: Net::new(b.participants as usize),
            leader: Some(Pid(0)),
            present,
            latest_epoch: 1,
            term: 0,
            call,
        }]
    }

    fn actions(&self, s: &LeaderState, actions: &mut Vec<Action>) {
        let c = &s.call;
        for (p, join) in c.open_changes() {
            actions.push(if join {
                Action::Join(p)
            } else {
                Action::Leave(p)
            });
        }
        let mut moves = Vec::new();
        s.net.server_moves(
            &c.budget,
            Targets {
                // Deposing a live leader partitions the meeting (the whitepaper's "unavoidable
                // attack"): a denial of service with no secret at stake, so the model spares it.
                kick: s
                    .present
                    .iter()
                    .filter(|p| Some(*p) != s.leader)
                    .fold(Roster::EMPTY, Roster::with),
                ghost: true,
                downgrade: c.with_status(Status::Member),
            },
            &mut moves,
        );
        actions.extend(moves.into_iter().map(Action::Server));
    }

    fn next_state(&self, last: &LeaderState, action: Action) -> Option<LeaderState> {
        let mut s = last.clone();
        match action {
            Action::Join(p) => {
                s.call.arrive(p);
                s.present = s.present.with(p);
                match s.leader {
                    Some(l) => {
                        let term = s.term;
                        s.net.send(Dest::P(p), Msg::LeaderIs { leader: l, term });
                        s.net.send(Dest::P(l), Msg::Joined(p));
                    }
                    None => {
                        // Nobody is left to lead: the newcomer leads a fresh meeting.
                        s.leader = Some(p);
                        self.appoint(&mut s, p, p);
                    }
                }
            }
            Action::Leave(p) => {
                s.call.leave(p);
                if s.present.contains(p) {
                    self.announce_departure(&mut s, p);
                }
            }
            Action::Server(ServerMove::Net(op)) => {
                if let Some((Dest::P(r), msg)) = s.net.apply(op, &mut s.call.budget).ok()? {
                    self.receive(&mut s, r, msg);
                }
            }
            Action::Server(ServerMove::Forge(Forgery::Kick(p))) => {
                s.call.spend_interference();
                self.announce_departure(&mut s, p);
            }
            Action::Server(ServerMove::Forge(Forgery::GhostJoin)) => {
                s.call.spend_interference();
                if let Some(l) = s.leader {
                    s.net.send(Dest::P(l), Msg::GhostJoined);
                }
            }
            Action::Server(ServerMove::Forge(Forgery::Downgrade(p))) => {
                s.call.spend_interference();
                s.net.send(Dest::P(p), Msg::Downgrade);
            }
        }
        // Whoever is gone acts on nothing: its queue can only add no-op interleavings.
        let gone = s.call.with_status(Status::Gone);
        s.net
            .retain(|to, _| !matches!(to, Dest::P(p) if gone.contains(p)));
        Some(s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        properties::all()
    }
}

impl Describe for LeaderModel {
    fn describe(&self, s: &LeaderState, action: &Action) -> Step {
        match *action {
            Action::Join(p) => Step::new(p.to_string(), format!("{p} asks the server to join"))
                .arrow(p.to_string(), "Server", "join"),
            Action::Leave(p) => steps::leave(p),
            Action::Server(ServerMove::Net(op)) => {
                describe_net(&s.net, op, |m| m.words(), |m| sender_of(s, m))
            }
            Action::Server(ServerMove::Forge(Forgery::Kick(p))) => steps::forge_leave(p),
            Action::Server(ServerMove::Forge(Forgery::GhostJoin)) => steps::forge_ghost_join(),
            Action::Server(ServerMove::Forge(Forgery::Downgrade(p))) => steps::forge_downgrade(p),
        }
    }

    fn summarize(&self, s: &LeaderState) -> String {
        summarize_call(&s.call)
    }

    fn effects(&self, before: &LeaderState, after: &LeaderState) -> Vec<String> {
        super::consequences(&before.call, &after.call)
    }
}

fn sender_of(_s: &LeaderState, m: &Msg) -> String {
    match m {
        Msg::KeyUpdate { from, .. } => from.to_string(),
        _ => "Server".into(),
    }
}

/// Leader's entry in [`super::REGISTRY`].
pub static SPEC: super::ProtocolSpec = super::ProtocolSpec {
    name: "leader",
    module: module_path!(),
    description: "Zoom E2EE: the leader makes each meeting key, wraps it to every participant, \
                  rotates on join and leave; the server picks a new leader (zoom/zoom-e2e-whitepaper)",
    source: "Zoom E2EE whitepaper (zoom/zoom-e2e-whitepaper, doc/meetings.tex)",
    mutants: &[
        Mutant::ServerGeneratedKey,
        Mutant::NoRotateOnLeave,
        Mutant::NoRotateOnJoin,
        Mutant::WrapToRemoved,
        Mutant::AcceptServerAdd,
        Mutant::ServerDowngrade,
        Mutant::AcceptReplayedKey,
    ],
    no_mutants_because: None,
    in_default_run: true,
    default_bounds: Bounds::DEFAULT,
    validate: Bounds::validate,
    build: |bounds, mutant| Box::new(LeaderModel::new(bounds, mutant)),
};
