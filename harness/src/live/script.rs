//! A live call's script: who takes part (and with which MLS client), who may commit, and a
//! timeline of membership and media events. TOML, so a person can write one:
//!
//! ```toml
//! committer = "designated"   # Orange Meets: one member commits; "any": DAVE, anyone does
//! grace_ms = 500             # frames this close to an epoch change are not judged
//! slots = 8                  # the SFU forwards this many senders of each kind to everyone
//!
//! [[participant]]
//! name = "alice"
//! client = "openmls"
//! speaks = true              # sends audio and video (false: listens only)
//!
//! [[event]]
//! at_ms = 0
//! action = "join"            # join | leave | kick | rotate | mute | unmute
//! participant = "alice"
//! ```
//!
//! `kick` is a server-initiated removal (the SFU asks the committer to remove); `rotate` is a
//! self-update. A call ends `tail_ms` after its last event. Errors name the line.

use serde::Deserialize;
use std::collections::BTreeSet;
use std::ops::Range;
use toml::Spanned;

/// What is wrong with a script, with the line it is on (1-based) where there is one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ScriptError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

/// Who commits membership changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum CommitterPolicy {
    /// One member (the longest-standing) commits every change, as Orange Meets does.
    Designated,
    /// Any member commits; the SFU orders commits and the first of an epoch wins (DAVE).
    Any,
}

/// A membership or media event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    Join,
    Leave,
    Kick,
    Rotate,
    Mute,
    Unmute,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Join => "join",
            EventKind::Leave => "leave",
            EventKind::Kick => "kick",
            EventKind::Rotate => "rotate",
            EventKind::Mute => "mute",
            EventKind::Unmute => "unmute",
        }
    }

    /// Does it change the group's epoch?
    pub fn rekeys(self) -> bool {
        matches!(
            self,
            EventKind::Join | EventKind::Leave | EventKind::Kick | EventKind::Rotate
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Participant {
    pub name: String,
    /// The MLS client playing it (`openmls`, `mls-rs`).
    pub client: String,
    /// Sends audio and video; a listener sends nothing.
    pub speaks: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub at_ms: u64,
    pub kind: EventKind,
    pub participant: String,
    /// The script line, for messages.
    pub line: usize,
}

/// A checked script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallScript {
    pub committer: CommitterPolicy,
    pub grace_ms: u64,
    pub tail_ms: u64,
    /// Forwarding slots per kind: every participant's connection carries this many audio and
    /// video streams from the SFU, negotiated once; the SFU puts the first senders in them.
    pub slots: usize,
    pub participants: Vec<Participant>,
    /// In time order.
    pub events: Vec<Event>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    committer: Spanned<CommitterPolicy>,
    #[serde(default = "default_grace")]
    grace_ms: u64,
    #[serde(default = "default_tail")]
    tail_ms: u64,
    #[serde(default = "default_slots")]
    slots: Spanned<usize>,
    #[serde(default)]
    participant: Vec<Spanned<RawParticipant>>,
    #[serde(default)]
    event: Vec<Spanned<RawEvent>>,
}

fn default_grace() -> u64 {
    500
}

fn default_tail() -> u64 {
    1000
}

fn default_slots() -> Spanned<usize> {
    Spanned::new(0..0, DEFAULT_SLOTS)
}

/// Enough for every sender of the calls `e2ee live` generates up to 9 participants.
pub const DEFAULT_SLOTS: usize = 8;

/// More forwarded streams than a client renders (Meet and Zoom show up to 49 tiles).
pub const MAX_SLOTS: usize = 64;

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParticipant {
    name: String,
    client: Spanned<String>,
    #[serde(default = "yes")]
    speaks: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    at_ms: u64,
    action: EventKind,
    participant: Spanned<String>,
}

/// The default script: four participants on both clients, every event, a designated committer.
pub const DEFAULT: &str = r#"# The default call: every event once, both MLS clients in one call.
committer = "designated"
grace_ms = 300
tail_ms = 1500

[[participant]]
name = "alice"
client = "openmls"

[[participant]]
name = "bob"
client = "mls-rs"

[[participant]]
name = "carol"
client = "openmls"

[[participant]]
name = "dave"
client = "mls-rs"

[[event]]
at_ms = 0
action = "join"
participant = "alice"

[[event]]
at_ms = 200
action = "join"
participant = "bob"

[[event]]
at_ms = 400
action = "join"
participant = "carol"

[[event]]
at_ms = 1500
action = "join"
participant = "dave"

[[event]]
at_ms = 2500
action = "rotate"
participant = "bob"

[[event]]
at_ms = 3000
action = "mute"
participant = "carol"

[[event]]
at_ms = 3500
action = "unmute"
participant = "carol"

[[event]]
at_ms = 4000
action = "kick"
participant = "dave"

[[event]]
at_ms = 5000
action = "leave"
participant = "carol"
"#;

/// A script for `n` participants playing `clients` in turn: everyone but the last joins 200 ms
/// apart, the last [`LATE_JOIN_MS`] after the one before it (a late joiner, the one check 4
/// asks about: by then the call has media older than the grace window for the SFU to replay
/// to it, under an epoch of its own), then the second rotates, the third mutes and unmutes,
/// the last is kicked and the third leaves (each only where there are enough participants).
pub fn generated(n: usize, clients: &[&str]) -> String {
    // A sender keeps its slot for everyone, so every sender needs one.
    let mut t = Generated::new("e2ee live --participants N", 300, 1500, n);
    t.participants(n, clients, None);
    let mut at = 0;
    for i in 0..n {
        if i > 0 && i + 1 == n {
            at += LATE_JOIN_MS - 200;
        }
        t.event(at, "join", i);
        at += 200;
    }
    at += 800;
    if n >= 2 {
        t.event(at, "rotate", 1);
        at += 500;
    }
    if n >= 3 {
        t.event(at, "mute", 2);
        t.event(at + 500, "unmute", 2);
        at += 1000;
    }
    if n >= 4 {
        t.event(at, "kick", n - 1);
        at += 1000;
    }
    if n >= 3 {
        t.event(at, "leave", 2);
    }
    t.0
}

/// The TOML of a generated script, written as it is built: the settings, then participants
/// `p000`, `p001`, …, then events.
struct Generated(String);

impl Generated {
    /// The settings, with a designated committer and `senders` slots (at most [`MAX_SLOTS`]).
    fn new(command: &str, grace_ms: u64, tail_ms: u64, senders: usize) -> Generated {
        Generated(format!(
            "# Generated: {command}\ncommitter = \"designated\"\ngrace_ms = {grace_ms}\n\
             tail_ms = {tail_ms}\nslots = {}\n",
            senders.clamp(1, MAX_SLOTS)
        ))
    }

    fn name(i: usize) -> String {
        format!("p{i:03}")
    }

    /// `n` participants playing `clients` in turn; with `speakers`, only the first that many
    /// send media.
    fn participants(&mut self, n: usize, clients: &[&str], speakers: Option<usize>) {
        for i in 0..n {
            let client = clients[i % clients.len().max(1)];
            self.0 += &format!(
                "\n[[participant]]\nname = \"{}\"\nclient = \"{client}\"\n",
                Self::name(i)
            );
            if let Some(speakers) = speakers {
                self.0 += &format!("speaks = {}\n", i < speakers);
            }
        }
    }

    /// `at_ms` is a u64 in the script and a usize where it is counted from indexes.
    fn event(&mut self, at_ms: impl std::fmt::Display, action: &str, who: usize) {
        self.0 += &format!(
            "\n[[event]]\nat_ms = {at_ms}\naction = \"{action}\"\nparticipant = \"{}\"\n",
            Self::name(who)
        );
    }
}

/// How long after the one before it the last participant of a generated call joins. Connecting
/// takes 200–600 ms here (ICE, DTLS, the data channel; measured) and the creator sends nothing
/// before it is connected, so the joins 200 ms apart are added about 200 ms apart from the
/// call's first frame on: at 3 or 4 participants nothing a joiner is fed is older than the 300 ms
/// grace window, and at any size each of their previous epochs is shorter than the window, so
/// its key (what a history feature hands over) opens only frames the window leaves unjudged. A
/// later join finds both.
pub const LATE_JOIN_MS: u64 = 1500;

/// The benchmark's call (`e2ee live bench`): `n` participants of whom the first `speakers` send
/// audio and video (the SFU forwards them to everyone; the rest listen, as in a large meeting).
/// All but `rounds` join 5 ms apart (the SFU batches the joins that queue up), and once the
/// group has settled the measured changes follow 2.5 s apart: the last `rounds` join (the call
/// reaches `n`), then `rounds` times a rotation, a leave and a kick of listeners. The grace
/// window is the 1 s the issue allows every member to reach a new epoch: a member that late
/// still sends under the old key, which the others keep that long.
pub fn bench(n: usize, speakers: usize, rounds: usize, clients: &[&str]) -> String {
    let rounds = rounds.min(n.saturating_sub(speakers + 1) / 3);
    let mut t = Generated::new(
        &format!("e2ee live bench --participants {n} --speakers {speakers}"),
        1000,
        2000,
        speakers,
    );
    t.participants(n, clients, Some(speakers));
    let first = n - rounds;
    for i in 0..first {
        t.event(i * 5, "join", i);
    }
    // Settling: every joiner connected and welcomed (about 15 ms of work per joiner here).
    let mut at = first * 5 + 3000 + first * 15;
    for i in first..n {
        t.event(at, "join", i);
        at += 2500;
    }
    // Listeners leave from the back of the first wave.
    let mut who = first;
    for _ in 0..rounds {
        for action in ["rotate", "leave", "kick"] {
            who -= 1;
            t.event(at, action, who);
            at += 2500;
        }
    }
    t.0
}

/// The 1-based line of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// Parses and checks a script; `clients` are the MLS client names that exist.
pub fn parse(file: &str, text: &str, clients: &[&str]) -> Result<CallScript, ScriptError> {
    let err = |span: Option<Range<usize>>, message: String| ScriptError {
        file: file.to_string(),
        line: span.map(|s| line_of(text, s.start)),
        message,
    };
    let raw: RawScript =
        toml::from_str(text).map_err(|e| err(e.span(), e.message().trim().to_string()))?;
    let mut participants = Vec::new();
    let mut names = BTreeSet::new();
    for p in &raw.participant {
        let span = p.span();
        let p = p.get_ref();
        if !names.insert(p.name.clone()) {
            return Err(err(Some(span), format!("participant `{}` twice", p.name)));
        }
        if !clients.contains(&p.client.get_ref().as_str()) {
            return Err(err(
                Some(p.client.span()),
                format!(
                    "unknown client `{}` (MLS clients: {})",
                    p.client.get_ref(),
                    clients.join(", ")
                ),
            ));
        }
        participants.push(Participant {
            name: p.name.clone(),
            client: p.client.get_ref().clone(),
            speaks: p.speaks,
        });
    }
    if participants.is_empty() {
        return Err(err(None, "no [[participant]]".into()));
    }
    let slots = *raw.slots.get_ref();
    if !(1..=MAX_SLOTS).contains(&slots) {
        let span = raw.slots.span();
        return Err(err(
            (span.end > 0).then_some(span),
            format!("slots = {slots}: must be 1 to {MAX_SLOTS}"),
        ));
    }
    let mut events = Vec::new();
    let mut last = 0;
    // Who is in the call, event by event: joins and departures must make sense.
    let mut present = BTreeSet::new();
    let mut gone = BTreeSet::new();
    let mut muted = BTreeSet::new();
    for e in &raw.event {
        let span = e.span();
        let line = line_of(text, span.start);
        let e = e.get_ref();
        let who = e.participant.get_ref();
        let at = |m: String| err(Some(span.clone()), m);
        if !names.contains(who) {
            return Err(err(
                Some(e.participant.span()),
                format!("no participant `{who}`"),
            ));
        }
        if e.at_ms < last {
            return Err(at(format!(
                "events must be in time order: at_ms {} after {last}",
                e.at_ms
            )));
        }
        last = e.at_ms;
        match e.action {
            EventKind::Join => {
                if present.contains(who) || gone.contains(who) {
                    return Err(at(format!("`{who}` joins twice")));
                }
                present.insert(who.clone());
            }
            kind => {
                if !present.contains(who) {
                    return Err(at(format!("`{who}` cannot {} before joining", kind.name())));
                }
                match kind {
                    EventKind::Leave | EventKind::Kick => {
                        if present.len() == 1 {
                            return Err(at(format!("`{who}` is the last one in the call")));
                        }
                        present.remove(who);
                        gone.insert(who.clone());
                    }
                    EventKind::Mute if !muted.insert(who.clone()) => {
                        return Err(at(format!("`{who}` is muted already")));
                    }
                    EventKind::Unmute if !muted.remove(who) => {
                        return Err(at(format!("`{who}` is not muted")));
                    }
                    _ => {}
                }
            }
        }
        events.push(Event {
            at_ms: e.at_ms,
            kind: e.action,
            participant: who.clone(),
            line,
        });
    }
    if events.first().is_none_or(|e| e.kind != EventKind::Join) {
        return Err(err(None, "the first event must be a join".into()));
    }
    Ok(CallScript {
        committer: *raw.committer.get_ref(),
        grace_ms: raw.grace_ms,
        tail_ms: raw.tail_ms,
        slots,
        participants,
        events,
    })
}

impl CallScript {
    /// When the call ends.
    pub fn end_ms(&self) -> u64 {
        self.events.last().map_or(0, |e| e.at_ms) + self.tail_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENTS: &[&str] = &["openmls", "mls-rs"];

    #[test]
    fn the_default_script_uses_every_event() {
        let s = parse("default", DEFAULT, CLIENTS).unwrap();
        let kinds: BTreeSet<&str> = s.events.iter().map(|e| e.kind.name()).collect();
        assert_eq!(
            kinds,
            BTreeSet::from(["join", "leave", "kick", "rotate", "mute", "unmute"])
        );
        assert_eq!(s.participants.len(), 4);
        assert_eq!(s.committer, CommitterPolicy::Designated);
        assert_eq!(s.end_ms(), 6500);
    }

    fn error(text: &str) -> String {
        parse("call.toml", text, CLIENTS).unwrap_err().to_string()
    }

    #[test]
    fn generated_scripts_parse_and_use_every_event_from_four() {
        for n in 1..=6 {
            let s = parse("gen", &generated(n, CLIENTS), CLIENTS).unwrap();
            assert_eq!(s.participants.len(), n);
            assert_eq!(s.participants[1 % n].client, CLIENTS[1 % n % 2]);
        }
        let s = parse("gen", &generated(4, CLIENTS), CLIENTS).unwrap();
        let kinds: BTreeSet<&str> = s.events.iter().map(|e| e.kind.name()).collect();
        assert_eq!(kinds.len(), 6);
        // Everyone but the last 200 ms apart; the last joins late.
        let joins: Vec<u64> = s
            .events
            .iter()
            .filter(|e| e.kind == EventKind::Join)
            .map(|e| e.at_ms)
            .collect();
        assert_eq!(joins, [0, 200, 400, 400 + LATE_JOIN_MS]);
    }

    #[test]
    fn the_bench_script_reaches_n_then_measures_every_change() {
        let s = parse("bench", &bench(200, 2, 5, CLIENTS), CLIENTS).unwrap();
        assert_eq!(s.participants.len(), 200);
        assert_eq!(s.slots, 2);
        let speakers: Vec<&str> = s
            .participants
            .iter()
            .filter(|p| p.speaks)
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(speakers, ["p000", "p001"]);
        let count = |k: EventKind| s.events.iter().filter(|e| e.kind == k).count();
        assert_eq!(count(EventKind::Join), 200);
        for k in [EventKind::Rotate, EventKind::Leave, EventKind::Kick] {
            assert_eq!(count(k), 5);
        }
        // Nobody who speaks is rotated out; small calls get fewer rounds.
        assert!(s
            .events
            .iter()
            .all(|e| e.kind == EventKind::Join || e.participant.as_str() > "p001"));
        let small = parse("bench", &bench(5, 1, 5, CLIENTS), CLIENTS).unwrap();
        assert_eq!(small.events.len(), 5 + 3);
    }

    #[test]
    fn errors_name_the_line() {
        let head = "committer = \"any\"\n[[participant]]\nname = \"a\"\nclient = \"openmls\"\n";
        assert_eq!(
            error("committer = \"sometimes\"\n"),
            "call.toml:1: unknown variant `sometimes`, expected `designated` or `any`"
        );
        assert_eq!(
            error(&format!("{head}[[event]]\nat_ms = 0\naction = \"dance\"\nparticipant = \"a\"\n")),
            "call.toml:7: unknown variant `dance`, expected one of `join`, `leave`, `kick`, `rotate`, `mute`, `unmute`"
        );
        assert_eq!(
            error(&format!(
                "{head}[[event]]\nat_ms = 0\naction = \"join\"\nparticipant = \"b\"\n"
            )),
            "call.toml:8: no participant `b`"
        );
        assert_eq!(
            error(&format!(
                "{head}[[event]]\nat_ms = 0\naction = \"leave\"\nparticipant = \"a\"\n"
            )),
            "call.toml:5: `a` cannot leave before joining"
        );
        assert_eq!(
            error("committer = \"any\"\n[[participant]]\nname = \"a\"\nclient = \"webex\"\n"),
            "call.toml:4: unknown client `webex` (MLS clients: openmls, mls-rs)"
        );
        assert_eq!(
            error("committer = \"any\"\n[[participant]]\nname = \"a\"\n"),
            "call.toml:2: missing field `client`"
        );
        assert!(error("committer = [").starts_with("call.toml:1: "));
        assert_eq!(
            error(&format!("grace_ms = 1\nslots = 0\n{head}")),
            "call.toml:2: slots = 0: must be 1 to 64"
        );
    }
}
