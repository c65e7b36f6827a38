//! What a live call must show, judged from the SFU's record and what each participant saw:
//! 1. nothing in the SFU's record opens under anything it holds, no canary and no member's key
//!    occurs in it (`server_blind`);
//! 2. every participant opened every frame sent while it was a member (outside the grace window
//!    around epoch changes) (`members_read`);
//! 3. a removed participant, still fed by the SFU, opens nothing sent after its removal (plus
//!    the window) (`removed_blind`);
//! 4. a joiner opens nothing sent before its join (minus the window) (`joiner_blind`).
//!
//! A check whose question was never asked (nothing carried, no pair owed, nobody removed or
//! fed after removal, nobody joined or fed from before a join) is not applicable, never a pass.
//!
//! Every check reads the same [`CallFacts`], gathered once from the call; `latency` measures
//! each membership change's rotation latency from them.

mod joiner_blind;
mod latency;
mod members_read;
mod removed_blind;
mod server_blind;
#[cfg(test)]
mod tests;

pub use latency::Latency;

use super::call::{CallOutcome, Event};
use super::media::MediaKind;
use super::script::EventKind;
use super::sfu::Committed;
use crate::results::{Check, PartyVerdict, Question, Scope, Verdict};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// Per participant: frames sent, received, opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub sent: usize,
    pub received: usize,
    pub opened: usize,
}

/// The judged call.
#[derive(Debug)]
pub struct Judged {
    pub checks: Vec<Check>,
    pub tallies: BTreeMap<String, Tally>,
    /// Per membership change, how long until the last member was on the new epoch (None if
    /// some member never got there).
    pub latencies: Vec<Latency>,
}

/// A frame as its sender logged it.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub sender: &'a str,
    pub kind: MediaKind,
    pub at: Duration,
}

/// A committed membership change and when it took effect.
#[derive(Clone, Copy, Debug)]
pub struct Effective<'a> {
    pub committed: &'a Committed,
    /// The committer's first new epoch after the request, or the SFU's clock of the commit.
    pub at: Duration,
    /// The epoch it made (None if it made none, as under the no-rotate control).
    pub epoch: Option<u64>,
}

/// A frame some participant was fed, with its sender's record of it.
#[derive(Clone, Copy, Debug)]
pub struct Reception<'a> {
    pub who: &'a String,
    pub frame: u64,
    pub sent: Frame<'a>,
    pub opened: bool,
    /// Opened later, from the buffer of frames waiting for a key.
    pub retried: bool,
}

/// What every check reads, gathered once from the call.
#[derive(Debug)]
pub struct CallFacts<'a> {
    pub call: &'a CallOutcome,
    pub scope: Scope,
    pub grace: Duration,
    /// When each participant joined (the creator) or processed its Welcome.
    pub joined: HashMap<&'a str, Duration>,
    /// Every member's media key of every epoch, with whose it is.
    pub keys: HashMap<Vec<u8>, String>,
    pub frames: HashMap<u64, Frame<'a>>,
    /// Each member's epochs, in the order it reached them.
    pub epochs: HashMap<&'a str, Vec<(u64, Duration)>>,
    pub tallies: BTreeMap<String, Tally>,
    /// The participants' own errors, and who had them.
    pub errors: Vec<String>,
    pub erred: HashSet<String>,
    /// The SFU's committed changes, in order, with when each took effect.
    pub committed: Vec<Effective<'a>>,
    /// Who left or was kicked, and when that took effect.
    pub removed: HashMap<&'a str, Duration>,
    /// Who was added by a commit, and when that took effect.
    pub added: HashMap<&'a str, Duration>,
    /// Those who joined after the call began (the script's first event) and were added.
    pub joiners: HashSet<&'a str>,
    /// When the script ends.
    pub end: Duration,
}

impl<'a> CallFacts<'a> {
    pub fn new(call: &'a CallOutcome, subject: &str) -> CallFacts<'a> {
        let scope = Scope::Live {
            call: subject.to_string(),
            participant: None,
            control: call.control.map(|c| c.name().to_string()),
        };
        let mut facts = CallFacts {
            call,
            scope,
            grace: Duration::from_millis(call.script.grace_ms),
            joined: HashMap::new(),
            keys: HashMap::new(),
            frames: HashMap::new(),
            epochs: HashMap::new(),
            tallies: BTreeMap::new(),
            errors: Vec::new(),
            erred: HashSet::new(),
            committed: Vec::new(),
            removed: HashMap::new(),
            added: HashMap::new(),
            joiners: HashSet::new(),
            end: Duration::from_millis(call.script.end_ms()),
        };
        for e in &call.events {
            facts.log(e);
        }
        let committed: Vec<Effective<'a>> =
            call.sfu.committed.iter().map(|c| facts.effect(c)).collect();
        for c in &committed {
            let change = &c.committed.change;
            match change.kind {
                EventKind::Leave | EventKind::Kick => {
                    facts.removed.insert(&change.who, c.at);
                }
                EventKind::Join => {
                    facts.added.insert(&change.who, c.at);
                }
                _ => {}
            }
        }
        facts.committed = committed;
        // Check 4 asks its question of those who joined after the call began and were added;
        // those who join with the creator are judged, but ask nothing.
        let first_event = call.script.events.first().map_or(0, |e| e.at_ms);
        facts.joiners = call
            .script
            .events
            .iter()
            .filter(|e| e.kind == EventKind::Join && e.at_ms > first_event)
            .map(|e| e.participant.as_str())
            .filter(|who| facts.added.contains_key(who))
            .collect();
        facts
    }

    /// Takes in one participant event.
    fn log(&mut self, e: &'a Event) {
        match e {
            Event::Joined { who, at } => {
                self.joined.entry(who).or_insert(*at);
            }
            Event::Epoch {
                who,
                epoch,
                key,
                at,
            } => {
                self.epochs.entry(who).or_default().push((*epoch, *at));
                self.keys
                    .entry(key.clone())
                    .or_insert_with(|| format!("{who}'s media key of epoch {epoch}"));
            }
            Event::Sent {
                who,
                kind,
                at,
                frame,
            } => {
                let sent = Frame {
                    sender: who,
                    kind: *kind,
                    at: *at,
                };
                self.frames.insert(*frame, sent);
                self.tallies.entry(who.clone()).or_default().sent += 1;
            }
            Event::Received {
                who,
                opened,
                retried,
                ..
            } => {
                let t = self.tallies.entry(who.clone()).or_default();
                t.received += usize::from(!retried);
                t.opened += usize::from(*opened);
            }
            Event::Error { who, what } => {
                self.erred.insert(who.clone());
                self.errors.push(format!("{who}: {what}"));
            }
        }
    }

    /// When a change took effect and the epoch it made: the committer's first new epoch after
    /// the request, as the committer logged it. The SFU's own clock of the commit can lag (it
    /// serves every connection from one task), so it is only the fallback (a commit that made
    /// no epoch, as under the no-rotate control).
    fn effect(&self, c: &'a Committed) -> Effective<'a> {
        let made = self.epochs.get(c.committer.as_str()).and_then(|es| {
            es.iter()
                .find(|&&(_, at)| at >= c.requested && at <= c.at)
                .copied()
        });
        let (at, epoch) = made.map_or((c.at, None), |(epoch, at)| (at, Some(epoch)));
        Effective {
            committed: c,
            at,
            epoch,
        }
    }

    /// Every frame a participant was fed whose sender logged it.
    pub fn receptions(&self) -> impl Iterator<Item = Reception<'a>> + '_ {
        self.call.events.iter().filter_map(|e| {
            let Event::Received {
                who,
                frame,
                opened,
                retried,
                ..
            } = e
            else {
                return None;
            };
            Some(Reception {
                who,
                frame: *frame,
                sent: *self.frames.get(frame)?,
                opened: *opened,
                retried: *retried,
            })
        })
    }

    /// Frames near an epoch change, or still in flight when the call ends, are not judged.
    pub fn near_change(&self, t: Duration) -> bool {
        let grace = self.grace;
        t + grace >= self.end
            || self
                .committed
                .iter()
                .any(|c| t + grace >= c.at && t <= c.at + grace)
    }

    /// Was `who` a member at `at`, by the grace window on both sides?
    pub fn member_at(&self, who: &str, at: Duration) -> bool {
        self.joined.get(who).is_some_and(|&j| j + self.grace <= at)
            && self.removed.get(who).is_none_or(|&r| at + self.grace <= r)
    }

    pub fn grace_ms(&self) -> u64 {
        self.call.script.grace_ms
    }

    /// A check whose question was asked: pass without failures, else fail with them as the
    /// evidence.
    pub fn asked(
        &self,
        question: Question,
        name: &str,
        failures: &[String],
        pass: String,
    ) -> Check {
        Check::from_failures(self.scope.clone(), question, name, failures, pass)
    }

    /// A participant-side check asked: as [`Self::asked`], each participant failing where a
    /// failure is theirs.
    pub fn asked_of(
        &self,
        question: Question,
        name: &str,
        failures: &[String],
        pass: String,
        at_fault: &HashSet<String>,
    ) -> Check {
        let mut check = self.asked(question, name, failures, pass);
        check.parties = self.parties(at_fault);
        check
    }

    /// Each participant's share of a call-wide check: fail where a failure is theirs.
    fn parties(&self, at_fault: &HashSet<String>) -> Vec<PartyVerdict> {
        self.tallies
            .keys()
            .map(|who| PartyVerdict {
                party: who.clone(),
                verdict: if at_fault.contains(who) {
                    Verdict::Fail
                } else {
                    Verdict::Pass
                },
            })
            .collect()
    }

    /// A check whose question the call never asked: not applicable, saying why.
    pub fn unasked(&self, question: Question, name: &str, reason: String) -> Check {
        Check::new(
            self.scope.clone(),
            question,
            name,
            Verdict::NotApplicable,
            reason,
        )
    }
}

/// The checks, in the order they are reported.
const CHECKS: [fn(&CallFacts) -> Check; 4] = [
    server_blind::judge,
    members_read::judge,
    removed_blind::judge,
    joiner_blind::judge,
];

pub fn judge(call: &CallOutcome, subject: &str) -> Judged {
    let facts = CallFacts::new(call, subject);
    let latencies = latency::latencies(&facts);
    let mut checks: Vec<Check> = CHECKS.iter().map(|judge| judge(&facts)).collect();
    for c in &mut checks {
        for (who, t) in &facts.tallies {
            c.figures.insert(format!("{who}.sent"), t.sent as f64);
            c.figures
                .insert(format!("{who}.received"), t.received as f64);
            c.figures.insert(format!("{who}.opened"), t.opened as f64);
            c.figures
                .insert(format!("{who}.failed"), (t.received - t.opened) as f64);
        }
        c.figures
            .insert("grace_ms".into(), call.script.grace_ms as f64);
        for l in &latencies {
            if let Some(d) = l.from_event {
                c.figures
                    .insert(format!("latency_ms.{}", l.change), d.as_secs_f64() * 1000.0);
            }
        }
    }
    Judged {
        checks,
        tallies: facts.tallies,
        latencies,
    }
}
