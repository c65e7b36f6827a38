//! A step-for-step port of Cloudflare's TLA+/PlusCal model of Orange Meets' designated-committer
//! join/leave algorithm: `orange_draft1.tla` at commit 404f994 of
//! github.com/cloudflareresearch/orange-e2ee-model-check ("Added invariants EndWithNoPendings,
//! EndWithEqualEpochs, JoinImpliesWelcome, WelcomeImpliesAdd"), checked there by TLC 2.19 with
//! `Orange.toolbox/Model_1/MC.cfg` / `MC.tla`: MaxTotalUsers = 5, MIN_FAILURE = 99999999,
//! DEFAULT_EPOCH = -1, nine invariants, deadlock checking left on (the cfg has no
//! `CHECK_DEADLOCK FALSE`). TLC reported 55,374,565 states generated, 20,165,835 distinct, depth
//! 48, no error.
//!
//! What is ported is the TLA+ *translation* (between `BEGIN TRANSLATION` and `END TRANSLATION`),
//! not a reading of the PlusCal: one Stateright action per TLC disjunct of `Next` and per value
//! of each `\E`, with the same atomicity (one PlusCal label = one step) and the same variables:
//! the six globals, `pc`, and the fifteen process-local variables of `Users` and `DC`. TLC counts
//! distinct states over all of them, so [`OrangeState`] carries every one, with an encoding that
//! is a bijection onto the TLA+ values the model can reach (see the field docs): two states are
//! equal here exactly when TLC's would be, so `unique_state_count` must equal TLC's distinct
//! count.
//!
//! Self-contained on purpose (stateright and std only, but for its registry entry [`SPEC`] at the
//! end): it shares nothing with the symbolic models, whose properties it does not have.

use stateright::{Model, Property};
use std::fmt;

/// How many message slots a state has. Bounded by the model: at MaxTotalUsers = 5 TLC's depth is
/// 48 and every step appends at most one message; the port panics rather than truncate.
pub const MAX_MSGS: usize = 40;
/// UIDs are 1..=7 (3 bits in the packed encodings), so MaxTotalUsers <= 8.
pub const MAX_USERS: usize = 7;

// ---------------------------------------------------------------------------------------------
// Messages. Spec: JoinLeaveType == [ty: {"user_left","user_joined"}, uid: Nat],
// MlsAddRemoveType == [ty: {"mls_add","mls_remove"}, epoch, target_uid, sender],
// MlsWelcomeType == [ty: {"mls_welcome"}, target_uid, epoch, sender].
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    UserJoined = 1,
    UserLeft = 2,
    MlsWelcome = 3,
    MlsAdd = 4,
    MlsRemove = 5,
}

/// One TLA+ message record packed in 16 bits: bits 0-2 `ty` (1..=5; 0 never occurs in a real
/// message, so `Msg(0)` can stand for "empty slot" and for the PlusCal initial value `0`),
/// bits 3-5 `uid` (join/leave) or `target_uid` (MLS), bits 6-8 `sender`, bits 9-15 `epoch + 1`
/// (epochs are >= DEFAULT_EPOCH = -1). Join/leave records have no `epoch`/`sender` fields; their
/// bits stay 0, and the `ty` tells the record shapes apart, so the packing is injective.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Msg(u16);

impl Msg {
    fn join_leave(ty: Ty, uid: u8) -> Msg {
        assert!((1..=7).contains(&uid), "uid {uid} out of the port's range");
        Msg(ty as u16 | (uid as u16) << 3)
    }
    fn mls(ty: Ty, target: u8, epoch: i32, sender: u32) -> Msg {
        assert!(
            (1..=7).contains(&target),
            "target_uid {target} out of range"
        );
        // sender is always DesignatedCommitter evaluated where it is defined (a UID).
        assert!((1..=7).contains(&sender), "sender {sender} out of range");
        assert!(
            (-1..=126).contains(&epoch),
            "epoch {epoch} out of the port's range"
        );
        Msg(ty as u16 | (target as u16) << 3 | (sender as u16) << 6 | ((epoch + 1) as u16) << 9)
    }
    pub fn ty(self) -> Ty {
        match self.0 & 7 {
            1 => Ty::UserJoined,
            2 => Ty::UserLeft,
            3 => Ty::MlsWelcome,
            4 => Ty::MlsAdd,
            5 => Ty::MlsRemove,
            t => panic!("not a message (ty bits {t})"),
        }
    }
    /// `uid` of a join/leave, `target_uid` of an MLS message.
    pub fn uid(self) -> u8 {
        (self.0 >> 3 & 7) as u8
    }
    pub fn sender(self) -> u8 {
        (self.0 >> 6 & 7) as u8
    }
    pub fn epoch(self) -> i32 {
        (self.0 >> 9) as i32 - 1
    }
    fn is_add_remove(self) -> bool {
        matches!(self.ty(), Ty::MlsAdd | Ty::MlsRemove)
    }
}

impl fmt::Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return write!(f, "0");
        }
        match self.ty() {
            Ty::UserJoined => write!(f, "user_joined({})", self.uid()),
            Ty::UserLeft => write!(f, "user_left({})", self.uid()),
            t => write!(
                f,
                "{}(target={}, epoch={}, sender={})",
                match t {
                    Ty::MlsWelcome => "mls_welcome",
                    Ty::MlsAdd => "mls_add",
                    _ => "mls_remove",
                },
                self.uid(),
                self.epoch(),
                self.sender()
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sequences of UIDs (users_pending_add / users_pending_remove are TLA+ *sequences*: order and
// multiplicity matter). Packed as up to 8 three-bit UIDs, element 1 in the low bits; UIDs are
// never 0, so the first 0 group ends the sequence and the packing is injective.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Seq(u32);

impl Seq {
    pub const EMPTY: Seq = Seq(0);
    pub fn len(self) -> usize {
        (0..8).take_while(|i| self.0 >> (3 * i) & 7 != 0).count()
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn get(self, i: usize) -> u8 {
        (self.0 >> (3 * i) & 7) as u8
    }
    pub fn iter(self) -> impl Iterator<Item = u8> {
        (0..self.len()).map(move |i| self.get(i))
    }
    /// `Append(seq, x)`.
    fn append(self, x: u8) -> Seq {
        let n = self.len();
        assert!(n < 8, "pending sequence longer than the port's bound of 8");
        assert!((1..=7).contains(&x));
        Seq(self.0 | (x as u32) << (3 * n))
    }
    /// `Head(seq)` (the spec only takes it of non-empty sequences).
    fn head(self) -> u8 {
        assert!(!self.is_empty(), "Head(<<>>): TLC would report an error");
        self.get(0)
    }
    /// `Tail(seq)`.
    fn tail(self) -> Seq {
        assert!(!self.is_empty(), "Tail(<<>>): TLC would report an error");
        Seq(self.0 >> 3)
    }
    /// `seq[Len(seq)]` (mutant [`OrangeMutant::WelcomeOutOfOrder`] only).
    fn last(self) -> u8 {
        assert!(!self.is_empty(), "last of <<>>");
        self.get(self.len() - 1)
    }
    /// `SubSeq(seq, 1, Len(seq) - 1)` (mutant [`OrangeMutant::WelcomeOutOfOrder`] only).
    fn without_last(self) -> Seq {
        assert!(!self.is_empty(), "without_last of <<>>");
        Seq(self.0 & !(7 << (3 * (self.len() - 1))))
    }
    /// Spec: `RemoveElement(seq, x) == SelectSeq(seq, LAMBDA y: x # y)` (keeps order, drops every
    /// copy of x).
    fn remove_element(self, x: u8) -> Seq {
        self.iter()
            .filter(|&y| y != x)
            .fold(Seq::EMPTY, Seq::append)
    }
    fn has_duplicates(self) -> bool {
        let v: Vec<u8> = self.iter().collect();
        (0..v.len()).any(|j| (0..v.len()).any(|k| j != k && v[j] == v[k]))
    }
}

impl fmt::Debug for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<<")?;
        for (i, x) in self.iter().enumerate() {
            write!(f, "{}{x}", if i > 0 { ", " } else { "" })?;
        }
        write!(f, ">>")
    }
}

/// A PlusCal local declared `= 0` but later assigned a sequence: TLC keeps the integer 0 (a
/// different value from `<<>>`) until the first assignment.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqOrZero {
    Zero,
    Seq(Seq),
}

impl fmt::Debug for SeqOrZero {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeqOrZero::Zero => write!(f, "0"),
            SeqOrZero::Seq(s) => s.fmt(f),
        }
    }
}

/// A PlusCal local declared `= 0` but later assigned a BOOLEAN (`new_welcomed`,
/// `dc_new_welcomed`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum BoolOrZero {
    Zero,
    Bool(bool),
}

impl fmt::Debug for BoolOrZero {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoolOrZero::Zero => write!(f, "0"),
            BoolOrZero::Bool(b) => write!(f, "{}", if *b { "TRUE" } else { "FALSE" }),
        }
    }
}

/// One `UserStateType` record: `[welcomed, epoch, idx_in_messages, users_pending_add,
/// users_pending_remove]`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct UserState {
    pub welcomed: bool,
    pub epoch: i8,
    pub idx_in_messages: u8,
    pub users_pending_add: Seq,
    pub users_pending_remove: Seq,
}

impl fmt::Debug for UserState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[welcomed={}, epoch={}, idx={}, pending_add={:?}, pending_remove={:?}]",
            self.welcomed,
            self.epoch,
            self.idx_in_messages,
            self.users_pending_add,
            self.users_pending_remove
        )
    }
}

/// The string-valued global `cur_branch` (a "debugging" variable in the spec, but a state
/// variable all the same: TLC counts states that differ only in it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Branch {
    /// `""`
    Empty,
    /// `"Reading unreads"`
    ReadingUnreads,
    /// `"Adding pendings: Welcome"`
    AddingWelcome,
    /// `"Adding pendings: Add"`
    AddingAdd,
    /// `"Removing pendings"`
    RemovingPendings,
}

/// `pc[0]`: process DeliveryService = 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DsPc {
    CreateJoinLeave,
    Done,
}

/// `pc[1]`: process Users = 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UsersPc {
    UserMain,
    Done,
}

/// `pc[2]`: process DC = 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DcPc {
    DcMain,
    DcSendAdd,
    Done,
}

/// Every TLA+ variable of the translation (`vars`), plus the port's own flag for a failed
/// PlusCal `assert`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OrangeState {
    // --- globals ---
    /// `messages`: slots `0..n_msgs` hold `messages[1..Len(messages)]`; the rest stay `Msg(0)`.
    pub messages: [Msg; MAX_MSGS],
    pub n_msgs: u8,
    /// `user_states`: slot `uid - 1`; slots at and past `n_users` stay default.
    pub user_states: [UserState; MAX_USERS],
    pub n_users: u8,
    pub next_free_uid: u8,
    pub dc_is_currently_adding: bool,
    /// `my_uid`: a UID, or whatever `DesignatedCommitter` evaluated to (kept as the integer).
    pub my_uid: u32,
    pub cur_branch: Branch,
    pub pc: (DsPc, UsersPc, DcPc),
    // --- process Users = 1 locals ---
    /// `new_msg`: `Msg(0)` is the initial integer 0, otherwise the message record.
    pub new_msg: Msg,
    pub new_idx: u8,
    pub new_welcomed: BoolOrZero,
    pub new_epoch: i8,
    pub new_pending_adds: SeqOrZero,
    pub new_pending_removes: SeqOrZero,
    pub nonwelcomed_to_welcomed: bool,
    pub ignore_msg: bool,
    // --- process DC = 2 locals ---
    pub dc_new_idx: u8,
    pub dc_new_welcomed: BoolOrZero,
    pub dc_new_epoch: i8,
    pub dc_new_pending_adds: SeqOrZero,
    pub dc_new_pending_removes: SeqOrZero,
    pub dc_uid_at_start_of_add: u8,
    pub target_uid: u8,
    // --- not a TLA+ variable ---
    /// Set by a Users step whose `assert user_states[uid]["epoch"] = new_msg["epoch"]`
    /// (translation: `Assert(..., "Failure of assertion at line 334, column 25.")`) fails. TLC
    /// stops with an error at that step; here the step still happens, with this flag set, and
    /// the property "assert (line 334)" fails in the resulting state. Always false in states
    /// TLC would reach without error, so it does not change the count.
    pub assert_failed: bool,
}

impl OrangeState {
    pub fn messages(&self) -> &[Msg] {
        &self.messages[..self.n_msgs as usize]
    }
    /// `user_states[uid]` (1-based). A UID outside `1..Len(user_states)` is a TLC evaluation
    /// error; the port panics.
    pub fn user(&self, uid: u32) -> &UserState {
        assert!(
            uid >= 1 && uid <= self.n_users as u32,
            "user_states[{uid}] out of domain 1..{}: TLC would report an evaluation error",
            self.n_users
        );
        &self.user_states[uid as usize - 1]
    }
    pub(crate) fn user_mut(&mut self, uid: u32) -> &mut UserState {
        assert!(uid >= 1 && uid <= self.n_users as u32);
        &mut self.user_states[uid as usize - 1]
    }
    fn append_msg(&mut self, m: Msg) {
        assert!(
            (self.n_msgs as usize) < MAX_MSGS,
            "more than {MAX_MSGS} messages"
        );
        self.messages[self.n_msgs as usize] = m;
        self.n_msgs += 1;
    }
}

/// A deliberate deviation from the spec, one per "Lessons learned" section of Orange's README
/// (at HEAD of orange-e2ee-model-check): the ordering mistakes the authors made while building
/// the model. Each changes only the DC's add (labels `DcMain`/`DcSendAdd`); the state type,
/// the other processes and the properties are untouched, and each makes the checker report a
/// counterexample (see `tests/orange_tla.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrangeMutant {
    /// "Welcomes must come before Adds": the two labelled steps of the DC's add swap their
    /// messages. `DcMain` appends the Add (`epoch |-> dc_new_epoch - 1`, `sender |->
    /// DesignatedCommitter`); `DcSendAdd`, unless `dc_uid_at_start_of_add \in DeadUids`, appends
    /// the Welcome (`epoch |-> dc_new_epoch`, `sender |-> dc_uid_at_start_of_add`). Everything
    /// else (local variables, `dc_is_currently_adding`, the skip on death) is as in the spec;
    /// `cur_branch` names the message each step sends. If the DC leaves between the two steps,
    /// the joiner is in `AddedUids` (it may even become the DC) but never gets a Welcome:
    /// `JoinImpliesWelcome` fails.
    AddBeforeWelcome,
    /// "Users should be welcomed in the order they arrive": the DC welcomes (and then adds) the
    /// *newest* pending joiner, `users_pending_add[Len(users_pending_add)]`, instead of
    /// `Head(users_pending_add)`, and keeps the rest of the list in order. Nothing else changes
    /// (the DC is still `Min(AliveUids \intersect AddedUids)`). A joiner reads only the messages
    /// after its own `user_joined`. With two joiners 2 and 3 welcomed as 3 then 2, uid 2 is
    /// still unwelcomed when it reads the Add of 3, ignores it, and keeps 3 pending forever
    /// (`EndWithNoPendings`, at MaxTotalUsers = 4, no death needed); and if the DC leaves after
    /// adding 3, the new DC 3 never saw 2 join, so 2 is never welcomed (`JoinImpliesWelcome`,
    /// which needs a leave after the second join, so MaxTotalUsers = 5).
    WelcomeOutOfOrder,
}

/// The spec's constants (MC.tla: MaxTotalUsers = 5, MIN_FAILURE = 99999999, DEFAULT_EPOCH = -1),
/// and optionally a [`OrangeMutant`].
#[derive(Clone, Debug)]
pub struct OrangeTla {
    pub max_total_users: u8,
    pub min_failure: u32,
    pub default_epoch: i8,
    /// `None`: the spec as written.
    pub mutant: Option<OrangeMutant>,
}

impl OrangeTla {
    /// The constants of `Orange.toolbox/Model_1/MC.tla` with `MaxTotalUsers` as given.
    pub fn new(max_total_users: u8) -> OrangeTla {
        OrangeTla::with_mutant(max_total_users, None)
    }

    /// [`OrangeTla::new`], with the DC's add changed as `mutant` says (`None`: the spec).
    pub fn with_mutant(max_total_users: u8, mutant: Option<OrangeMutant>) -> OrangeTla {
        assert!(
            (2..=8).contains(&max_total_users),
            "the port packs UIDs in 3 bits: MaxTotalUsers must be 2..=8"
        );
        OrangeTla {
            max_total_users,
            min_failure: 99_999_999,
            default_epoch: -1,
            mutant,
        }
    }
}

/// The `define` block's operators that depend only on `messages` and `user_states`, computed once
/// per state. Sets of UIDs are bitmasks (bit `uid`).
#[derive(Clone, Copy, Debug)]
pub struct View {
    /// `AllUids`
    pub all: u16,
    /// `AllWelcomedUids`
    pub welcomed: u16,
    /// `DeadUids`
    pub dead: u16,
    /// `AliveUids`
    pub alive: u16,
    /// `AddedUids`
    pub added: u16,
    /// `DesignatedCommitter` (MIN_FAILURE when `AliveUids \intersect AddedUids = {}`)
    pub dc: u32,
}

fn min_uid(mask: u16) -> Option<u32> {
    (mask != 0).then(|| mask.trailing_zeros())
}

fn uids(mask: u16) -> impl Iterator<Item = u32> {
    (0..16u32).filter(move |i| mask >> i & 1 == 1)
}

impl OrangeTla {
    pub fn view(&self, s: &OrangeState) -> View {
        let (mut joined, mut left, mut welcome_targets, mut add_targets) = (0u16, 0u16, 0u16, 0u16);
        for m in s.messages() {
            match m.ty() {
                Ty::UserJoined => joined |= 1 << m.uid(),
                Ty::UserLeft => left |= 1 << m.uid(),
                Ty::MlsWelcome => welcome_targets |= 1 << m.uid(),
                Ty::MlsAdd => add_targets |= 1 << m.uid(),
                Ty::MlsRemove => {}
            }
        }
        // AllUids == { messages[i]["uid"] : user_joined i } \union {1}
        let all = joined | 1 << 1;
        // AllWelcomedUids == { uid \in AllUids : \E welcome targeting uid } \union {1}
        let welcomed = (all & welcome_targets) | 1 << 1;
        // DeadUids == { uid \in AllUids : \E user_left for uid }
        let dead = all & left;
        let alive = all & !dead;
        // AddedUids == { uid \in 1..Len(user_states) : \E mls_add targeting uid } \union {1}
        let one_to_len: u16 = ((1u16 << (s.n_users + 1)) - 1) & !1;
        let added = (one_to_len & add_targets) | 1 << 1;
        // DesignatedCommitter == Min(AliveUids \intersect AddedUids), Min({}) = MIN_FAILURE
        let dc = min_uid(alive & added).unwrap_or(self.min_failure);
        View {
            all,
            welcomed,
            dead,
            alive,
            added,
            dc,
        }
    }

    /// `DcIsDefined == DesignatedCommitter # MIN_FAILURE` (= `GroupIsAlive`)
    pub(crate) fn dc_is_defined(&self, v: &View) -> bool {
        v.dc != self.min_failure
    }

    /// `DcIsAware`: the DC has read past every `user_left` of a lower UID (by 1-based index;
    /// `Max({}) = -1`).
    fn dc_is_aware(&self, s: &OrangeState, v: &View) -> bool {
        if v.alive == 0 {
            return false;
        }
        let max_lower_left = s
            .messages()
            .iter()
            .enumerate()
            .filter(|(_, m)| m.ty() == Ty::UserLeft && (m.uid() as u32) < v.dc)
            .map(|(i, _)| i as i64 + 1)
            .max()
            .unwrap_or(-1);
        s.user(v.dc).idx_in_messages as i64 >= max_lower_left
    }

    /// `DcHasPendingAdds == IF AliveWelcomedUids = {} THEN FALSE ELSE Len(...pending_add) > 0`
    fn dc_has_pending_adds(&self, s: &OrangeState, v: &View) -> bool {
        if v.alive & v.welcomed == 0 {
            return false;
        }
        !s.user(v.dc).users_pending_add.is_empty()
    }

    /// `DcHasPendingRemoves`, likewise.
    fn dc_has_pending_removes(&self, s: &OrangeState, v: &View) -> bool {
        if v.alive & v.welcomed == 0 {
            return false;
        }
        !s.user(v.dc).users_pending_remove.is_empty()
    }

    fn dc_has_pendings(&self, s: &OrangeState, v: &View) -> bool {
        self.dc_has_pending_adds(s, v) || self.dc_has_pending_removes(s, v)
    }

    /// `UsersWithUnreads == { i \in AliveUids : user_states[i]["idx_in_messages"] < Len(messages) }`
    pub(crate) fn users_with_unreads(&self, s: &OrangeState, v: &View) -> u16 {
        uids(v.alive)
            .filter(|&i| s.user(i).idx_in_messages < s.n_msgs)
            .fold(0, |m, i| m | 1 << i)
    }

    /// `UsersWithPendings`: alive users with a non-empty pending list.
    fn users_with_pendings(&self, s: &OrangeState, v: &View) -> u16 {
        uids(v.alive)
            .filter(|&i| {
                let u = s.user(i);
                !u.users_pending_add.is_empty() || !u.users_pending_remove.is_empty()
            })
            .fold(0, |m, i| m | 1 << i)
    }

    /// `TerminationCondition`, with TLC's left-to-right short-circuit (the DC operators are only
    /// evaluated once the DC is known to be defined).
    pub fn termination_condition(&self, s: &OrangeState, v: &View) -> bool {
        !self.dc_is_defined(v)
            || (s.next_free_uid == self.max_total_users
                && self.users_with_unreads(s, v) == 0
                && !self.dc_has_pendings(s, v)
                && !s.dc_is_currently_adding)
    }

    /// Whether some disjunct of `Next` (including `Terminating`) is enabled: TLC's deadlock check.
    fn some_action_enabled(&self, s: &OrangeState) -> bool {
        let v = self.view(s);
        let ds = s.pc.0 == DsPc::CreateJoinLeave; // join or Done step, always enabled there
        let users = s.pc.1 == UsersPc::UserMain
            && (self.termination_condition(s, &v) || self.users_with_unreads(s, &v) != 0);
        let dc = match s.pc.2 {
            DcPc::DcMain => {
                self.termination_condition(s, &v)
                    || (self.dc_has_pendings(s, &v) && self.dc_is_aware(s, &v))
            }
            DcPc::DcSendAdd => true,
            DcPc::Done => false,
        };
        let terminating = s.pc == (DsPc::Done, UsersPc::Done, DcPc::Done);
        ds || users || dc || terminating
    }
}

/// Which disjunct of `DcHasPendings` a `DcMain` step went through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pending {
    Adds,
    Removes,
}

/// One disjunct of `Next`, with the bound value of each `\E`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrangeAction {
    /// `CreateJoinLeave`, first `either` branch: `append_user_joined_event()`.
    Join,
    /// `CreateJoinLeave`, `or` branch, `\E i \in AliveUids`: `append_user_left_event(i)`.
    Leave(u8),
    /// `CreateJoinLeave` once `next_free_uid >= MaxTotalUsers`: `pc[0]' = "Done"`.
    DeliveryServiceDone,
    /// `UserMain` with `\E uid \in UsersWithUnreads`: user `uid` reads one message.
    Read(u8),
    /// `UserMain` once `TerminationCondition`: `pc[1]' = "Done"`.
    UsersDone,
    /// `DcMain` when `~TerminationCondition /\ DcHasPendings /\ DcIsAware`: Welcome (then
    /// `pc[2]' = "DcSendAdd"`) if `DcHasPendingAdds`, else Remove. Tagged with the disjunct of
    /// `DcHasPendings == DcHasPendingAdds \/ DcHasPendingRemoves` that enabled it: TLC expands
    /// the operator and continues once per true disjunct, so with both lists non-empty it builds
    /// the same successor twice and counts both as generated (`Tool.getNextStates`; found by
    /// running TLC, built from tlaplus/tlaplus, at MaxTotalUsers = 4: only `DcMain` differed,
    /// 3,917 generated against 3,718, the 199 steps with both lists non-empty).
    DcMain(Pending),
    /// `DcMain` once `TerminationCondition`: `pc[2]' = "Done"`.
    DcDone,
    /// `DcSendAdd`.
    DcSendAdd,
    /// `Terminating`: all processes Done, `UNCHANGED vars` (a stutter step; TLC generates it
    /// and counts it as generated, never as a new distinct state).
    Terminating,
}

impl Model for OrangeTla {
    type State = OrangeState;
    type Action = OrangeAction;

    /// `Init`: a single state.
    fn init_states(&self) -> Vec<OrangeState> {
        let mut user_states = [UserState::default(); MAX_USERS];
        user_states[0] = UserState {
            welcomed: true,
            epoch: 0,
            idx_in_messages: 0,
            users_pending_add: Seq::EMPTY,
            users_pending_remove: Seq::EMPTY,
        };
        vec![OrangeState {
            messages: [Msg(0); MAX_MSGS],
            n_msgs: 0,
            user_states,
            n_users: 1,
            next_free_uid: 2,
            dc_is_currently_adding: false,
            my_uid: 0,
            cur_branch: Branch::Empty,
            pc: (DsPc::CreateJoinLeave, UsersPc::UserMain, DcPc::DcMain),
            new_msg: Msg(0),
            new_idx: 0,
            new_welcomed: BoolOrZero::Zero,
            new_epoch: 0,
            new_pending_adds: SeqOrZero::Zero,
            new_pending_removes: SeqOrZero::Zero,
            nonwelcomed_to_welcomed: false,
            ignore_msg: false,
            dc_new_idx: 0,
            dc_new_welcomed: BoolOrZero::Zero,
            dc_new_epoch: 0,
            dc_new_pending_adds: SeqOrZero::Zero,
            dc_new_pending_removes: SeqOrZero::Zero,
            dc_uid_at_start_of_add: 0,
            target_uid: 0,
            assert_failed: false,
        }]
    }

    /// The enabled disjuncts of `Next == DeliveryService \/ Users \/ DC \/ Terminating`, in that
    /// order; every action listed here has a successor.
    fn actions(&self, s: &OrangeState, actions: &mut Vec<OrangeAction>) {
        let v = self.view(s);
        // DeliveryService == CreateJoinLeave
        if s.pc.0 == DsPc::CreateJoinLeave {
            if s.next_free_uid < self.max_total_users {
                actions.push(OrangeAction::Join);
                actions.extend(uids(v.alive).map(|i| OrangeAction::Leave(i as u8)));
            } else {
                actions.push(OrangeAction::DeliveryServiceDone);
            }
        }
        // Users == UserMain
        if s.pc.1 == UsersPc::UserMain {
            if !self.termination_condition(s, &v) {
                actions.extend(
                    uids(self.users_with_unreads(s, &v)).map(|u| OrangeAction::Read(u as u8)),
                );
            } else {
                actions.push(OrangeAction::UsersDone);
            }
        }
        // DC == DcMain \/ DcSendAdd
        match s.pc.2 {
            DcPc::DcMain => {
                if !self.termination_condition(s, &v) {
                    // await DcHasPendings /\ DcIsAware
                    if self.dc_has_pendings(s, &v) && self.dc_is_aware(s, &v) {
                        if self.dc_has_pending_adds(s, &v) {
                            actions.push(OrangeAction::DcMain(Pending::Adds));
                        }
                        if self.dc_has_pending_removes(s, &v) {
                            actions.push(OrangeAction::DcMain(Pending::Removes));
                        }
                    }
                } else {
                    actions.push(OrangeAction::DcDone);
                }
            }
            DcPc::DcSendAdd => actions.push(OrangeAction::DcSendAdd),
            DcPc::Done => {}
        }
        if s.pc == (DsPc::Done, UsersPc::Done, DcPc::Done) {
            actions.push(OrangeAction::Terminating);
        }
    }

    fn next_state(&self, s: &OrangeState, action: OrangeAction) -> Option<OrangeState> {
        let v = self.view(s);
        let mut n = s.clone();
        match action {
            OrangeAction::Join => {
                // macro append_user_joined_event()
                n.append_msg(Msg::join_leave(Ty::UserJoined, s.next_free_uid));
                assert!(
                    (n.n_users as usize) < MAX_USERS,
                    "more than {MAX_USERS} users"
                );
                n.user_states[n.n_users as usize] = UserState {
                    welcomed: false,
                    epoch: self.default_epoch,
                    // idx_in_messages |-> Len(messages'): the joiner starts after its own join
                    idx_in_messages: n.n_msgs,
                    users_pending_add: Seq::EMPTY,
                    users_pending_remove: Seq::EMPTY,
                };
                n.n_users += 1;
                n.next_free_uid += 1;
            }
            OrangeAction::Leave(i) => {
                // macro append_user_left_event(i)
                n.append_msg(Msg::join_leave(Ty::UserLeft, i));
            }
            OrangeAction::DeliveryServiceDone => n.pc.0 = DsPc::Done,
            OrangeAction::Read(uid) => self.read(s, &v, &mut n, uid),
            OrangeAction::UsersDone => n.pc.1 = UsersPc::Done,
            OrangeAction::DcMain(_) => {
                let dc = v.dc;
                let me = *s.user(dc);
                if self.dc_has_pending_adds(s, &v) {
                    // Pop the joining user: Head/Tail, or (mutant) the newest one.
                    let (target, rest) = if self.mutant == Some(OrangeMutant::WelcomeOutOfOrder) {
                        (
                            me.users_pending_add.last(),
                            me.users_pending_add.without_last(),
                        )
                    } else {
                        (me.users_pending_add.head(), me.users_pending_add.tail())
                    };
                    n.my_uid = dc;
                    n.dc_uid_at_start_of_add = dc as u8;
                    n.cur_branch = Branch::AddingWelcome;
                    n.dc_is_currently_adding = true;
                    n.target_uid = target;
                    n.dc_new_pending_adds = SeqOrZero::Seq(rest);
                    n.dc_new_epoch = me.epoch + 1;
                    n.dc_new_idx = me.idx_in_messages;
                    n.dc_new_welcomed = BoolOrZero::Bool(me.welcomed);
                    n.dc_new_pending_removes = SeqOrZero::Seq(me.users_pending_remove);
                    *n.user_mut(dc) = UserState {
                        welcomed: me.welcomed,
                        epoch: n.dc_new_epoch,
                        idx_in_messages: me.idx_in_messages,
                        users_pending_add: rest,
                        users_pending_remove: me.users_pending_remove,
                    };
                    if self.mutant == Some(OrangeMutant::AddBeforeWelcome) {
                        n.cur_branch = Branch::AddingAdd;
                        n.append_msg(Msg::mls(
                            Ty::MlsAdd,
                            n.target_uid,
                            n.dc_new_epoch as i32 - 1,
                            dc,
                        ));
                    } else {
                        n.append_msg(Msg::mls(
                            Ty::MlsWelcome,
                            n.target_uid,
                            n.dc_new_epoch as i32,
                            dc,
                        ));
                    }
                    n.pc.2 = DcPc::DcSendAdd;
                } else {
                    n.cur_branch = Branch::RemovingPendings;
                    n.my_uid = dc;
                    n.target_uid = me.users_pending_remove.head();
                    n.dc_new_pending_removes = SeqOrZero::Seq(me.users_pending_remove.tail());
                    n.dc_new_epoch = me.epoch + 1;
                    n.dc_new_idx = me.idx_in_messages;
                    n.dc_new_welcomed = BoolOrZero::Bool(me.welcomed);
                    n.dc_new_pending_adds = SeqOrZero::Seq(me.users_pending_add);
                    *n.user_mut(dc) = UserState {
                        welcomed: me.welcomed,
                        epoch: n.dc_new_epoch,
                        idx_in_messages: me.idx_in_messages,
                        users_pending_add: me.users_pending_add,
                        users_pending_remove: me.users_pending_remove.tail(),
                    };
                    n.append_msg(Msg::mls(
                        Ty::MlsRemove,
                        n.target_uid,
                        n.dc_new_epoch as i32 - 1,
                        dc,
                    ));
                    // pc[2] stays "DcMain"; dc_is_currently_adding, dc_uid_at_start_of_add
                    // unchanged.
                }
            }
            OrangeAction::DcDone => n.pc.2 = DcPc::Done,
            OrangeAction::DcSendAdd => {
                let start = s.dc_uid_at_start_of_add;
                if v.dead >> start & 1 == 1 {
                    // skip: messages, my_uid, cur_branch unchanged
                } else if self.mutant == Some(OrangeMutant::AddBeforeWelcome) {
                    n.my_uid = v.dc;
                    n.cur_branch = Branch::AddingWelcome;
                    n.append_msg(Msg::mls(
                        Ty::MlsWelcome,
                        s.target_uid,
                        s.dc_new_epoch as i32,
                        start as u32,
                    ));
                } else {
                    n.my_uid = v.dc;
                    n.cur_branch = Branch::AddingAdd;
                    n.append_msg(Msg::mls(
                        Ty::MlsAdd,
                        s.target_uid,
                        s.dc_new_epoch as i32 - 1,
                        start as u32,
                    ));
                }
                n.dc_is_currently_adding = false;
                n.pc.2 = DcPc::DcMain;
            }
            OrangeAction::Terminating => {}
        }
        Some(n)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("TypeInvariant", |_, s| type_invariant(s)),
            Property::always("UidEnumInvariant", |m, s| m.view(s).all == uid_range(s)),
            Property::always("UniqueTargetUidInvariant", |_, s| unique_target_uid(s)),
            Property::always("MonotonicEpochInvariant", |_, s| monotonic_epoch(s)),
            Property::always("UniquePendings", |_, s: &OrangeState| {
                s.user_states[..s.n_users as usize].iter().all(|u| {
                    !u.users_pending_add.has_duplicates()
                        && !u.users_pending_remove.has_duplicates()
                })
            }),
            Property::always("EndWithNoPendings", |m, s| {
                let v = m.view(s);
                !(m.termination_condition(s, &v) && m.dc_is_defined(&v))
                    || m.users_with_pendings(s, &v) == 0
            }),
            Property::always("EndWithEqualEpochs", |m, s| {
                let v = m.view(s);
                if !(m.termination_condition(s, &v) && m.dc_is_defined(&v)) {
                    return true;
                }
                // first_user == Min(AliveUids) (non-empty here: the DC is alive)
                let first = min_uid(v.alive).expect("alive DC");
                let final_epoch = s.user(first).epoch;
                uids(v.alive).all(|u| s.user(u).epoch == final_epoch)
            }),
            Property::always("JoinImpliesWelcome", |m, s| {
                end_implies_followed_by(m, s, Ty::UserJoined, Ty::MlsWelcome)
            }),
            Property::always("WelcomeImpliesAdd", |m, s| {
                end_implies_followed_by(m, s, Ty::MlsWelcome, Ty::MlsAdd)
            }),
            Property::always("assert (line 334)", |_, s: &OrangeState| !s.assert_failed),
            Property::always("no deadlock (TLC CHECK_DEADLOCK default)", |m, s| {
                m.some_action_enabled(s)
            }),
        ]
    }
}

impl OrangeTla {
    /// `UserMain` (translation), for the value `uid` of `\E uid \in UsersWithUnreads`. `s` is the
    /// current state (unprimed values), `n` the successor being built.
    fn read(&self, s: &OrangeState, v: &View, n: &mut OrangeState, uid: u8) {
        let idx = s.user(uid as u32).idx_in_messages;
        let msg = s.messages()[idx as usize];
        self.read_message(s, v, n, uid, msg, idx + 1, false);
    }

    /// The body of `UserMain` for user `uid` reading `msg`, after which its `idx_in_messages` is
    /// `new_idx` (the spec: `msg = messages[new_idx]`; the keyed variant's server may hand over
    /// another message). `refused`: the user's MLS client rejects the message (a commit for
    /// another epoch or another fork of the group, a join whose credential does not verify); it
    /// is then ignored where the spec would `assert`. Always false in the spec's own runs.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn read_message(
        &self,
        s: &OrangeState,
        v: &View,
        n: &mut OrangeState,
        uid: u8,
        msg: Msg,
        new_idx: u8,
        refused: bool,
    ) {
        let me = *s.user(uid as u32);
        n.cur_branch = Branch::ReadingUnreads;
        n.my_uid = uid as u32;
        n.new_idx = new_idx;
        n.new_msg = msg;
        if msg.is_add_remove() {
            n.new_welcomed = BoolOrZero::Bool(me.welcomed);
            n.nonwelcomed_to_welcomed = false;
            let ignore =
                (msg.ty() == Ty::MlsAdd && msg.uid() == uid && msg.epoch() + 1 == me.epoch as i32)
                    || (uid as u32 == v.dc && msg.epoch() < me.epoch as i32)
                    || !me.welcomed;
            if ignore || refused {
                n.ignore_msg = true;
            } else {
                // Assert(user_states[uid]["epoch"] = new_msg'["epoch"], ...)
                if me.epoch as i32 != msg.epoch() {
                    n.assert_failed = true;
                }
                n.ignore_msg = false;
            }
        } else {
            // A refused join is ignored like a refused commit (only the keyed variant refuses).
            n.ignore_msg = refused && msg.ty() == Ty::UserJoined;
            if msg.ty() == Ty::MlsWelcome && msg.uid() == uid && !me.welcomed {
                n.new_welcomed = BoolOrZero::Bool(true);
                n.nonwelcomed_to_welcomed = true;
            } else {
                n.new_welcomed = BoolOrZero::Bool(me.welcomed);
                n.nonwelcomed_to_welcomed = false;
            }
        }
        let (adds, removes, epoch);
        if msg.ty() == Ty::UserJoined && !n.ignore_msg {
            adds = me.users_pending_add.append(msg.uid());
            removes = me.users_pending_remove;
            epoch = me.epoch;
        } else if msg.ty() == Ty::UserLeft {
            adds = me.users_pending_add;
            removes = me.users_pending_remove.append(msg.uid());
            epoch = me.epoch;
        } else if msg.ty() == Ty::MlsAdd && !n.ignore_msg {
            adds = me.users_pending_add.remove_element(msg.uid());
            removes = me.users_pending_remove;
            epoch = me.epoch + 1;
        } else if msg.ty() == Ty::MlsRemove && !n.ignore_msg {
            removes = me.users_pending_remove.remove_element(msg.uid());
            adds = me.users_pending_add;
            epoch = me.epoch + 1;
        } else {
            adds = me.users_pending_add;
            removes = me.users_pending_remove;
            epoch = if n.nonwelcomed_to_welcomed {
                i8::try_from(msg.epoch()).expect("epoch fits i8")
            } else {
                me.epoch
            };
        }
        n.new_pending_adds = SeqOrZero::Seq(adds);
        n.new_pending_removes = SeqOrZero::Seq(removes);
        n.new_epoch = epoch;
        let BoolOrZero::Bool(welcomed) = n.new_welcomed else {
            unreachable!()
        };
        *n.user_mut(uid as u32) = UserState {
            welcomed,
            epoch,
            idx_in_messages: n.new_idx,
            users_pending_add: adds,
            users_pending_remove: removes,
        };
    }
}

/// `1..Len(user_states)` as a bitmask.
fn uid_range(s: &OrangeState) -> u16 {
    ((1u16 << (s.n_users + 1)) - 1) & !1
}

/// `TypeInvariant`: `next_free_uid \in Nat` (an unsigned field) and every message is in one of
/// the three record types. The packing fixes the fields per `ty` and UIDs are naturals, so what
/// is left to check is that every `epoch` field is in `Nat` (not -1).
fn type_invariant(s: &OrangeState) -> bool {
    s.messages()
        .iter()
        .all(|m| matches!(m.ty(), Ty::UserJoined | Ty::UserLeft) || m.epoch() >= 0)
}

/// `UniqueTargetUidInvariant`: no two Adds, and no two Removes, with the same target.
fn unique_target_uid(s: &OrangeState) -> bool {
    let ms = s.messages();
    (0..ms.len()).all(|i| {
        !ms[i].is_add_remove()
            || (0..ms.len())
                .all(|j| !(j != i && ms[i].ty() == ms[j].ty()) || ms[i].uid() != ms[j].uid())
    })
}

/// `MonotonicEpochInvariant`: Add/Remove epochs strictly increase along `messages`, and there are
/// `Max(epochs) + 1` of them.
fn monotonic_epoch(s: &OrangeState) -> bool {
    let epochs: Vec<i32> = s
        .messages()
        .iter()
        .filter(|m| m.is_add_remove())
        .map(|m| m.epoch())
        .collect();
    if epochs.is_empty() {
        return true;
    }
    let increasing = epochs.windows(2).all(|w| w[0] < w[1]);
    // Cardinality(all_add_removes) = Max(all_epochs) + 1 (all_epochs is a set; with strictly
    // increasing epochs its max is the last one, but compute it as the spec does).
    let max = *epochs.iter().max().expect("non-empty");
    increasing && epochs.len() as i32 == max + 1
}

/// `JoinImpliesWelcome` / `WelcomeImpliesAdd`: at termination with a live group, every message
/// of type `from` at index i is followed (j > i) by a message of type `to` whose target is the
/// same UID (`uid` of a join, `target_uid` of a Welcome).
fn end_implies_followed_by(m: &OrangeTla, s: &OrangeState, from: Ty, to: Ty) -> bool {
    let v = m.view(s);
    if !(m.termination_condition(s, &v) && m.dc_is_defined(&v)) {
        return true;
    }
    let ms = s.messages();
    (0..ms.len()).all(|i| {
        ms[i].ty() != from
            || (i + 1..ms.len()).any(|j| ms[j].ty() == to && ms[j].uid() == ms[i].uid())
    })
}

/// The port's entry in [`super::REGISTRY`]: its one bound, MaxTotalUsers, rides in
/// `participants`.
pub static SPEC: super::ProtocolSpec = super::ProtocolSpec {
    name: "orange-dc",
    module: module_path!(),
    description:
        "Cloudflare's TLA+ model of Orange Meets (orange_draft1.tla at 404f994), ported step \
                  for step; bound: MaxTotalUsers; properties: the spec's invariants",
    source: "Cloudflare's TLA+ model of Orange Meets (cloudflareresearch/orange-e2ee-model-check, \
             orange_draft1.tla at 404f994, Orange.toolbox/Model_1)",
    mutants: &[],
    no_mutants_because: Some(
        "the port checks the spec's own invariants, not the group-key properties the mutants \
         target; Orange's README lessons are mutants of the port itself (OrangeMutant), caught in \
         tests/orange_tla.rs",
    ),
    in_default_run: false,
    default_bounds: crate::Bounds {
        participants: 5,
        ..crate::Bounds::DEFAULT
    },
    validate: |b| {
        check_max_total_users(b)?;
        check_interference(b)
    },
    build: |bounds, _| Box::new(OrangeTla::new(bounds.participants)),
};

/// MaxTotalUsers (`participants`) as the Orange models take it.
pub(crate) fn check_max_total_users(b: &crate::Bounds) -> Result<(), crate::ModelError> {
    // The port packs UIDs in 3 bits; MaxTotalUsers 6 already outgrows memory.
    let n = b.participants;
    if !(2..=6).contains(&n) {
        return Err(crate::ModelError::BadBounds(format!(
            "MaxTotalUsers {n}: the Orange port takes 2 to 6 (Cloudflare checked 5)"
        )));
    }
    Ok(())
}

/// The server's budget, which the keyed model spends (the port ignores it).
pub(crate) fn check_interference(b: &crate::Bounds) -> Result<(), crate::ModelError> {
    if b.max_interference > 8 {
        return Err(crate::ModelError::BadBounds(format!(
            "{} interferences: beyond 8 the 32-key ledger and any machine's memory run out",
            b.max_interference
        )));
    }
    Ok(())
}
