//! Orange Meets' designated committer with keys and a hostile server: Cloudflare's algorithm
//! exactly as the port of its TLA+ model runs it ([`super::orange_tla`], same steps, same
//! variables), plus what the spec leaves out.
//!
//! - **Symbolic epoch keys** ([`crate::knowledge`]). The uid 1 founder makes the first. When the
//!   DC starts an add (`DcMain`) it makes the next epoch's key: the Welcome carries it to the
//!   joiner, the Add commit (`DcSendAdd`) to the members before the add. A Remove commit carries a
//!   fresh key to the members after the remove (its UpdatePath). Every MLS message of the log
//!   records its key, the key it was made from and the roster it makes ([`Payload`]).
//! - **MLS processing rules the spec does not state.** A member applies a commit only in the
//!   epoch it was made for *and* from the key it was made from (RFC 9420 authenticates a commit
//!   under its epoch's secrets: another fork of the same epoch number cannot process it); where
//!   the spec would `assert`, the client refuses and ignores the message. Members refuse a join
//!   whose credential does not verify (one of the server's own identities).
//! - **The server as adversary** ([`OrangeKeysAction`]), each move costing one unit of its budget:
//!   withhold the next message from one user (drop), hand it the one after first (reorder),
//!   hand it an MLS message it already read (replay), announce a join of an identity it controls
//!   (forge). A forged leave needs no move of its own: the spec's delivery service already
//!   announces leaves of its own accord, and a kicked user's keys are the same as a leaver's.
//!
//! UIDs are participant slots (`Pid(uid)`, so `P2` is uid 2; slot 0 stays outside). The TLA+
//! epoch `e` is epoch `e + 1` of the [`Call`] (the founder's first epoch is 1).

use super::orange_tla::{
    Branch, DsPc, Msg, OrangeAction, OrangeMutant, OrangeState, OrangeTla, Ty, UsersPc, View,
    MAX_MSGS,
};
use super::{consequences, steps, summarize_call, Describe};
use crate::call::{Call, Status};
use crate::knowledge::{Agent, KeyId, Pid, Roster, Wrap};
use crate::properties::{self, GroupView};
use crate::trace::Step;
use crate::Mutant;
use stateright::{Model, Property, Representative};

/// What an MLS message of the log carries that the spec's record does not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Payload {
    /// The secret of the epoch the message makes (a Welcome: the epoch it admits to).
    pub key: Option<KeyId>,
    /// The committer's key when it made the message: the epoch it was made in.
    pub parent: Option<KeyId>,
    /// The roster of the epoch it makes.
    pub roster: Roster,
}

/// The spec's state, the keys, and what the server has done.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OrangeKeysState {
    /// Every TLA+ variable, as the port has them.
    pub tla: OrangeState,
    pub call: Call,
    /// `payloads[i]` goes with `tla.messages[i]` (join and leave events carry none).
    pub payloads: [Payload; MAX_MSGS],
    /// The add the DC started in `DcMain` and finishes in `DcSendAdd`.
    pub adding: Payload,
    /// Users (bit `uid`) the server handed `messages[idx + 2]` early: their next read is the
    /// message they skipped, after which they are past both.
    pub reordered: u8,
    /// UIDs whose join the server forged: identities whose keys it holds.
    pub ghosts: u8,
    /// Derived from the rest (no effect on state identity): the spec's end of a live group.
    pub quiescent: bool,
    /// Derived: the honest users the delivery service still carries (alive, not ghosts).
    pub carried: Roster,
}

impl GroupView for OrangeKeysState {
    fn call(&self) -> &Call {
        &self.call
    }
    /// `TerminationCondition /\ DcIsDefined`: what the spec's end-of-run invariants assume. A
    /// group whose added members all left is dead in the spec; nobody is owed an epoch.
    fn quiescent(&self) -> bool {
        self.quiescent
    }
    fn carried(&self) -> Roster {
        self.carried
    }
}

/// The server's moves, and the spec's own steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrangeKeysAction {
    /// A step of the spec, as TLC would take it (a `Read` of a reordered user reads the message
    /// it skipped).
    Spec(OrangeAction),
    /// The server withholds the next message from this user: it moves past it unread.
    Drop(u8),
    /// The server hands this user the message after its next one, first.
    Reorder(u8),
    /// The server hands this user again the MLS message at this 0-based index of the log.
    Replay { uid: u8, index: u8 },
    /// The server announces `user_joined` for an identity of its own.
    GhostJoin,
}

/// The keyed model: the spec at `MaxTotalUsers`, the server's budget, and optionally a mutant of
/// the group-key model that touches the DC's commits or the members' checks.
#[derive(Clone, Debug)]
pub struct OrangeKeys {
    pub spec: OrangeTla,
    pub max_interference: u8,
    pub mutant: Option<Mutant>,
}

impl OrangeKeys {
    pub fn new(max_total_users: u8, max_interference: u8, mutant: Option<Mutant>) -> OrangeKeys {
        // Orange's own lesson is a mutant of the spec's DC; the others change only keys.
        let spec_mutant =
            (mutant == Some(Mutant::AddBeforeWelcome)).then_some(OrangeMutant::AddBeforeWelcome);
        OrangeKeys {
            spec: OrangeTla::with_mutant(max_total_users, spec_mutant),
            max_interference,
            mutant,
        }
    }

    fn is(&self, m: Mutant) -> bool {
        self.mutant == Some(m)
    }

    fn ghost(s: &OrangeKeysState, uid: u8) -> bool {
        s.ghosts >> uid & 1 == 1
    }

    /// Sends `key` to every member of `to`: honest ones learn it, and a ghost means the server.
    fn send(s: &mut OrangeKeysState, key: Option<KeyId>, to: Roster) {
        let Some(key) = key else { return };
        let ghosts = Roster(s.ghosts);
        s.call
            .knowledge
            .send(key, Wrap::To(Roster(to.0 & !ghosts.0)));
        if to.0 & ghosts.0 != 0 {
            s.call.knowledge.send(key, Wrap::ToServerMember);
        }
    }

    /// Honest `uid` starts using `key` for TLA+ epoch `epoch` with `roster`.
    fn install(s: &mut OrangeKeysState, v: &View, uid: u8, epoch: i32, p: Payload) {
        let Some(key) = p.key else { return };
        // A ghost is the server's own client: what it installs is nobody's media key.
        let carried = v.alive >> uid & 1 == 1 && !Self::ghost(s, uid);
        let epoch = u8::try_from(epoch + 1).expect("epochs fit the ledger");
        s.call.install(Pid(uid), epoch, key, p.roster, carried);
    }

    /// A fresh key for TLA+ epoch `epoch`, made by `dc` (the server, if `dc` is a ghost).
    fn fresh(s: &mut OrangeKeysState, dc: u8, epoch: i32, parent: Option<KeyId>) -> KeyId {
        let maker = if Self::ghost(s, dc) {
            Agent::Server
        } else {
            Agent::Participant(Pid(dc))
        };
        let epoch = u8::try_from(epoch + 1).expect("epochs fit the ledger");
        s.call
            .knowledge
            .fresh(epoch, maker, parent)
            .expect("MaxTotalUsers <= 6 makes fewer than 32 keys")
    }

    /// User `uid` processes `messages[index]`, ending at `idx_in_messages = new_idx`.
    fn deliver(
        &self,
        s: &OrangeKeysState,
        v: &View,
        n: &mut OrangeKeysState,
        uid: u8,
        index: usize,
        new_idx: u8,
    ) {
        let msg = s.tla.messages()[index];
        let pay = s.payloads[index];
        let me = *s.tla.user(uid as u32);
        let refused = match msg.ty() {
            Ty::UserJoined => Self::ghost(s, msg.uid()) && !self.is(Mutant::AcceptServerAdd),
            Ty::MlsAdd | Ty::MlsRemove => {
                me.epoch as i32 != msg.epoch() || s.call.part(Pid(uid)).key != pay.parent
            }
            _ => false,
        };
        self.spec
            .read_message(&s.tla, v, &mut n.tla, uid, msg, new_idx, refused);
        let after = *n.tla.user(uid as u32);
        match msg.ty() {
            Ty::MlsWelcome if !me.welcomed && after.welcomed => {
                Self::install(n, v, uid, msg.epoch(), pay)
            }
            Ty::MlsAdd | Ty::MlsRemove if after.epoch == me.epoch + 1 => {
                Self::install(n, v, uid, after.epoch as i32, pay)
            }
            _ => {}
        }
    }

    /// The key side of `DcMain`: the DC makes the next epoch's key and sends its first message.
    fn dc_main(&self, s: &OrangeKeysState, v: &View, n: &mut OrangeKeysState) {
        let dc = v.dc as u8;
        let me = *s.call.part(Pid(dc));
        let target = n.tla.target_uid;
        let epoch = n.tla.dc_new_epoch as i32;
        let slot = n.tla.n_msgs as usize - 1;
        let pay = if n.tla.cur_branch == Branch::RemovingPendings {
            let roster = me.roster.without(Pid(target));
            let (key, wrap_to) = if self.is(Mutant::NoRotateOnLeave) {
                (me.key, roster)
            } else if self.is(Mutant::RemoveWithoutPath) {
                (Some(Self::fresh(n, dc, epoch, me.key)), Roster::EMPTY)
            } else if self.is(Mutant::WrapToRemoved) {
                (Some(Self::fresh(n, dc, epoch, None)), me.roster)
            } else {
                (Some(Self::fresh(n, dc, epoch, None)), roster)
            };
            let pay = Payload {
                key,
                parent: me.key,
                roster,
            };
            Self::send(n, key, wrap_to);
            pay
        } else {
            let key = if self.is(Mutant::NoRotateOnJoin) {
                me.key
            } else {
                Some(Self::fresh(n, dc, epoch, None))
            };
            let pay = Payload {
                key,
                parent: me.key,
                roster: me.roster.with(Pid(target)),
            };
            n.adding = pay;
            if self.is(Mutant::AddBeforeWelcome) {
                Self::send(n, key, me.roster); // the Add: the path to the members before it
            } else {
                Self::send(n, key, Roster::EMPTY.with(Pid(target))); // the Welcome
            }
            pay
        };
        n.payloads[slot] = pay;
        Self::install(n, v, dc, epoch, pay);
    }

    /// The key side of `DcSendAdd`: the second message of the add, unless the DC left.
    fn dc_send_add(&self, s: &OrangeKeysState, n: &mut OrangeKeysState) {
        if n.tla.n_msgs == s.tla.n_msgs {
            return;
        }
        let pay = s.adding;
        let target = Pid(s.tla.target_uid);
        n.payloads[n.tla.n_msgs as usize - 1] = pay;
        if self.is(Mutant::AddBeforeWelcome) {
            Self::send(n, pay.key, Roster::EMPTY.with(target));
        } else {
            Self::send(n, pay.key, pay.roster.without(target));
        }
        n.adding = Payload::default();
    }

    fn derive(&self, n: &mut OrangeKeysState) {
        let v = self.spec.view(&n.tla);
        n.quiescent = self.spec.termination_condition(&n.tla, &v) && self.spec.dc_is_defined(&v);
        n.carried = Roster((v.alive & !(n.ghosts as u16)) as u8);
    }

    /// Whether the server may still move: it has budget and the users are still reading.
    fn server_may_move(&self, s: &OrangeKeysState, v: &View) -> bool {
        s.call.budget.interference_left > 0
            && s.tla.pc.1 == UsersPc::UserMain
            && !self.spec.termination_condition(&s.tla, v)
    }
}

impl Model for OrangeKeys {
    type State = OrangeKeysState;
    type Action = OrangeKeysAction;

    fn init_states(&self) -> Vec<OrangeKeysState> {
        let tla = self.spec.init_states().remove(0);
        let n = self.spec.max_total_users as usize;
        let mut call = Call::new(n, 0, u8::MAX, self.max_interference);
        // uid 1 founds the group: welcomed, epoch 0 (the ledger's epoch 1), its own key.
        let founder = Pid(1);
        let key = call
            .knowledge
            .fresh(1, Agent::Participant(founder), None)
            .expect("first key");
        call.part_mut(founder).status = Status::Joining;
        call.part_mut(founder).seq = 1;
        call.install(founder, 1, key, Roster::EMPTY.with(founder), true);
        let mut s = OrangeKeysState {
            tla,
            call,
            payloads: [Payload::default(); MAX_MSGS],
            adding: Payload::default(),
            reordered: 0,
            ghosts: 0,
            quiescent: false,
            carried: Roster::EMPTY,
        };
        self.derive(&mut s);
        vec![s]
    }

    fn actions(&self, s: &OrangeKeysState, actions: &mut Vec<OrangeKeysAction>) {
        let mut spec = Vec::new();
        self.spec.actions(&s.tla, &mut spec);
        let v = self.spec.view(&s.tla);
        // A DC that never got the group's state (its Welcome was withheld) has nothing to
        // commit from: the spec lets it commit anyway (epoch -1, which breaks TypeInvariant).
        let dc_has_group = || s.call.part(Pid(v.dc as u8)).key.is_some();
        actions.extend(
            spec.into_iter()
                .filter(|a| !matches!(a, OrangeAction::DcMain(_)) || dc_has_group())
                .map(OrangeKeysAction::Spec),
        );
        if s.call.budget.interference_left > 0
            && s.tla.pc.0 == DsPc::CreateJoinLeave
            && s.tla.next_free_uid < self.spec.max_total_users
        {
            actions.push(OrangeKeysAction::GhostJoin);
        }
        if !self.server_may_move(s, &v) {
            return;
        }
        let len = s.tla.n_msgs;
        for uid in 1..=s.tla.n_users {
            if v.alive >> uid & 1 == 0 || s.reordered >> uid & 1 == 1 {
                continue;
            }
            let idx = s.tla.user(uid as u32).idx_in_messages;
            if idx < len {
                actions.push(OrangeKeysAction::Drop(uid));
            }
            if idx + 1 < len {
                actions.push(OrangeKeysAction::Reorder(uid));
            }
            for index in 0..idx {
                let m = s.tla.messages()[index as usize];
                // A Welcome to someone else is ignored unread; only one's own is worth replaying.
                let worth = match m.ty() {
                    Ty::MlsAdd | Ty::MlsRemove => true,
                    Ty::MlsWelcome => m.uid() == uid,
                    _ => false,
                };
                if worth {
                    actions.push(OrangeKeysAction::Replay { uid, index });
                }
            }
        }
    }

    fn next_state(&self, s: &OrangeKeysState, action: OrangeKeysAction) -> Option<OrangeKeysState> {
        let v = self.spec.view(&s.tla);
        let mut n = s.clone();
        match action {
            OrangeKeysAction::Spec(OrangeAction::Read(uid)) => {
                let idx = s.tla.user(uid as u32).idx_in_messages;
                let jump = if s.reordered >> uid & 1 == 1 { 2 } else { 1 };
                self.deliver(s, &v, &mut n, uid, idx as usize, idx + jump);
                n.reordered &= !(1 << uid);
            }
            OrangeKeysAction::Spec(a) => {
                n.tla = self.spec.next_state(&s.tla, a)?;
                match a {
                    OrangeAction::Join => {
                        let p = n.call.part_mut(Pid(s.tla.next_free_uid));
                        p.status = Status::Joining;
                        p.seq = s.tla.next_free_uid;
                    }
                    OrangeAction::Leave(uid) => n.call.part_mut(Pid(uid)).status = Status::Gone,
                    OrangeAction::DcMain(_) => self.dc_main(s, &v, &mut n),
                    OrangeAction::DcSendAdd => self.dc_send_add(s, &mut n),
                    _ => {}
                }
            }
            OrangeKeysAction::Drop(uid) => {
                n.call.spend_interference();
                n.call.budget.disrupted = true;
                n.tla.user_mut(uid as u32).idx_in_messages += 1;
            }
            OrangeKeysAction::Reorder(uid) => {
                n.call.spend_interference();
                n.call.budget.disrupted = true;
                let idx = s.tla.user(uid as u32).idx_in_messages;
                self.deliver(s, &v, &mut n, uid, idx as usize + 1, idx);
                n.reordered |= 1 << uid;
            }
            OrangeKeysAction::Replay { uid, index } => {
                n.call.spend_interference();
                let idx = s.tla.user(uid as u32).idx_in_messages;
                self.deliver(s, &v, &mut n, uid, index as usize, idx);
            }
            OrangeKeysAction::GhostJoin => {
                n.call.spend_interference();
                n.ghosts |= 1 << s.tla.next_free_uid;
                n.tla = self.spec.next_state(&s.tla, OrangeAction::Join)?;
            }
        }
        self.derive(&mut n);
        Some(n)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        properties::all()
    }
}

/// A message of the log in words.
fn words(m: Msg) -> String {
    match m.ty() {
        Ty::UserJoined => format!("'user_joined P{}'", m.uid()),
        Ty::UserLeft => format!("'user_left P{}'", m.uid()),
        Ty::MlsWelcome => format!("the Welcome of P{} to epoch {}", m.uid(), m.epoch() + 1),
        Ty::MlsAdd => format!("the Add P{} commit for epoch {}", m.uid(), m.epoch() + 2),
        Ty::MlsRemove => format!("the Remove P{} commit for epoch {}", m.uid(), m.epoch() + 2),
    }
}

impl OrangeKeys {
    /// Why the user that just read a message refused it, if its MLS client did where the
    /// spec would have gone on.
    fn refusal(&self, before: &OrangeKeysState, after: &OrangeKeysState) -> Option<String> {
        // A read is a step that leaves the Users process's read variables changed; other steps
        // (a join, a leave, the DC's) keep them, so an earlier refusal is not told again.
        let read =
            |s: &OrangeKeysState| (s.tla.my_uid, s.tla.new_msg, s.tla.new_idx, s.tla.ignore_msg);
        let refused_now = after.tla.cur_branch == Branch::ReadingUnreads
            && read(after) != read(before)
            && after.tla.ignore_msg;
        if !refused_now {
            return None;
        }
        let uid = after.tla.my_uid as u8;
        let m = after.tla.new_msg;
        let me = before.tla.user(uid as u32);
        let v = self.spec.view(&before.tla);
        match m.ty() {
            Ty::UserJoined => Some(format!(
                "P{uid} refuses it: P{} has no valid credential",
                m.uid()
            )),
            Ty::MlsAdd | Ty::MlsRemove => {
                let spec_ignores =
                    (m.ty() == Ty::MlsAdd && m.uid() == uid && m.epoch() + 1 == me.epoch as i32)
                        || (uid as u32 == v.dc && m.epoch() < me.epoch as i32)
                        || !me.welcomed;
                (!spec_ignores).then(|| {
                    if m.epoch() != me.epoch as i32 {
                        format!("P{uid} refuses it: it is in epoch {}", me.epoch + 1)
                    } else {
                        format!(
                            "P{uid} refuses it: it was made in another fork of epoch {}",
                            me.epoch + 1
                        )
                    }
                })
            }
            _ => None,
        }
    }

    /// A user reading `messages[index]`, in words.
    fn read_words(&self, s: &OrangeKeysState, uid: u8, index: usize, how: &str) -> Step {
        let m = s.tla.messages()[index];
        let who = format!("P{uid}");
        let text = match m.ty() {
            Ty::UserJoined | Ty::UserLeft => format!("server announces {} to {who}{how}", words(m)),
            _ => format!(
                "server delivers {} from P{} to {who}{how}",
                words(m),
                m.sender()
            ),
        };
        Step::new("Server", text).arrow("Server", who, words(m))
    }
}

impl Describe for OrangeKeys {
    fn describe(&self, s: &OrangeKeysState, action: &OrangeKeysAction) -> Step {
        let v = self.spec.view(&s.tla);
        match *action {
            OrangeKeysAction::Spec(a) => match a {
                OrangeAction::Join => {
                    let p = format!("P{}", s.tla.next_free_uid);
                    Step::new(p.clone(), format!("{p} connects and asks to join"))
                        .arrow(p, "Server", "join")
                }
                OrangeAction::Leave(uid) => steps::leave(Pid(uid)),
                OrangeAction::Read(uid) => {
                    let idx = s.tla.user(uid as u32).idx_in_messages as usize;
                    let how = if s.reordered >> uid & 1 == 1 {
                        " (the one it was skipped past)"
                    } else {
                        ""
                    };
                    self.read_words(s, uid, idx, how)
                }
                OrangeAction::DcMain(_) => {
                    let dc = format!("P{}", v.dc);
                    let me = s.tla.user(v.dc);
                    let adds = !me.users_pending_add.is_empty() && (v.alive & v.welcomed) != 0;
                    let (what, label) = if !adds {
                        let t = me.users_pending_remove.iter().next().unwrap_or(0);
                        (
                            format!("{dc}, as DC, commits the Remove of P{t} and moves to the next epoch"),
                            format!("Remove P{t} commit"),
                        )
                    } else if self.is(Mutant::AddBeforeWelcome) {
                        (
                            format!(
                                "{dc}, as DC, commits an Add first and moves to the next epoch"
                            ),
                            "Add commit".to_string(),
                        )
                    } else {
                        let t = me.users_pending_add.iter().next().unwrap_or(0);
                        (
                            format!(
                                "{dc}, as DC, sends P{t} a Welcome to the next epoch and moves to it"
                            ),
                            format!("Welcome P{t}"),
                        )
                    };
                    Step::new(dc.clone(), what).arrow(dc, "Server", label)
                }
                OrangeAction::DcSendAdd => {
                    let start = s.tla.dc_uid_at_start_of_add;
                    let dc = format!("P{start}");
                    let t = s.tla.target_uid;
                    if v.dead >> start & 1 == 1 {
                        Step::new(
                            dc.clone(),
                            format!("{dc} left: its add of P{t} stops half-way"),
                        )
                    } else if self.is(Mutant::AddBeforeWelcome) {
                        Step::new(dc.clone(), format!("{dc} sends the Welcome of P{t}")).arrow(
                            dc,
                            "Server",
                            format!("Welcome P{t}"),
                        )
                    } else {
                        Step::new(dc.clone(), format!("{dc} commits the Add of P{t}")).arrow(
                            dc,
                            "Server",
                            format!("Add P{t} commit"),
                        )
                    }
                }
                OrangeAction::DeliveryServiceDone => {
                    Step::new("Server", "no more users will arrive")
                }
                OrangeAction::UsersDone | OrangeAction::DcDone | OrangeAction::Terminating => {
                    Step::new("Server", format!("the run ends ({a:?})"))
                }
            },
            OrangeKeysAction::Drop(uid) => {
                let idx = s.tla.user(uid as u32).idx_in_messages as usize;
                Step::new(
                    "Server",
                    format!(
                        "server withholds {} from P{uid}",
                        words(s.tla.messages()[idx])
                    ),
                )
            }
            OrangeKeysAction::Reorder(uid) => {
                let idx = s.tla.user(uid as u32).idx_in_messages as usize;
                self.read_words(s, uid, idx + 1, " out of order, ahead of the one before it")
            }
            OrangeKeysAction::Replay { uid, index } => {
                self.read_words(s, uid, index as usize, " again (a replay)")
            }
            OrangeKeysAction::GhostJoin => Step::new(
                "Server",
                format!(
                    "server announces 'user_joined P{}', an identity it controls",
                    s.tla.next_free_uid
                ),
            ),
        }
    }

    fn summarize(&self, s: &OrangeKeysState) -> String {
        let all = summarize_call(&s.call);
        // Slot 0 is no UID: leave it out.
        let mut out = all.strip_prefix("P0 outside; ").unwrap_or(&all).to_string();
        for g in (1..8u8).filter(|g| Self::ghost(s, *g)) {
            out.push_str(&format!("; P{g} is an identity of the server"));
        }
        out
    }

    fn effects(&self, before: &OrangeKeysState, after: &OrangeKeysState) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(why) = self.refusal(before, after) {
            out.push(why);
        }
        out.extend(consequences(&before.call, &after.call));
        out
    }
}

/// UIDs are ordered (the DC is the lowest live one): no two are interchangeable.
impl Representative for OrangeKeysState {
    fn representative(&self) -> Self {
        self.clone()
    }
}

/// The keyed port's entry in [`super::REGISTRY`]: MaxTotalUsers rides in `participants`, the
/// server's budget in `max_interference`.
///
/// [`Mutant::AddBeforeWelcome`] has code here (it swaps the DC's two messages, as in the port)
/// but is not listed: at 4 users the half-added joiner is alone in a dead group, and at 5 the
/// unmodified algorithm already fails `convergence` (README), so it is checked on `orange-dc`.
pub static SPEC: super::ProtocolSpec = super::ProtocolSpec {
    name: "orange-dc-keys",
    module: module_path!(),
    description: "the orange-dc port with symbolic epoch keys (Welcome and commits carry them), MLS's \
                  commit checks, and a server that drops, reorders, replays and forges joins; bound: \
                  MaxTotalUsers and --max-interference; properties: the group-key ones",
    source: "Cloudflare's TLA+ model of Orange Meets (orange_draft1.tla at 404f994), as orange-dc \
             runs it, with keys and MLS's commit checks (RFC 9420)",
    mutants: &[
        Mutant::NoRotateOnLeave,
        Mutant::NoRotateOnJoin,
        Mutant::WrapToRemoved,
        Mutant::AcceptServerAdd,
        Mutant::RemoveWithoutPath,
    ],
    no_mutants_because: None,
    in_default_run: false,
    default_bounds: crate::Bounds {
        participants: 4,
        ..crate::Bounds::DEFAULT
    },
    validate: |b| {
        super::orange_tla::check_max_total_users(b)?;
        let n = b.participants;
        if n >= 5 && b.max_interference > 0 {
            return Err(crate::ModelError::BadBounds(format!(
                "MaxTotalUsers {n} with {} server interferences: the server's moves multiply \
                 the spec's 20 million states at 5 users past this machine's memory; use \
                 --max-total-users 4, or 5 with --max-interference 0 --strategy dfs",
                b.max_interference
            )));
        }
        super::orange_tla::check_interference(b)
    },
    build: |bounds, mutant| {
        Box::new(OrangeKeys::new(
            bounds.participants,
            bounds.max_interference,
            mutant,
        ))
    },
};
