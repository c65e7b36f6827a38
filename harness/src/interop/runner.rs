//! Runs one script with one client per actor, one cipher suite and one encrypt-handshake
//! setting, the way the IETF runner does (mlswg/mls-implementations
//! `interop/test-runner/main.go`), with every message between actors carried by a recording
//! [`DeliveryService`] and every removed member kept listening.
//!
//! Go checks that every call succeeds, that epoch authenticators agree after createGroup,
//! externalJoin, fullCommit, reinit and branch, and that unprotect returns what protect sent.
//! This runner checks the same, requires the authenticators to be non-empty, plants a canary
//! in every application message, and ends every run with a final round: each member still in
//! the group protects a message that every other one must read and no removed member may.

use super::delivery::{DeliveryService, Kind};
use super::script::{Action, CommitSpec, ExternalJoin, ProposalDescription, Reinit, Script};
use crate::clients::{ClientError, Member, MemberClient, ProposalSpec, RawExtension};
use crate::keying;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A seeded bug the checks must flag (`--control NAME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Control {
    /// The first actor also sends each epoch's exported media key to the delivery service in
    /// clear: key escrow, or a server holding the meeting key as Zoom's did in 2020.
    Escrow,
    /// Committers leave the members the script removes in the group.
    KeepRemoved,
}

impl Control {
    pub fn name(self) -> &'static str {
        match self {
            Control::Escrow => "escrow",
            Control::KeepRemoved => "keep-removed",
        }
    }
}

/// One run's configuration.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub suite: u16,
    pub encrypt_handshake: bool,
    /// Client index (into the runner's client list) per actor, in `script.actors` order.
    pub assignment: Vec<usize>,
    pub control: Option<Control>,
    /// Seeds the canaries (so a run is reproducible).
    pub seed: u64,
}

/// Why a run stopped early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// A call failed or a check on a step did not hold.
    Fail(StepFailure),
    /// A client lacks a feature the script needs.
    Unimplemented {
        /// The step index, or None for the final round and the end of the run.
        step: Option<usize>,
        client: &'static str,
        feature: String,
    },
    /// A client's process had stopped answering before the run needed it: nothing was asked.
    Skipped {
        client: &'static str,
        reason: String,
    },
}

/// Where a run failed and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepFailure {
    /// The step index, or None for the final round.
    pub step: Option<usize>,
    pub action: String,
    pub actor: String,
    pub client: &'static str,
    pub error: String,
}

impl std::fmt::Display for StepFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.step {
            Some(s) => write!(f, "step {s} ({})", self.action)?,
            None if self.action == "free" => write!(f, "end of run (Free)")?,
            None => write!(f, "final round")?,
        }
        write!(f, ", {} ({}): {}", self.actor, self.client, self.error)
    }
}

/// What a run found.
#[derive(Debug, Default)]
pub struct RunOutcome {
    /// None when every step and the final round held.
    pub stop: Option<Stop>,
    /// What the delivery service carried and what it recovered from it.
    pub delivery: DeliveryService,
    /// Messages from after a member's removal that it could still process, one line each.
    pub removed_leaks: Vec<String>,
    /// How many messages removed members were given to try.
    pub removed_attempts: usize,
    /// Of those, refused because the client knows it was removed (openmls's
    /// `UseAfterEviction`), before any key was looked up: they do not ask the question.
    pub removed_evicted: usize,
    /// Epoch authenticator comparisons made.
    pub agreements: usize,
    /// Application messages that round-tripped (script and final round).
    pub round_trips: usize,
    /// Clients that could not export a media key, and why (their keys were not searched for).
    pub unexported: BTreeSet<String>,
}

impl RunOutcome {
    /// A run that was not started: nothing carried, nothing compared.
    pub fn not_run(stop: Stop) -> RunOutcome {
        RunOutcome {
            stop: Some(stop),
            ..RunOutcome::default()
        }
    }
}

/// Per-step message cache: what step N stored, by key (main.go's messageCache).
type Cache = Vec<HashMap<&'static str, Vec<u8>>>;

struct Run<'a> {
    script: &'a Script,
    clients: &'a [&'a dyn MemberClient],
    config: &'a RunConfig,
    members: BTreeMap<String, Box<dyn Member>>,
    cache: Cache,
    /// Who made the proposal stored at a step (own proposals are not fed back to their maker).
    proposer: HashMap<usize, String>,
    /// What a removeProposal step removes.
    removes: HashMap<usize, String>,
    suite: u16,
    /// Actors the script has in the group, and the authenticator they should share.
    in_group: BTreeSet<String>,
    head: Option<Vec<u8>>,
    /// Removed actors and the step that removed them.
    removed: BTreeMap<String, usize>,
    rng: StdRng,
    out: RunOutcome,
    /// Media keys the escrow control already handed over.
    escrowed: BTreeSet<Vec<u8>>,
}

/// What a failing call is turned into.
fn stop_for(
    step: Option<usize>,
    action: &str,
    actor: &str,
    client: &'static str,
    e: ClientError,
) -> Stop {
    match e {
        ClientError::Unsupported { client, reason } => Stop::Unimplemented {
            step,
            client,
            feature: reason,
        },
        ClientError::Gone { client, reason } => Stop::Skipped { client, reason },
        other => Stop::Fail(StepFailure {
            step,
            action: action.to_string(),
            actor: actor.to_string(),
            client,
            error: other.to_string(),
        }),
    }
}

/// Runs `script` under `config` with `clients`.
pub fn run(script: &Script, clients: &[&dyn MemberClient], config: &RunConfig) -> RunOutcome {
    let mut run = Run {
        script,
        clients,
        config,
        members: BTreeMap::new(),
        cache: vec![HashMap::new(); script.steps.len()],
        proposer: HashMap::new(),
        removes: HashMap::new(),
        suite: config.suite,
        in_group: BTreeSet::new(),
        head: None,
        removed: BTreeMap::new(),
        rng: StdRng::seed_from_u64(config.seed),
        out: RunOutcome::default(),
        escrowed: BTreeSet::new(),
    };
    let mut stop = None;
    for i in 0..script.steps.len() {
        if let Err(s) = run.step(i) {
            // What the members hold at the stop is still searched for.
            let _ = run.observe_keys(i);
            stop = Some(s);
            break;
        }
        if let Err(s) = run.observe_keys(i) {
            stop = Some(s);
            break;
        }
    }
    if stop.is_none() {
        stop = run.final_round().err();
    }
    // main.go frees every actor's state at the end, pass or fail; a refused Free fails the run.
    let freed = run.free_all();
    run.out.stop = stop.or(freed.err());
    run.out.delivery.analyse();
    run.out
}

impl<'a> Run<'a> {
    fn free_all(&mut self) -> Result<(), Stop> {
        let mut first = Ok(());
        for (actor, m) in &mut self.members {
            if let Err(e) = m.free() {
                if first.is_ok() {
                    first = Err(stop_for(None, "free", actor, m.client(), e));
                }
            }
        }
        first
    }

    fn client_of(&self, actor: &str) -> &'a dyn MemberClient {
        let slot = self
            .script
            .actors
            .iter()
            .position(|a| a == actor)
            .unwrap_or(0);
        self.clients[self.config.assignment.get(slot).copied().unwrap_or(0)]
    }

    fn fail(&self, step: usize, actor: &str, error: impl Into<String>) -> Stop {
        Stop::Fail(StepFailure {
            step: Some(step),
            action: self.script.steps[step].name.clone(),
            actor: actor.to_string(),
            client: self.client_of(actor).name(),
            error: error.into(),
        })
    }

    /// The member playing `actor`, made on first use.
    fn member(&mut self, step: usize, actor: &str) -> Result<&mut Box<dyn Member>, Stop> {
        if !self.members.contains_key(actor) {
            let client = self.client_of(actor);
            let m = client
                .member(actor.as_bytes())
                .map_err(|e| self.call_failed(step, actor, e))?;
            self.members.insert(actor.to_string(), m);
        }
        Ok(self.members.get_mut(actor).expect("inserted above"))
    }

    fn call_failed(&self, step: usize, actor: &str, e: ClientError) -> Stop {
        stop_for(
            Some(step),
            &self.script.steps[step].name,
            actor,
            self.client_of(actor).name(),
            e,
        )
    }

    /// Calls `f` on `actor`'s member, turning an error into the run's stop.
    fn call<T>(
        &mut self,
        step: usize,
        actor: &str,
        f: impl FnOnce(&mut dyn Member) -> Result<T, ClientError>,
    ) -> Result<T, Stop> {
        let m = self.member(step, actor)?;
        let r = f(m.as_mut());
        r.map_err(|e| self.call_failed(step, actor, e))
    }

    fn get(&self, step: usize, index: usize, key: &'static str) -> Result<Vec<u8>, Stop> {
        self.cache
            .get(index)
            .and_then(|m| m.get(key))
            .cloned()
            .ok_or_else(|| {
                self.fail(
                    step,
                    "",
                    format!("no message for key {key} at step {index}"),
                )
            })
    }

    fn store(&mut self, step: usize, key: &'static str, bytes: Vec<u8>) {
        self.cache[step].insert(key, bytes);
    }

    /// The member's epoch authenticator, required non-empty.
    fn authenticator(&mut self, step: usize, actor: &str) -> Result<Vec<u8>, Stop> {
        let ea = self.call(step, actor, |m| m.epoch_authenticator())?;
        if ea.is_empty() {
            return Err(self.fail(step, actor, "empty epoch authenticator"));
        }
        Ok(ea)
    }

    /// `actor` must share `reference`'s authenticator (Go: "failed to agree on epoch
    /// authenticator").
    fn agree(&mut self, step: usize, actor: &str, reference: &[u8]) -> Result<(), Stop> {
        let ea = self.authenticator(step, actor)?;
        self.out.agreements += 1;
        if ea != reference {
            return Err(self.fail(
                step,
                actor,
                format!(
                    "epoch authenticator {} differs from the group's {}",
                    hex::encode(&ea),
                    hex::encode(reference)
                ),
            ));
        }
        Ok(())
    }

    fn spec(&mut self, step: usize, d: &ProposalDescription) -> Result<ProposalSpec, Stop> {
        Ok(match d {
            ProposalDescription::Add { key_package } => ProposalSpec::Add {
                key_package: self.get(step, *key_package, "key_package")?,
            },
            ProposalDescription::Remove { removed } => ProposalSpec::Remove {
                identity: removed.as_bytes().to_vec(),
            },
            ProposalDescription::ExternalPsk { psk_id } => ProposalSpec::ExternalPsk {
                psk_id: self.get(step, *psk_id, "psk_id")?,
            },
            ProposalDescription::ResumptionPsk { epoch_id } => {
                ProposalSpec::ResumptionPsk { epoch: *epoch_id }
            }
            ProposalDescription::GroupContextExtensions { extensions } => {
                ProposalSpec::GroupContextExtensions {
                    extensions: extensions.clone(),
                }
            }
            ProposalDescription::Reinit {
                extensions,
                change_group_id,
                change_cipher_suite,
            } => {
                if *change_cipher_suite {
                    self.change_suite(step)?;
                }
                ProposalSpec::Reinit {
                    group_id: self.new_group_id(step, *change_group_id)?,
                    cipher_suite: self.suite,
                    extensions: extensions.clone(),
                }
            }
        })
    }

    /// main.go `NewGroupID`: step 0's group id, with "++" when it changes.
    fn new_group_id(&self, step: usize, change: bool) -> Result<Vec<u8>, Stop> {
        let mut id = self.get(step, 0, "group_id")?;
        if change {
            id.extend_from_slice(b"++");
        }
        Ok(id)
    }

    /// main.go `ChangeCipherSuite`: another suite every assigned client supports (the
    /// smallest, where Go picks at random).
    fn change_suite(&mut self, step: usize) -> Result<(), Stop> {
        let used: BTreeSet<usize> = self.config.assignment.iter().copied().collect();
        let mut common: Option<BTreeSet<u16>> = None;
        for c in used {
            let suites: BTreeSet<u16> = self.clients[c].cipher_suites().into_iter().collect();
            common = Some(match common {
                None => suites,
                Some(s) => s.intersection(&suites).copied().collect(),
            });
        }
        let next = common
            .unwrap_or_default()
            .into_iter()
            .find(|s| *s != self.suite);
        match next {
            Some(s) => {
                self.suite = s;
                Ok(())
            }
            None => Err(self.fail(step, "", "no remaining supported cipher suite")),
        }
    }

    /// Sends `bytes` through the delivery service.
    fn carry(&mut self, step: usize, kind: Kind, from: &str, bytes: &[u8]) {
        self.out
            .delivery
            .carry(Some(step), kind, from, bytes.to_vec());
    }

    fn step(&mut self, i: usize) -> Result<(), Stop> {
        let step = &self.script.steps[i];
        let actor = step.actor.clone().unwrap_or_default();
        let enc = self.config.encrypt_handshake;
        match step.action.clone() {
            Action::CreateGroup { members } => self.create_group(i, &actor, &members)?,
            Action::CreateKeyPackage => {
                let suite = self.suite;
                let kp = self.call(i, &actor, |m| m.create_key_package(suite))?;
                self.carry(i, Kind::KeyPackage, &actor, &kp);
                self.store(i, "key_package", kp);
            }
            Action::JoinGroup { welcome } => {
                let w = self.get(i, welcome, "welcome")?;
                self.call(i, &actor, |m| m.join(&w, None, enc))?;
                self.joined(&actor);
                self.head = Some(self.authenticator(i, &actor)?);
            }
            Action::ExternalJoin(join) => self.external_join(i, &actor, &join)?,
            Action::InstallExternalPsk { clients } => self.install_external_psk(i, &clients)?,
            Action::GroupInfo { external_tree } => {
                let (gi, tree) = self.call(i, &actor, |m| m.group_info(external_tree))?;
                self.carry(i, Kind::GroupInfo, &actor, &gi);
                self.store(i, "group_info", gi);
                if let Some(t) = tree {
                    self.carry(i, Kind::RatchetTree, &actor, &t);
                    self.store(i, "ratchet_tree", t);
                }
            }
            Action::Propose(description) => {
                if let ProposalDescription::Remove { removed } = &description {
                    self.removes.insert(i, removed.clone());
                }
                let spec = self.spec(i, &description)?;
                self.propose(i, &actor, &spec)?;
            }
            Action::UpdateProposal => {
                let p = self.call(i, &actor, |m| m.propose_update())?;
                self.proposed(i, &actor, p);
            }
            Action::FullCommit {
                commit,
                members,
                joiners,
            } => self.full_commit(i, &actor, &commit, &members, &joiners)?,
            Action::Commit(spec) => {
                let (_, removed) = self.build_commit(i, &actor, &spec)?;
                for r in removed {
                    self.in_group.remove(&r);
                    self.removed.insert(r, i);
                }
            }
            Action::HandleCommit {
                commit,
                by_reference,
            } => {
                let c = self.get(i, commit, "commit")?;
                let props = self.proposals_for(i, &actor, &by_reference)?;
                self.call(i, &actor, |m| m.handle_commit(&props, &c))?;
            }
            Action::HandlePendingCommit => {
                self.call(i, &actor, |m| m.merge_pending_commit())?;
                // No comparison here (Go makes none), but the final round starts from it.
                self.head = Some(self.authenticator(i, &actor)?);
            }
            Action::Protect {
                authenticated_data,
                plaintext,
            } => self.protect(i, &actor, authenticated_data, plaintext)?,
            Action::Unprotect { ciphertext } => self.unprotect(i, &actor, ciphertext)?,
            Action::Reinit(r) => self.reinit(i, r)?,
            Action::Branch {
                members,
                extensions,
                force_path,
                external_tree,
            } => self.branch(i, &actor, &members, &extensions, force_path, external_tree)?,
            Action::NewMemberAddProposal { joiner } => {
                let (gi, _) = self.call(i, &actor, |m| m.group_info(false))?;
                self.carry(i, Kind::GroupInfo, &actor, &gi);
                let p = self.call(i, &joiner, |m| m.new_member_add_proposal(&gi))?;
                self.carry(i, Kind::Proposal, &joiner, &p);
                self.proposer.insert(i, joiner);
                self.store(i, "proposal", p);
            }
            Action::AddExternalSigner { signer } => {
                let suite = self.suite;
                let es = self.call(i, &signer, |m| m.create_external_signer(suite))?;
                self.carry(i, Kind::ExternalSender, &signer, &es);
                let p = self.call(i, &actor, |m| m.add_external_signer(&es))?;
                self.proposed(i, &actor, p);
            }
            Action::ExternalSignerProposal {
                member,
                description,
            } => self.external_signer_proposal(i, &actor, &member, &description)?,
        }
        Ok(())
    }

    /// createGroup: the creator makes the group and, when the script lists members, adds them in
    /// one commit and they join from its Welcome (the IETF runner's `createGroup`).
    fn create_group(&mut self, i: usize, actor: &str, members: &[String]) -> Result<(), Stop> {
        let enc = self.config.encrypt_handshake;
        let group_id = format!("{}-{:016x}", self.script.name, self.rng.random::<u64>());
        let suite = self.suite;
        self.call(i, actor, |m| {
            m.create_group(group_id.as_bytes(), suite, enc)
        })?;
        self.store(i, "group_id", group_id.into_bytes());
        self.in_group = BTreeSet::from([actor.to_string()]);
        if members.is_empty() {
            // The IETF runner asks nothing here: a client that cannot say (a server answering
            // StateAuth with no bytes) leaves the group's authenticator unknown until a commit.
            let reported = self.members.get(actor).map(|m| m.epoch_authenticator());
            self.head = match reported {
                Some(Err(ClientError::Unsupported { .. })) => None,
                _ => Some(self.authenticator(i, actor)?),
            };
            return Ok(());
        }
        let mut adds = Vec::new();
        for m in members {
            let kp = self.call(i, m, |mm| mm.create_key_package(suite))?;
            self.carry(i, Kind::KeyPackage, m, &kp);
            adds.push(ProposalSpec::Add { key_package: kp });
        }
        let out = self.call(i, actor, |m| m.commit(&[], &adds, false, false))?;
        self.carry(i, Kind::Commit, actor, &out.commit);
        self.call(i, actor, |m| m.merge_pending_commit())?;
        let ea = self.authenticator(i, actor)?;
        let welcome = out
            .welcome
            .ok_or_else(|| self.fail(i, actor, "commit adding members made no Welcome"))?;
        self.carry(i, Kind::Welcome, actor, &welcome);
        for m in members {
            self.call(i, m, |mm| mm.join(&welcome, None, enc))?;
            self.agree(i, m, &ea)?;
            self.joined(m);
        }
        self.head = Some(ea);
        Ok(())
    }

    /// externalJoin: `actor` publishes a GroupInfo, `joiner` commits itself in from it and
    /// every member (and `actor`) processes that commit.
    fn external_join(&mut self, i: usize, actor: &str, join: &ExternalJoin) -> Result<(), Stop> {
        let ExternalJoin {
            joiner,
            members,
            external_tree,
            remove_prior,
            psks,
        } = join;
        let (joiner, external_tree, remove_prior) =
            (joiner.as_str(), *external_tree, *remove_prior);
        let enc = self.config.encrypt_handshake;
        let (gi, tree) = self.call(i, actor, |m| m.group_info(external_tree))?;
        self.carry(i, Kind::GroupInfo, actor, &gi);
        if let Some(t) = &tree {
            self.carry(i, Kind::RatchetTree, actor, t);
        }
        let mut secrets = Vec::new();
        for p in psks {
            secrets.push((self.get(i, *p, "psk_id")?, self.get(i, *p, "psk_secret")?));
        }
        self.store(i, "group_info", gi.clone());
        if let Some(t) = &tree {
            self.store(i, "ratchet_tree", t.clone());
        }
        let commit = self.call(i, joiner, |m| {
            m.external_join(&gi, tree.as_deref(), enc, remove_prior, &secrets)
        })?;
        self.carry(i, Kind::Commit, joiner, &commit);
        self.store(i, "commit", commit.clone());
        let ea = self.authenticator(i, joiner)?;
        let mut processors = members.to_vec();
        processors.push(actor.to_string());
        for m in &processors {
            self.call(i, m, |mm| mm.handle_commit(&[], &commit))
                .map_err(|e| self.made_by(e, joiner))?;
            self.agree(i, m, &ea)?;
        }
        self.feed_removed(i, &commit, Some(&[]));
        self.joined(joiner);
        self.head = Some(ea);
        Ok(())
    }

    /// installExternalPSK: one fresh PSK to each of `clients`, out of band.
    fn install_external_psk(&mut self, i: usize, clients: &[String]) -> Result<(), Stop> {
        // Out of band: the delivery service never sees a PSK.
        let mut id = vec![0u8; 32];
        let mut secret = vec![0u8; 32];
        self.rng.fill(&mut id[..]);
        self.rng.fill(&mut secret[..]);
        for c in clients {
            self.call(i, c, |m| m.store_psk(&id, &secret))?;
        }
        self.out
            .delivery
            .add_secret(secret.clone(), "an external PSK");
        self.store(i, "psk_id", id);
        self.store(i, "psk_secret", secret);
        Ok(())
    }

    /// fullCommit: commit, merge, every member processes it (removed members too), joiners
    /// join from its Welcome; all must agree.
    fn full_commit(
        &mut self,
        i: usize,
        actor: &str,
        spec: &CommitSpec,
        members: &[String],
        joiners: &[String],
    ) -> Result<(), Stop> {
        let enc = self.config.encrypt_handshake;
        let by_reference = &spec.by_reference;
        let (out, removed) = self.build_commit(i, actor, spec)?;
        self.call(i, actor, |m| m.merge_pending_commit())?;
        let ea = self.authenticator(i, actor)?;
        for m in members {
            let props = self.proposals_for(i, m, by_reference)?;
            self.call(i, m, |mm| mm.handle_commit(&props, &out.commit))
                .map_err(|e| self.made_by(e, actor))?;
            self.agree(i, m, &ea)?;
        }
        self.feed_removed(i, &out.commit, Some(by_reference));
        for r in removed {
            self.in_group.remove(&r);
            self.removed.insert(r.clone(), i);
            // The commit that removes a member still reaches it (RFC 9420 §12.4.2).
            self.feed_one(i, &r, &out.commit, Some(by_reference));
        }
        for j in joiners {
            let w = out
                .welcome
                .clone()
                .ok_or_else(|| self.fail(i, actor, "the commit made no Welcome"))?;
            let tree = out.ratchet_tree.clone();
            self.call(i, j, |m| m.join(&w, tree.as_deref(), enc))?;
            self.agree(i, j, &ea)?;
            self.joined(j);
        }
        self.head = Some(ea);
        Ok(())
    }

    /// protect: an application message with a canary planted in it.
    fn protect(
        &mut self,
        i: usize,
        actor: &str,
        authenticated_data: String,
        plaintext: String,
    ) -> Result<(), Stop> {
        let pt = self.with_canary(plaintext.as_bytes());
        let aad = authenticated_data.into_bytes();
        let ct = self.call(i, actor, |m| m.protect(&aad, &pt))?;
        self.carry(i, Kind::Application, actor, &ct);
        self.feed_removed(i, &ct, None);
        self.store(i, "authenticatedData", aad);
        self.store(i, "plaintext", pt);
        self.store(i, "ciphertext", ct);
        Ok(())
    }

    /// unprotect: must give back exactly what the protect step sent.
    fn unprotect(&mut self, i: usize, actor: &str, ciphertext: usize) -> Result<(), Stop> {
        let ct = self.get(i, ciphertext, "ciphertext")?;
        let aad = self.get(i, ciphertext, "authenticatedData")?;
        let pt = self.get(i, ciphertext, "plaintext")?;
        let got = self.call(i, actor, |m| m.unprotect(&ct))?;
        if got.authenticated_data != aad {
            return Err(self.fail(i, actor, "incorrect authenticated data"));
        }
        if got.plaintext != pt {
            return Err(self.fail(i, actor, "incorrect plaintext"));
        }
        self.out.round_trips += 1;
        self.store(i, "authenticatedData", got.authenticated_data);
        self.store(i, "plaintext", got.plaintext);
        Ok(())
    }

    /// branch: `actor` branches a subgroup with `members`, who join from its Welcome.
    fn branch(
        &mut self,
        i: usize,
        actor: &str,
        members: &[String],
        extensions: &[RawExtension],
        force_path: bool,
        external_tree: bool,
    ) -> Result<(), Stop> {
        let suite = self.suite;
        let mut kps = Vec::new();
        for m in members {
            let kp = self.call(i, m, |mm| mm.create_key_package(suite))?;
            self.carry(i, Kind::KeyPackage, m, &kp);
            kps.push(kp);
        }
        let group_id = format!(
            "{}-branch-{:016x}",
            self.script.name,
            self.rng.random::<u64>()
        );
        let out = self.call(i, actor, |m| {
            m.create_branch(
                group_id.as_bytes(),
                extensions,
                &kps,
                force_path,
                external_tree,
            )
        })?;
        let ea = self.authenticator(i, actor)?;
        let welcome = out
            .welcome
            .ok_or_else(|| self.fail(i, actor, "the branch made no Welcome"))?;
        self.carry(i, Kind::Welcome, actor, &welcome);
        if let Some(t) = &out.ratchet_tree {
            self.carry(i, Kind::RatchetTree, actor, t);
        }
        for m in members {
            let tree = out.ratchet_tree.clone();
            self.call(i, m, |mm| mm.handle_branch(&welcome, tree.as_deref()))?;
            self.agree(i, m, &ea)?;
        }
        self.in_group = members.iter().cloned().chain([actor.to_string()]).collect();
        self.head = Some(ea);
        Ok(())
    }

    /// externalSignerProposal: `actor`, an external signer, proposes into `member`'s group.
    fn external_signer_proposal(
        &mut self,
        i: usize,
        actor: &str,
        member: &str,
        description: &ProposalDescription,
    ) -> Result<(), Stop> {
        let (gi, tree) = self.call(i, member, |m| m.group_info(true))?;
        self.carry(i, Kind::GroupInfo, member, &gi);
        let tree = tree.unwrap_or_default();
        self.carry(i, Kind::RatchetTree, member, &tree);
        if let ProposalDescription::Remove { removed } = &description {
            self.removes.insert(i, removed.clone());
        }
        let spec = self.spec(i, description)?;
        let p = self.call(i, actor, |m| m.external_signer_proposal(&gi, &tree, &spec))?;
        self.proposed(i, actor, p);
        Ok(())
    }

    /// A receiver's failure names whose commit it could not process: when every receiver
    /// fails on one client's commits, the fault is the committer's.
    fn made_by(&self, stop: Stop, committer: &str) -> Stop {
        match stop {
            Stop::Fail(mut f) => {
                f.error = format!(
                    "on the commit {committer} ({}) made: {}",
                    self.client_of(committer).name(),
                    f.error
                );
                Stop::Fail(f)
            }
            other => other,
        }
    }

    fn propose(&mut self, i: usize, actor: &str, spec: &ProposalSpec) -> Result<(), Stop> {
        let p = self.call(i, actor, |m| m.propose(spec))?;
        self.proposed(i, actor, p);
        Ok(())
    }

    fn proposed(&mut self, i: usize, actor: &str, p: Vec<u8>) {
        self.carry(i, Kind::Proposal, actor, &p);
        self.proposer.insert(i, actor.to_string());
        self.store(i, "proposal", p);
    }

    /// The by-reference proposals `actor` has to be given: everyone's but its own.
    fn proposals_for(&self, i: usize, actor: &str, refs: &[usize]) -> Result<Vec<Vec<u8>>, Stop> {
        self.proposals(i, actor, refs, false)
    }

    /// As [`Run::proposals_for`]; for the `committer` under keep-removed, without the Removes.
    fn proposals(
        &self,
        i: usize,
        actor: &str,
        refs: &[usize],
        committer: bool,
    ) -> Result<Vec<Vec<u8>>, Stop> {
        let mut out = Vec::new();
        for r in refs {
            if self.proposer.get(r).map(String::as_str) == Some(actor) {
                continue;
            }
            if committer
                && self.config.control == Some(Control::KeepRemoved)
                && self.removes.contains_key(r)
            {
                // The control: the committer leaves out others' Removes (its own it keeps:
                // the clients commit every proposal they made).
                continue;
            }
            out.push(self.get(i, *r, "proposal")?);
        }
        Ok(out)
    }

    /// Builds a commit (pending) and returns it with the actors it removes.
    fn build_commit(
        &mut self,
        i: usize,
        actor: &str,
        spec: &CommitSpec,
    ) -> Result<(crate::clients::CommitOutput, Vec<String>), Stop> {
        let CommitSpec {
            by_reference,
            by_value,
            force_path,
            external_tree,
        } = spec;
        let keep = self.config.control == Some(Control::KeepRemoved);
        let mut removed: Vec<String> = by_reference
            .iter()
            .filter_map(|r| self.removes.get(r).cloned())
            .collect();
        let mut specs = Vec::new();
        for d in by_value {
            if let ProposalDescription::Remove { removed: r } = d {
                removed.push(r.clone());
                if keep {
                    continue;
                }
            }
            specs.push(self.spec(i, d)?);
        }
        let props = self.proposals(i, actor, by_reference, true)?;
        let out = self.call(i, actor, |m| {
            m.commit(&props, &specs, *force_path, *external_tree)
        })?;
        self.carry(i, Kind::Commit, actor, &out.commit);
        if let Some(w) = &out.welcome {
            self.carry(i, Kind::Welcome, actor, w);
        }
        if let Some(t) = &out.ratchet_tree {
            self.carry(i, Kind::RatchetTree, actor, t);
        }
        self.store(i, "commit", out.commit.clone());
        if let Some(w) = &out.welcome {
            self.store(i, "welcome", w.clone());
        }
        Ok((out, removed))
    }

    fn joined(&mut self, actor: &str) {
        self.in_group.insert(actor.to_string());
        self.removed.remove(actor);
    }

    /// The delivery service keeps forwarding to removed members; what they can still process
    /// is a leak. `commit`: the message is a commit covering these by-reference proposals (which
    /// the members are forwarded too), else an application message.
    fn feed_removed(&mut self, i: usize, bytes: &[u8], commit: Option<&[usize]>) {
        let removed: Vec<String> = self.removed.keys().cloned().collect();
        for r in removed {
            self.feed_one(i, &r, bytes, commit);
        }
    }

    fn feed_one(&mut self, i: usize, actor: &str, bytes: &[u8], commit: Option<&[usize]>) {
        let Some(since) = self.removed.get(actor).copied() else {
            return;
        };
        let proposals = commit.map(|refs| self.proposals_for(i, actor, refs).unwrap_or_default());
        let Some(m) = self.members.get_mut(actor) else {
            return;
        };
        if let Some(proposals) = proposals {
            let result = m.handle_commit(&proposals, bytes);
            let ok = result.is_ok();
            // Processing the commit that removes it is allowed; anything later is not.
            if since != i {
                self.out.removed_attempts += 1;
                self.out.removed_evicted += usize::from(refused_as_evicted(&result));
                if ok {
                    self.out.removed_leaks.push(format!(
                        "{actor} (removed at step {since}) processed the commit of step {i}"
                    ));
                }
            }
        } else {
            self.out.removed_attempts += 1;
            let result = m.unprotect(bytes);
            self.out.removed_evicted += usize::from(refused_as_evicted(&result));
            if let Ok(p) = result {
                let what = if i == usize::MAX {
                    "a final-round message".to_string()
                } else {
                    format!("the message of step {i}")
                };
                self.out.removed_leaks.push(format!(
                    "{actor} (removed at step {since}) decrypted {what}: {:?}",
                    String::from_utf8_lossy(&p.plaintext)
                ));
            }
        }
    }

    /// `plaintext` with a fresh canary appended (the delivery service must never see it).
    fn with_canary(&mut self, plaintext: &[u8]) -> Vec<u8> {
        let canary = format!("canary-{:032x}", self.rng.random::<u128>());
        self.out.delivery.add_canary(canary.clone().into_bytes());
        let mut pt = plaintext.to_vec();
        pt.push(b' ');
        pt.extend_from_slice(canary.as_bytes());
        pt
    }

    /// After each step: every member's media key of its current epoch is a secret the delivery
    /// service must not hold; under `escrow` the first actor sends its own.
    /// Err when a member's client stopped answering while asked (the run ends there, naming
    /// the RPC); other export failures leave that key out of the search.
    fn observe_keys(&mut self, step: usize) -> Result<(), Stop> {
        let mut escrow = None;
        for (actor, m) in &self.members {
            if m.cipher_suite().is_none() {
                continue;
            }
            // The media key of an epoch is RFC 9605 §5.2's SFrame base key.
            let key = keying::base_key(keying::MEDIA_SUITE, |l, c, n| m.export_secret(l, c, n));
            match &key {
                Err(ClientError::Unsupported { client, reason }) => {
                    self.out.unexported.insert(format!("{client}: {reason}"));
                }
                Err(e @ (ClientError::Failed(_) | ClientError::Gone { .. }))
                    if self.client_of(actor).gone().is_some() =>
                {
                    return Err(stop_for(Some(step), "export", actor, m.client(), e.clone()));
                }
                _ => {}
            }
            if let Ok(key) = key {
                let epoch = m.epoch().unwrap_or(0);
                self.out.delivery.add_secret(
                    key.clone(),
                    &format!("{actor}'s media key of epoch {epoch}"),
                );
                if self.config.control == Some(Control::Escrow)
                    && escrow.is_none()
                    && !self.escrowed.contains(&key)
                {
                    escrow = Some((actor.clone(), key));
                }
            }
        }
        if let Some((actor, key)) = escrow {
            self.escrowed.insert(key.clone());
            self.carry(step, Kind::Escrow, &actor, &key);
        }
        Ok(())
    }

    /// Every member still in the group (sharing the last agreed authenticator) protects one
    /// message; every other such member must read it; removed members must not.
    fn final_round(&mut self) -> Result<(), Stop> {
        let Some(head) = self.head.clone() else {
            return Ok(());
        };
        let current: Vec<String> = self
            .in_group
            .iter()
            .filter(|a| {
                self.members
                    .get(*a)
                    .and_then(|m| m.epoch_authenticator().ok())
                    .is_some_and(|ea| ea == head)
            })
            .cloned()
            .collect();
        for sender in &current {
            let pt = self.with_canary(format!("final round from {sender}").as_bytes());
            let aad = b"final round".to_vec();
            let client = self.client_of(sender).name();
            let ct = self
                .members
                .get_mut(sender)
                .expect("current members exist")
                .protect(&aad, &pt)
                .map_err(|e| stop_for(None, "protect", sender, client, e))?;
            self.out
                .delivery
                .carry(None, Kind::Application, sender, ct.clone());
            for r in self.removed.keys().cloned().collect::<Vec<_>>() {
                self.feed_one(usize::MAX, &r, &ct, None);
            }
            for receiver in current.iter().filter(|r| *r != sender) {
                let client = self.client_of(receiver).name();
                let got = self
                    .members
                    .get_mut(receiver)
                    .expect("current members exist")
                    .unprotect(&ct)
                    .map_err(|e| stop_for(None, "unprotect", receiver, client, e))?;
                if got.plaintext != pt || got.authenticated_data != aad {
                    return Err(Stop::Fail(StepFailure {
                        step: None,
                        action: "unprotect".into(),
                        actor: receiver.clone(),
                        client,
                        error: format!("read another message than {sender} sent"),
                    }));
                }
                self.out.round_trips += 1;
            }
        }
        Ok(())
    }
}

impl Run<'_> {
    /// main.go `reinit`: propose, commit by reference, every member leaves the old group for
    /// the new one the welcomer creates.
    fn reinit(&mut self, i: usize, r: Reinit) -> Result<(), Stop> {
        let proposal = if r.proposer.is_empty() {
            self.get(i, r.external_reinit_proposal, "proposal")?
        } else {
            let group_id = self.new_group_id(i, r.change_group_id)?;
            if r.change_cipher_suite {
                self.change_suite(i)?;
            }
            let spec = ProposalSpec::Reinit {
                group_id,
                cipher_suite: self.suite,
                extensions: r.extensions.clone(),
            };
            let p = self.call(i, &r.proposer, |m| m.propose(&spec))?;
            self.carry(i, Kind::Proposal, &r.proposer, &p);
            p
        };
        // A member skips a proposal it made itself (it could not decrypt its own).
        let commit = self.call(i, &r.committer, |m| m.reinit_commit(&proposal))?;
        self.carry(i, Kind::Commit, &r.committer, &commit);
        let (ea, committer_kp) = self.call(i, &r.committer, |m| m.merge_pending_reinit_commit())?;
        let mut everyone: BTreeSet<String> = r.members.iter().cloned().collect();
        everyone.insert(r.welcomer.clone());
        everyone.insert(r.committer.clone());
        if !r.proposer.is_empty() {
            everyone.insert(r.proposer.clone());
        }
        let mut kps: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        kps.insert(r.committer.clone(), committer_kp);
        for m in everyone.iter().filter(|m| **m != r.committer) {
            let (ea_m, kp) = self.call(i, m, |mm| mm.handle_reinit_commit(&proposal, &commit))?;
            self.out.agreements += 1;
            if ea_m != ea || ea_m.is_empty() {
                return Err(self.fail(i, m, "epoch authenticator after the ReInit commit differs"));
            }
            kps.insert(m.clone(), kp);
        }
        for (m, kp) in &kps {
            self.carry(i, Kind::KeyPackage, m, kp);
        }
        let others: Vec<Vec<u8>> = kps
            .iter()
            .filter(|(m, _)| **m != r.welcomer)
            .map(|(_, kp)| kp.clone())
            .collect();
        let out = self.call(i, &r.welcomer, |m| {
            m.reinit_welcome(&others, r.force_path, r.external_tree)
        })?;
        let ea_w = self.authenticator(i, &r.welcomer)?;
        let welcome = out
            .welcome
            .ok_or_else(|| self.fail(i, &r.welcomer, "the re-initialised group has no Welcome"))?;
        self.carry(i, Kind::Welcome, &r.welcomer, &welcome);
        if let Some(t) = &out.ratchet_tree {
            self.carry(i, Kind::RatchetTree, &r.welcomer, t);
        }
        for m in everyone.iter().filter(|m| **m != r.welcomer) {
            let tree = out.ratchet_tree.clone();
            self.call(i, m, |mm| {
                mm.handle_reinit_welcome(&welcome, tree.as_deref())
            })?;
            self.agree(i, m, &ea_w)?;
        }
        self.in_group = everyone;
        self.head = Some(ea_w);
        Ok(())
    }
}

/// Whether a removed member's client refused a message because it knows it was removed
/// (openmls 0.9.2: `MlsGroupStateError::UseAfterEviction`, checked before decryption in
/// `processing.rs`), rather than for want of the keys.
fn refused_as_evicted<T>(result: &Result<T, crate::clients::ClientError>) -> bool {
    result
        .as_ref()
        .is_err_and(|e| e.to_string().contains("UseAfterEviction"))
}
