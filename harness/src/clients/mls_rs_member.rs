//! mls-rs 0.57 as a full group member ([`Member`]), through its public API only.
//!
//! mls-rs takes wire format and commit options from one `MlsRules` per client, not per group,
//! so [`Rules`] looks each group up by id (the encrypt flag) and carries the next commit's
//! options (forced path, tree out of band). One mls-rs `Client` is one signing identity in one
//! cipher suite; a member keeps one per suite it has used (ReInit may change the suite).

use super::member::{CommitOutput, Member, Plaintext, ProposalSpec, RawExtension};
use super::{failed, ClientError};
use mls_rs::client_builder::{
    BaseConfig, PaddingMode, WithCryptoProvider, WithIdentityProvider, WithMlsRules,
};
use mls_rs::error::MlsError;
use mls_rs::external_client::ExternalClient;
use mls_rs::group::{CommitEffect, ExportedTree, ReceivedMessage, ReinitClient, Roster};
use mls_rs::identity::basic::{BasicCredential, BasicIdentityProvider};
use mls_rs::identity::SigningIdentity;
use mls_rs::mls_rs_codec::{MlsDecode, MlsEncode};
use mls_rs::mls_rules::{
    CommitDirection, CommitOptions, CommitSource, EncryptionOptions, ProposalBundle,
};
use mls_rs::psk::{ExternalPskId, PreSharedKey};
use mls_rs::{
    CipherSuite, CipherSuiteProvider, Client, CryptoProvider, Extension, ExtensionList, Group,
    MlsMessage, MlsRules, ProtocolVersion,
};
use mls_rs_core::crypto::SignatureSecretKey;
use mls_rs_core::extension::ExtensionType;
use mls_rs_core::group::GroupContext;
use mls_rs_crypto_rustcrypto::RustCryptoProvider;
use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

pub(super) const NAME: &str = "mls-rs";

fn message(bytes: &[u8], what: &str) -> Result<MlsMessage, ClientError> {
    MlsMessage::from_bytes(bytes).map_err(|e| failed(&format!("decoding {what}"), e))
}

fn tree(bytes: Option<&[u8]>) -> Result<Option<ExportedTree<'static>>, ClientError> {
    bytes
        .map(|b| {
            ExportedTree::from_bytes(b)
                .map(ExportedTree::into_owned)
                .map_err(|e| failed("decoding the ratchet tree", e))
        })
        .transpose()
}

fn extension_list(extensions: &[RawExtension]) -> ExtensionList {
    extensions
        .iter()
        .map(|e| {
            Extension::new(
                ExtensionType::new(e.extension_type),
                e.extension_data.clone(),
            )
        })
        .collect()
}

/// Options of the next commit, set just before it and reset after.
#[derive(Clone, Copy, Debug, Default)]
struct CommitFlags {
    force_path: bool,
    tree_out_of_band: bool,
}

/// The member's MlsRules: the encrypt flag per group id, the next commit's flags.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    encrypt: Arc<Mutex<HashMap<Vec<u8>, bool>>>,
    next_commit: Arc<Mutex<CommitFlags>>,
}

impl Rules {
    fn set_encrypt(&self, group_id: &[u8], encrypt: bool) {
        self.encrypt
            .lock()
            .unwrap()
            .insert(group_id.to_vec(), encrypt);
    }
}

impl MlsRules for Rules {
    type Error = Infallible;

    fn filter_proposals(
        &self,
        _: CommitDirection,
        _: CommitSource,
        _: &Roster,
        _: &GroupContext,
        proposals: ProposalBundle,
    ) -> Result<ProposalBundle, Infallible> {
        Ok(proposals)
    }

    fn commit_options(
        &self,
        _: &Roster,
        _: &GroupContext,
        _: &ProposalBundle,
    ) -> Result<CommitOptions, Infallible> {
        let flags = *self.next_commit.lock().unwrap();
        Ok(CommitOptions::new()
            .with_path_required(flags.force_path)
            .with_ratchet_tree_extension(!flags.tree_out_of_band))
    }

    fn encryption_options(
        &self,
        _: &Roster,
        context: &GroupContext,
    ) -> Result<EncryptionOptions, Infallible> {
        let encrypt = self
            .encrypt
            .lock()
            .unwrap()
            .get(&context.group_id)
            .copied()
            .unwrap_or(false);
        Ok(EncryptionOptions::new(encrypt, PaddingMode::None))
    }
}

/// The mls-rs client configuration of our adapters (also DAVE's, `dave/ours.rs`).
pub type Config = WithMlsRules<
    Rules,
    WithIdentityProvider<BasicIdentityProvider, WithCryptoProvider<RustCryptoProvider, BaseConfig>>,
>;

/// A signing identity in one suite.
struct Signer {
    secret: SignatureSecretKey,
    identity: SigningIdentity,
}

fn new_signer(identity: &[u8], suite: u16) -> Result<Signer, ClientError> {
    let provider = RustCryptoProvider::new()
        .cipher_suite_provider(CipherSuite::from(suite))
        .ok_or(ClientError::Suite {
            client: NAME,
            suite,
        })?;
    let (secret, public) = provider
        .signature_key_generate()
        .map_err(|e| failed("generating a signature key", e))?;
    let credential = BasicCredential::new(identity.to_vec()).into_credential();
    Ok(Signer {
        secret,
        identity: SigningIdentity::new(credential, public),
    })
}

/// One actor played by mls-rs.
pub struct MlsRsMember {
    identity: Vec<u8>,
    rules: Rules,
    clients: HashMap<u16, Client<Config>>,
    signers: HashMap<u16, Signer>,
    psks: Vec<(Vec<u8>, Vec<u8>)>,
    group: Option<Group<Config>>,
    /// Proposals it sent, by bytes: a PrivateMessage it sent cannot be decrypted by itself.
    sent: Vec<Vec<u8>>,
    /// A commit it processed removed it (mls-rs keeps the old epoch's state).
    removed: bool,
    encrypt: bool,
    /// After a ReInit commit: the old group's resumption secret and the new group's id.
    reinit: Option<(ReinitClient<Config>, Vec<u8>)>,
    external_signer: Option<Signer>,
}

impl Debug for MlsRsMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlsRsMember")
            .field("identity", &String::from_utf8_lossy(&self.identity))
            .field("epoch", &self.epoch())
            .finish()
    }
}

impl MlsRsMember {
    pub fn new(identity: &[u8]) -> MlsRsMember {
        MlsRsMember {
            identity: identity.to_vec(),
            rules: Rules::default(),
            clients: HashMap::new(),
            signers: HashMap::new(),
            psks: Vec::new(),
            group: None,
            sent: Vec::new(),
            removed: false,
            encrypt: false,
            reinit: None,
            external_signer: None,
        }
    }

    /// The mls-rs client signing in `suite`, made on first use.
    fn client(&mut self, suite: u16) -> Result<&Client<Config>, ClientError> {
        if !self.clients.contains_key(&suite) {
            let signer = new_signer(&self.identity, suite)?;
            let client = Client::builder()
                .crypto_provider(RustCryptoProvider::new())
                .identity_provider(BasicIdentityProvider::new())
                .mls_rules(self.rules.clone())
                .signing_identity(
                    signer.identity.clone(),
                    signer.secret.clone(),
                    CipherSuite::from(suite),
                )
                .build();
            let mut store = client.secret_store();
            for (id, secret) in &self.psks {
                store.insert(
                    ExternalPskId::new(id.clone()),
                    PreSharedKey::new(secret.clone()),
                );
            }
            self.signers.insert(suite, signer);
            self.clients.insert(suite, client);
        }
        Ok(&self.clients[&suite])
    }

    fn group(&self) -> Result<&Group<Config>, ClientError> {
        self.group
            .as_ref()
            .ok_or_else(|| ClientError::failed("no group"))
    }

    fn group_mut(&mut self) -> Result<&mut Group<Config>, ClientError> {
        self.group
            .as_mut()
            .ok_or_else(|| ClientError::failed("no group"))
    }

    /// The suite of a Welcome, GroupInfo or KeyPackage.
    fn suite_of(msg: &MlsMessage, what: &str) -> Result<u16, ClientError> {
        msg.cipher_suite()
            .map(u16::from)
            .ok_or_else(|| ClientError::failed(format!("{what} names no cipher suite")))
    }

    /// Processes others' proposals (its own are already in its cache).
    fn take_proposals(&mut self, proposals: &[Vec<u8>]) -> Result<(), ClientError> {
        for p in proposals {
            if self.sent.contains(p) {
                continue;
            }
            let msg = message(p, "a proposal")?;
            match self
                .group_mut()?
                .process_incoming_message(msg)
                .map_err(|e| failed("processing a proposal", e))?
            {
                ReceivedMessage::Proposal(_) => {}
                other => {
                    return Err(ClientError::failed(format!(
                        "expected a proposal, got {}",
                        kind(&other)
                    )))
                }
            }
        }
        Ok(())
    }

    /// The leaf of the member whose basic identity is `identity` (the last such leaf).
    fn leaf_of(roster: Roster<'_>, identity: &[u8]) -> Result<u32, ClientError> {
        roster
            .members()
            .iter()
            .filter(|m| {
                m.signing_identity
                    .credential
                    .as_basic()
                    .is_some_and(|b| b.identifier == identity)
            })
            .map(|m| m.index)
            .next_back()
            .ok_or_else(|| {
                ClientError::failed(format!(
                    "no member with identity {:?}",
                    String::from_utf8_lossy(identity)
                ))
            })
    }

    fn commit_with(
        &mut self,
        flags: CommitFlags,
        build: impl FnOnce(&mut Group<Config>) -> Result<mls_rs::group::CommitOutput, MlsError>,
    ) -> Result<CommitOutput, ClientError> {
        *self.rules.next_commit.lock().unwrap() = flags;
        let out = build(self.group_mut()?);
        *self.rules.next_commit.lock().unwrap() = CommitFlags::default();
        let out = out.map_err(|e| failed("committing", e))?;
        commit_output(&out, flags.tree_out_of_band)
    }

    fn ext_from_group_info(group_info: &[u8]) -> Result<(MlsMessage, u16), ClientError> {
        let gi = message(group_info, "the GroupInfo")?;
        let suite = Self::suite_of(&gi, "the GroupInfo")?;
        Ok((gi, suite))
    }
}

fn kind(m: &ReceivedMessage) -> &'static str {
    match m {
        ReceivedMessage::ApplicationMessage(_) => "an application message",
        ReceivedMessage::Commit(_) => "a commit",
        ReceivedMessage::Proposal(_) => "a proposal",
        ReceivedMessage::GroupInfo(_) => "a GroupInfo",
        ReceivedMessage::Welcome => "a Welcome",
        ReceivedMessage::KeyPackage(_) => "a KeyPackage",
    }
}

fn commit_output(
    out: &mls_rs::group::CommitOutput,
    tree_out_of_band: bool,
) -> Result<CommitOutput, ClientError> {
    let welcome = out
        .welcome_messages
        .first()
        .map(|w| w.to_bytes())
        .transpose()
        .map_err(|e| failed("encoding the Welcome", e))?;
    let ratchet_tree = if tree_out_of_band {
        out.ratchet_tree
            .as_ref()
            .map(|t| t.to_bytes())
            .transpose()
            .map_err(|e| failed("encoding the tree", e))?
    } else {
        None
    };
    Ok(CommitOutput {
        commit: out
            .commit_message
            .to_bytes()
            .map_err(|e| failed("encoding the commit", e))?,
        welcome,
        ratchet_tree,
    })
}

/// The group's ratchet tree when it travels apart from the Welcome or GroupInfo.
fn tree_apart(group: &Group<Config>, external: bool) -> Result<Option<Vec<u8>>, ClientError> {
    external
        .then(|| {
            group
                .export_tree()
                .to_bytes()
                .map_err(|e| failed("encoding the tree", e))
        })
        .transpose()
}

fn encode(msg: Result<MlsMessage, MlsError>, what: &str) -> Result<Vec<u8>, ClientError> {
    msg.map_err(|e| failed(what, e))?
        .to_bytes()
        .map_err(|e| failed(&format!("encoding {what}"), e))
}

impl Member for MlsRsMember {
    fn client(&self) -> &'static str {
        NAME
    }

    fn identity(&self) -> &[u8] {
        &self.identity
    }

    fn create_group(
        &mut self,
        group_id: &[u8],
        cipher_suite: u16,
        encrypt_handshake: bool,
    ) -> Result<(), ClientError> {
        self.rules.set_encrypt(group_id, encrypt_handshake);
        self.encrypt = encrypt_handshake;
        let group = self
            .client(cipher_suite)?
            .create_group_with_id(
                group_id.to_vec(),
                ExtensionList::new(),
                ExtensionList::new(),
                None,
            )
            .map_err(|e| failed("creating the group", e))?;
        self.group = Some(group);
        self.removed = false;
        Ok(())
    }

    fn create_key_package(&mut self, cipher_suite: u16) -> Result<Vec<u8>, ClientError> {
        let kp = self.client(cipher_suite)?.generate_key_package_message(
            ExtensionList::new(),
            ExtensionList::new(),
            None,
        );
        encode(kp, "generating a key package")
    }

    fn join(
        &mut self,
        welcome: &[u8],
        ratchet_tree: Option<&[u8]>,
        encrypt_handshake: bool,
    ) -> Result<(), ClientError> {
        let welcome = message(welcome, "the Welcome")?;
        let suite = Self::suite_of(&welcome, "the Welcome")?;
        let tree = tree(ratchet_tree)?;
        let rules = self.rules.clone();
        let client = self.client(suite)?;
        let info = client
            .examine_welcome_message(&welcome)
            .map_err(|e| failed("reading the Welcome", e))?;
        rules.set_encrypt(&info.group_context().group_id, encrypt_handshake);
        // No time given: mls-rs then skips lifetime checks (the scripts' key packages are fresh).
        let (group, _) = client
            .join_group(tree, &welcome, None)
            .map_err(|e| failed("joining from the Welcome", e))?;
        self.encrypt = encrypt_handshake;
        self.group = Some(group);
        self.removed = false;
        Ok(())
    }

    fn external_join(
        &mut self,
        group_info: &[u8],
        ratchet_tree: Option<&[u8]>,
        encrypt_handshake: bool,
        remove_prior: bool,
        psks: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<Vec<u8>, ClientError> {
        for (id, secret) in psks {
            self.store_psk(id, secret)?;
        }
        let (gi, suite) = Self::ext_from_group_info(group_info)?;
        // Its prior leaf is the one its current state of that same group holds.
        let prior = match (&self.group, remove_prior) {
            (Some(g), true) if Some(g.group_id()) == gi.group_id() => {
                Some(g.current_member_index())
            }
            (_, true) => {
                return Err(ClientError::failed(
                    "remove_prior: no prior membership in this group",
                ))
            }
            _ => None,
        };
        let tree = tree(ratchet_tree)?;
        let rules = self.rules.clone();
        if let Some(id) = gi.group_id() {
            rules.set_encrypt(id, encrypt_handshake);
        }
        let client = self.client(suite)?;
        let mut builder = client
            .external_commit_builder()
            .map_err(|e| failed("external commit", e))?;
        if let Some(t) = tree {
            builder = builder.with_tree_data(t);
        }
        if let Some(leaf) = prior {
            builder = builder.with_removal(leaf);
        }
        for (id, _) in psks {
            builder = builder.with_external_psk(ExternalPskId::new(id.clone()));
        }
        let (group, commit) = builder
            .build(gi)
            .map_err(|e| failed("building the external commit", e))?;
        self.encrypt = encrypt_handshake;
        self.group = Some(group);
        self.removed = false;
        self.sent.clear();
        commit
            .to_bytes()
            .map_err(|e| failed("encoding the commit", e))
    }

    fn store_psk(&mut self, psk_id: &[u8], secret: &[u8]) -> Result<(), ClientError> {
        self.psks.push((psk_id.to_vec(), secret.to_vec()));
        for client in self.clients.values() {
            client.secret_store().insert(
                ExternalPskId::new(psk_id.to_vec()),
                PreSharedKey::new(secret.to_vec()),
            );
        }
        Ok(())
    }

    fn group_info(&self, external_tree: bool) -> Result<(Vec<u8>, Option<Vec<u8>>), ClientError> {
        let group = self.group()?;
        // The plain `group_info_message` has no external_pub; external joins need it.
        let gi = encode(
            group.group_info_message_allowing_ext_commit(!external_tree),
            "exporting the GroupInfo",
        )?;
        let tree = tree_apart(group, external_tree)?;
        Ok((gi, tree))
    }

    fn epoch_authenticator(&self) -> Result<Vec<u8>, ClientError> {
        Ok(self
            .group()?
            .epoch_authenticator()
            .map_err(|e| failed("epoch_authenticator", e))?
            .to_vec())
    }

    fn export_secret(
        &self,
        label: &[u8],
        context: &[u8],
        len: usize,
    ) -> Result<Vec<u8>, ClientError> {
        Ok(self
            .group()?
            .export_secret(label, context, len)
            .map_err(|e| failed("export_secret", e))?
            .to_vec())
    }

    fn epoch(&self) -> Option<u64> {
        self.group.as_ref().map(Group::current_epoch)
    }

    fn active(&self) -> bool {
        self.group.is_some() && !self.removed
    }

    fn own_leaf(&self) -> Option<u32> {
        self.group.as_ref().map(Group::current_member_index)
    }

    fn cipher_suite(&self) -> Option<u16> {
        self.group.as_ref().map(|g| u16::from(g.cipher_suite()))
    }

    fn group_id(&self) -> Option<Vec<u8>> {
        self.group.as_ref().map(|g| g.group_id().to_vec())
    }

    fn roster(&self) -> Result<Vec<Vec<u8>>, ClientError> {
        Ok(self
            .group()?
            .roster()
            .members()
            .iter()
            .map(|m| {
                m.signing_identity
                    .credential
                    .as_basic()
                    .map(|b| b.identifier.clone())
                    .unwrap_or_default()
            })
            .collect())
    }

    fn propose(&mut self, proposal: &ProposalSpec) -> Result<Vec<u8>, ClientError> {
        let group = self.group_mut()?;
        let msg = match proposal {
            ProposalSpec::Add { key_package } => {
                group.propose_add(message(key_package, "the key package")?, vec![])
            }
            ProposalSpec::Remove { identity } => {
                let leaf = Self::leaf_of(group.roster(), identity)?;
                group.propose_remove(leaf, vec![])
            }
            ProposalSpec::ExternalPsk { psk_id } => {
                group.propose_external_psk(ExternalPskId::new(psk_id.clone()), vec![])
            }
            ProposalSpec::ResumptionPsk { epoch } => group.propose_resumption_psk(*epoch, vec![]),
            ProposalSpec::GroupContextExtensions { extensions } => {
                group.propose_group_context_extensions(extension_list(extensions), vec![])
            }
            ProposalSpec::Reinit {
                group_id,
                cipher_suite,
                extensions,
            } => group.propose_reinit(
                Some(group_id.clone()),
                ProtocolVersion::MLS_10,
                CipherSuite::from(*cipher_suite),
                extension_list(extensions),
                vec![],
            ),
        };
        let bytes = encode(msg, "proposing")?;
        self.sent.push(bytes.clone());
        Ok(bytes)
    }

    fn propose_update(&mut self) -> Result<Vec<u8>, ClientError> {
        let bytes = encode(
            self.group_mut()?.propose_update(vec![]),
            "proposing an update",
        )?;
        self.sent.push(bytes.clone());
        Ok(bytes)
    }

    fn commit(
        &mut self,
        by_reference: &[Vec<u8>],
        by_value: &[ProposalSpec],
        force_path: bool,
        external_tree: bool,
    ) -> Result<CommitOutput, ClientError> {
        self.take_proposals(by_reference)?;
        // Removes name identities; the leaves are found before the builder borrows the group.
        let roster = self.group()?.roster();
        let leaves = by_value
            .iter()
            .map(|p| match p {
                ProposalSpec::Remove { identity } => Self::leaf_of(roster.clone(), identity),
                _ => Ok(0),
            })
            .collect::<Result<Vec<u32>, _>>()?;
        let by_value = by_value.to_vec();
        let flags = CommitFlags {
            force_path,
            tree_out_of_band: external_tree,
        };
        self.commit_with(flags, move |group| {
            let mut builder = group.commit_builder();
            for (p, leaf) in by_value.into_iter().zip(leaves) {
                builder = match p {
                    ProposalSpec::Add { key_package } => {
                        builder.add_member(MlsMessage::from_bytes(&key_package)?)?
                    }
                    ProposalSpec::Remove { .. } => builder.remove_member(leaf)?,
                    ProposalSpec::ExternalPsk { psk_id } => {
                        builder.add_external_psk(ExternalPskId::new(psk_id))?
                    }
                    ProposalSpec::ResumptionPsk { epoch } => builder.add_resumption_psk(epoch)?,
                    ProposalSpec::GroupContextExtensions { extensions } => {
                        builder.set_group_context_ext(extension_list(&extensions))?
                    }
                    ProposalSpec::Reinit {
                        group_id,
                        cipher_suite,
                        extensions,
                    } => builder.reinit(
                        Some(group_id),
                        ProtocolVersion::MLS_10,
                        CipherSuite::from(cipher_suite),
                        extension_list(&extensions),
                    )?,
                };
            }
            builder.build()
        })
    }

    fn merge_pending_commit(&mut self) -> Result<(), ClientError> {
        self.group_mut()?
            .apply_pending_commit()
            .map_err(|e| failed("merging the pending commit", e))?;
        self.sent.clear();
        Ok(())
    }

    fn clear_pending_commit(&mut self) -> Result<(), ClientError> {
        self.group_mut()?.clear_pending_commit();
        Ok(())
    }

    fn handle_commit(&mut self, proposals: &[Vec<u8>], commit: &[u8]) -> Result<(), ClientError> {
        self.take_proposals(proposals)?;
        let msg = message(commit, "the commit")?;
        match self
            .group_mut()?
            .process_incoming_message(msg)
            .map_err(|e| failed("processing the commit", e))?
        {
            ReceivedMessage::Commit(c) => {
                self.sent.clear();
                self.removed |= matches!(c.effect, CommitEffect::Removed { .. });
                Ok(())
            }
            other => Err(ClientError::failed(format!(
                "expected a commit, got {}",
                kind(&other)
            ))),
        }
    }

    fn protect(
        &mut self,
        authenticated_data: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        encode(
            self.group_mut()?
                .encrypt_application_message(plaintext, authenticated_data.to_vec()),
            "protecting",
        )
    }

    fn unprotect(&mut self, ciphertext: &[u8]) -> Result<Plaintext, ClientError> {
        let msg = message(ciphertext, "the ciphertext")?;
        match self
            .group_mut()?
            .process_incoming_message(msg)
            .map_err(|e| failed("unprotecting", e))?
        {
            ReceivedMessage::ApplicationMessage(app) => Ok(Plaintext {
                plaintext: app.data().to_vec(),
                authenticated_data: app.authenticated_data,
            }),
            other => Err(ClientError::failed(format!(
                "expected an application message, got {}",
                kind(&other)
            ))),
        }
    }

    fn reinit_commit(&mut self, proposal: &[u8]) -> Result<Vec<u8>, ClientError> {
        self.take_proposals(&[proposal.to_vec()])?;
        let out = self.commit_with(CommitFlags::default(), |g| g.commit(vec![]))?;
        Ok(out.commit)
    }

    fn merge_pending_reinit_commit(&mut self) -> Result<(Vec<u8>, Vec<u8>), ClientError> {
        let group = self.group_mut()?;
        let effect = group
            .apply_pending_commit()
            .map_err(|e| failed("merging the ReInit commit", e))?
            .effect;
        self.after_reinit(effect)
    }

    fn handle_reinit_commit(
        &mut self,
        proposal: &[u8],
        commit: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), ClientError> {
        self.take_proposals(&[proposal.to_vec()])?;
        let msg = message(commit, "the commit")?;
        match self
            .group_mut()?
            .process_incoming_message(msg)
            .map_err(|e| failed("processing the ReInit commit", e))?
        {
            ReceivedMessage::Commit(c) => self.after_reinit(c.effect),
            other => Err(ClientError::failed(format!(
                "expected a commit, got {}",
                kind(&other)
            ))),
        }
    }

    fn reinit_welcome(
        &mut self,
        key_packages: &[Vec<u8>],
        force_path: bool,
        external_tree: bool,
    ) -> Result<CommitOutput, ClientError> {
        let (reinit, _) = self
            .reinit
            .take()
            .ok_or_else(|| ClientError::failed("no ReInit pending"))?;
        let kps = key_packages
            .iter()
            .map(|k| message(k, "a key package"))
            .collect::<Result<Vec<_>, _>>()?;
        let flags = CommitFlags {
            force_path,
            tree_out_of_band: external_tree,
        };
        *self.rules.next_commit.lock().unwrap() = flags;
        let made = reinit.commit(kps, ExtensionList::new(), None);
        *self.rules.next_commit.lock().unwrap() = CommitFlags::default();
        let (group, welcomes) = made.map_err(|e| failed("creating the re-initialised group", e))?;
        self.move_to(group, &welcomes, external_tree)
    }

    fn handle_reinit_welcome(
        &mut self,
        welcome: &[u8],
        ratchet_tree: Option<&[u8]>,
    ) -> Result<(), ClientError> {
        let (reinit, _) = self
            .reinit
            .take()
            .ok_or_else(|| ClientError::failed("no ReInit pending"))?;
        let welcome = message(welcome, "the Welcome")?;
        let (group, _) = reinit
            .join(&welcome, tree(ratchet_tree)?, None)
            .map_err(|e| failed("joining the re-initialised group", e))?;
        self.group = Some(group);
        self.removed = false;
        Ok(())
    }

    fn create_branch(
        &mut self,
        group_id: &[u8],
        extensions: &[RawExtension],
        key_packages: &[Vec<u8>],
        force_path: bool,
        external_tree: bool,
    ) -> Result<CommitOutput, ClientError> {
        if !extensions.is_empty() {
            // Group::branch (group/resumption.rs:77) takes no GroupContext extensions.
            return Err(self.unsupported("branch with GroupContext extensions"));
        }
        let kps = key_packages
            .iter()
            .map(|k| message(k, "a key package"))
            .collect::<Result<Vec<_>, _>>()?;
        self.rules.set_encrypt(group_id, self.encrypt);
        *self.rules.next_commit.lock().unwrap() = CommitFlags {
            force_path,
            tree_out_of_band: external_tree,
        };
        let made = self.group()?.branch(group_id.to_vec(), kps, None);
        *self.rules.next_commit.lock().unwrap() = CommitFlags::default();
        let (group, welcomes) = made.map_err(|e| failed("branching", e))?;
        self.move_to(group, &welcomes, external_tree)
    }

    fn handle_branch(
        &mut self,
        welcome: &[u8],
        ratchet_tree: Option<&[u8]>,
    ) -> Result<(), ClientError> {
        let welcome = message(welcome, "the Welcome")?;
        let tree = tree(ratchet_tree)?;
        let group = self.group()?;
        // The Welcome's resumption PSK needs the old group's state, so mls-rs cannot examine
        // it apart; the branch's id (for the encrypt flag) is known once joined.
        let (group, _) = group
            .join_subgroup(&welcome, tree, None)
            .map_err(|e| failed("joining the branch", e))?;
        self.rules.set_encrypt(group.group_id(), self.encrypt);
        self.group = Some(group);
        self.removed = false;
        Ok(())
    }

    fn new_member_add_proposal(&mut self, group_info: &[u8]) -> Result<Vec<u8>, ClientError> {
        let (gi, suite) = Self::ext_from_group_info(group_info)?;
        let proposal = self.client(suite)?.external_add_proposal(
            &gi,
            None,
            vec![],
            ExtensionList::new(),
            ExtensionList::new(),
            None,
        );
        encode(proposal, "the new-member Add proposal")
    }

    fn create_external_signer(&mut self, cipher_suite: u16) -> Result<Vec<u8>, ClientError> {
        let signer = new_signer(&self.identity, cipher_suite)?;
        // RFC 9420 §12.1.8.1: ExternalSender is {signature_key, credential}, a SigningIdentity.
        let bytes = signer
            .identity
            .mls_encode_to_vec()
            .map_err(|e| failed("encoding the external sender", e))?;
        self.external_signer = Some(signer);
        Ok(bytes)
    }

    fn add_external_signer(&mut self, external_sender: &[u8]) -> Result<Vec<u8>, ClientError> {
        let sender = SigningIdentity::mls_decode(&mut &*external_sender)
            .map_err(|e| failed("decoding the external sender", e))?;
        let group = self.group_mut()?;
        let mut extensions = group.context().extensions.clone();
        let mut senders = extensions
            .get_as::<mls_rs::extension::built_in::ExternalSendersExt>()
            .map_err(|e| failed("reading external_senders", e))?
            .map(|e| e.allowed_senders().to_vec())
            .unwrap_or_default();
        senders.push(sender);
        extensions
            .set_from(mls_rs::extension::built_in::ExternalSendersExt::new(
                senders,
            ))
            .map_err(|e| failed("writing external_senders", e))?;
        let bytes = encode(
            group.propose_group_context_extensions(extensions, vec![]),
            "proposing the external sender",
        )?;
        self.sent.push(bytes.clone());
        Ok(bytes)
    }

    fn external_signer_proposal(
        &mut self,
        group_info: &[u8],
        ratchet_tree: &[u8],
        proposal: &ProposalSpec,
    ) -> Result<Vec<u8>, ClientError> {
        let signer = self
            .external_signer
            .as_ref()
            .ok_or_else(|| ClientError::failed("not an external signer"))?;
        let (gi, _) = Self::ext_from_group_info(group_info)?;
        let external = ExternalClient::builder()
            .crypto_provider(RustCryptoProvider::new())
            .identity_provider(BasicIdentityProvider::new())
            .signer(signer.secret.clone(), signer.identity.clone())
            .build();
        let mut observed = external
            .observe_group(gi, tree(Some(ratchet_tree))?, None)
            .map_err(|e| failed("observing the group", e))?;
        let msg = match proposal {
            ProposalSpec::Add { key_package } => {
                observed.propose_add(message(key_package, "the key package")?, vec![])
            }
            ProposalSpec::Remove { identity } => {
                let leaf = Self::leaf_of(observed.roster(), identity)?;
                observed.propose_remove(leaf, vec![])
            }
            ProposalSpec::ExternalPsk { psk_id } => {
                observed.propose_external_psk(ExternalPskId::new(psk_id.clone()), vec![])
            }
            ProposalSpec::ResumptionPsk { epoch } => {
                observed.propose_resumption_psk(*epoch, vec![])
            }
            ProposalSpec::GroupContextExtensions { extensions } => {
                observed.propose_group_context_extensions(extension_list(extensions), vec![])
            }
            ProposalSpec::Reinit {
                group_id,
                cipher_suite,
                extensions,
            } => observed.propose_reinit(
                Some(group_id.clone()),
                ProtocolVersion::MLS_10,
                CipherSuite::from(*cipher_suite),
                extension_list(extensions),
                vec![],
            ),
        };
        encode(msg, "the external proposal")
    }
}

impl MlsRsMember {
    /// Moves to a group it just created (re-initialised or branched): its Welcome, and its
    /// tree when that travels apart.
    fn move_to(
        &mut self,
        group: Group<Config>,
        welcomes: &[MlsMessage],
        external_tree: bool,
    ) -> Result<CommitOutput, ClientError> {
        let ratchet_tree = tree_apart(&group, external_tree)?;
        let welcome = welcomes
            .first()
            .map(|w| w.to_bytes())
            .transpose()
            .map_err(|e| failed("encoding the Welcome", e))?;
        self.group = Some(group);
        self.removed = false;
        Ok(CommitOutput {
            commit: Vec::new(),
            welcome,
            ratchet_tree,
        })
    }

    /// After a ReInit commit: the old group's last epoch authenticator, a key package for the
    /// new group (in its suite, signed anew if the suite changed).
    fn after_reinit(&mut self, effect: CommitEffect) -> Result<(Vec<u8>, Vec<u8>), ClientError> {
        let CommitEffect::ReInit(info) = effect else {
            return Err(ClientError::failed("the commit did not re-initialise"));
        };
        let new_id = info.proposal.group_id().to_vec();
        let new_suite = u16::from(info.proposal.new_cipher_suite());
        let ea = self.epoch_authenticator()?;
        let group = self
            .group
            .take()
            .ok_or_else(|| ClientError::failed("no group"))?;
        let (secret, identity) = if u16::from(group.cipher_suite()) == new_suite {
            (None, None)
        } else {
            self.client(new_suite)?;
            let s = &self.signers[&new_suite];
            (Some(s.secret.clone()), Some(s.identity.clone()))
        };
        self.rules.set_encrypt(&new_id, self.encrypt);
        let reinit = group
            .get_reinit_client(secret, identity)
            .map_err(|e| failed("leaving the old group for the new", e))?;
        let kp = encode(reinit.generate_key_package(None), "the ReInit key package")?;
        self.reinit = Some((reinit, new_id));
        Ok((ea, kp))
    }
}
