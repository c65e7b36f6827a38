//! DAVE scenarios: what happens in a voice channel, step by step, in a TOML file.
//!
//! ```toml
//! description = "a third user joins, the first leaves"
//! steps = [
//!   "connect A B C",   # users connect (op 11); pending ones found the group together
//!   "media",           # every member sends an Opus and a VP8 frame; everyone tries to open them
//!   "connect D",       # a join: Add proposals, the first valid commit wins, op 29 + op 30
//!   "disconnect A",    # op 13 and a Remove; alone, the last member resets (op 24, op 21 id 0)
//!   "kick B",          # the gateway removes B, who stays in the channel and keeps listening
//!   "revoke E",        # E connects, its Add is proposed, then revoked before any commit wins
//!   "garble-welcome F" # F connects and its Welcome arrives bit-flipped: op 31, then recovery
//! ]
//! ```
//! Probes (the gateway or SFU turned hostile; each has its own check):
//! ```toml
//! steps = [
//!   "ghost G",             # Add of a user id no op 11 announced: members must refuse it
//!   "ghost-connected G",   # the gateway announces its own client and adds it: who sees it?
//!   "batch-ghost C G",     # one op 27: C's Add (announced) with G's (not): refused whole?
//!   "welcome-ghost J G",   # J's Welcome lists G, announced to the members but not to J
//!   "tamper",              # replayed, bit-flipped and injected frames at every member
//! ]
//! ```
//! Seats are the names used (a letter or a word); each run assigns an implementation to each.

use std::path::Path;

/// One step of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Connect(Vec<String>),
    Disconnect(String),
    Kick(String),
    Revoke(String),
    GarbleWelcome(String),
    Media,
    /// Probe: the gateway proposes adding a user no op 11 announced (its own client).
    Ghost(String),
    /// Probe: the gateway announces its own client (op 11) and adds it like anyone else.
    GhostConnected(String),
    /// Probe: one op 27 adds a user who connected and one nobody announced.
    BatchGhost(String, String),
    /// Probe: a joiner's Welcome lists a user announced to the members but not to it.
    WelcomeGhost(String, String),
    /// Probe: the SFU replays, bit-flips and injects frames at every member.
    Tamper,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The file stem, e.g. "join-leave".
    pub name: String,
    pub description: String,
    pub steps: Vec<Step>,
    /// Seats in order of first appearance.
    pub seats: Vec<String>,
}

impl Scenario {
    /// Seats that join the group at some point (a revoked seat never does).
    pub fn joining_seats(&self) -> Vec<usize> {
        let mut out = Vec::new();
        for step in &self.steps {
            let names: Vec<&String> = match step {
                Step::Connect(s) => s.iter().collect(),
                Step::GarbleWelcome(s) | Step::GhostConnected(s) => vec![s],
                Step::BatchGhost(s, _) | Step::WelcomeGhost(s, _) => vec![s],
                _ => continue,
            };
            for n in names {
                if let Some(i) = self.seats.iter().position(|s| s == n) {
                    out.push(i);
                }
            }
        }
        out
    }
}

/// A scenario that could not be read, naming the file, step and field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScenarioError {
    #[error("{file}: {reason}")]
    File { file: String, reason: String },
    #[error("{file}: steps[{index}] `{step}`: {reason}")]
    Step {
        file: String,
        index: usize,
        step: String,
        reason: String,
    },
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    description: String,
    steps: Vec<String>,
}

macro_rules! shipped {
    ($($name:literal),*) => { [$(($name, include_str!(concat!("../../dave-scenarios/", $name, ".toml")))),*] };
}

/// The scenarios this build ships (harness/dave-scenarios/), honest ones first, then probes.
pub const SHIPPED: [(&str, &str); 12] = shipped!(
    "create",
    "join-leave",
    "kick",
    "batch-join",
    "revoke",
    "sole-member-reset",
    "invalid-welcome",
    "probe-unrecognized-add",
    "probe-recognized-ghost",
    "probe-batch-ghost",
    "probe-welcome-ghost",
    "probe-tamper"
);

pub fn shipped() -> Vec<Scenario> {
    SHIPPED
        .iter()
        .map(|(name, text)| parse(name, text).expect("shipped scenarios parse (tested)"))
        .collect()
}

/// Reads a scenario file (its stem names it).
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::File {
        file: file.clone(),
        reason: e.to_string(),
    })?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    parse(&name, &text).map_err(|e| match e {
        ScenarioError::File { reason, .. } => ScenarioError::File { file, reason },
        ScenarioError::Step {
            index,
            step,
            reason,
            ..
        } => ScenarioError::Step {
            file,
            index,
            step,
            reason,
        },
    })
}

pub fn parse(name: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let file: File = toml::from_str(text).map_err(|e| ScenarioError::File {
        file: name.into(),
        reason: e.to_string(),
    })?;
    let mut steps = Vec::new();
    let mut seats: Vec<String> = Vec::new();
    let mut connected: Vec<String> = Vec::new();
    for (index, line) in file.steps.iter().enumerate() {
        let bad = |reason: String| ScenarioError::Step {
            file: name.into(),
            index,
            step: line.clone(),
            reason,
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((&verb, args)) = words.split_first() else {
            return Err(bad("empty step".into()));
        };
        let one = || match args {
            [seat] => Ok(seat.to_string()),
            _ => Err(bad(format!("`{verb}` takes one seat"))),
        };
        let two = || match args {
            [a, b] => Ok((a.to_string(), b.to_string())),
            _ => Err(bad(format!("`{verb}` takes two seats"))),
        };
        let step = match verb {
            "connect" if !args.is_empty() => {
                Step::Connect(args.iter().map(|s| s.to_string()).collect())
            }
            "connect" => return Err(bad("`connect` takes one seat or more".into())),
            "disconnect" => Step::Disconnect(one()?),
            "kick" => Step::Kick(one()?),
            "revoke" => Step::Revoke(one()?),
            "garble-welcome" => Step::GarbleWelcome(one()?),
            "media" if args.is_empty() => Step::Media,
            "tamper" if args.is_empty() => Step::Tamper,
            "media" | "tamper" => return Err(bad(format!("`{verb}` takes no seats"))),
            "ghost" => Step::Ghost(one()?),
            "ghost-connected" => Step::GhostConnected(one()?),
            "batch-ghost" => {
                let (a, b) = two()?;
                Step::BatchGhost(a, b)
            }
            "welcome-ghost" => {
                let (a, b) = two()?;
                Step::WelcomeGhost(a, b)
            }
            other => {
                return Err(bad(format!(
                    "unknown verb `{other}` (connect, disconnect, kick, revoke, garble-welcome, \
                     media; probes: ghost, ghost-connected, batch-ghost, welcome-ghost, tamper)"
                )))
            }
        };
        // Who is in the channel, so a script cannot ask the impossible.
        match &step {
            Step::Connect(s) => {
                for seat in s {
                    if connected.contains(seat) {
                        return Err(bad(format!("{seat} is already connected")));
                    }
                    if seats.contains(seat) {
                        return Err(bad(format!("{seat} was here before: a seat connects once")));
                    }
                    connected.push(seat.clone());
                    seats.push(seat.clone());
                }
            }
            Step::Revoke(seat)
            | Step::GarbleWelcome(seat)
            | Step::Ghost(seat)
            | Step::GhostConnected(seat) => {
                if seats.contains(seat) {
                    return Err(bad(format!("{seat} was here before: a seat connects once")));
                }
                if connected.len() < 2 {
                    return Err(bad("needs a group of two or more to join".into()));
                }
                seats.push(seat.clone());
                if matches!(step, Step::GarbleWelcome(_) | Step::GhostConnected(_)) {
                    connected.push(seat.clone());
                }
            }
            Step::BatchGhost(a, b) | Step::WelcomeGhost(a, b) => {
                for seat in [a, b] {
                    if seats.contains(seat) {
                        return Err(bad(format!("{seat} was here before: a seat connects once")));
                    }
                }
                if a == b {
                    return Err(bad("the joiner and the ghost are two seats".into()));
                }
                if connected.len() < 2 {
                    return Err(bad("needs a group of two or more to join".into()));
                }
                seats.push(a.clone());
                seats.push(b.clone());
                connected.push(a.clone());
            }
            Step::Disconnect(seat) | Step::Kick(seat) => {
                let Some(at) = connected.iter().position(|s| s == seat) else {
                    return Err(bad(format!("{seat} is not connected")));
                };
                connected.remove(at);
            }
            Step::Media | Step::Tamper => {}
        }
        steps.push(step);
    }
    if seats.len() < 2 {
        return Err(ScenarioError::File {
            file: name.into(),
            reason: "a call needs two seats or more".into(),
        });
    }
    Ok(Scenario {
        name: name.into(),
        description: file.description,
        steps,
        seats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_scenarios_parse() {
        let all = shipped();
        assert_eq!(all.len(), SHIPPED.len());
        assert!(all.iter().all(|s| s.steps.contains(&Step::Media)));
        assert_eq!(
            all.iter().filter(|s| s.name.starts_with("probe-")).count(),
            5
        );
    }

    #[test]
    fn errors_name_the_step_and_what_is_wrong() {
        let e = parse(
            "x",
            "description = \"d\"\nsteps = [\"connect A B\", \"leave A\"]",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "x: steps[1] `leave A`: unknown verb `leave` (connect, disconnect, kick, revoke, \
             garble-welcome, media; probes: ghost, ghost-connected, batch-ghost, welcome-ghost, \
             tamper)"
        );
        let e = parse(
            "x",
            "description = \"d\"\nsteps = [\"connect A B\", \"kick C\"]",
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "x: steps[1] `kick C`: C is not connected");
        let e = parse("x", "description = \"d\"\nstep = []").unwrap_err();
        assert!(e.to_string().contains("unknown field `step`"), "{e}");
        let e = parse(
            "x",
            "description = \"d\"\nsteps = [\"connect A\", \"revoke B\"]",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "x: steps[1] `revoke B`: needs a group of two or more to join"
        );
    }
}
