//! What a live call must show, judged from the SFU's record and what each participant saw:
//! 1. nothing in the SFU's record opens under anything it holds, no canary and no member's key
//!    occurs in it;
//! 2. every participant opened every frame sent while it was a member (outside the grace window
//!    around epoch changes);
//! 3. a removed participant, still fed by the SFU, opens nothing sent after its removal (plus
//!    the window);
//! 4. a joiner opens nothing sent before its join (minus the window).
//!
//! A check whose question was never asked (nothing carried, no pair owed, nobody removed or
//! fed after removal, nobody joined or fed from before a join) is not applicable, never a pass.

use super::call::{CallOutcome, Event};
use super::media::{MediaKind, BASE_KEY_LEN};
use super::record::{self, Carried};
use super::script::EventKind;
use crate::clients::sframe::Sframe;
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

/// One membership change's rotation latency.
#[derive(Clone, Debug)]
pub struct Latency {
    /// "join p007", "leave p003", ...
    pub change: String,
    /// From the script's event (a join includes connecting: ICE, DTLS, the data channel).
    pub from_event: Option<Duration>,
    /// From the request reaching the SFU (the delivery service's part: commit, fan-out, apply).
    pub from_request: Option<Duration>,
}

/// A call-wide check: pass without failures, else fail with them as the evidence.
fn check(
    scope: &Scope,
    question: Question,
    name: &str,
    failures: &[String],
    pass: String,
) -> Check {
    Check::from_failures(scope.clone(), question, name, failures, pass)
}

/// Each participant's share of a call-wide check: fail where a failure is theirs.
fn parties<'a>(
    everyone: impl Iterator<Item = &'a String>,
    at_fault: &HashSet<String>,
) -> Vec<PartyVerdict> {
    everyone
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
fn unasked(scope: &Scope, question: Question, name: &str, reason: String) -> Check {
    Check::new(
        scope.clone(),
        question,
        name,
        Verdict::NotApplicable,
        reason,
    )
}

pub fn judge(call: &CallOutcome, subject: &str) -> Judged {
    let scope = Scope::Live {
        call: subject.to_string(),
        participant: None,
        control: call.control.map(|c| c.name().to_string()),
    };
    // Who each participant-side failure is about, for the per-participant matrix.
    let mut at_fault: [HashSet<String>; 3] = Default::default();
    let grace = Duration::from_millis(call.script.grace_ms);
    let mut joined: HashMap<&str, Duration> = HashMap::new();
    let mut keys: HashMap<Vec<u8>, String> = HashMap::new();
    let mut frames: HashMap<u64, (&str, MediaKind, Duration)> = HashMap::new();
    // Each member's epochs, in the order it reached them.
    let mut epochs: HashMap<&str, Vec<(u64, Duration)>> = HashMap::new();
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut errors = Vec::new();
    for e in &call.events {
        match e {
            Event::Joined { who, at } => {
                joined.entry(who).or_insert(*at);
            }
            Event::Epoch {
                who,
                epoch,
                key,
                at,
            } => {
                epochs.entry(who).or_default().push((*epoch, *at));
                keys.entry(key.clone())
                    .or_insert_with(|| format!("{who}'s media key of epoch {epoch}"));
            }
            Event::Sent {
                who,
                kind,
                at,
                frame,
            } => {
                frames.insert(*frame, (who, *kind, *at));
                tallies.entry(who.clone()).or_default().sent += 1;
            }
            Event::Received {
                who,
                opened,
                retried,
                ..
            } => {
                let t = tallies.entry(who.clone()).or_default();
                t.received += usize::from(!retried);
                t.opened += usize::from(*opened);
            }
            Event::Error { who, what } => {
                at_fault[0].insert(who.clone());
                errors.push(format!("{who}: {what}"));
            }
        }
    }
    // When each change took effect and the epoch it made: the committer's first new epoch after
    // the request, as the committer logged it. The SFU's own clock of the commit can lag (it
    // serves every connection from one task), so it is only the fallback (a commit that made
    // no epoch, as under the no-rotate control).
    let committed: Vec<(Duration, Option<u64>)> = call
        .sfu
        .committed
        .iter()
        .map(|c| {
            let made = epochs.get(c.committer.as_str()).and_then(|es| {
                es.iter()
                    .find(|&&(_, at)| at >= c.requested && at <= c.at)
                    .copied()
            });
            made.map_or((c.at, None), |(epoch, at)| (at, Some(epoch)))
        })
        .collect();
    let removed: HashMap<String, Duration> = call
        .sfu
        .committed
        .iter()
        .zip(&committed)
        .filter_map(|(c, &(at, _))| {
            let (what, who) = c.change.split_once(' ')?;
            matches!(what, "leave" | "kick").then(|| (who.to_string(), at))
        })
        .collect();
    let added: HashMap<&str, Duration> = call
        .sfu
        .committed
        .iter()
        .zip(&committed)
        .filter_map(|(c, &(at, _))| Some((c.change.strip_prefix("join ")?, at)))
        .collect();
    // Check 4 asks its question of those who joined after the call began (the script's first
    // event) and were added; those who join with the creator are judged, but ask nothing.
    let first_event = call.script.events.first().map_or(0, |e| e.at_ms);
    let joiners: HashSet<&str> = call
        .script
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Join && e.at_ms > first_event)
        .map(|e| e.participant.as_str())
        .filter(|who| added.contains_key(who))
        .collect();
    let changes: Vec<Duration> = committed.iter().map(|&(at, _)| at).collect();
    // Frames near an epoch change, or still in flight when the call ends, are not judged.
    let end = Duration::from_millis(call.script.end_ms());
    let near_change = |t: Duration| {
        t + grace >= end || changes.iter().any(|c| t + grace >= *c && t <= *c + grace)
    };

    // 1. The SFU.
    let sframe = Sframe::new();
    let server = record::server_checks(&call.sfu.record, &sframe);
    let mut sfu_failures = server.canaries.clone();
    for (i, p) in call.sfu.record.packets.iter().enumerate() {
        let bytes = match &p.carried {
            Carried::Rtp(b) | Carried::Ds(b) => b,
        };
        for w in bytes.windows(BASE_KEY_LEN) {
            if let Some(what) = keys.get(w) {
                sfu_failures.push(format!("{what} occurs in packet {i} of the SFU's record"));
                break;
            }
        }
    }
    sfu_failures.dedup();
    sfu_failures.extend(server.decrypted.iter().cloned());
    let sfu_name = "the SFU opens nothing it carried";
    let sfu = if sfu_failures.is_empty() && server.frames == 0 {
        unasked(
            &scope,
            Question::ServerBlind,
            sfu_name,
            format!(
                "the SFU carried no frame: nothing to open ({} delivery-service messages \
                 recorded, no canary and no member key ({}) in them)",
                server.ds_messages,
                keys.len()
            ),
        )
    } else {
        check(
            &scope,
            Question::ServerBlind,
            sfu_name,
            &sfu_failures,
            format!(
                "{} frames and {} delivery-service messages recorded; {} key-sized windows of what \
                 the SFU was given tried as the base key of all {} epochs ({} sender-epochs); no \
                 canary, no member key ({}) in the record",
                server.frames,
                server.ds_messages,
                server.candidate_keys,
                server.epochs,
                server.kids,
                keys.len()
            ),
        )
    };

    // 2-4. The participants.
    let mut missed = Vec::new();
    let mut after_removal = Vec::new();
    let mut before_join = Vec::new();
    let mut opened_by: HashSet<(&str, u64)> = HashSet::new();
    let (mut expected, mut fed_removed, mut fed_early) = (0usize, 0usize, 0usize);
    let mut fed_joiners: HashSet<&str> = HashSet::new();
    for e in &call.events {
        let Event::Received {
            who,
            frame,
            opened,
            retried,
            ..
        } = e
        else {
            continue;
        };
        let Some(&(sender, kind, at)) = frames.get(frame) else {
            continue;
        };
        if *opened {
            opened_by.insert((who, *frame));
        }
        if let Some(&gone) = removed.get(who) {
            if at >= gone + grace {
                // Fed once: a retry is the same frame opened later.
                fed_removed += usize::from(!retried);
                if *opened {
                    at_fault[1].insert(who.clone());
                    after_removal.push(format!(
                        "{who} (removed at {gone:.2?}) opened {sender}'s {} frame sent at {at:.2?}",
                        kind.name()
                    ));
                }
            }
        }
        // A joiner's first epoch starts at the commit that adds it (it may process the Welcome
        // later); the call's creator starts at its own join.
        let start = added.get(who.as_str()).or(joined.get(who.as_str()));
        match start {
            Some(&j) if at + grace <= j => {
                if !retried && joiners.contains(who.as_str()) {
                    fed_early += 1;
                    fed_joiners.insert(who.as_str());
                }
                if *opened {
                    at_fault[2].insert(who.clone());
                    before_join.push(format!(
                        "{who} (added at {j:.2?}) opened {sender}'s {} frame sent at {at:.2?}",
                        kind.name()
                    ));
                }
            }
            _ => {}
        }
    }
    let member_at = |who: &str, at: Duration| {
        joined.get(who).is_some_and(|&j| j + grace <= at)
            && removed.get(who).is_none_or(|&r| at + grace <= r)
    };
    let mut unforwarded = 0usize;
    for (frame, &(sender, kind, at)) in &frames {
        // Only frames from members are owed to the others.
        if near_change(at) || !member_at(sender, at) {
            continue;
        }
        // Nor those the SFU had no slot for (it says which).
        if call.sfu.unforwarded.contains(frame) {
            unforwarded += 1;
            continue;
        }
        for who in joined.keys() {
            if *who == sender || !member_at(who, at) {
                continue;
            }
            expected += 1;
            if !opened_by.contains(&(*who, *frame)) {
                at_fault[0].insert(who.to_string());
                missed.push(format!(
                    "{who} did not open {sender}'s {} frame sent at {at:.2?}",
                    kind.name()
                ));
            }
        }
    }
    missed.sort();
    let members_name = "members open every frame sent while they are members";
    let not_judged = if unforwarded > 0 {
        format!(
            " ({unforwarded} frames from members not judged: the SFU had no free slot of the {} \
             for their sender)",
            call.script.slots
        )
    } else {
        String::new()
    };
    let member_failures: Vec<String> = errors.iter().chain(&missed).cloned().collect();
    let members = if member_failures.is_empty() && expected == 0 {
        unasked(
            &scope,
            Question::MembersRead,
            members_name,
            format!(
                "no frame was owed to a member: none sent by a member while another was one, \
                 outside the {} ms grace window around the {} epoch changes{not_judged}",
                call.script.grace_ms,
                changes.len(),
            ),
        )
    } else {
        check(
            &scope,
            Question::MembersRead,
            members_name,
            &member_failures,
            format!(
                "{expected} (frame, member) pairs outside the {} ms grace window around the {} \
                 epoch changes: all opened{not_judged}",
                call.script.grace_ms,
                changes.len(),
            ),
        )
    };
    let removed_name = "removed participants open nothing newer";
    let removed_check = if removed.is_empty() {
        unasked(
            &scope,
            Question::RemovedBlind,
            removed_name,
            "nobody left or was kicked".into(),
        )
    } else if after_removal.is_empty() && fed_removed == 0 {
        unasked(
            &scope,
            Question::RemovedBlind,
            removed_name,
            format!(
                "the SFU fed the {} removed participants no frame sent after their removal \
                 (+{} ms)",
                removed.len(),
                call.script.grace_ms
            ),
        )
    } else {
        check(
            &scope,
            Question::RemovedBlind,
            removed_name,
            &after_removal,
            format!(
                "the SFU fed the {} removed participants {fed_removed} frames sent after their \
                 removal (+{} ms): none opened",
                removed.len(),
                call.script.grace_ms
            ),
        )
    };
    let joiners_name = "joiners open nothing older";
    let joiners_check = if !before_join.is_empty() || fed_early > 0 {
        check(
            &scope,
            Question::JoinerBlind,
            joiners_name,
            &before_join,
            format!(
                "{fed_early} frames sent before a join (−{} ms) reached {} of the {} joiners: \
                 none opened",
                call.script.grace_ms,
                fed_joiners.len(),
                joiners.len()
            ),
        )
    } else if joiners.is_empty() {
        unasked(
            &scope,
            Question::JoinerBlind,
            joiners_name,
            "nobody joined after the call began".into(),
        )
    } else {
        unasked(
            &scope,
            Question::JoinerBlind,
            joiners_name,
            format!(
                "no frame sent before a join (−{} ms) reached any of the {} joiners",
                call.script.grace_ms,
                joiners.len()
            ),
        )
    };

    // Rotation latency: script event to the last member on the epoch its commit made.
    let mut latencies = Vec::new();
    for (c, &(_, made)) in call.sfu.committed.iter().zip(&committed) {
        let Some((what, who)) = c.change.split_once(' ') else {
            continue;
        };
        let kind = match what {
            "join" => EventKind::Join,
            "leave" => EventKind::Leave,
            "kick" => EventKind::Kick,
            _ => EventKind::Rotate,
        };
        let Some(&(fired, ..)) = call.fired.iter().find(|(_, k, p)| *k == kind && p == who) else {
            continue;
        };
        let Some(epoch) = made else { continue };
        let members_after: Vec<&str> = joined
            .keys()
            .copied()
            .filter(|m| removed.get(*m).is_none_or(|&r| r > c.at))
            .filter(|m| joined[m] <= c.at || (kind == EventKind::Join && *m == who))
            .collect();
        let mut last = Some(Duration::ZERO);
        for m in members_after {
            let reached = epochs
                .get(m)
                .and_then(|es| es.iter().find_map(|&(ep, at)| (ep >= epoch).then_some(at)));
            last = match (last, reached) {
                (Some(l), Some(r)) => Some(l.max(r)),
                _ => None,
            };
        }
        latencies.push(Latency {
            change: c.change.clone(),
            from_event: last.map(|l| l.saturating_sub(fired)),
            from_request: last.map(|l| l.saturating_sub(c.requested)),
        });
    }
    let mut checks = vec![sfu, members, removed_check, joiners_check];
    for (c, at_fault) in checks[1..].iter_mut().zip(&at_fault) {
        if matches!(c.verdict, Verdict::Pass | Verdict::Fail) {
            c.parties = parties(tallies.keys(), at_fault);
        }
    }
    for c in &mut checks {
        for (who, t) in &tallies {
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
        tallies,
        latencies,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::script;
    use crate::live::sfu::{Committed, SfuReport};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// `a` alone from 0; with `b`, `b` joins at 1000 and leaves at 3000.
    fn outcome(with_b: bool, events: Vec<Event>) -> CallOutcome {
        let mut text = String::from(
            "committer = \"designated\"\ngrace_ms = 300\n\
             [[participant]]\nname = \"a\"\nclient = \"openmls\"\n\
             [[participant]]\nname = \"b\"\nclient = \"mls-rs\"\n\
             [[event]]\nat_ms = 0\naction = \"join\"\nparticipant = \"a\"\n",
        );
        let mut committed = Vec::new();
        if with_b {
            text += "[[event]]\nat_ms = 1000\naction = \"join\"\nparticipant = \"b\"\n\
                     [[event]]\nat_ms = 3000\naction = \"leave\"\nparticipant = \"b\"\n";
            for (at, change) in [(1200, "join b"), (3100, "leave b")] {
                committed.push(Committed {
                    at: ms(at),
                    committer: "a".into(),
                    change: change.into(),
                    requested: ms(at - 10),
                });
            }
        }
        let mut all = vec![
            Event::Joined {
                who: "a".into(),
                at: ms(100),
            },
            Event::Epoch {
                who: "a".into(),
                epoch: 0,
                key: vec![0; BASE_KEY_LEN],
                at: ms(100),
            },
        ];
        if with_b {
            all.push(Event::Joined {
                who: "b".into(),
                at: ms(1205),
            });
        }
        all.extend(events);
        CallOutcome {
            script: script::parse("t", &text, &["openmls", "mls-rs"]).unwrap(),
            events: all,
            sfu: SfuReport {
                committed,
                ..Default::default()
            },
            control: None,
            fired: Vec::new(),
        }
    }

    /// `a` sends frame `frame` at `sent`; `b` receives it, opened or not.
    fn fed(frame: u64, sent: u64, opened: bool) -> [Event; 2] {
        [
            Event::Sent {
                who: "a".into(),
                kind: MediaKind::Audio,
                at: ms(sent),
                frame,
            },
            Event::Received {
                who: "b".into(),
                kind: MediaKind::Audio,
                at: ms(sent + 5).max(ms(1150)),
                frame,
                opened,
                retried: false,
            },
        ]
    }

    fn verdicts(j: &Judged) -> Vec<(Verdict, &str)> {
        j.checks
            .iter()
            .map(|c| (c.verdict, c.reason.as_str()))
            .collect()
    }

    #[test]
    fn a_check_never_asked_is_not_applicable_and_says_why() {
        // Alone: nothing carried, nobody owed a frame, nobody removed, nobody joined.
        let j = judge(&outcome(false, Vec::new()), "t");
        let v = verdicts(&j);
        assert!(v.iter().all(|(v, _)| *v == Verdict::NotApplicable), "{v:?}");
        assert!(v[0].1.starts_with("the SFU carried no frame"), "{}", v[0].1);
        assert!(
            v[1].1.starts_with("no frame was owed to a member"),
            "{}",
            v[1].1
        );
        assert_eq!(v[2].1, "nobody left or was kicked");
        assert_eq!(v[3].1, "nobody joined after the call began");
        // b joins and leaves, fed nothing from before its join or after its removal; one
        // frame is owed to it and opened.
        let j = judge(&outcome(true, fed(1, 2000, true).into()), "t");
        let v = verdicts(&j);
        assert_eq!(v[1].0, Verdict::Pass, "{}", v[1].1);
        assert!(v[1].1.starts_with("1 (frame, member) pairs"), "{}", v[1].1);
        assert_eq!(v[2].0, Verdict::NotApplicable);
        assert_eq!(
            v[2].1,
            "the SFU fed the 1 removed participants no frame sent after their removal (+300 ms)"
        );
        assert_eq!(v[3].0, Verdict::NotApplicable);
        assert_eq!(
            v[3].1,
            "no frame sent before a join (−300 ms) reached any of the 1 joiners"
        );
    }

    #[test]
    fn a_check_asked_passes_or_fails() {
        // b is fed a frame from before its join and one from after its removal; opens neither.
        let mut events: Vec<Event> = fed(1, 500, false).into();
        events.extend(fed(2, 2000, true));
        events.extend(fed(3, 3600, false));
        let j = judge(&outcome(true, events.clone()), "t");
        let v = verdicts(&j);
        assert_eq!(v[2].0, Verdict::Pass, "{}", v[2].1);
        assert!(v[2].1.contains(" 1 frames sent after"), "{}", v[2].1);
        assert_eq!(v[3].0, Verdict::Pass, "{}", v[3].1);
        assert_eq!(
            v[3].1,
            "1 frames sent before a join (−300 ms) reached 1 of the 1 joiners: none opened"
        );
        // Opening the old frame later (a key from history) fails check 4, naming b.
        events.push(Event::Received {
            who: "b".into(),
            kind: MediaKind::Audio,
            at: ms(1300),
            frame: 1,
            opened: true,
            retried: true,
        });
        let j = judge(&outcome(true, events), "t");
        let c = &j.checks[3];
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(
            c.reason
                .starts_with("b (added at 1.20s) opened a's audio frame sent at 500"),
            "{}",
            c.reason
        );
        // Counted once: the retry is not a second frame fed.
        assert_eq!(j.tallies["b"].received, 3);
    }
}
