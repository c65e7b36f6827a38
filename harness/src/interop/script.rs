//! The IETF MLS interop scenario scripts (mlswg/mls-implementations `interop/configs/`), parsed
//! as the IETF runner (`interop/test-runner/main.go` at cfd4502) parses them — not as its older
//! `test-config.md` describes.
//!
//! `{"scripts": {"<name>": [<step>, ...]}}`; a step is `{"action": "...", "actor": "...", ...}`.
//! Steps name earlier steps by 0-based index (a Welcome, a proposal, a ciphertext) and actors by
//! name (the name is the actor's MLS identity). Go's `encoding/json` matches a field's tag
//! exactly, then case-insensitively, and ignores unknown keys; so does this parser, and each
//! ignored key becomes a warning: `branch.json` spells `externalTree`/`forcePath` where the runner
//! reads `external_tree`/`force_path`, so the IETF runner runs those scripts as `branch/base`.
//!
//! Malformed scripts (unknown action, a missing actor, a reference to a later step or to a step
//! that produces no such message) are errors naming the file, script and step.

use base64::Engine as _;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What is wrong with a config file or one of its scripts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    #[error("{file}: {message}")]
    File { file: PathBuf, message: String },
    #[error("{file}, script `{script}`, step {step}: {message}")]
    Step {
        file: PathBuf,
        script: String,
        step: usize,
        message: String,
    },
}

impl ScriptError {
    /// The config file the error is in.
    pub fn file(&self) -> std::borrow::Cow<'_, str> {
        match self {
            ScriptError::File { file, .. } | ScriptError::Step { file, .. } => {
                file.to_string_lossy()
            }
        }
    }

    /// The script the error is in, if it is in one.
    pub fn script(&self) -> Option<&str> {
        match self {
            ScriptError::File { .. } => None,
            ScriptError::Step { script, .. } => Some(script),
        }
    }
}

/// An extension as the scripts give it: `{"extension_type": n, "extension_data": "<base64>"}`.
pub type Extension = crate::clients::RawExtension;

/// A proposal a commit carries by value (`byValue`), or an external signer proposes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposalDescription {
    /// `keyPackage`: the step that made the key package.
    Add {
        key_package: usize,
    },
    Remove {
        removed: String,
    },
    /// `pskID`: the `installExternalPSK` step.
    ExternalPsk {
        psk_id: usize,
    },
    ResumptionPsk {
        epoch_id: u64,
    },
    GroupContextExtensions {
        extensions: Vec<Extension>,
    },
    Reinit {
        extensions: Vec<Extension>,
        change_group_id: bool,
        change_cipher_suite: bool,
    },
}

impl ProposalDescription {
    /// The earlier step whose message it needs, that message's cache key, and the field that
    /// names the step.
    pub fn reference(&self) -> Option<(usize, &'static str, &'static str)> {
        match self {
            ProposalDescription::Add { key_package } => {
                Some((*key_package, "key_package", "keyPackage"))
            }
            ProposalDescription::ExternalPsk { psk_id } => Some((*psk_id, "psk_id", "pskID")),
            _ => None,
        }
    }
}

/// A `reinit` step: everyone moves to a re-initialised group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reinit {
    /// Empty when the proposal is an external one (`externalReinitProposal`).
    pub proposer: String,
    pub external_reinit_proposal: usize,
    pub committer: String,
    /// Who creates the new group.
    pub welcomer: String,
    pub members: Vec<String>,
    pub change_cipher_suite: bool,
    pub change_group_id: bool,
    pub extensions: Vec<Extension>,
    pub force_path: bool,
    pub external_tree: bool,
}

/// An `externalJoin` step: `joiner` commits itself into the actor's group from its GroupInfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalJoin {
    pub joiner: String,
    /// Who processes the external commit (besides the actor).
    pub members: Vec<String>,
    pub external_tree: bool,
    pub remove_prior: bool,
    /// Steps whose external PSKs the joiner injects.
    pub psks: Vec<usize>,
}

/// What a `commit` or `fullCommit` step commits, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitSpec {
    /// Steps whose proposals it commits by reference.
    pub by_reference: Vec<usize>,
    pub by_value: Vec<ProposalDescription>,
    pub force_path: bool,
    pub external_tree: bool,
}

/// One action, with its fields (Go's zero values where the script leaves them out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    CreateGroup {
        members: Vec<String>,
    },
    CreateKeyPackage,
    JoinGroup {
        welcome: usize,
    },
    ExternalJoin(ExternalJoin),
    InstallExternalPsk {
        clients: Vec<String>,
    },
    GroupInfo {
        external_tree: bool,
    },
    /// `addProposal`, `removeProposal`, `externalPSKProposal`, `resumptionPSKProposal`,
    /// `groupContextExtensionsProposal` ([`PROPOSAL_ACTIONS`]): the actor proposes what a
    /// by-value description of the same kind says, its fields at the step's top level.
    Propose(ProposalDescription),
    UpdateProposal,
    FullCommit {
        commit: CommitSpec,
        /// Who processes the commit.
        members: Vec<String>,
        /// Who joins from its Welcome.
        joiners: Vec<String>,
    },
    Commit(CommitSpec),
    HandleCommit {
        commit: usize,
        by_reference: Vec<usize>,
    },
    HandlePendingCommit,
    Protect {
        authenticated_data: String,
        plaintext: String,
    },
    Unprotect {
        ciphertext: usize,
    },
    Reinit(Reinit),
    Branch {
        members: Vec<String>,
        extensions: Vec<Extension>,
        force_path: bool,
        external_tree: bool,
    },
    NewMemberAddProposal {
        joiner: String,
    },
    AddExternalSigner {
        signer: String,
    },
    ExternalSignerProposal {
        member: String,
        description: ProposalDescription,
    },
}

impl Action {
    /// The messages a step of this action stores for later steps (main.go's message cache).
    pub fn stores(&self) -> &'static [&'static str] {
        match self {
            Action::CreateGroup { .. } => &["group_id"],
            Action::CreateKeyPackage => &["key_package"],
            Action::ExternalJoin(_) => &["group_info", "ratchet_tree", "commit"],
            Action::InstallExternalPsk { .. } => &["psk_id", "psk_secret"],
            Action::GroupInfo { .. } => &["group_info", "ratchet_tree"],
            Action::Propose(_)
            | Action::UpdateProposal
            | Action::NewMemberAddProposal { .. }
            | Action::AddExternalSigner { .. }
            | Action::ExternalSignerProposal { .. } => &["proposal"],
            Action::FullCommit { .. } | Action::Commit(_) => &["welcome", "commit"],
            Action::Protect { .. } => &["authenticatedData", "plaintext", "ciphertext"],
            Action::Unprotect { .. } => &["authenticatedData", "plaintext"],
            Action::JoinGroup { .. }
            | Action::HandleCommit { .. }
            | Action::HandlePendingCommit
            | Action::Reinit(_)
            | Action::Branch { .. } => &[],
        }
    }
}

/// One step of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The action's name as written (`fullCommit`).
    pub name: String,
    pub actor: Option<String>,
    pub action: Action,
}

/// One script: its steps, its actors and what the parser ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    pub name: String,
    pub steps: Vec<Step>,
    /// `Script.Actors()` of main.go: every `actor`, `createGroup.members`, `externalJoin.joiner`,
    /// `newMemberAddProposal.joiner`, `addExternalSigner.signer`; sorted.
    pub actors: Vec<String>,
    /// Keys the IETF runner would ignore, one line each ("step 2: `forcePath` ignored").
    pub warnings: Vec<String>,
}

/// A config file: its scripts by name, in name order (the IETF runner's map order is random).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub file: PathBuf,
    pub scripts: Vec<Script>,
}

/// Is this JSON a scenario config (`{"scripts": {...}}`)?
pub fn is_config(v: &Value) -> bool {
    v.get("scripts").is_some_and(Value::is_object)
}

/// Parses a config file's JSON. A script that is malformed is an error of its own; the others
/// still parse.
pub fn parse(file: &Path, v: &Value) -> (Option<Config>, Vec<ScriptError>) {
    let Some(scripts) = v.get("scripts").and_then(Value::as_object) else {
        return (
            None,
            vec![ScriptError::File {
                file: file.to_path_buf(),
                message: "not an interop config: no `scripts` object".into(),
            }],
        );
    };
    let mut config = Config {
        file: file.to_path_buf(),
        scripts: Vec::new(),
    };
    let mut errors = Vec::new();
    let mut names: Vec<&String> = scripts.keys().collect();
    names.sort();
    for name in names {
        match parse_script(file, name, &scripts[name]) {
            Ok(s) => config.scripts.push(s),
            Err(e) => errors.push(e),
        }
    }
    (Some(config), errors)
}

/// Reads and parses a config file.
pub fn load(file: &Path) -> (Option<Config>, Vec<ScriptError>) {
    let fail = |message: String| {
        (
            None,
            vec![ScriptError::File {
                file: file.to_path_buf(),
                message,
            }],
        )
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return fail(format!("cannot read: {e}")),
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(v) => parse(file, &v),
        Err(e) => fail(format!("not JSON: {e}")),
    }
}

/// A step's fields, read the way Go's `encoding/json` reads them into a struct.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    used: BTreeSet<&'a str>,
    step: usize,
    error: Option<String>,
}

impl<'a> Fields<'a> {
    /// The value for Go tag `tag`: an exact key, else a case-insensitive one.
    fn get(&mut self, tag: &str) -> Option<&'a Value> {
        let key = self
            .obj
            .keys()
            .find(|k| *k == tag)
            .or_else(|| self.obj.keys().find(|k| k.eq_ignore_ascii_case(tag)))?;
        self.used.insert(key.as_str());
        self.obj.get(key).filter(|v| !v.is_null())
    }

    fn fail(&mut self, tag: &str, what: &str) {
        if self.error.is_none() {
            self.error = Some(format!("field `{tag}`: {what}"));
        }
    }

    fn string(&mut self, tag: &str) -> String {
        match self.get(tag) {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                self.fail(tag, "expected a string");
                String::new()
            }
        }
    }

    fn flag(&mut self, tag: &str) -> bool {
        match self.get(tag) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.fail(tag, "expected true or false");
                false
            }
        }
    }

    fn number(&mut self, tag: &str) -> u64 {
        match self.get(tag) {
            None => 0,
            Some(v) => v.as_u64().unwrap_or_else(|| {
                self.fail(tag, "expected a non-negative integer");
                0
            }),
        }
    }

    /// A step index: it must name an earlier step.
    fn index(&mut self, tag: &str) -> usize {
        let n = self.number(tag);
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if n >= self.step {
            self.fail(
                tag,
                &format!("refers to step {n}, which is not an earlier step"),
            );
        }
        n
    }

    fn strings(&mut self, tag: &str) -> Vec<String> {
        match self.get(tag) {
            None => Vec::new(),
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(_) => {
                self.fail(tag, "expected a list of actor names");
                Vec::new()
            }
        }
    }

    fn indices(&mut self, tag: &str) -> Vec<usize> {
        match self.get(tag) {
            None => Vec::new(),
            Some(Value::Array(a)) => {
                let step = self.step;
                let mut out = Vec::new();
                for v in a {
                    match v.as_u64().and_then(|n| usize::try_from(n).ok()) {
                        Some(n) if n < step => out.push(n),
                        Some(n) => self.fail(
                            tag,
                            &format!("refers to step {n}, which is not an earlier step"),
                        ),
                        None => self.fail(tag, "expected a list of step numbers"),
                    }
                }
                out
            }
            Some(_) => {
                self.fail(tag, "expected a list of step numbers");
                Vec::new()
            }
        }
    }

    fn extensions(&mut self, tag: &str) -> Vec<Extension> {
        let Some(v) = self.get(tag) else {
            return Vec::new();
        };
        let Some(list) = v.as_array() else {
            self.fail(tag, "expected a list of extensions");
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in list {
            let ty = e
                .get("extension_type")
                .and_then(Value::as_u64)
                .and_then(|t| u16::try_from(t).ok());
            let data = match e.get("extension_data") {
                None | Some(Value::Null) => Some(Vec::new()),
                Some(Value::String(s)) => base64::engine::general_purpose::STANDARD.decode(s).ok(),
                Some(_) => None,
            };
            match (ty, data) {
                (Some(extension_type), Some(extension_data)) => out.push(Extension {
                    extension_type,
                    extension_data,
                }),
                (None, _) => self.fail(tag, "an extension_type is missing or not a u16"),
                (_, None) => self.fail(tag, "an extension_data is not standard base64"),
            }
        }
        out
    }

    fn description(&mut self, v: &'a Value, tag: &str) -> Option<ProposalDescription> {
        let Some(obj) = v.as_object() else {
            self.fail(tag, "expected a proposal description object");
            return None;
        };
        let mut inner = Fields {
            obj,
            used: BTreeSet::new(),
            step: self.step,
            error: None,
        };
        let kind = inner.string("proposalType");
        let Some(d) = inner.proposal(&kind) else {
            self.fail(tag, &format!("unknown proposalType `{kind}`"));
            return None;
        };
        if let Some(e) = inner.error {
            self.fail(tag, &e);
        }
        Some(d)
    }

    /// A proposal of `kind` (a `proposalType`) from these fields, which a by-value description
    /// and a proposal step spell alike; `None` for a kind main.go does not know.
    fn proposal(&mut self, kind: &str) -> Option<ProposalDescription> {
        Some(match kind {
            "add" => ProposalDescription::Add {
                key_package: self.index("keyPackage"),
            },
            "remove" => ProposalDescription::Remove {
                removed: self.string("removed"),
            },
            "externalPSK" => ProposalDescription::ExternalPsk {
                psk_id: self.index("pskID"),
            },
            "resumptionPSK" => ProposalDescription::ResumptionPsk {
                epoch_id: self.number("epochID"),
            },
            "groupContextExtensions" => ProposalDescription::GroupContextExtensions {
                extensions: self.extensions("extensions"),
            },
            "reinit" => ProposalDescription::Reinit {
                extensions: self.extensions("extensions"),
                change_group_id: self.flag("changeGroupID"),
                change_cipher_suite: self.flag("changeCipherSuite"),
            },
            _ => return None,
        })
    }

    /// The fields `commit` and `fullCommit` share (main.go spells the last two in snake case).
    fn commit_spec(&mut self) -> CommitSpec {
        CommitSpec {
            by_reference: self.indices("byReference"),
            by_value: self.descriptions("byValue"),
            force_path: self.flag("force_path"),
            external_tree: self.flag("external_tree"),
        }
    }

    fn descriptions(&mut self, tag: &str) -> Vec<ProposalDescription> {
        let Some(v) = self.get(tag) else {
            return Vec::new();
        };
        let Some(list) = v.as_array() else {
            self.fail(tag, "expected a list of proposal descriptions");
            return Vec::new();
        };
        list.iter()
            .filter_map(|d| self.description(d, tag))
            .collect()
    }
}

fn parse_script(file: &Path, name: &str, v: &Value) -> Result<Script, ScriptError> {
    let err = |step: usize, message: String| ScriptError::Step {
        file: file.to_path_buf(),
        script: name.to_string(),
        step,
        message,
    };
    let list = v
        .as_array()
        .ok_or_else(|| err(0, "the script is not a list of steps".into()))?;
    let mut steps = Vec::new();
    let mut warnings = Vec::new();
    for (i, raw) in list.iter().enumerate() {
        let obj = raw
            .as_object()
            .ok_or_else(|| err(i, "a step must be an object".into()))?;
        let mut f = Fields {
            obj,
            used: BTreeSet::new(),
            step: i,
            error: None,
        };
        let action_name = match f.get("action") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(err(i, "`action` must be a string".into())),
            None => return Err(err(i, "incomplete step: missing action".into())),
        };
        let actor = Some(f.string("actor")).filter(|a| !a.is_empty());
        let action = parse_action(&action_name, &mut f)
            .ok_or_else(|| err(i, format!("unknown action `{action_name}`")))?;
        if let Some(e) = f.error {
            return Err(err(i, e));
        }
        for key in obj.keys() {
            if !f.used.contains(key.as_str()) {
                warnings.push(format!(
                    "step {i} ({action_name}): key `{key}` ignored, as the IETF runner ignores it"
                ));
            }
        }
        let needs_actor = !matches!(
            action,
            Action::InstallExternalPsk { .. } | Action::Reinit(_)
        );
        if needs_actor && actor.is_none() {
            return Err(err(i, format!("{action_name} needs an `actor`")));
        }
        steps.push(Step {
            name: action_name,
            actor,
            action,
        });
    }
    check_references(&steps).map_err(|(i, m)| err(i, m))?;
    let actors = actors(&steps);
    check_actor_names(&steps, &actors).map_err(|(i, m)| err(i, m))?;
    Ok(Script {
        name: name.to_string(),
        steps,
        actors,
        warnings,
    })
}

/// The proposal steps and the `proposalType` each proposes (main.go's action names).
pub const PROPOSAL_ACTIONS: [(&str, &str); 5] = [
    ("addProposal", "add"),
    ("removeProposal", "remove"),
    ("externalPSKProposal", "externalPSK"),
    ("resumptionPSKProposal", "resumptionPSK"),
    ("groupContextExtensionsProposal", "groupContextExtensions"),
];

fn parse_action(name: &str, f: &mut Fields<'_>) -> Option<Action> {
    if let Some((_, kind)) = PROPOSAL_ACTIONS.iter().find(|(action, _)| *action == name) {
        return f.proposal(kind).map(Action::Propose);
    }
    Some(match name {
        "createGroup" => Action::CreateGroup {
            members: f.strings("members"),
        },
        "createKeyPackage" => Action::CreateKeyPackage,
        "joinGroup" => Action::JoinGroup {
            welcome: f.index("welcome"),
        },
        "externalJoin" => Action::ExternalJoin(ExternalJoin {
            joiner: f.string("joiner"),
            members: f.strings("members"),
            external_tree: f.flag("externalTree"),
            remove_prior: f.flag("removePrior"),
            psks: f.indices("psks"),
        }),
        "installExternalPSK" => Action::InstallExternalPsk {
            clients: f.strings("clients"),
        },
        "groupInfo" => Action::GroupInfo {
            external_tree: f.flag("externalTree"),
        },
        "updateProposal" => Action::UpdateProposal,
        "fullCommit" => Action::FullCommit {
            commit: f.commit_spec(),
            members: f.strings("members"),
            joiners: f.strings("joiners"),
        },
        "commit" => Action::Commit(f.commit_spec()),
        "handleCommit" => Action::HandleCommit {
            commit: f.index("commit"),
            by_reference: f.indices("byReference"),
        },
        "handlePendingCommit" => Action::HandlePendingCommit,
        "protect" => Action::Protect {
            authenticated_data: f.string("authenticatedData"),
            plaintext: f.string("plaintext"),
        },
        "unprotect" => Action::Unprotect {
            ciphertext: f.index("ciphertext"),
        },
        "reinit" => {
            let proposer = f.string("proposer");
            // Read only when there is no proposer (main.go uses it only then).
            let external_reinit_proposal = if proposer.is_empty() {
                f.index("externalReinitProposal")
            } else {
                usize::try_from(f.number("externalReinitProposal")).unwrap_or(0)
            };
            Action::Reinit(Reinit {
                proposer,
                external_reinit_proposal,
                committer: f.string("committer"),
                welcomer: f.string("welcomer"),
                members: f.strings("members"),
                change_cipher_suite: f.flag("changeCipherSuite"),
                change_group_id: f.flag("changeGroupID"),
                extensions: f.extensions("extensions"),
                force_path: f.flag("forcePath"),
                external_tree: f.flag("externalTree"),
            })
        }
        "branch" => Action::Branch {
            members: f.strings("members"),
            extensions: f.extensions("extensions"),
            force_path: f.flag("force_path"),
            external_tree: f.flag("external_tree"),
        },
        "newMemberAddProposal" => Action::NewMemberAddProposal {
            joiner: f.string("joiner"),
        },
        "addExternalSigner" => Action::AddExternalSigner {
            signer: f.string("signer"),
        },
        "externalSignerProposal" => {
            let member = f.string("member");
            let description = match f.get("description") {
                Some(d) => f.description(d, "description")?,
                None => {
                    f.fail("description", "missing");
                    ProposalDescription::ResumptionPsk { epoch_id: 0 }
                }
            };
            Action::ExternalSignerProposal {
                member,
                description,
            }
        }
        _ => return None,
    })
}

/// Every reference names an earlier step that stores the message it needs.
fn check_references(steps: &[Step]) -> Result<(), (usize, String)> {
    let need = |i: usize, at: usize, key: &str, field: &str| -> Result<(), (usize, String)> {
        let target = &steps[at];
        if target.action.stores().contains(&key) {
            Ok(())
        } else {
            Err((
                i,
                format!(
                    "field `{field}` refers to step {at} ({}), which produces no {key}",
                    target.name
                ),
            ))
        }
    };
    let by_value = |i: usize, d: &ProposalDescription| match d.reference() {
        Some((at, key, _)) => need(i, at, key, "byValue"),
        None => Ok(()),
    };
    for (i, s) in steps.iter().enumerate() {
        match &s.action {
            Action::JoinGroup { welcome } => need(i, *welcome, "welcome", "welcome")?,
            Action::ExternalJoin(ExternalJoin { psks, .. }) => {
                for p in psks {
                    need(i, *p, "psk_id", "psks")?;
                }
            }
            Action::Propose(d) => {
                if let Some((at, key, field)) = d.reference() {
                    need(i, at, key, field)?
                }
            }
            Action::FullCommit {
                commit:
                    CommitSpec {
                        by_reference,
                        by_value: values,
                        ..
                    },
                ..
            }
            | Action::Commit(CommitSpec {
                by_reference,
                by_value: values,
                ..
            }) => {
                for r in by_reference {
                    need(i, *r, "proposal", "byReference")?;
                }
                for d in values {
                    by_value(i, d)?;
                }
            }
            Action::HandleCommit {
                commit,
                by_reference,
            } => {
                need(i, *commit, "commit", "commit")?;
                for r in by_reference {
                    need(i, *r, "proposal", "byReference")?;
                }
            }
            Action::Unprotect { ciphertext } => need(i, *ciphertext, "ciphertext", "ciphertext")?,
            Action::Reinit(r) if r.proposer.is_empty() => need(
                i,
                r.external_reinit_proposal,
                "proposal",
                "externalReinitProposal",
            )?,
            Action::ExternalSignerProposal { description, .. } => by_value(i, description)?,
            _ => {}
        }
    }
    Ok(())
}

/// main.go's `Script.Actors()`.
fn actors(steps: &[Step]) -> Vec<String> {
    let mut set = BTreeSet::new();
    for s in steps {
        if let Some(a) = &s.actor {
            set.insert(a.clone());
        }
        match &s.action {
            Action::CreateGroup { members } => set.extend(members.iter().cloned()),
            Action::ExternalJoin(ExternalJoin { joiner, .. })
            | Action::NewMemberAddProposal { joiner } => {
                set.insert(joiner.clone());
            }
            Action::AddExternalSigner { signer } => {
                set.insert(signer.clone());
            }
            _ => {}
        }
    }
    set.remove("");
    set.into_iter().collect()
}

/// Names outside the actor set would make the IETF runner dereference nil; refuse them.
fn check_actor_names(steps: &[Step], actors: &[String]) -> Result<(), (usize, String)> {
    for (i, s) in steps.iter().enumerate() {
        let mut named: Vec<&String> = Vec::new();
        match &s.action {
            Action::FullCommit {
                members, joiners, ..
            } => named.extend(members.iter().chain(joiners)),
            Action::InstallExternalPsk { clients } => named.extend(clients),
            Action::ExternalJoin(ExternalJoin { members, .. }) | Action::Branch { members, .. } => {
                named.extend(members)
            }
            Action::Propose(ProposalDescription::Remove { removed }) => named.push(removed),
            Action::Reinit(Reinit {
                proposer,
                committer,
                welcomer,
                members,
                ..
            }) => {
                named.extend(
                    [proposer, committer, welcomer]
                        .into_iter()
                        .filter(|n| !n.is_empty()),
                );
                named.extend(members);
            }
            Action::ExternalSignerProposal { member, .. } => named.push(member),
            _ => {}
        }
        if let Some(unknown) = named.into_iter().find(|n| !actors.contains(n)) {
            return Err((
                i,
                format!("names `{unknown}`, who is not an actor of the script"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(steps: Value) -> Result<Script, ScriptError> {
        let (config, mut errors) =
            parse(Path::new("t.json"), &json!({ "scripts": { "s": steps } }));
        match errors.pop() {
            Some(e) => Err(e),
            None => Ok(config.unwrap().scripts.remove(0)),
        }
    }

    #[test]
    fn every_shipped_config_parses() {
        let dir = crate::vectors::dir_for_tests().join("mls-interop");
        let mut scripts = 0;
        let mut steps = 0;
        for file in crate::vectors::json_files(&dir).unwrap() {
            let (config, errors) = load(&file);
            assert!(errors.is_empty(), "{errors:?}");
            for s in config.unwrap().scripts {
                scripts += 1;
                steps += s.steps.len();
            }
        }
        // mlswg/mls-implementations cfd4502 interop/configs: 39 scripts, 206 steps.
        assert_eq!((scripts, steps), (39, 206));
    }

    #[test]
    fn branch_keys_the_ietf_runner_ignores_are_warned_about() {
        let file = crate::vectors::dir_for_tests().join("mls-interop/branch.json");
        let (config, _) = load(&file);
        let config = config.unwrap();
        let tree = config
            .scripts
            .iter()
            .find(|s| s.name == "external_tree")
            .unwrap();
        assert!(tree
            .warnings
            .iter()
            .any(|w| w.contains("`externalTree` ignored")));
        assert!(tree.steps.iter().all(|s| !matches!(
            s.action,
            Action::Branch {
                external_tree: true,
                ..
            }
        )));
    }

    #[test]
    fn keys_match_tags_case_insensitively_like_go() {
        let s = one(json!([
            {"action": "createGroup", "actor": "alice"},
            {"action": "reinit", "committer": "alice", "welcomer": "alice",
             "proposer": "alice", "changeCiphersuite": true}
        ]))
        .unwrap();
        assert!(matches!(
            s.steps[1].action,
            Action::Reinit(Reinit {
                change_cipher_suite: true,
                ..
            })
        ));
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }

    #[test]
    fn malformed_steps_name_script_and_step() {
        let unknown = one(
            json!([{"action": "createGroup", "actor": "a"}, {"action": "dance", "actor": "a"}]),
        );
        assert_eq!(
            unknown.unwrap_err().to_string(),
            "t.json, script `s`, step 1: unknown action `dance`"
        );
        let later = one(json!([
            {"action": "createGroup", "actor": "a"},
            {"action": "joinGroup", "actor": "b", "welcome": 2},
            {"action": "fullCommit", "actor": "a", "joiners": ["b"]}
        ]));
        let e = later.unwrap_err().to_string();
        assert!(
            e.contains("step 1") && e.contains("not an earlier step"),
            "{e}"
        );
        let wrong = one(json!([
            {"action": "createGroup", "actor": "a"},
            {"action": "joinGroup", "actor": "a", "welcome": 0}
        ]));
        let e = wrong.unwrap_err().to_string();
        assert!(e.contains("produces no welcome"), "{e}");
        let stranger = one(json!([
            {"action": "createGroup", "actor": "a"},
            {"action": "removeProposal", "actor": "a", "removed": "mallory"}
        ]));
        assert!(stranger.unwrap_err().to_string().contains("`mallory`"));
        let actorless = one(json!([{"action": "createGroup"}]));
        assert!(actorless
            .unwrap_err()
            .to_string()
            .contains("needs an `actor`"));
        let bad_b64 = one(json!([
            {"action": "createGroup", "actor": "a"},
            {"action": "groupContextExtensionsProposal", "actor": "a",
             "extensions": [{"extension_type": 3, "extension_data": "!!"}]}
        ]));
        assert!(bad_b64.unwrap_err().to_string().contains("base64"));
    }

    #[test]
    fn one_bad_script_does_not_stop_the_others() {
        let (config, errors) = parse(
            Path::new("t.json"),
            &json!({"scripts": {
                "good": [{"action": "createGroup", "actor": "a"}],
                "bad": [{"actor": "a"}]
            }}),
        );
        assert_eq!(config.unwrap().scripts.len(), 1);
        assert_eq!(errors.len(), 1);
        assert!(errors[0]
            .to_string()
            .contains("script `bad`, step 0: incomplete step"));
    }
}
