//! One DAVE scenario, one assignment of implementations to seats: the call as the gateway
//! runs it, and what the checks need from it.
//!
//! The gateway follows daveprotocol.com: op 11 before the op 27 that adds someone (clients
//! refuse Adds of users they were not told about); at epoch 0 every pending member gets the
//! Adds of the others and the first valid commit founds the group (op 29 to its author, op 30
//! to the others); later, op 27 goes to the members, the first valid commit wins, op 29 goes
//! to every member it was made for and op 30 to each joiner; every member prepares (op 23)
//! before anyone sends under the new epoch (op 22). A member left alone is reset (op 24 epoch
//! 1, op 21 transition 0). A client that cannot process op 29/30 sends op 31, resets and sends
//! a new key package; the gateway removes its leaf and adds it again.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::frame::{self, SecureFrame};
use super::gateway::{Change, Gateway, InFlight};
use super::participant::{Implementation, Media, Participant, ParticipantError};
use super::scenario::{Scenario, Step};
use super::wire::{Frame, ToClient};
use crate::interop::delivery::{DeliveryService, Kind};
use crate::results::Question;

/// A seeded bug each check must catch (negative controls).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum Control {
    /// A participant hands the gateway its media key after every transition (the first seat
    /// whose implementation exposes one: davey).
    Escrow,
    /// Members never move their send key to a new epoch (op 22 ignored after their first).
    NoRotate,
    /// The gateway splits the group: where two members made valid commits, each of them (and
    /// the members after the second in seat order) gets its own commit as op 29.
    Fork,
}

impl Control {
    pub fn name(self) -> &'static str {
        match self {
            Control::Escrow => "escrow",
            Control::NoRotate => "no-rotate",
            Control::Fork => "fork",
        }
    }
}

/// What one run found, for the checks.
#[derive(Debug, Default)]
pub struct RunOutcome {
    /// Why the run stopped early (a sidecar gone), if it did: its checks are skipped.
    pub stop: Option<String>,
    /// What happened, in order: the evidence of every verdict.
    pub log: Vec<String>,
    /// Steps an honest gateway's call could not take: a refusal, a commit nobody could use.
    pub handshake_failures: Vec<String>,
    /// Group states compared across members (after each transition).
    pub agreements: usize,
    pub disagreements: Vec<String>,
    /// Frames a member was owed, and what went wrong with them.
    pub owed: usize,
    pub unread: Vec<String>,
    pub removed_attempts: usize,
    pub removed_leaks: Vec<String>,
    pub joiner_attempts: usize,
    pub joiner_leaks: Vec<String>,
    /// The gateway's search of its transcript.
    pub transcript_bytes: usize,
    pub windows_tried: usize,
    pub frames_targeted: usize,
    pub gateway_findings: Vec<String>,
    /// The implementations' reported versions.
    pub versions: BTreeMap<String, String>,
    /// What each probe (a hostile gateway or SFU step) found.
    pub probes: Vec<ProbeResult>,
    /// Frames the gateway's own clients (ghosts) opened.
    pub ghost_reads: Vec<String>,
    /// Why the scenario stopped before its end (a probe left no honest way on).
    pub abandoned: Option<String>,
}

/// One probe's verdict material: what each implementation did.
#[derive(Clone, Debug)]
pub struct ProbeResult {
    pub name: &'static str,
    pub question: Question,
    /// What an implementation did that it must not.
    pub failures: Vec<String>,
    /// What each did, pass or fail: the evidence.
    pub observations: Vec<String>,
    /// The verdict's reason when nothing failed.
    pub pass: String,
}

/// A frame a member sent, and who was entitled to open it.
struct SentFrame {
    step: usize,
    sender: usize,
    epoch: u64,
    media: Media,
    plain: Vec<u8>,
    sealed: Vec<u8>,
    /// Seats that were members (other than the sender) when it was sent.
    entitled: BTreeSet<usize>,
}

struct Seat {
    name: String,
    participant: Box<dyn Participant>,
    user: u64,
    connected: bool,
    /// In the established group, as the gateway's accepted commits say.
    member: bool,
    /// Has been a member at some point.
    was_member: bool,
    /// Removed by the gateway but still in the channel: never re-added.
    listener: bool,
    /// The gateway's own client (a probe): what it opens, the gateway reads.
    ghost: bool,
    has_send_key: bool,
    /// How many frames had been sent when it first became a member.
    joined_at_frame: Option<usize>,
    key_package: Option<Vec<u8>>,
    recognized: BTreeSet<u64>,
}

struct Call<'a> {
    seats: Vec<Seat>,
    gateway: Gateway,
    delivery: DeliveryService,
    step: usize,
    transition: u16,
    frames: Vec<SentFrame>,
    control: Option<Control>,
    /// The seat whose next Welcome the gateway bit-flips.
    garble: Option<usize>,
    /// op 31 recoveries in the current step.
    recoveries: usize,
    /// welcome-ghost probe: (joiner, ghost) while the joiner's Welcome is pending.
    welcome_probe: Option<(usize, usize)>,
    out: &'a mut RunOutcome,
}

/// Channel and user ids shaped like Discord's snowflakes.
pub const CHANNEL: u64 = 1_180_000_000_000_000_001;
const FIRST_USER: u64 = 1_090_000_000_000_000_001;

/// Runs `scenario` with `assignment[i]` playing seat i.
pub fn run(
    scenario: &Scenario,
    assignment: &[Implementation],
    control: Option<Control>,
) -> RunOutcome {
    let mut versions = BTreeMap::new();
    let mut participants = Vec::new();
    let mut sidecars: BTreeMap<Implementation, super::participant::SharedSidecar> = BTreeMap::new();
    for (i, &imp) in assignment.iter().enumerate().take(scenario.seats.len()) {
        match imp.participant(&mut sidecars, user_id(i), CHANNEL) {
            Ok((p, version)) => {
                versions.insert(imp.name().to_string(), version);
                participants.push(p);
            }
            Err(e) => return RunOutcome::stopped(e),
        }
    }
    let mut out = run_with(scenario, participants, control);
    out.versions = versions;
    out
}

/// Seat i's user id.
pub fn user_id(seat: usize) -> u64 {
    FIRST_USER + seat as u64
}

impl RunOutcome {
    fn stopped(e: ParticipantError) -> RunOutcome {
        RunOutcome {
            stop: Some(e.to_string()),
            ..RunOutcome::default()
        }
    }
}

/// Runs `scenario` with `participants[i]` (user [`user_id`]`(i)`) in seat i.
pub fn run_with(
    scenario: &Scenario,
    participants: Vec<Box<dyn Participant>>,
    control: Option<Control>,
) -> RunOutcome {
    let mut out = RunOutcome::default();
    let seats = scenario
        .seats
        .iter()
        .zip(participants)
        .map(|(name, participant)| Seat {
            name: name.clone(),
            user: participant.user_id(),
            participant,
            connected: false,
            member: false,
            was_member: false,
            listener: false,
            ghost: false,
            has_send_key: false,
            joined_at_frame: None,
            key_package: None,
            recognized: BTreeSet::new(),
        })
        .collect();
    let mut call = Call {
        seats,
        gateway: Gateway::new(CHANNEL),
        delivery: DeliveryService::default(),
        step: 0,
        transition: 0,
        frames: Vec::new(),
        control,
        garble: None,
        recoveries: 0,
        welcome_probe: None,
        out: &mut out,
    };
    let result = call.play(scenario);
    if let Err(ParticipantError::Gone(why)) = result {
        call.out.stop = Some(why);
    }
    call.finish();
    out
}

type Res = Result<(), ParticipantError>;

/// A Gone sidecar stops the run; a refusal is the implementation's answer, judged by the caller.
fn gone(e: ParticipantError) -> Result<ParticipantError, ParticipantError> {
    match e {
        ParticipantError::Gone(_) => Err(e),
        refused => Ok(refused),
    }
}

impl Call<'_> {
    fn play(&mut self, scenario: &Scenario) -> Res {
        for (i, step) in scenario.steps.iter().enumerate() {
            self.step = i + 1;
            self.recoveries = 0;
            let seat = |name: &str| {
                scenario
                    .seats
                    .iter()
                    .position(|s| s == name)
                    .expect("scenarios name their seats")
            };
            match step {
                Step::Connect(names) => {
                    let newcomers: Vec<usize> = names.iter().map(|n| seat(n)).collect();
                    self.connect(&newcomers)?;
                    self.group_round(&newcomers, &[], None)?;
                }
                Step::Revoke(name) => {
                    let s = seat(name);
                    self.connect(&[s])?;
                    self.group_round(&[s], &[], Some(s))?;
                    self.disconnect(s)?;
                }
                Step::GarbleWelcome(name) => {
                    let s = seat(name);
                    self.garble = Some(s);
                    self.connect(&[s])?;
                    self.group_round(&[s], &[], None)?;
                }
                Step::Disconnect(name) => {
                    let s = seat(name);
                    self.disconnect(s)?;
                    if self.seats[s].member {
                        self.leave_group(s)?;
                    }
                }
                Step::Kick(name) => {
                    let s = seat(name);
                    self.seats[s].listener = true;
                    self.leave_group(s)?;
                }
                Step::Media => self.media()?,
                Step::Ghost(g) => self.probe_unrecognized_add(seat(g))?,
                Step::GhostConnected(g) => {
                    let g = seat(g);
                    self.seats[g].ghost = true;
                    self.connect(&[g])?;
                    self.group_round(&[g], &[], None)?;
                    self.probe_ghost_visible(g)?;
                }
                Step::BatchGhost(c, g) => self.probe_batch(seat(c), seat(g))?,
                Step::WelcomeGhost(j, g) => self.probe_welcome(seat(j), seat(g))?,
                Step::Tamper => self.probe_tamper()?,
            }
            if let Some(why) = &self.out.abandoned {
                self.out.log.push(format!("the scenario stops here: {why}"));
                break;
            }
        }
        Ok(())
    }

    fn note(&mut self, line: String) {
        self.out.log.push(format!("step {}: {line}", self.step));
    }

    fn fail_handshake(&mut self, line: String) {
        let line = format!("step {}: {line}", self.step);
        self.out.log.push(line.clone());
        self.out.handshake_failures.push(line);
    }

    fn signal(&mut self, to: usize, message: ToClient) {
        let bytes = match message.encode(0) {
            Frame::Json(v) => v.to_string().into_bytes(),
            Frame::Binary(b) => b,
        };
        let kind = match message {
            ToClient::ExternalSender(_) => Kind::ExternalSender,
            ToClient::Proposals { .. } => Kind::Proposal,
            ToClient::AnnounceCommit { .. } => Kind::Commit,
            ToClient::Welcome { .. } => Kind::Welcome,
            _ => Kind::Signal,
        };
        let to = format!("gateway to {}", self.seats[to].name);
        self.delivery.carry(Some(self.step), kind, &to, bytes);
    }

    fn carry_from(&mut self, from: usize, kind: Kind, bytes: Vec<u8>) {
        let from = self.seats[from].name.clone();
        self.delivery.carry(Some(self.step), kind, &from, bytes);
    }

    fn connected(&self) -> Vec<usize> {
        (0..self.seats.len())
            .filter(|&i| self.seats[i].connected)
            .collect()
    }

    fn members(&self) -> Vec<usize> {
        (0..self.seats.len())
            .filter(|&i| self.seats[i].member)
            .collect()
    }

    /// Op 11 to those already here; op 4, 11, 25 to each newcomer, which answers op 26.
    fn connect(&mut self, newcomers: &[usize]) -> Res {
        let users: Vec<u64> = newcomers.iter().map(|&s| self.seats[s].user).collect();
        for s in self.connected() {
            self.seats[s].recognized.extend(&users);
            self.signal(s, ToClient::ClientsConnect(users.clone()));
        }
        for &s in newcomers {
            self.seats[s].connected = true;
        }
        let everyone: Vec<u64> = self
            .connected()
            .iter()
            .map(|&s| self.seats[s].user)
            .collect();
        for &s in newcomers {
            self.seats[s].recognized = everyone.iter().copied().collect();
            self.signal(
                s,
                ToClient::SessionDescription {
                    dave_protocol_version: 1,
                },
            );
            self.signal(s, ToClient::ClientsConnect(everyone.clone()));
            let es = self.gateway.external_sender().to_vec();
            self.signal(s, ToClient::ExternalSender(es.clone()));
            let made = self.seats[s].participant.start(&es);
            self.key_package(s, made, "made no key package")?;
        }
        Ok(())
    }

    /// Takes a key package a participant made (op 26): carried and kept; a refusal is a
    /// handshake failure (`what` it could not do). Whether it made one.
    fn key_package(
        &mut self,
        s: usize,
        made: Result<Vec<u8>, ParticipantError>,
        what: &str,
    ) -> Result<bool, ParticipantError> {
        match made {
            Ok(kp) => {
                self.carry_from(s, Kind::KeyPackage, kp.clone());
                self.seats[s].key_package = Some(kp);
                Ok(true)
            }
            Err(e) => {
                let e = gone(e)?;
                self.fail_handshake(format!("{} {what}: {e}", self.who(s)));
                Ok(false)
            }
        }
    }

    /// Op 13 to the others.
    fn disconnect(&mut self, s: usize) -> Res {
        self.seats[s].connected = false;
        let user = self.seats[s].user;
        for o in self.connected() {
            self.seats[o].recognized.remove(&user);
            self.signal(o, ToClient::ClientDisconnect(user));
        }
        if !self.seats[s].member {
            self.seats[s].key_package = None;
        }
        Ok(())
    }

    /// `s` leaves the group (it left the channel, or the gateway removes it).
    fn leave_group(&mut self, s: usize) -> Res {
        let remaining: Vec<usize> = self.members().into_iter().filter(|&m| m != s).collect();
        match remaining.len() {
            0 => {
                self.gateway.reset();
                self.seats[s].member = false;
            }
            1 => self.sole_member_reset(s, remaining[0])?,
            _ => self.group_round(&[], &[s], None)?,
        }
        Ok(())
    }

    /// daveprotocol.com "Sole member reset": op 24 (epoch 1) and op 21 (transition 0).
    fn sole_member_reset(&mut self, leaving: usize, sole: usize) -> Res {
        self.seats[leaving].member = false;
        self.gateway.reset();
        self.signal(
            sole,
            ToClient::PrepareEpoch {
                epoch: 1,
                protocol_version: 1,
            },
        );
        self.signal(
            sole,
            ToClient::PrepareTransition {
                transition_id: 0,
                protocol_version: 1,
            },
        );
        self.seats[sole].member = false;
        self.note(format!("{} is alone: reset", self.seats[sole].name));
        let made = self.seats[sole].participant.restart();
        self.key_package(sole, made, "could not reset")?;
        Ok(())
    }

    /// One epoch change: proposals for `adds` and `removes`, a commit per committer, the first
    /// valid one broadcast, the transition. With no group yet, the pending members found one.
    /// `revoked`: that seat's Add is revoked after the first commits, before any is broadcast.
    fn group_round(&mut self, adds: &[usize], removes: &[usize], revoked: Option<usize>) -> Res {
        let founding = !self.gateway.established();
        let joiners: Vec<usize> = if founding {
            self.connected()
                .into_iter()
                .filter(|&s| !self.seats[s].listener && self.seats[s].key_package.is_some())
                .collect()
        } else {
            adds.iter()
                .copied()
                .filter(|&s| self.seats[s].key_package.is_some())
                .collect()
        };
        if founding && joiners.len() < 2 {
            if let Some(&s) = joiners.first() {
                self.note(format!(
                    "{} is alone: no group, no media keys",
                    self.seats[s].name
                ));
            }
            return Ok(());
        }
        let epoch = self.gateway.epoch;
        let mut proposals: Vec<(InFlight, Option<usize>)> = Vec::new();
        for &s in removes {
            if let Some(p) = self.gateway.propose_remove(self.seats[s].user) {
                proposals.push((p, None));
            }
        }
        for &s in &joiners {
            let kp = self.seats[s].key_package.clone().expect("filtered");
            match self.gateway.propose_add(self.seats[s].user, &kp, epoch) {
                Ok(p) => proposals.push((p, Some(s))),
                Err(e) => self.fail_handshake(format!("the gateway refused: {e}")),
            }
        }
        // Committers: every member; at founding, every pending member (for the others' Adds).
        let committers: Vec<usize> = if founding {
            joiners.clone()
        } else {
            self.members()
                .into_iter()
                .filter(|&m| self.seats[m].connected)
                .collect()
        };
        let for_committer = |c: usize| -> Vec<&InFlight> {
            proposals
                .iter()
                .filter(|(_, added)| *added != Some(c))
                .map(|(p, _)| p)
                .collect()
        };
        let mut commits: Vec<(usize, Vec<u8>)> = Vec::new();
        for &c in &committers {
            let payload = Gateway::append(&for_committer(c));
            if let Some(op28) = self.offer(c, payload, removes.contains(&c))? {
                commits.push((c, op28));
            }
        }
        let mut live: Vec<&InFlight> = proposals.iter().map(|(p, _)| p).collect();
        if let Some(r) = revoked {
            // Op 27 revoke: the commits made so far are void; members commit again.
            let gone_ref: Vec<&InFlight> = proposals
                .iter()
                .filter(|(_, added)| *added == Some(r))
                .map(|(p, _)| p)
                .collect();
            let payload = Gateway::revoke(&gone_ref);
            commits.clear();
            for &c in &committers {
                if let Some(op28) = self.offer(c, payload.clone(), removes.contains(&c))? {
                    commits.push((c, op28));
                }
            }
            live.retain(
                |p| !matches!(p.change, Change::Add { user } if user == self.seats[r].user),
            );
            self.note(format!("{}'s Add revoked", self.seats[r].name));
            if live.is_empty() {
                // DAVE commits reference one proposal or more: the gateway drops these.
                for (c, _) in &commits {
                    self.note(format!(
                        "{} committed with every proposal revoked (the gateway drops it)",
                        self.seats[*c].name
                    ));
                }
                return Ok(());
            }
        }
        // First valid commit wins (daveprotocol.com "Commit Ordering").
        let mut winner = None;
        let mut runner_up: Option<(usize, Vec<u8>)> = None;
        for (c, op28) in &commits {
            let expected: Vec<&InFlight> = live
                .iter()
                .copied()
                .filter(
                    |p| !matches!(p.change, Change::Add { user } if user == self.seats[*c].user),
                )
                .collect();
            match self.gateway.judge(op28, &expected) {
                Ok(accepted) if winner.is_none() => winner = Some((*c, accepted)),
                Ok(accepted) => {
                    if runner_up.is_none() {
                        runner_up = Some((*c, accepted.commit));
                    }
                }
                // RFC 9420 §12.2: a commit must not remove its committer; the gateway drops it.
                Err(why) if removes.contains(c) => self.note(format!(
                    "the gateway drops {}'s commit, which removes its author: {why}",
                    self.seats[*c].name
                )),
                Err(why) => self.fail_handshake(format!(
                    "the gateway refused {}'s commit: {why}",
                    self.seats[*c].name
                )),
            }
        }
        let Some((committer, accepted)) = winner else {
            self.fail_handshake("no valid commit: the group did not change".into());
            return Ok(());
        };
        self.transition += 1;
        let t = self.transition;
        self.note(format!(
            "{}'s commit wins (transition {t}, epoch {})",
            self.seats[committer].name,
            self.gateway.epoch + 1
        ));
        let previous: Vec<usize> = if founding {
            vec![committer]
        } else {
            self.members()
        };
        self.gateway
            .apply(&accepted, founding.then_some(self.seats[committer].user));
        let roster = self.gateway.roster();
        for s in 0..self.seats.len() {
            let in_group = roster.contains(&self.seats[s].user);
            if self.seats[s].member && !in_group {
                self.note(format!("{} removed", self.seats[s].name));
            }
            self.seats[s].member = in_group;
            self.seats[s].was_member |= in_group;
            if in_group && self.seats[s].joined_at_frame.is_none() {
                self.seats[s].joined_at_frame = Some(self.frames.len());
            }
        }
        let mut invalid = Vec::new();
        let fork = runner_up.filter(|_| self.control == Some(Control::Fork) && !founding);
        // Op 29 to every member the commit was made for, removed ones included.
        for &m in &previous {
            if !self.seats[m].connected {
                continue;
            }
            let commit = match &fork {
                Some((second, other)) if m >= *second => {
                    self.note(format!(
                        "the gateway sends {} the commit of {}",
                        self.seats[m].name, self.seats[*second].name
                    ));
                    other.clone()
                }
                _ => accepted.commit.clone(),
            };
            self.signal(
                m,
                ToClient::AnnounceCommit {
                    transition_id: t,
                    commit: commit.clone(),
                },
            );
            let staying = self.seats[m].member;
            match self.seats[m].participant.commit(&commit) {
                Ok(true) => {}
                Ok(false) if staying => {
                    self.fail_handshake(format!(
                        "{} ignored the winning commit",
                        self.seats[m].name
                    ));
                    invalid.push(m);
                }
                Ok(false) => self.note(format!(
                    "{} ignored the commit removing it",
                    self.seats[m].name
                )),
                Err(e) => {
                    let e = gone(e)?;
                    if staying {
                        self.fail_handshake(format!(
                            "{} refused the winning commit: {e}",
                            self.seats[m].name
                        ));
                        invalid.push(m);
                    } else {
                        self.note(format!(
                            "{} refused the commit removing it: {e}",
                            self.seats[m].name
                        ));
                    }
                }
            }
        }
        // Op 30 to each joiner.
        let added: Vec<usize> = (0..self.seats.len())
            .filter(|&s| self.seats[s].member && !previous.contains(&s))
            .collect();
        for &j in &added {
            let mut welcome = accepted.welcome.clone().unwrap_or_default();
            if self.garble == Some(j) {
                self.garble = None;
                let at = welcome.len() / 2;
                welcome[at] ^= 0x01;
                self.note(format!(
                    "the gateway bit-flips {}'s Welcome",
                    self.seats[j].name
                ));
            }
            self.signal(
                j,
                ToClient::Welcome {
                    transition_id: t,
                    welcome: welcome.clone(),
                },
            );
            let recognized: Vec<u64> = self.seats[j].recognized.iter().copied().collect();
            let result = self.seats[j].participant.welcome(&welcome, &recognized);
            if let Some((joiner, ghost)) = self.welcome_probe.filter(|&(joiner, _)| joiner == j) {
                self.welcome_probe = None;
                self.judge_welcome_probe(joiner, ghost, &result);
            }
            if let Err(e) = result {
                let e = gone(e)?;
                self.note(format!("{} refused its Welcome: {e}", self.seats[j].name));
                invalid.push(j);
            }
        }
        let ready: Vec<usize> = self
            .members()
            .into_iter()
            .filter(|m| !invalid.contains(m))
            .collect();
        self.transition_to(t, &ready)?;
        // Op 31 from each that could not process its op 29/30: it resets and sends a new key
        // package; the gateway removes its leaf and adds it again in the next epoch.
        self.recover(invalid, t)
    }

    /// Op 27 to one committer: its op 28, if it made one. One the proposals remove may refuse.
    fn offer(
        &mut self,
        c: usize,
        payload: Vec<u8>,
        removed: bool,
    ) -> Result<Option<Vec<u8>>, ParticipantError> {
        self.signal(
            c,
            ToClient::Proposals {
                op: if payload[0] == 0 {
                    super::wire::ProposalsOp::Append
                } else {
                    super::wire::ProposalsOp::Revoke
                },
                payload: payload[1..].to_vec(),
            },
        );
        let recognized: Vec<u64> = self.seats[c].recognized.iter().copied().collect();
        match self.seats[c].participant.proposals(&payload, &recognized) {
            Ok(Some(op28)) => {
                self.carry_from(c, Kind::Commit, op28.clone());
                Ok(Some(op28))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                let e = gone(e)?;
                let line = format!(
                    "{} refused the gateway's proposals: {e}",
                    self.seats[c].name
                );
                if removed {
                    self.note(format!("{line} (they remove it)"));
                } else {
                    self.fail_handshake(line);
                }
                Ok(None)
            }
        }
    }

    /// Op 23 from each member, then op 22: everyone sends under the new epoch.
    fn transition_to(&mut self, t: u16, members: &[usize]) -> Res {
        for &m in members {
            if let Err(e) = self.seats[m].participant.prepare(t) {
                let e = gone(e)?;
                self.fail_handshake(format!(
                    "{} could not prepare transition {t}: {e}",
                    self.seats[m].name
                ));
            }
        }
        for &m in members {
            self.signal(m, ToClient::ExecuteTransition(t));
            if self.control == Some(Control::NoRotate) && self.seats[m].has_send_key {
                continue;
            }
            match self.seats[m].participant.execute(t) {
                Ok(()) => self.seats[m].has_send_key = true,
                Err(e) => {
                    let e = gone(e)?;
                    self.fail_handshake(format!(
                        "{} could not execute transition {t}: {e}",
                        self.seats[m].name
                    ));
                }
            }
        }
        if self.control == Some(Control::Escrow) {
            let culprit = members.iter().copied().find(|&m| {
                super::participant::Implementation::parse(
                    self.seats[m].participant.implementation(),
                )
                .is_some_and(Implementation::exposes_media_keys)
            });
            if let Some(m) = culprit {
                let user = self.seats[m].user;
                match self.seats[m].participant.media_key(user) {
                    Ok(key) => self.carry_from(m, Kind::Escrow, key),
                    Err(e) => {
                        gone(e)?;
                    }
                }
            }
        }
        self.agree(members)
    }

    /// What every member shows agrees with the others' and with the gateway's roster.
    fn agree(&mut self, members: &[usize]) -> Res {
        let mut shown = Vec::new();
        for &m in members {
            match self.seats[m].participant.shown() {
                Ok(s) => shown.push((m, s)),
                Err(e) => {
                    let e = gone(e)?;
                    self.fail_handshake(format!("{} shows nothing: {e}", self.seats[m].name));
                }
            }
        }
        if shown.len() < 2 {
            return Ok(());
        }
        self.out.agreements += 1;
        let roster = self.gateway.roster();
        let (first, reference) = (&shown[0].0, &shown[0].1);
        let mut diffs = Vec::new();
        for (m, s) in &shown {
            let name = &self.seats[*m].name;
            if s.epoch_authenticator.is_none() {
                diffs.push(format!("{name} shows no epoch authenticator"));
            } else if s.epoch_authenticator != reference.epoch_authenticator {
                diffs.push(format!(
                    "{name}'s epoch authenticator differs from {}'s",
                    self.seats[*first].name
                ));
            }
            if s.code != reference.code {
                diffs.push(format!(
                    "{name} shows code {:?}, {} shows {:?}",
                    s.code, self.seats[*first].name, reference.code
                ));
            }
            if s.roster.as_ref() != Some(&roster) {
                diffs.push(format!(
                    "{name} shows roster {:?}, the gateway's is {roster:?}",
                    s.roster
                ));
            }
        }
        for d in diffs {
            let d = format!("step {}: {d}", self.step);
            self.out.log.push(d.clone());
            self.out.disagreements.push(d);
        }
        Ok(())
    }

    /// After op 31: the client resets and sends a new key package; remove and re-add it.
    fn recover(&mut self, invalid: Vec<usize>, t: u16) -> Res {
        if invalid.is_empty() {
            return Ok(());
        }
        // A client that fails every Welcome would have the gateway re-add it forever.
        self.recoveries += 1;
        let names: Vec<String> = invalid
            .iter()
            .map(|&s| self.seats[s].name.clone())
            .collect();
        if self.recoveries > 3 {
            self.fail_handshake(format!(
                "{} failed again after 3 recoveries in this step: the gateway gives up",
                names.join(", ")
            ));
            return Ok(());
        }
        // Pending again, all of them, before any proposal goes out.
        for &s in &invalid {
            self.seats[s].member = false;
        }
        let mut again = Vec::new();
        for &s in &invalid {
            let bytes = json!({"op": 31, "d": {"transition_id": t}})
                .to_string()
                .into_bytes();
            self.carry_from(s, Kind::Signal, bytes);
            self.note(format!("{} sent op 31 and recovers", self.seats[s].name));
            if self.seats[s].ghost {
                continue; // the gateway does not re-add its own client
            }
            let made = self.seats[s].participant.restart();
            if self.key_package(s, made, "could not reset after op 31")? {
                self.seats[s].has_send_key = false;
                again.push(s);
            }
        }
        // The gateway removes their leaves, and a ghost no one announced to a joiner that
        // refused a Welcome listing it; then adds them again, in one commit.
        let roster = self.gateway.roster();
        let mut removes: Vec<usize> = invalid
            .iter()
            .copied()
            .filter(|&s| roster.contains(&self.seats[s].user))
            .collect();
        for g in 0..self.seats.len() {
            let seat = &self.seats[g];
            if seat.ghost && !seat.connected && roster.contains(&seat.user) && !removes.contains(&g)
            {
                removes.push(g);
                self.seats[g].member = false;
            }
        }
        let others = self
            .members()
            .into_iter()
            .filter(|&m| self.seats[m].connected)
            .count();
        if others == 0 {
            self.gateway.reset();
            return self.group_round(&again, &[], None);
        }
        self.group_round(&again, &removes, None)
    }

    fn who(&self, s: usize) -> String {
        format!(
            "{} ({})",
            self.seats[s].name,
            self.seats[s].participant.implementation()
        )
    }

    /// The gateway's own client makes a key package, unannounced.
    fn start_ghost(&mut self, g: usize) -> Result<Option<Vec<u8>>, ParticipantError> {
        self.seats[g].ghost = true;
        let es = self.gateway.external_sender().to_vec();
        let made = self.seats[g].participant.start(&es);
        Ok(self
            .key_package(g, made, "(the gateway's ghost) made no key package")?
            .then(|| self.seats[g].key_package.clone())
            .flatten())
    }

    /// Op 27 with `proposals` to every connected member: who committed (must not), who refused.
    fn offer_probe(
        &mut self,
        proposals: &[&InFlight],
        ghost: usize,
        failures: &mut Vec<String>,
        observations: &mut Vec<String>,
    ) -> Res {
        let payload = Gateway::append(proposals);
        let members: Vec<usize> = self
            .members()
            .into_iter()
            .filter(|&m| self.seats[m].connected)
            .collect();
        for m in members {
            self.signal(
                m,
                ToClient::Proposals {
                    op: super::wire::ProposalsOp::Append,
                    payload: payload[1..].to_vec(),
                },
            );
            let recognized: Vec<u64> = self.seats[m].recognized.iter().copied().collect();
            let who = self.who(m);
            let ghost_name = self.seats[ghost].name.clone();
            match self.seats[m].participant.proposals(&payload, &recognized) {
                Ok(Some(op28)) => {
                    self.carry_from(m, Kind::Commit, op28);
                    failures.push(format!(
                        "{who} committed the Add of {ghost_name}, whom no op 11 announced to it"
                    ));
                }
                Ok(None) => observations.push(format!("{who} made no commit")),
                Err(e) => observations.push(format!("{who} refused: {}", refusal(&gone(e)?))),
            }
        }
        Ok(())
    }

    /// Probe: an Add of a user id no op 11 announced.
    fn probe_unrecognized_add(&mut self, g: usize) -> Res {
        let Some(kp) = self.start_ghost(g)? else {
            return Ok(());
        };
        let add = match self
            .gateway
            .propose_add(self.seats[g].user, &kp, self.gateway.epoch)
        {
            Ok(p) => p,
            Err(e) => {
                self.fail_handshake(format!("the gateway refused its own ghost: {e}"));
                return Ok(());
            }
        };
        let (mut failures, mut observations) = (Vec::new(), Vec::new());
        self.offer_probe(&[&add], g, &mut failures, &mut observations)?;
        self.finish_probe(ProbeResult {
            name: "dave-refuses-unrecognized-add",
            question: Question::ServerBlind,
            failures,
            observations,
            pass: "every member refused the gateway's Add of a user id no op 11 announced".into(),
        });
        Ok(())
    }

    /// Probe: one op 27 with an announced joiner's Add and an unannounced one's.
    fn probe_batch(&mut self, c: usize, g: usize) -> Res {
        self.connect(&[c])?;
        let Some(ghost_kp) = self.start_ghost(g)? else {
            return Ok(());
        };
        let Some(kp) = self.seats[c].key_package.clone() else {
            return Ok(());
        };
        let epoch = self.gateway.epoch;
        let (Ok(good), Ok(bad)) = (
            self.gateway.propose_add(self.seats[c].user, &kp, epoch),
            self.gateway
                .propose_add(self.seats[g].user, &ghost_kp, epoch),
        ) else {
            self.fail_handshake("the gateway could not sign the batch".into());
            return Ok(());
        };
        let (mut failures, mut observations) = (Vec::new(), Vec::new());
        self.offer_probe(&[&good, &bad], g, &mut failures, &mut observations)?;
        let refused = failures.is_empty();
        self.finish_probe(ProbeResult {
            name: "dave-refuses-batch-with-unrecognized-add",
            question: Question::ServerBlind,
            failures,
            observations,
            pass: "every member refused the whole batch rather than commit the unannounced Add"
                .into(),
        });
        if refused {
            // The honest gateway proposes the announced joiner alone. A member the refused
            // batch left in another state than the others shows it here: a question of
            // agreement, not of who can decrypt.
            let name = self.seats[c].name.clone();
            let before = self.out.handshake_failures.len();
            self.group_round(&[c], &[], None)?;
            let failures: Vec<String> = self
                .out
                .handshake_failures
                .split_off(before)
                .into_iter()
                .map(|line| format!("after the refused batch, with {name} proposed alone: {line}"))
                .collect();
            let observations = if failures.is_empty() {
                vec![format!("{name} joined alone")]
            } else {
                Vec::new()
            };
            self.finish_probe(ProbeResult {
                name: "dave-recovers-after-refused-batch",
                question: Question::Agreement,
                failures,
                observations,
                pass: format!(
                    "every member accepted {name}'s Add proposed alone after the refused batch"
                ),
            });
        }
        Ok(())
    }

    /// Probe: the members are told the ghost connected, the joiner is not; its Welcome lists it.
    fn probe_welcome(&mut self, j: usize, g: usize) -> Res {
        let ghost_user = self.seats[g].user;
        for m in self.connected() {
            self.seats[m].recognized.insert(ghost_user);
            self.signal(m, ToClient::ClientsConnect(vec![ghost_user]));
        }
        if self.start_ghost(g)?.is_none() {
            return Ok(());
        }
        self.connect(&[j])?;
        let mut everyone: BTreeSet<u64> = self.seats[j].recognized.clone();
        everyone.insert(ghost_user);
        self.seats[g].recognized = everyone;
        self.welcome_probe = Some((j, g));
        self.group_round(&[j, g], &[], None)?;
        if let Some((joiner, _)) = self.welcome_probe.take() {
            self.note(format!(
                "{} got no Welcome: the probe was not asked",
                self.seats[joiner].name
            ));
        }
        Ok(())
    }

    fn judge_welcome_probe(&mut self, j: usize, g: usize, result: &Result<(), ParticipantError>) {
        let (who, ghost) = (self.who(j), self.seats[g].name.clone());
        let (failures, observations) = match result {
            Ok(()) => (
                vec![format!("{who} accepted a Welcome whose roster lists {ghost}, whom no op 11 announced to it")],
                Vec::new(),
            ),
            Err(e) => (Vec::new(), vec![format!("{who} refused the Welcome: {}", refusal(e))]),
        };
        self.finish_probe(ProbeResult {
            name: "dave-welcome-refuses-unrecognized",
            question: Question::ServerBlind,
            failures,
            observations,
            pass: format!(
                "the joiner refused a Welcome listing {ghost}, a user it was never told of"
            ),
        });
    }

    /// Probe: the gateway's own client, announced and added. Is it on every member's roster?
    fn probe_ghost_visible(&mut self, g: usize) -> Res {
        let ghost_user = self.seats[g].user;
        let ghost = self.seats[g].name.clone();
        let (mut failures, mut observations) = (Vec::new(), Vec::new());
        if !self.seats[g].member {
            observations.push(format!("{ghost} did not join"));
        }
        let mut codes = BTreeSet::new();
        for m in self.members() {
            let shown = match self.seats[m].participant.shown() {
                Ok(s) => s,
                Err(e) => {
                    gone(e)?;
                    continue;
                }
            };
            codes.insert(shown.code.clone());
            if m == g {
                continue;
            }
            let who = self.who(m);
            if shown
                .roster
                .as_ref()
                .is_some_and(|r| r.contains(&ghost_user))
            {
                observations.push(format!("{who} lists {ghost} among the members"));
            } else if self.seats[g].member {
                failures.push(format!(
                    "{who} shares keys with {ghost} but does not list it: {:?}",
                    shown.roster
                ));
            }
        }
        if codes.len() == 1 {
            observations.push(format!(
                "every member, {ghost} included, shows the same code: comparing codes does not reveal {ghost}"
            ));
        }
        // The pairwise fingerprint a user would compare with the ghost's "user": both sides
        // compute it from the keys in the tree, so it matches; it proves only that the member
        // talks to whoever holds the ghost's key, which is the gateway.
        if self.seats[g].member {
            for m in self.members().into_iter().filter(|&m| m != g) {
                let mine = self.seats[m].participant.fingerprint(ghost_user);
                let member_user = self.seats[m].user;
                let theirs = self.seats[g].participant.fingerprint(member_user);
                let who = self.who(m);
                match (mine, theirs) {
                    (Ok(Some(a)), Ok(Some(b))) if a == b => observations.push(format!(
                        "{who} and {ghost} compute the same pairwise verification code {}",
                        super::code::verification_code(&a).unwrap_or_default()
                    )),
                    (Ok(Some(_)), Ok(Some(_))) => observations.push(format!(
                        "{who} and {ghost} compute different pairwise fingerprints"
                    )),
                    (a, b) => {
                        for r in [a, b] {
                            if let Err(e) = r {
                                gone(e)?;
                            }
                        }
                        observations.push(format!("{who} or {ghost} gave no pairwise fingerprint"));
                    }
                }
            }
        }
        self.finish_probe(ProbeResult {
            name: "dave-ghost-visible",
            question: Question::ServerBlind,
            failures,
            observations,
            pass: format!(
                "the gateway's own client {ghost} joined (DAVE lets the gateway say who is connected) and \
                 is on every member's roster: a user reading the participant list sees it; codes agree"
            ),
        });
        Ok(())
    }

    /// Probe: the SFU replays a frame, flips a bit of its ciphertext and of its tag, injects a
    /// frame of its own and Opus silence, at every member.
    fn probe_tamper(&mut self) -> Res {
        let (mut failures, mut observations) = (Vec::new(), Vec::new());
        let members: Vec<usize> = self
            .members()
            .into_iter()
            .filter(|&m| !self.seats[m].ghost)
            .collect();
        let mut asked = false;
        for &r in &members {
            for &s in &members {
                let Some(f) =
                    self.frames.iter().rev().find(|f| {
                        f.sender == s && f.media == Media::Opus && f.entitled.contains(&r)
                    })
                else {
                    continue;
                };
                asked = true;
                let Some(parsed) = SecureFrame::parse(&f.sealed) else {
                    continue;
                };
                let mut body_flip = f.sealed.clone();
                body_flip[0] ^= 0x01;
                let mut tag_flip = f.sealed.clone();
                tag_flip[parsed.body_len] ^= 0x01;
                let tries: [(&str, Vec<u8>); 4] = [
                    ("a replay of", f.sealed.clone()),
                    ("a ciphertext bit flipped in", body_flip),
                    ("a tag bit flipped in", tag_flip),
                    (
                        "an SFU-made frame in place of",
                        b"from the SFU, not a DAVE frame".to_vec(),
                    ),
                ];
                let what = self.describe(f);
                let (sender, who) = (self.seats[s].user, self.who(r));
                for (how, bytes) in tries {
                    self.delivery.carry(
                        Some(self.step),
                        Kind::Application,
                        "the SFU",
                        bytes.clone(),
                    );
                    match self.seats[r]
                        .participant
                        .decrypt(sender, Media::Opus, &bytes)
                    {
                        Ok(Some(_)) => failures.push(format!("{who} accepted {how} {what}")),
                        Ok(None) => {}
                        Err(e) => {
                            gone(e)?;
                        }
                    }
                }
                match self.seats[r].participant.decrypt(sender, Media::Opus, &frame::OPUS_SILENCE) {
                    Ok(Some(p)) if p == frame::OPUS_SILENCE => observations.push(format!(
                        "{who} plays Opus silence injected as {}'s (DAVE passes it through by design)",
                        self.seats[s].name
                    )),
                    Ok(_) => observations.push(format!("{who} refused injected Opus silence")),
                    Err(e) => {
                        gone(e)?;
                    }
                }
            }
        }
        if asked {
            self.finish_probe(ProbeResult {
                name: "dave-frame-integrity",
                question: Question::Property("frame_integrity".into()),
                failures,
                observations,
                pass: "every member refused replayed, bit-flipped and SFU-made frames".into(),
            });
        }
        Ok(())
    }

    fn finish_probe(&mut self, probe: ProbeResult) {
        for line in probe.failures.iter().chain(&probe.observations) {
            self.out
                .log
                .push(format!("step {}: probe {}: {line}", self.step, probe.name));
        }
        let committed_a_ghost = probe
            .failures
            .iter()
            .any(|f| f.contains("committed the Add of"));
        if committed_a_ghost {
            self.out.abandoned = Some(format!(
                "{} failed: a member committed what it had to refuse",
                probe.name
            ));
        }
        self.out.probes.push(probe);
    }

    /// Every member sends an Opus and a VP8 frame; every other seat in the call tries each.
    fn media(&mut self) -> Res {
        for sender in self.members() {
            for media in [Media::Opus, Media::Vp8] {
                let n = self.frames.len();
                let canary = format!("dave-canary-{}-{n}", self.seats[sender].name).into_bytes();
                self.delivery.add_canary(canary.clone());
                let plain = match media {
                    // VP8 key frame: bit 0 of byte 0 clear; DAVE leaves its 10-byte header clear.
                    Media::Vp8 => [
                        &[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01][..],
                        &canary,
                        &[0u8; 24],
                    ]
                    .concat(),
                    Media::Opus => [&[0xfc][..], &canary, &[0x55u8; 12]].concat(),
                };
                let sealed = match self.seats[sender].participant.encrypt(media, &plain) {
                    Ok(Some(f)) => f,
                    Ok(None) => {
                        let line = format!(
                            "step {}: {} could not encrypt a {media:?} frame",
                            self.step, self.seats[sender].name
                        );
                        self.out.unread.push(line);
                        continue;
                    }
                    Err(e) => {
                        let e = gone(e)?;
                        self.out.unread.push(format!(
                            "step {}: {} refused to encrypt: {e}",
                            self.step, self.seats[sender].name
                        ));
                        continue;
                    }
                };
                self.carry_from(sender, Kind::Application, sealed.clone());
                let entitled: BTreeSet<usize> = self
                    .members()
                    .into_iter()
                    .filter(|&m| m != sender)
                    .collect();
                let frame = SentFrame {
                    step: self.step,
                    sender,
                    epoch: self.gateway.epoch,
                    media,
                    plain,
                    sealed,
                    entitled,
                };
                for viewer in 0..self.seats.len() {
                    if viewer != sender
                        && (self.seats[viewer].was_member || frame.entitled.contains(&viewer))
                    {
                        self.try_open(&frame, viewer)?;
                    }
                }
                self.frames.push(frame);
            }
        }
        Ok(())
    }

    fn describe(&self, f: &SentFrame) -> String {
        format!(
            "{}'s {:?} frame of step {} (epoch {})",
            self.seats[f.sender].name, f.media, f.step, f.epoch
        )
    }

    /// `viewer`'s client given `f`: what it opened, or its refusal; a gone sidecar stops the run.
    fn decrypt_as(
        &mut self,
        f: &SentFrame,
        viewer: usize,
    ) -> Result<Result<Option<Vec<u8>>, ParticipantError>, ParticipantError> {
        let sender = self.seats[f.sender].user;
        match self.seats[viewer]
            .participant
            .decrypt(sender, f.media, &f.sealed)
        {
            Ok(o) => Ok(Ok(o)),
            Err(e) => gone(e).map(Err),
        }
    }

    /// `viewer` tries `f`: members must open it, others must not.
    fn try_open(&mut self, f: &SentFrame, viewer: usize) -> Res {
        let opened = match self.decrypt_as(f, viewer)? {
            Ok(o) => o,
            Err(e) => {
                if f.entitled.contains(&viewer) {
                    self.out.unread.push(format!(
                        "step {}: {} could not open {}: {e}",
                        self.step,
                        self.seats[viewer].name,
                        self.describe(f)
                    ));
                    self.out.owed += 1;
                }
                return Ok(());
            }
        };
        let name = self.seats[viewer].name.clone();
        if self.seats[viewer].ghost {
            if opened.is_some() {
                self.out.ghost_reads.push(format!(
                    "the gateway's own client {name} opened {}",
                    self.describe(f)
                ));
            }
        } else if f.entitled.contains(&viewer) {
            self.out.owed += 1;
            match opened {
                Some(p) if p == f.plain => {}
                Some(_) => self.out.unread.push(format!(
                    "step {}: {name} opened {} to other bytes",
                    self.step,
                    self.describe(f)
                )),
                None => self.out.unread.push(format!(
                    "step {}: {name} could not open {}",
                    self.step,
                    self.describe(f)
                )),
            }
        } else if self.seats[viewer].was_member {
            self.out.removed_attempts += 1;
            if opened.is_some() {
                self.out.removed_leaks.push(format!(
                    "step {}: {name}, removed, opened {}",
                    self.step,
                    self.describe(f)
                ));
            }
        } else {
            self.out.joiner_attempts += 1;
            if opened.is_some() {
                self.out.joiner_leaks.push(format!(
                    "step {}: {name} opened {}, sent before it joined",
                    self.step,
                    self.describe(f)
                ));
            }
        }
        Ok(())
    }

    /// Joiners try everything sent before they joined; the gateway searches its transcript.
    fn finish(&mut self) {
        if self.out.stop.is_none() {
            let frames = std::mem::take(&mut self.frames);
            'frames: for (index, f) in frames.iter().enumerate() {
                for viewer in 0..self.seats.len() {
                    let joined_later = self.seats[viewer]
                        .joined_at_frame
                        .is_some_and(|j| index < j);
                    if viewer != f.sender && joined_later {
                        if let Err(e) = self.try_open_as_joiner(f, viewer) {
                            self.out.stop = Some(e.to_string());
                            break 'frames;
                        }
                    }
                }
            }
            self.frames = frames;
        }
        self.search_transcript();
    }

    fn try_open_as_joiner(&mut self, f: &SentFrame, viewer: usize) -> Res {
        let opened = self.decrypt_as(f, viewer)?.unwrap_or(None);
        self.out.joiner_attempts += 1;
        if opened.is_some() {
            self.out.joiner_leaks.push(format!(
                "{} opened {}, sent before it joined",
                self.seats[viewer].name,
                self.describe(f)
            ));
        }
        Ok(())
    }

    /// Every 16-byte window of every message the gateway carried, as an AES key and as a
    /// sender's base secret, against one frame of each sender and epoch; and every canary.
    fn search_transcript(&mut self) {
        self.delivery.analyse();
        let mut findings = std::mem::take(&mut self.delivery.findings);
        let mut targets: Vec<&SentFrame> = Vec::new();
        for f in &self.frames {
            if !targets
                .iter()
                .any(|t| t.sender == f.sender && t.epoch == f.epoch)
            {
                targets.push(f);
            }
        }
        let generations: Vec<u32> = targets
            .iter()
            .map(|t| SecureFrame::parse(&t.sealed).map_or(0, |p| p.generation()))
            .collect();
        let mut windows = 0;
        for r in &self.delivery.records {
            if r.bytes.len() < 16 {
                continue;
            }
            for (off, w) in r.bytes.windows(16).enumerate() {
                windows += 1;
                let as_key: [u8; 16] = w.try_into().expect("16-byte window");
                for (t, &g) in targets.iter().zip(&generations) {
                    let as_base = frame::ratchet_key(w, g);
                    for (key, how) in [(&as_key, "as an AES key"), (&as_base, "as a base secret")] {
                        if frame::open(key, &t.sealed).is_some() {
                            findings.push(format!(
                                "{} opened with bytes {off}..{} of the {} {} sent at step {} ({how})",
                                self.describe(t),
                                off + 16,
                                r.kind.name(),
                                r.from,
                                r.step.unwrap_or(0)
                            ));
                        }
                    }
                }
            }
        }
        findings.dedup();
        self.out.transcript_bytes = self.delivery.bytes();
        self.out.windows_tried = windows;
        self.out.frames_targeted = targets.len();
        findings.extend(self.out.ghost_reads.iter().cloned());
        self.out.gateway_findings = findings;
    }
}

/// An implementation's refusal in its own words.
fn refusal(e: &ParticipantError) -> String {
    match e {
        ParticipantError::Refused { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}
