//! Discord's audio/video end-to-end encryption, DAVE (discord/dave-protocol, `protocol.md`): MLS
//! where the voice gateway (the server) is the delivery service and the group's sole external
//! sender.
//!
//! - The call starts as an established group: its first members share epoch 1 and one key. The
//!   gateway knows the group's epoch and roster and who is connected; whoever is connected but not
//!   on the roster waits to be added, whoever is on the roster but no longer connected waits to be
//!   removed (the gateway's pending proposals).
//! - A participant joins by connecting with its key package: the gateway broadcasts an external
//!   Add proposal, for the group's current epoch, to every connected member (not to those still
//!   waiting to be added). A participant leaves by disconnecting: the gateway broadcasts an
//!   external Remove proposal to the members still connected.
//! - A member keeps the proposals for its current epoch and ignores those for any other epoch.
//! - A member holding proposals commits them all: a fresh key for the next epoch, the roster
//!   with its proposals applied; the UpdatePath wraps the key to the members staying, the Welcome
//!   to the members added. It sends commit and Welcome to the gateway and waits: it does not apply
//!   its own commit before the gateway announces it. If more proposals come in the same epoch,
//!   its commit no longer covers them, so it commits again.
//! - The first commit the gateway receives for the epoch after its own wins, if it is valid: it
//!   must cover every pending add and remove ("references all unrevoked proposals broadcast in
//!   the epoch"). The gateway advances, announces the commit to every connected member, hands
//!   each added member its Welcome, then proposes for the new epoch whoever connected or left in
//!   between. It discards incomplete commits, later commits for a decided epoch, replays, and
//!   commits from clients no longer connected (such a commit leaves out the Remove of its own
//!   sender, so it is invalid in DAVE's eyes).
//! - A member applies the announced commit for the epoch after its own: it sees itself removed and
//!   stops, or installs the new key and roster. A joiner installs the key and roster of its
//!   Welcome. Anything for an older epoch is ignored.
//! - When no member is left connected the gateway forgets the group; the earliest participant
//!   still waiting (or the next to connect) creates a new one alone (DAVE's initial group
//!   creation), and everyone else waiting is proposed to it.
//!
//! The server may also drop, reorder and replay, propose removing a member who did not leave (a
//! kick: it disconnects it), propose adding an identity of its own (whose credential honest members
//! cannot verify, so they drop the proposal), and order participants to fall back to a static key.
//!
//! To stay small, the model makes a commit's fresh key only when the gateway announces the commit
//! (a discarded commit's fresh key is never used), takes a message out of the network as soon as
//! it can no longer change anything (its recipient is past its epoch, or gone), and drops what was
//! queued for a participant when its connection closes. None of these changes a verdict: see
//! `mint` and `prune`.

use super::{describe_net, steps, summarize_call, Describe};
use crate::adversary::{Dest, Forgery, Net, NetOp, ServerMove, Targets};
use crate::call::{Call, Status};
use crate::knowledge::{Agent, KeyId, Pid, Roster, Wrap};
use crate::properties::{self, GroupView};
use crate::trace::Step;
use crate::{Bounds, Mutant};
use stateright::{Model, Property, Representative};

fn union(a: Roster, b: Roster) -> Roster {
    Roster(a.0 | b.0)
}

fn minus(a: Roster, b: Roster) -> Roster {
    Roster(a.0 & !b.0)
}

fn meet(a: Roster, b: Roster) -> Roster {
    Roster(a.0 & b.0)
}

/// A commit as its committer sends it to the gateway and the gateway announces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Commit {
    pub from: Pid,
    /// The epoch it moves the group to.
    pub epoch: u8,
    /// Who it adds (each gets a Welcome) and who it removes.
    pub adds: Roster,
    pub removes: Roster,
    /// It also commits the server's own Add (a mutant's members accept it).
    pub ghost: bool,
    /// The committer's key for the epoch it commits from (what a commit without a fresh secret
    /// reuses or derives from).
    pub base: KeyId,
    /// The new epoch's key, once made (a fresh key is made when the gateway announces the
    /// commit: see the module docs).
    pub key: Option<KeyId>,
    pub roster: Roster,
}

/// A message as the server carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// Gateway to a member: external Add and Remove proposals for `epoch`.
    Proposals {
        epoch: u8,
        adds: Roster,
        removes: Roster,
    },
    /// Gateway to a member: an external Add for `epoch` of an identity the server controls.
    GhostAdd { epoch: u8 },
    /// Committer to gateway, and gateway to members once it won its epoch.
    Commit(Commit),
    /// Gateway to an added member: the Welcome of the announced commit.
    Welcome {
        epoch: u8,
        key: KeyId,
        roster: Roster,
    },
    /// Gateway to a waiting participant: no group is established, create one alone at `epoch`.
    Create { epoch: u8 },
    /// Gateway to a participant: fall back to the static key.
    Downgrade,
}

impl Msg {
    fn words(&self) -> String {
        match self {
            Msg::Proposals {
                epoch,
                adds,
                removes,
            } => {
                let mut ops = Vec::new();
                if !adds.is_empty() {
                    ops.push(format!("add {adds}"));
                }
                if !removes.is_empty() {
                    ops.push(format!("remove {removes}"));
                }
                format!("the proposals for epoch {epoch} ({})", ops.join(", "))
            }
            Msg::GhostAdd { epoch } => {
                format!("the proposal for epoch {epoch} to add a server identity")
            }
            Msg::Commit(c) => match c.key {
                Some(k) => format!(
                    "{}'s commit to epoch {} ({k}, roster {})",
                    c.from, c.epoch, c.roster
                ),
                None => format!(
                    "{}'s commit to epoch {} (roster {})",
                    c.from, c.epoch, c.roster
                ),
            },
            Msg::Welcome { epoch, key, roster } => {
                format!("the Welcome to epoch {epoch} ({key}, roster {roster})")
            }
            Msg::Create { epoch } => format!("'no group: create one alone at epoch {epoch}'"),
            Msg::Downgrade => "'use the static key'".into(),
        }
    }

    fn permute(&self, perm: &[u8]) -> Msg {
        match *self {
            Msg::Proposals {
                epoch,
                adds,
                removes,
            } => Msg::Proposals {
                epoch,
                adds: adds.permute(perm),
                removes: removes.permute(perm),
            },
            Msg::Commit(c) => Msg::Commit(Commit {
                from: Pid(perm[c.from.0 as usize]),
                adds: c.adds.permute(perm),
                removes: c.removes.permute(perm),
                roster: c.roster.permute(perm),
                ..c
            }),
            Msg::Welcome { epoch, key, roster } => Msg::Welcome {
                epoch,
                key,
                roster: roster.permute(perm),
            },
            m @ (Msg::GhostAdd { .. } | Msg::Create { .. } | Msg::Downgrade) => m,
        }
    }
}

/// The voice gateway's view of the group. Its pending proposals are not stored: whoever is
/// connected but not on the roster is to be added, whoever is on the roster but not connected is
/// to be removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Gateway {
    /// The epoch of the last commit it announced, and that commit's roster.
    pub epoch: u8,
    pub roster: Roster,
    pub connected: Roster,
}

impl Gateway {
    /// Connected members of the established group: who hears proposals and commits.
    pub fn members(&self) -> Roster {
        meet(self.connected, self.roster)
    }
    pub fn pending_adds(&self) -> Roster {
        minus(self.connected, self.roster)
    }
    pub fn pending_removes(&self) -> Roster {
        minus(self.roster, self.connected)
    }
}

/// One participant's own MLS state beyond what [`Call`] records: the proposals it holds for its
/// current epoch, and whether it has committed in that epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Local {
    pub adds: Roster,
    pub removes: Roster,
    pub ghost: bool,
    pub committed: bool,
}

impl Local {
    fn holds_proposals(&self) -> bool {
        !self.adds.is_empty() || !self.removes.is_empty() || self.ghost
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MlsGatewayState {
    pub call: Call,
    pub net: Net<Msg>,
    pub gateway: Gateway,
    pub local: Vec<Local>,
}

impl GroupView for MlsGatewayState {
    fn call(&self) -> &Call {
        &self.call
    }
    fn quiescent(&self) -> bool {
        self.net.is_empty()
            && self.gateway.connected == self.gateway.roster
            && self.call.pids().all(|p| {
                let l = &self.local[p.0 as usize];
                self.call.part(p).status != Status::Member || l.committed || !l.holds_proposals()
            })
    }
    fn carried(&self) -> Roster {
        self.gateway.connected
    }
}

impl Representative for MlsGatewayState {
    fn representative(&self) -> Self {
        let perm = self.call.canonical_perm();
        let mut local = self.local.clone();
        for (i, l) in self.local.iter().enumerate() {
            local[perm[i] as usize] = Local {
                adds: l.adds.permute(&perm),
                removes: l.removes.permute(&perm),
                ..*l
            };
        }
        MlsGatewayState {
            call: self.call.permute(&perm),
            net: self.net.permute(&perm, |m| m.permute(&perm)),
            gateway: Gateway {
                epoch: self.gateway.epoch,
                roster: self.gateway.roster.permute(&perm),
                connected: self.gateway.connected.permute(&perm),
            },
            local,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `p` connects to the gateway to join.
    Join(Pid),
    /// `p` disconnects.
    Leave(Pid),
    /// Member `p` commits the proposals it holds.
    Commit(Pid),
    /// What the server does: deliver, drop, reorder, replay, or forge.
    Server(ServerMove),
}

#[derive(Clone, Debug)]
pub struct MlsGatewayModel {
    pub bounds: Bounds,
    pub mutant: Option<Mutant>,
}

impl MlsGatewayModel {
    pub fn new(bounds: Bounds, mutant: Option<Mutant>) -> MlsGatewayModel {
        MlsGatewayModel { bounds, mutant }
    }

    fn is(&self, m: Mutant) -> bool {
        self.mutant == Some(m)
    }

    /// The gateway broadcasts proposals for its epoch to its connected members.
    fn propose(s: &mut MlsGatewayState, adds: Roster, removes: Roster) {
        if adds.is_empty() && removes.is_empty() {
            return;
        }
        let epoch = s.gateway.epoch;
        for q in s.gateway.members().iter() {
            s.net.send(
                Dest::P(q),
                Msg::Proposals {
                    epoch,
                    adds,
                    removes,
                },
            );
        }
    }

    /// With no member left connected, the gateway forgets the group; the earliest participant
    /// still waiting creates a new one, and the others waiting are proposed to it.
    fn maybe_recreate(s: &mut MlsGatewayState) {
        if !s.gateway.members().is_empty() {
            return;
        }
        s.gateway.roster = Roster::EMPTY;
        let Some(first) = s
            .gateway
            .connected
            .iter()
            .min_by_key(|p| s.call.part(*p).seq)
        else {
            return;
        };
        s.gateway.epoch += 1;
        s.gateway.roster = Roster::EMPTY.with(first);
        let epoch = s.gateway.epoch;
        s.net.send(Dest::P(first), Msg::Create { epoch });
        let adds = s.gateway.pending_adds();
        Self::propose(s, adds, Roster::EMPTY);
    }

    /// The gateway no longer carries `p` (it left, or the gateway kicked it): whatever was still
    /// queued for `p` dies with its connection, and the gateway proposes its removal.
    fn disconnect(s: &mut MlsGatewayState, p: Pid) {
        s.gateway.connected = s.gateway.connected.without(p);
        s.net.queues[p.0 as usize].clear();
        if s.gateway.roster.contains(p) {
            Self::propose(s, Roster::EMPTY, Roster::EMPTY.with(p));
        }
        Self::maybe_recreate(s);
    }

    /// Member `m` commits the proposals it holds for its epoch and sends the commit (and the
    /// Welcome, if it adds anyone) to the gateway.
    fn commit(&self, s: &mut MlsGatewayState, m: Pid) -> Option<()> {
        let me = *s.call.part(m);
        let local = s.local[m.0 as usize];
        let adds = minus(local.adds, me.roster);
        let removes = meet(local.removes, me.roster);
        let mut c = Commit {
            from: m,
            epoch: me.epoch + 1,
            adds,
            removes,
            ghost: local.ghost,
            base: me.key?,
            key: None,
            roster: minus(union(me.roster, adds), removes),
        };
        // It keeps what it holds: if more proposals come this epoch, it commits them all again.
        s.local[m.0 as usize] = Local {
            committed: true,
            ..local
        };
        if self.reuses_key(&c) {
            self.mint(s, &mut c)?;
        }
        if self.is(Mutant::ApplyOwnCommit) {
            let key = self.mint(s, &mut c)?;
            self.install(s, m, c.epoch, key, c.roster);
        }
        s.net.send(Dest::Server, Msg::Commit(c));
        Some(())
    }

    /// Does commit `c` reuse the key of the epoch it commits from (a mutant's commit that only
    /// removes, or only adds)?
    fn reuses_key(&self, c: &Commit) -> bool {
        let only_removes = c.adds.is_empty() && !c.removes.is_empty() && !c.ghost;
        let only_adds = c.removes.is_empty() && !c.adds.is_empty() && !c.ghost;
        (self.is(Mutant::NoRotateOnLeave) && only_removes)
            || (self.is(Mutant::NoRotateOnJoin) && only_adds)
    }

    /// The key of commit `c`, made by its committer: a fresh secret, carried by the UpdatePath
    /// to the members staying and by the Welcome to the members added.
    ///
    /// The model makes a fresh key lazily, when the gateway announces the commit: a commit the
    /// gateway discards is never applied, so its fresh key is never anyone's media key, and
    /// making it would only tell apart states no property can tell apart. Knowledge only grows,
    /// so learning the key at the announcement rather than at the commit changes no verdict.
    /// A key that is not fresh (reused, or applied at once by its committer) is sent at once:
    /// it may already be a media key, so even a discarded commit leaks it.
    fn mint(&self, s: &mut MlsGatewayState, c: &mut Commit) -> Option<KeyId> {
        if let Some(k) = c.key {
            return Some(k);
        }
        let no_path = self.is(Mutant::RemoveWithoutPath) && !c.removes.is_empty();
        let kn = &mut s.call.knowledge;
        let key = if self.reuses_key(c) {
            c.base
        } else {
            kn.fresh(
                c.epoch,
                Agent::Participant(c.from),
                no_path.then_some(c.base),
            )?
        };
        if !no_path {
            let mut path = minus(c.roster, c.adds).without(c.from);
            if self.is(Mutant::WrapToRemoved) {
                path = union(path, c.removes);
            }
            kn.send(key, Wrap::To(path));
        }
        if !c.adds.is_empty() {
            kn.send(key, Wrap::To(c.adds));
        }
        if c.ghost {
            kn.send(key, Wrap::ToServerMember);
        }
        c.key = Some(key);
        Some(key)
    }

    /// The gateway sequences a commit from its inbox: the first for its next epoch wins.
    fn sequence(&self, s: &mut MlsGatewayState, mut c: Commit) -> Option<()> {
        let g = s.gateway;
        // DAVE protocol.md: a valid commit "references all unrevoked proposals broadcast in the
        // epoch"; one that misses a pending add or remove is invalid and not broadcast.
        let complete = minus(g.pending_adds(), c.adds).is_empty()
            && minus(g.pending_removes(), c.removes).is_empty();
        if !g.connected.contains(c.from) || c.epoch != g.epoch + 1 || !complete {
            return Some(());
        }
        let key = self.mint(s, &mut c)?;
        s.gateway.epoch = c.epoch;
        s.gateway.roster = c.roster;
        for q in g.members().iter() {
            s.net.send(Dest::P(q), Msg::Commit(c));
        }
        for j in meet(c.adds, g.connected).iter() {
            let (epoch, roster) = (c.epoch, c.roster);
            s.net.send(Dest::P(j), Msg::Welcome { epoch, key, roster });
        }
        let (adds, removes) = (s.gateway.pending_adds(), s.gateway.pending_removes());
        Self::propose(s, adds, removes);
        Some(())
    }

    fn install(&self, s: &mut MlsGatewayState, p: Pid, epoch: u8, key: KeyId, roster: Roster) {
        s.local[p.0 as usize] = Local::default();
        let carried = s.gateway.connected.contains(p);
        s.call.install(p, epoch, key, roster, carried);
    }

    /// `r` handles a message the gateway delivered.
    fn receive(&self, s: &mut MlsGatewayState, r: Pid, msg: Msg) {
        let me = *s.call.part(r);
        let member = me.status == Status::Member;
        let local = &mut s.local[r.0 as usize];
        match msg {
            Msg::Proposals {
                epoch,
                adds,
                removes,
            } if member && epoch == me.epoch => {
                // New proposals make a commit already sent incomplete: commit again.
                local.adds = union(local.adds, adds);
                local.removes = union(local.removes, removes);
                local.committed = false;
            }
            Msg::GhostAdd { epoch }
                if member && epoch == me.epoch && self.is(Mutant::AcceptServerAdd) =>
            {
                local.ghost = true;
                local.committed = false;
            }
            Msg::Commit(Commit {
                epoch,
                key: Some(key),
                roster,
                ..
            }) if member && epoch == me.epoch + 1 => {
                if roster.contains(r) {
                    self.install(s, r, epoch, key, roster);
                } else {
                    *local = Local::default();
                    s.call.saw_own_removal(r);
                }
            }
            Msg::Welcome { epoch, key, roster }
                if me.status == Status::Joining && roster.contains(r) =>
            {
                self.install(s, r, epoch, key, roster);
            }
            Msg::Create { epoch } if me.status == Status::Joining => {
                if let Some(key) = s.call.knowledge.fresh(epoch, Agent::Participant(r), None) {
                    self.install(s, r, epoch, key, Roster::EMPTY.with(r));
                }
            }
            Msg::Downgrade if member && self.is(Mutant::ServerDowngrade) => {
                self.install(s, r, me.epoch, KeyId::STATIC, me.roster);
            }
            _ => {}
        }
    }
}

impl MlsGatewayModel {
    /// Can `msg`, queued for `to`, still change anything when delivered? Epochs only grow, a
    /// member commits once per epoch and a participant is welcomed once, so a message for an epoch
    /// its recipient has passed never will.
    fn live(&self, s: &MlsGatewayState, to: Dest, msg: &Msg) -> bool {
        let Dest::P(r) = to else {
            // The gateway's inbox holds only commits; one for a decided epoch, or from a client
            // it no longer carries, is discarded whenever it comes.
            return match msg {
                Msg::Commit(c) => s.gateway.connected.contains(c.from) && c.epoch > s.gateway.epoch,
                _ => false,
            };
        };
        let me = s.call.part(r);
        match me.status {
            Status::Outside | Status::Gone => false,
            Status::Joining => match msg {
                Msg::GhostAdd { .. } => self.is(Mutant::AcceptServerAdd),
                Msg::Downgrade => false,
                _ => true,
            },
            Status::Member => match *msg {
                Msg::Proposals { epoch, .. } => epoch >= me.epoch,
                Msg::GhostAdd { epoch } => self.is(Mutant::AcceptServerAdd) && epoch >= me.epoch,
                Msg::Commit(c) => c.epoch > me.epoch,
                Msg::Welcome { .. } | Msg::Create { .. } => false,
                Msg::Downgrade => self.is(Mutant::ServerDowngrade),
            },
        }
    }

    /// Takes out of the network every message that can no longer change anything. Delivering
    /// such a message is a no-op an honest server makes for free; the only other things the
    /// server could do with it (drop it, deliver something behind it out of order, replay it)
    /// spend its budget or excuse convergence, so removing it removes only weaker adversaries.
    fn prune(&self, s: &mut MlsGatewayState) {
        // `live` reads everything but the network, so lift the network out while filtering it.
        let mut net = std::mem::replace(&mut s.net, Net { queues: Vec::new() });
        net.retain(|to, m| self.live(s, to, m));
        s.net = net;
    }
}

impl Model for MlsGatewayModel {
    type State = MlsGatewayState;
    type Action = Action;

    fn init_states(&self) -> Vec<MlsGatewayState> {
        let b = self.bounds;
        let call = Call::from_bounds(&b);
        let roster = call.with_status(Status::Member);
        vec![MlsGatewayState {
            net: Net::new(b.participants as usize),
            gateway: Gateway {
                epoch: 1,
                roster,
                connected: roster,
            },
            local: vec![Local::default(); b.participants as usize],
            call,
        }]
    }

    fn actions(&self, s: &MlsGatewayState, actions: &mut Vec<Action>) {
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
            let l = &s.local[p.0 as usize];
            if part.status == Status::Member && !l.committed && l.holds_proposals() {
                actions.push(Action::Commit(p));
            }
        }
        let mut moves = Vec::new();
        s.net.server_moves(
            &c.budget,
            Targets {
                kick: s.gateway.members(),
                ghost: !s.gateway.members().is_empty(),
                downgrade: c.with_status(Status::Member),
            },
            &mut moves,
        );
        actions.extend(moves.into_iter().map(Action::Server));
    }

    fn next_state(&self, last: &MlsGatewayState, action: Action) -> Option<MlsGatewayState> {
        let mut s = last.clone();
        match action {
            Action::Join(p) => {
                s.call.arrive(p);
                s.gateway.connected = s.gateway.connected.with(p);
                if s.gateway.members().is_empty() {
                    Self::maybe_recreate(&mut s);
                } else {
                    Self::propose(&mut s, Roster::EMPTY.with(p), Roster::EMPTY);
                }
            }
            Action::Leave(p) => {
                s.call.leave(p);
                s.local[p.0 as usize] = Local::default();
                if s.gateway.connected.contains(p) {
                    Self::disconnect(&mut s, p);
                }
            }
            Action::Commit(m) => self.commit(&mut s, m)?,
            Action::Server(ServerMove::Net(op)) => {
                match s.net.apply(op, &mut s.call.budget).ok()? {
                    Some((Dest::P(r), msg)) => self.receive(&mut s, r, msg),
                    Some((Dest::Server, Msg::Commit(c))) => self.sequence(&mut s, c)?,
                    _ => {}
                }
            }
            Action::Server(ServerMove::Forge(Forgery::Kick(p))) => {
                s.call.spend_interference();
                Self::disconnect(&mut s, p);
            }
            Action::Server(ServerMove::Forge(Forgery::GhostJoin)) => {
                s.call.spend_interference();
                let epoch = s.gateway.epoch;
                for q in s.gateway.members().iter() {
                    s.net.send(Dest::P(q), Msg::GhostAdd { epoch });
                }
            }
            Action::Server(ServerMove::Forge(Forgery::Downgrade(p))) => {
                s.call.spend_interference();
                s.net.send(Dest::P(p), Msg::Downgrade);
            }
        }
        self.prune(&mut s);
        Some(s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        properties::all()
    }
}

impl Describe for MlsGatewayModel {
    fn describe(&self, s: &MlsGatewayState, action: &Action) -> Step {
        match *action {
            Action::Join(p) => Step::new(
                p.to_string(),
                format!("{p} connects to the gateway to join"),
            )
            .arrow(p.to_string(), "Server", "join (key package)"),
            Action::Leave(p) => Step::new(
                p.to_string(),
                format!("{p} disconnects (and keeps listening)"),
            )
            .arrow(p.to_string(), "Server", "leave"),
            Action::Commit(m) => {
                let part = s.call.part(m);
                let l = s.local[m.0 as usize];
                let mut ops = Vec::new();
                if !l.adds.is_empty() {
                    ops.push(format!("adding {}", l.adds));
                }
                if !l.removes.is_empty() {
                    ops.push(format!("removing {}", l.removes));
                }
                if l.ghost {
                    ops.push("adding the server's identity".into());
                }
                let epoch = part.epoch + 1;
                let then = if self.is(Mutant::ApplyOwnCommit) {
                    "applies it at once and sends it to the gateway"
                } else {
                    "sends it to the gateway, and waits for the gateway to announce it"
                };
                Step::new(
                    m.to_string(),
                    format!("{m} commits epoch {epoch} {}, {then}", ops.join(", ")),
                )
                .arrow(m.to_string(), "Server", format!("commit to epoch {epoch}"))
            }
            Action::Server(ServerMove::Net(op)) => {
                // Commits go to the gateway from their committer; everything members receive,
                // announced commits included, comes from the gateway.
                let to_gateway = matches!(
                    op,
                    NetOp::Deliver {
                        to: Dest::Server,
                        ..
                    } | NetOp::Drop {
                        to: Dest::Server,
                        ..
                    } | NetOp::Duplicate {
                        to: Dest::Server,
                        ..
                    }
                );
                describe_net(
                    &s.net,
                    op,
                    |m| m.words(),
                    |m| match m {
                        Msg::Commit(c) if to_gateway => c.from.to_string(),
                        _ => "Server".into(),
                    },
                )
            }
            Action::Server(ServerMove::Forge(Forgery::Kick(p))) => Step::new(
                "Server",
                format!("server proposes removing {p}, who did not leave, and disconnects it"),
            ),
            Action::Server(ServerMove::Forge(Forgery::GhostJoin)) => {
                Step::new("Server", "server proposes adding an identity it controls")
            }
            Action::Server(ServerMove::Forge(Forgery::Downgrade(p))) => steps::forge_downgrade(p),
        }
    }

    fn summarize(&self, s: &MlsGatewayState) -> String {
        summarize_call(&s.call)
    }

    fn effects(&self, before: &MlsGatewayState, after: &MlsGatewayState) -> Vec<String> {
        super::consequences(&before.call, &after.call)
    }
}

/// DAVE's entry in [`super::REGISTRY`].
pub static SPEC: super::ProtocolSpec = super::ProtocolSpec {
    name: "mls-gateway",
    module: module_path!(),
    description: "MLS, server as external sender: the gateway proposes adds/removes, any member \
                  commits, the first valid commit of an epoch wins (Discord DAVE, discord/dave-protocol)",
    source: "Discord DAVE (discord/dave-protocol, protocol.md)",
    mutants: &[
        Mutant::NoRotateOnLeave,
        Mutant::NoRotateOnJoin,
        Mutant::WrapToRemoved,
        Mutant::AcceptServerAdd,
        Mutant::ServerDowngrade,
        Mutant::RemoveWithoutPath,
        Mutant::ApplyOwnCommit,
    ],
    no_mutants_because: None,
    in_default_run: true,
    default_bounds: Bounds::DEFAULT,
    validate: Bounds::validate,
    build: |bounds, mutant| Box::new(MlsGatewayModel::new(bounds, mutant)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{check, CheckOptions, Protocol};

    fn small() -> Bounds {
        Bounds::default()
    }

    fn outcome(mutant: Option<Mutant>) -> crate::CheckOutcome {
        let opts = CheckOptions {
            bounds: small(),
            mutant,
            ..CheckOptions::new(Protocol::MlsGateway)
        };
        check(&opts, &mut |_| {}).expect("valid options")
    }

    /// Applies `actions` in order from the initial state; panics if one is not enabled.
    fn run(model: &MlsGatewayModel, actions: &[Action]) -> MlsGatewayState {
        run_from(model, model.init_states().remove(0), actions)
    }

    fn run_from(
        model: &MlsGatewayModel,
        mut s: MlsGatewayState,
        actions: &[Action],
    ) -> MlsGatewayState {
        for a in actions {
            let mut enabled = Vec::new();
            model.actions(&s, &mut enabled);
            assert!(enabled.contains(a), "{a:?} not enabled in {s:?}");
            s = model.next_state(&s, *a).expect("action applies");
        }
        s
    }

    fn deliver(p: u8) -> Action {
        Action::Server(ServerMove::Net(NetOp::Deliver {
            to: Dest::P(Pid(p)),
            index: 0,
        }))
    }

    const TO_GATEWAY: Action = Action::Server(ServerMove::Net(NetOp::Deliver {
        to: Dest::Server,
        index: 0,
    }));

    #[test]
    fn correct_protocol_holds_every_property() {
        let out = outcome(None);
        for p in &out.properties {
            assert!(
                p.holds,
                "{} fails:\n{}",
                p.name,
                p.trace.as_ref().map(|t| t.to_words()).unwrap_or_default()
            );
        }
    }

    #[test]
    fn every_applicable_mutant_violates_its_target() {
        let applicable: Vec<Mutant> = Mutant::ALL
            .into_iter()
            .filter(|m| m.applies_to().contains(&Protocol::MlsGateway))
            .collect();
        assert_eq!(applicable.len(), 7);
        for m in applicable {
            let out = outcome(Some(m));
            let target = out.property(m.target()).expect("target is a property");
            assert!(!target.holds, "{m} does not violate {}", m.target());
            assert!(
                target.trace.is_some(),
                "{m}: no counterexample for {}",
                m.target()
            );
        }
    }

    #[test]
    fn the_first_commit_of_an_epoch_wins_and_everyone_follows_it() {
        let model = MlsGatewayModel::new(small(), None);
        let s = run(
            &model,
            &[
                Action::Join(Pid(2)),
                deliver(0),
                deliver(1),
                Action::Commit(Pid(0)),
                Action::Commit(Pid(1)),
                TO_GATEWAY,
            ],
        );
        assert_eq!(s.gateway.epoch, 2);
        // P1's commit for the decided epoch can no longer win: it is gone from the inbox.
        assert!(s.net.queue(Dest::Server).is_empty());
        // Nobody applied anything before the gateway's announcement.
        assert_eq!(s.call.max_epoch(), 1);
        let s = run_from(&model, s, &[deliver(0), deliver(1), deliver(2)]);
        let key = s.call.part(Pid(0)).key;
        for p in s.call.pids() {
            let part = s.call.part(p);
            assert_eq!(
                (part.status, part.epoch, part.key),
                (Status::Member, 2, key)
            );
        }
        assert!(s.quiescent());
        assert!(properties::convergence(&s));
    }

    #[test]
    fn a_kicked_member_never_learns_the_next_key() {
        let model = MlsGatewayModel::new(small(), None);
        let s = run(
            &model,
            &[
                Action::Server(ServerMove::Forge(Forgery::Kick(Pid(1)))),
                deliver(0),
                Action::Commit(Pid(0)),
                TO_GATEWAY,
                deliver(0),
            ],
        );
        let p0 = s.call.part(Pid(0));
        assert_eq!((p0.epoch, p0.roster), (2, Roster::of(&[Pid(0)])));
        // The kicked member never hears of it, but every honest roster since drops it.
        assert_eq!(s.call.part(Pid(1)).status, Status::Member);
        assert_eq!(s.call.part(Pid(1)).removed_at, Some(1));
        assert!(!s
            .call
            .knowledge
            .knows(Agent::Participant(Pid(1)), p0.key.unwrap()));
        assert!(properties::leave_secrecy(&s.call));
    }

    #[test]
    fn an_emptied_call_is_recreated_by_the_next_joiner() {
        let model = MlsGatewayModel::new(small(), None);
        let s = run(
            &model,
            &[
                Action::Server(ServerMove::Forge(Forgery::Kick(Pid(0)))),
                Action::Leave(Pid(1)),
                Action::Join(Pid(2)),
                deliver(2),
            ],
        );
        let p2 = s.call.part(Pid(2));
        assert_eq!(
            (p2.status, p2.epoch, p2.roster),
            (Status::Member, 2, Roster::of(&[Pid(2)]))
        );
        assert!(s.quiescent());
        assert!(properties::convergence(&s));
    }
}
