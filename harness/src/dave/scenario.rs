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
                Step::GarbleWelcome(s) => vec![s],
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

/// The scenarios this build ships (harness/dave-scenarios/).
pub const SHIPPED: [(&str, &str); 7] = [
    ("create", include_str!("../../dave-scenarios/create.toml")),
    (
        "join-leave",
        include_str!("../../dave-scenarios/join-leave.toml"),
    ),
    ("kick", include_str!("../../dave-scenarios/kick.toml")),
    (
        "batch-join",
        include_str!("../../dave-scenarios/batch-join.toml"),
    ),
    ("revoke", include_str!("../../dave-scenarios/revoke.toml")),
    (
        "sole-member-reset",
        include_str!("../../dave-scenarios/sole-member-reset.toml"),
    ),
    (
        "invalid-welcome",
        include_str!("../../dave-scenarios/invalid-welcome.toml"),
    ),
];

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
            "media" => return Err(bad("`media` takes no seats".into())),
            other => {
                return Err(bad(format!(
                "unknown verb `{other}` (connect, disconnect, kick, revoke, garble-welcome, media)"
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
            Step::Revoke(seat) | Step::GarbleWelcome(seat) => {
                if seats.contains(seat) {
                    return Err(bad(format!("{seat} was here before: a seat connects once")));
                }
                if connected.len() < 2 {
                    return Err(bad("needs a group of two or more to join".into()));
                }
                seats.push(seat.clone());
                if matches!(step, Step::GarbleWelcome(_)) {
                    connected.push(seat.clone());
                }
            }
            Step::Disconnect(seat) | Step::Kick(seat) => {
                let Some(at) = connected.iter().position(|s| s == seat) else {
                    return Err(bad(format!("{seat} is not connected")));
                };
                connected.remove(at);
            }
            Step::Media => {}
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
            "x: steps[1] `leave A`: unknown verb `leave` (connect, disconnect, kick, revoke, garble-welcome, media)"
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
