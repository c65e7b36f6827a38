//! openmls 0.9.2 as a full group member ([`Member`]). One `OpenMlsRustCrypto` provider per
//! member holds its key packages' private keys (its pending joins), its external PSKs and its
//! group state; signature key pairs live beside it, one default per cipher suite.
//!
//! What openmls's public API cannot express answers [`ClientError::Unsupported`]:
//! - ReInit and branch (trait defaults): no `Propose::ReInit`, no ReInit state after a ReInit
//!   commit, and no way to create or join a group with a resumption PSK of another group;
//! - ReInit proposals (`ReInitProposal` has no public constructor);
//! - external-sender PSK and ReInit proposals: `ExternalProposal` builds only Add, Remove and
//!   GroupContextExtensions (messages/external_proposals.rs);
//! - an external join that must remove a prior leaf whose signature key this member does not
//!   hold: the external commit builder removes only a leaf with the joiner's own signature key
//!   (commit_builder/external_commits.rs:260-267) and takes no other inline Remove.

use std::collections::{HashMap, HashSet};

use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::prelude::{
    BasicCredential, Capabilities, Ciphersuite, Credential, CredentialWithKey, Extension,
    ExtensionType, Extensions, ExternalProposal, ExternalSender, GroupContext, GroupEpoch, GroupId,
    JoinProposal, KeyPackage, LeafNodeIndex, LeafNodeParameters, MlsGroup as OmGroup,
    MlsGroupCreateConfig, MlsGroupJoinConfig, MlsMessageBodyIn, MlsMessageIn, MlsMessageOut,
    OpenMlsCrypto, OpenMlsProvider, PreSharedKeyProposal, ProcessedMessageContent, Proposal,
    ProposalStore, ProtocolMessage, ProtocolVersion, PublicGroup, RatchetTreeIn,
    SenderExtensionIndex, StagedWelcome, WireFormatPolicy, MIXED_CIPHERTEXT_WIRE_FORMAT_POLICY,
    MIXED_PLAINTEXT_WIRE_FORMAT_POLICY,
};
use openmls::schedule::psk::{ResumptionPsk, ResumptionPskUsage};
use openmls::schedule::{ExternalPsk, PreSharedKeyId, Psk};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use tls_codec::{Deserialize as _, Serialize as _, VLBytes};

use super::member::{CommitOutput, Member, Plaintext, ProposalSpec, RawExtension};
use super::{failed, ClientError};

pub(super) const CLIENT: &str = "openmls";

/// A custom extension type every leaf advertises: openmls accepts a GroupContextExtensions
/// proposal only if all members support each of its extension types.
const CUSTOM_EXTENSION: u16 = 0xff00;

/// The storage type, named for the error types of openmls's external-proposal constructors.
type Storage = <OpenMlsRustCrypto as OpenMlsProvider>::StorageProvider;

fn no_group() -> ClientError {
    ClientError::failed("the member has no group")
}

/// The suite, if the provider offers it (1, 2 and 3 with RustCrypto).
fn suite(provider: &OpenMlsRustCrypto, number: u16) -> Result<Ciphersuite, ClientError> {
    let refused = ClientError::Suite {
        client: CLIENT,
        suite: number,
    };
    let cs = Ciphersuite::try_from(number).map_err(|_| refused.clone())?;
    provider.crypto().supports(cs).map_err(|_| refused)?;
    Ok(cs)
}

fn capabilities() -> Capabilities {
    Capabilities::new(
        None,
        None,
        Some(&[ExtensionType::Unknown(CUSTOM_EXTENSION)]),
        None,
        None,
    )
}

/// Outgoing handshakes follow the flag; incoming accepts both, since a PURE_* policy rejects a
/// peer that chose the other wire format (processing.rs:315-325).
fn wire_policy(encrypt_handshake: bool) -> WireFormatPolicy {
    if encrypt_handshake {
        MIXED_CIPHERTEXT_WIRE_FORMAT_POLICY
    } else {
        MIXED_PLAINTEXT_WIRE_FORMAT_POLICY
    }
}

/// openmls's defaults (no ratchet tree in Welcomes, no resumption PSKs, no past epochs) would
/// break the scripts' resumption PSKs and late application messages.
fn join_config(encrypt_handshake: bool) -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .wire_format_policy(wire_policy(encrypt_handshake))
        .use_ratchet_tree_extension(true)
        .number_of_resumption_psks(32)
        .max_past_epochs(4)
        .build()
}

fn decode_message(bytes: &[u8]) -> Result<MlsMessageIn, ClientError> {
    MlsMessageIn::tls_deserialize_exact(bytes).map_err(|e| failed("decode MLSMessage", e))
}

fn protocol_message(bytes: &[u8]) -> Result<ProtocolMessage, ClientError> {
    decode_message(bytes)?
        .try_into_protocol_message()
        .map_err(|e| failed("not a PublicMessage or PrivateMessage", e))
}

fn decode_group_info(bytes: &[u8]) -> Result<VerifiableGroupInfo, ClientError> {
    match decode_message(bytes)?.extract() {
        MlsMessageBodyIn::GroupInfo(gi) => Ok(gi),
        _ => Err(ClientError::failed(
            "group_info is not an MLSMessage(GroupInfo)",
        )),
    }
}

fn decode_tree(bytes: &[u8]) -> Result<RatchetTreeIn, ClientError> {
    RatchetTreeIn::tls_deserialize_exact(bytes).map_err(|e| failed("decode ratchet_tree", e))
}

/// A validated KeyPackage (signature and lifetime) from MLSMessage bytes.
fn key_package(provider: &OpenMlsRustCrypto, bytes: &[u8]) -> Result<KeyPackage, ClientError> {
    match decode_message(bytes)?.extract() {
        MlsMessageBodyIn::KeyPackage(kp) => kp
            .validate(provider.crypto(), ProtocolVersion::Mls10)
            .map_err(|e| failed("KeyPackage validation", e)),
        _ => Err(ClientError::failed(
            "key_package is not an MLSMessage(KeyPackage)",
        )),
    }
}

fn to_bytes(message: &MlsMessageOut) -> Result<Vec<u8>, ClientError> {
    message
        .to_bytes()
        .map_err(|e| failed("encode MLSMessage", e))
}

fn basic_identity(credential: &Credential) -> Option<Vec<u8>> {
    BasicCredential::try_from(credential.clone())
        .ok()
        .map(|b| b.identity().to_vec())
}

/// Raw extensions as openmls's typed ones: each is re-read from its TLS encoding, so known
/// types (required_capabilities, external_senders, ...) become their variants, others Unknown.
fn group_context_extensions(raw: &[RawExtension]) -> Result<Extensions<GroupContext>, ClientError> {
    let mut list = Vec::with_capacity(raw.len());
    for ext in raw {
        let data = VLBytes::new(ext.extension_data.clone())
            .tls_serialize_detached()
            .map_err(|e| failed("encode extension_data", e))?;
        let encoded = [&ext.extension_type.to_be_bytes()[..], &data[..]].concat();
        let extension = Extension::tls_deserialize_exact(&encoded[..])
            .map_err(|e| failed(&format!("decode extension {}", ext.extension_type), e))?;
        list.push(extension);
    }
    Extensions::from_vec(list).map_err(|e| failed("GroupContext extensions", e))
}

/// The last member whose basic identity is `identity`.
fn leaf_of(
    members: impl Iterator<Item = openmls::prelude::Member>,
    identity: &[u8],
) -> Result<LeafNodeIndex, ClientError> {
    members
        .filter(|m| basic_identity(&m.credential).as_deref() == Some(identity))
        .last()
        .map(|m| m.index)
        .ok_or_else(|| {
            ClientError::Failed(format!(
                "no member with identity {}",
                String::from_utf8_lossy(identity)
            ))
        })
}

fn content_kind(content: &ProcessedMessageContent) -> &'static str {
    match content {
        ProcessedMessageContent::ApplicationMessage(_) => "an application message",
        ProcessedMessageContent::ProposalMessage(_) => "a proposal",
        ProcessedMessageContent::ExternalJoinProposalMessage(_) => "a new-member proposal",
        ProcessedMessageContent::StagedCommitMessage(_) => "a commit",
        #[allow(unreachable_patterns)]
        _ => "another content type",
    }
}

/// A [`ProposalSpec`] resolved against the current group.
enum Resolved {
    Add(Box<KeyPackage>),
    Remove(LeafNodeIndex),
    Psk(PreSharedKeyId),
    Gce(Extensions<GroupContext>),
}

/// The proposals openmls's `ExternalProposal` can build.
enum External<'a> {
    Add(&'a [u8]),
    Remove(&'a [u8]),
    Gce(&'a [RawExtension]),
}

/// One actor played by openmls.
#[derive(Debug)]
pub struct OpenMlsMember {
    identity: Vec<u8>,
    provider: OpenMlsRustCrypto,
    /// Every signature key pair it made, by public key: a group's signer is the one of its own
    /// leaf, whichever key package or external join put it there.
    signers: HashMap<Vec<u8>, SignatureKeyPair>,
    /// The public key new groups and key packages of a suite use.
    suite_signer: HashMap<u16, Vec<u8>>,
    /// Its key as an external sender.
    external_signer: Option<SignatureKeyPair>,
    group: Option<OmGroup>,
    /// Handshake messages of the current epoch it sent or already processed (exact bytes): the
    /// runner hands a member its own proposals back, and a PrivateMessage it sent cannot be
    /// decrypted by itself.
    seen: HashSet<Vec<u8>>,
}

impl OpenMlsMember {
    pub fn new(identity: &[u8]) -> OpenMlsMember {
        OpenMlsMember {
            identity: identity.to_vec(),
            provider: OpenMlsRustCrypto::default(),
            signers: HashMap::new(),
            suite_signer: HashMap::new(),
            external_signer: None,
            group: None,
            seen: HashSet::new(),
        }
    }

    /// The default signature key of the suite, made on first use.
    fn signer_key(&mut self, cs: Ciphersuite) -> Result<Vec<u8>, ClientError> {
        match self.suite_signer.get(&u16::from(cs)) {
            Some(key) => Ok(key.clone()),
            None => self.fresh_signer(cs),
        }
    }

    /// A new signature key, from now on the suite's default.
    fn fresh_signer(&mut self, cs: Ciphersuite) -> Result<Vec<u8>, ClientError> {
        let pair = SignatureKeyPair::new(cs.signature_algorithm())
            .map_err(|e| failed("signature key generation", e))?;
        let public = pair.public().to_vec();
        self.signers.insert(public.clone(), pair);
        self.suite_signer.insert(u16::from(cs), public.clone());
        Ok(public)
    }

    fn signer(&self, public: &[u8]) -> Result<&SignatureKeyPair, ClientError> {
        self.signers
            .get(public)
            .ok_or_else(|| ClientError::failed("no signature key pair for this leaf"))
    }

    fn credential(&self, public: &[u8]) -> CredentialWithKey {
        CredentialWithKey {
            credential: BasicCredential::new(self.identity.clone()).into(),
            signature_key: public.to_vec().into(),
        }
    }

    fn group(&self) -> Result<&OmGroup, ClientError> {
        self.group.as_ref().ok_or_else(no_group)
    }

    /// The group, the provider and the signer of its own leaf.
    fn parts(
        &mut self,
    ) -> Result<(&mut OmGroup, &OpenMlsRustCrypto, &SignatureKeyPair), ClientError> {
        let group = self.group.as_mut().ok_or_else(no_group)?;
        let leaf = group
            .own_leaf_node()
            .ok_or_else(|| ClientError::failed("the member has no leaf in its group"))?;
        let signer = self
            .signers
            .get(leaf.signature_key().as_slice())
            .ok_or_else(|| ClientError::failed("no signature key pair for the own leaf"))?;
        Ok((group, &self.provider, signer))
    }

    fn parts_ref(&self) -> Result<(&OmGroup, &SignatureKeyPair), ClientError> {
        let group = self.group()?;
        let leaf = group
            .own_leaf_node()
            .ok_or_else(|| ClientError::failed("the member has no leaf in its group"))?;
        Ok((group, self.signer(leaf.signature_key().as_slice())?))
    }

    /// Enters a group (new epoch, new message history).
    fn set_group(&mut self, group: OmGroup) {
        self.group = Some(group);
        self.seen.clear();
    }

    /// A fresh key package; `build` writes its private keys to the provider's storage, where a
    /// Welcome finds them (key_packages/mod.rs:605).
    fn new_key_package(&mut self, cs: Ciphersuite) -> Result<KeyPackage, ClientError> {
        let key = self.signer_key(cs)?;
        let cwk = self.credential(&key);
        let bundle = KeyPackage::builder()
            .leaf_node_capabilities(capabilities())
            .build(cs, &self.provider, self.signer(&key)?, cwk)
            .map_err(|e| failed("build KeyPackage", e))?;
        Ok(bundle.key_package().clone())
    }

    fn resolve(&self, spec: &ProposalSpec) -> Result<Resolved, ClientError> {
        let group = self.group()?;
        let cs = group.ciphersuite();
        let rand = self.provider.rand();
        Ok(match spec {
            ProposalSpec::Add { key_package: kp } => {
                Resolved::Add(Box::new(key_package(&self.provider, kp)?))
            }
            ProposalSpec::Remove { identity } => {
                Resolved::Remove(leaf_of(group.members(), identity)?)
            }
            // A proposal needs an Nh-byte nonce; with an empty one the commit fails with
            // NonceLengthMismatch (schedule/psk.rs).
            ProposalSpec::ExternalPsk { psk_id } => Resolved::Psk(
                PreSharedKeyId::new(cs, rand, Psk::External(ExternalPsk::new(psk_id.clone())))
                    .map_err(|e| failed("PSK nonce", e))?,
            ),
            ProposalSpec::ResumptionPsk { epoch } => Resolved::Psk(
                PreSharedKeyId::new(
                    cs,
                    rand,
                    Psk::Resumption(ResumptionPsk::new(
                        ResumptionPskUsage::Application,
                        group.group_id().clone(),
                        GroupEpoch::from(*epoch),
                    )),
                )
                .map_err(|e| failed("PSK nonce", e))?,
            ),
            ProposalSpec::GroupContextExtensions { extensions } => {
                Resolved::Gce(group_context_extensions(extensions)?)
            }
            ProposalSpec::Reinit { .. } => {
                return Err(ClientError::unsupported(
                    CLIENT,
                    "ReInit: openmls's ReInitProposal has no public constructor and \
                     Propose has no ReInit",
                ))
            }
        })
    }

    /// Processes another member's (or an external party's) proposal into the proposal store;
    /// skips what it sent or processed already this epoch.
    fn ingest_proposal(&mut self, message: &[u8]) -> Result<(), ClientError> {
        if self.seen.contains(message) {
            return Ok(());
        }
        let incoming = protocol_message(message)?;
        let group = self.group.as_mut().ok_or_else(no_group)?;
        let processed = group
            .process_message(&self.provider, incoming)
            .map_err(|e| match e {
                // openmls takes only Add, Remove and GroupContextExtensions from external
                // senders (mls_group/processing.rs:1162, "TODO #151/#106"): a missing feature.
                openmls::prelude::ProcessMessageError::UnsupportedProposalType => {
                    ClientError::Unsupported {
                        client: CLIENT,
                        reason: "receiving PreSharedKey or ReInit proposals from external senders"
                            .into(),
                    }
                }
                e => failed("process proposal", e),
            })?;
        match processed.into_content() {
            // openmls does not queue processed proposals by itself (processing.rs:408).
            ProcessedMessageContent::ProposalMessage(p)
            | ProcessedMessageContent::ExternalJoinProposalMessage(p) => group
                .store_pending_proposal(self.provider.storage(), *p)
                .map_err(|e| failed("store proposal", e))?,
            other => {
                return Err(ClientError::Failed(format!(
                    "expected a proposal, got {}",
                    content_kind(&other)
                )))
            }
        }
        self.seen.insert(message.to_vec());
        Ok(())
    }

    /// The external sender this member signs as: its key and its basic credential.
    fn own_external_sender(&self, pair: &SignatureKeyPair) -> ExternalSender {
        ExternalSender::new(
            pair.public().to_vec().into(),
            BasicCredential::new(self.identity.clone()).into(),
        )
    }
}

impl Member for OpenMlsMember {
    fn client(&self) -> &'static str {
        CLIENT
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
        let cs = suite(&self.provider, cipher_suite)?;
        let key = self.signer_key(cs)?;
        let config = MlsGroupCreateConfig::builder()
            .ciphersuite(cs)
            .wire_format_policy(wire_policy(encrypt_handshake))
            .use_ratchet_tree_extension(true)
            .number_of_resumption_psks(32)
            .max_past_epochs(4)
            .capabilities(capabilities())
            .build();
        let group = OmGroup::new_with_group_id(
            &self.provider,
            self.signer(&key)?,
            &config,
            GroupId::from_slice(group_id),
            self.credential(&key),
        )
        .map_err(|e| failed("create group", e))?;
        self.set_group(group);
        Ok(())
    }

    fn create_key_package(&mut self, cipher_suite: u16) -> Result<Vec<u8>, ClientError> {
        let cs = suite(&self.provider, cipher_suite)?;
        let kp = self.new_key_package(cs)?;
        to_bytes(&MlsMessageOut::from(kp))
    }

    fn join(
        &mut self,
        welcome: &[u8],
        ratchet_tree: Option<&[u8]>,
        encrypt_handshake: bool,
    ) -> Result<(), ClientError> {
        let MlsMessageBodyIn::Welcome(welcome) = decode_message(welcome)?.extract() else {
            return Err(ClientError::failed("welcome is not an MLSMessage(Welcome)"));
        };
        // Rejoining a group id it held before must not fail with GroupAlreadyExists.
        let mut join = StagedWelcome::build_from_welcome(
            &self.provider,
            &join_config(encrypt_handshake),
            welcome,
        )
        .map_err(|e| failed("process Welcome", e))?
        .replace_old_group();
        if let Some(tree) = ratchet_tree {
            join = join.with_ratchet_tree(decode_tree(tree)?);
        }
        let group = join
            .build()
            .map_err(|e| failed("stage Welcome", e))?
            .into_group(&self.provider)
            .map_err(|e| failed("join group", e))?;
        self.set_group(group);
        // Its own leaf came from one of its key packages, so its signer is known.
        self.parts_ref().map(|_| ())
    }

    fn external_join(
        &mut self,
        group_info: &[u8],
        ratchet_tree: Option<&[u8]>,
        encrypt_handshake: bool,
        remove_prior: bool,
        psks: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<Vec<u8>, ClientError> {
        let gi = decode_group_info(group_info)?;
        let cs = suite(&self.provider, u16::from(gi.ciphersuite()))?;
        let given_tree = ratchet_tree.map(decode_tree).transpose()?;
        // The builder takes the GroupInfo's ratchet_tree extension over a given tree
        // (external_commits.rs:165-171); read the leaves from the same one.
        let leaves: Vec<(Option<Vec<u8>>, Vec<u8>)> = gi
            .extensions()
            .ratchet_tree()
            .map(|ext| ext.ratchet_tree())
            .or(given_tree.as_ref())
            .ok_or_else(|| ClientError::failed("no ratchet tree in the GroupInfo and none given"))?
            .leaves()
            .map(|leaf| {
                (
                    basic_identity(leaf.credential()),
                    leaf.signature_key().as_slice().to_vec(),
                )
            })
            .collect();

        // openmls removes exactly the leaf that has the joiner's signature key
        // (external_commits.rs:260-267), so the key chosen here decides the Remove.
        let key = if remove_prior {
            let (_, prior_key) = leaves
                .iter()
                .rev()
                .find(|(id, _)| id.as_deref() == Some(&self.identity[..]))
                .ok_or_else(|| {
                    ClientError::failed("remove_prior: no leaf with this identity in the tree")
                })?;
            if !self.signers.contains_key(prior_key) {
                return Err(ClientError::unsupported(
                    CLIENT,
                    "external join removing a prior leaf signed by a key this member does not \
                     hold: openmls's external commit removes only the leaf with the joiner's own \
                     signature key",
                ));
            }
            prior_key.clone()
        } else {
            // A leaf already holding its default key would be removed too, so a fresh key then.
            let key = self.signer_key(cs)?;
            if leaves.iter().any(|(_, k)| *k == key) {
                self.fresh_signer(cs)?
            } else {
                key
            }
        };

        let mut psk_proposals = Vec::with_capacity(psks.len());
        for (id, secret) in psks {
            self.store_psk(id, secret)?;
            let psk_id = PreSharedKeyId::new(
                cs,
                self.provider.rand(),
                Psk::External(ExternalPsk::new(id.clone())),
            )
            .map_err(|e| failed("PSK nonce", e))?;
            psk_proposals.push(PreSharedKeyProposal::new(psk_id));
        }

        let mut builder =
            OmGroup::external_commit_builder().with_config(join_config(encrypt_handshake));
        if let Some(tree) = given_tree {
            builder = builder.with_ratchet_tree(tree);
        }
        let cwk = self.credential(&key);
        let signer = self.signer(&key)?;
        let (group, bundle) = builder
            .build_group(&self.provider, gi, cwk)
            .map_err(|e| failed("external commit from GroupInfo", e))?
            .leaf_node_parameters(
                LeafNodeParameters::builder()
                    .with_capabilities(capabilities())
                    .build(),
            )
            .add_psk_proposals(psk_proposals)
            .load_psks(self.provider.storage())
            .map_err(|e| failed("load PSKs", e))?
            .build(self.provider.rand(), self.provider.crypto(), signer, |_| {
                true
            })
            .map_err(|e| failed("build external commit", e))?
            // Already merged: no merge_pending_commit (external_commits.rs:371).
            .finalize(&self.provider)
            .map_err(|e| failed("finalize external commit", e))?;
        let commit = to_bytes(&bundle.into_commit())?;
        self.set_group(group);
        Ok(commit)
    }

    fn store_psk(&mut self, psk_id: &[u8], secret: &[u8]) -> Result<(), ClientError> {
        // The store is keyed by the PSK id alone (the nonce is not part of the key), so one
        // entry serves every later proposal and join.
        PreSharedKeyId::external(psk_id.to_vec(), vec![])
            .store(&self.provider, secret)
            .map_err(|e| failed("store PSK", e))
    }

    fn group_info(&self, external_tree: bool) -> Result<(Vec<u8>, Option<Vec<u8>>), ClientError> {
        let (group, signer) = self.parts_ref()?;
        // Always carries external_pub (exporting.rs:268).
        let gi = group
            .export_group_info(self.provider.crypto(), signer, !external_tree)
            .map_err(|e| failed("export GroupInfo", e))?;
        let tree = if external_tree {
            Some(
                group
                    .export_ratchet_tree()
                    .tls_serialize_detached()
                    .map_err(|e| failed("encode ratchet tree", e))?,
            )
        } else {
            None
        };
        Ok((to_bytes(&gi)?, tree))
    }

    fn epoch_authenticator(&self) -> Result<Vec<u8>, ClientError> {
        Ok(self.group()?.epoch_authenticator().as_slice().to_vec())
    }

    fn export_secret(
        &self,
        label: &[u8],
        context: &[u8],
        len: usize,
    ) -> Result<Vec<u8>, ClientError> {
        let label = std::str::from_utf8(label).map_err(|_| {
            ClientError::failed("openmls takes exporter labels as &str; this one is not UTF-8")
        })?;
        self.group()?
            .export_secret(self.provider.crypto(), label, context, len)
            .map_err(|e| failed("export_secret", e))
    }

    fn epoch(&self) -> Option<u64> {
        self.group.as_ref().map(|g| g.epoch().as_u64())
    }

    fn active(&self) -> bool {
        self.group.as_ref().is_some_and(|g| g.is_active())
    }

    fn own_leaf(&self) -> Option<u32> {
        self.group.as_ref().map(|g| g.own_leaf_index().u32())
    }

    fn cipher_suite(&self) -> Option<u16> {
        self.group.as_ref().map(|g| u16::from(g.ciphersuite()))
    }

    fn group_id(&self) -> Option<Vec<u8>> {
        self.group
            .as_ref()
            .map(|g| g.group_id().as_slice().to_vec())
    }

    fn roster(&self) -> Result<Vec<Vec<u8>>, ClientError> {
        self.group()?
            .members()
            .map(|m| {
                basic_identity(&m.credential).ok_or_else(|| {
                    ClientError::Failed(format!("member {} has no basic credential", m.index.u32()))
                })
            })
            .collect()
    }

    fn propose(&mut self, proposal: &ProposalSpec) -> Result<Vec<u8>, ClientError> {
        let resolved = self.resolve(proposal)?;
        let (group, provider, signer) = self.parts()?;
        let message = match resolved {
            Resolved::Add(kp) => group
                .propose_add_member(provider, signer, &kp)
                .map_err(|e| failed("propose Add", e))?,
            Resolved::Remove(leaf) => group
                .propose_remove_member(provider, signer, leaf)
                .map_err(|e| failed("propose Remove", e))?,
            // Takes resumption ids too; only the generic `propose(Propose::PreSharedKey)` refuses
            // them (proposal.rs:312-326).
            Resolved::Psk(id) => group
                .propose_pre_shared_key(provider, signer, id)
                .map_err(|e| failed("propose PreSharedKey", e))?,
            Resolved::Gce(extensions) => group
                .propose_group_context_extensions(provider, extensions, signer)
                .map_err(|e| failed("propose GroupContextExtensions", e))?,
        }
        .0;
        let bytes = to_bytes(&message)?;
        self.seen.insert(bytes.clone());
        Ok(bytes)
    }

    fn propose_update(&mut self) -> Result<Vec<u8>, ClientError> {
        let (group, provider, signer) = self.parts()?;
        let (message, _) = group
            .propose_self_update(provider, signer, LeafNodeParameters::default())
            .map_err(|e| failed("propose Update", e))?;
        let bytes = to_bytes(&message)?;
        self.seen.insert(bytes.clone());
        Ok(bytes)
    }

    fn commit(
        &mut self,
        by_reference: &[Vec<u8>],
        by_value: &[ProposalSpec],
        force_path: bool,
        external_tree: bool,
    ) -> Result<CommitOutput, ClientError> {
        for message in by_reference {
            self.ingest_proposal(message)?;
        }
        let resolved = by_value
            .iter()
            .map(|spec| self.resolve(spec))
            .collect::<Result<Vec<_>, _>>()?;
        let (group, provider, signer) = self.parts()?;
        let mut builder = group
            .commit_builder()
            .consume_proposal_store(true)
            .force_self_update(force_path);
        for proposal in resolved {
            builder =
                match proposal {
                    Resolved::Add(kp) => builder.propose_adds([*kp]),
                    Resolved::Remove(leaf) => builder.propose_removals([leaf]),
                    Resolved::Psk(id) => builder.add_proposal(Proposal::PreSharedKey(Box::new(
                        PreSharedKeyProposal::new(id),
                    ))),
                    Resolved::Gce(extensions) => builder
                        .propose_group_context_extensions(extensions)
                        .map_err(|e| failed("GroupContextExtensions by value", e))?,
                };
        }
        let bundle = builder
            .load_psks(provider.storage())
            .map_err(|e| failed("load PSKs", e))?
            // Governs the Welcome's GroupInfo too (commit_builder.rs:1044-1049).
            .use_ratchet_tree_extension(!external_tree)
            .build(provider.rand(), provider.crypto(), signer, |_| true)
            .map_err(|e| failed("build commit", e))?
            .stage_commit(provider)
            .map_err(|e| failed("stage commit", e))?;
        let (commit, welcome, _) = bundle.into_messages();

        // The joiners need the new epoch's tree, which the staged commit already has
        // (staged_commit.rs:870).
        let ratchet_tree = if external_tree {
            let staged = group
                .pending_commit()
                .ok_or_else(|| ClientError::failed("no pending commit after staging"))?;
            let tree = staged
                .export_ratchet_tree(provider.crypto(), group.export_ratchet_tree())
                .map_err(|e| failed("tree of the staged commit", e))?
                .ok_or_else(|| ClientError::failed("the staged commit has no member state"))?;
            Some(
                tree.tls_serialize_detached()
                    .map_err(|e| failed("encode ratchet tree", e))?,
            )
        } else {
            None
        };
        Ok(CommitOutput {
            commit: to_bytes(&commit)?,
            welcome: welcome.as_ref().map(to_bytes).transpose()?,
            ratchet_tree,
        })
    }

    fn merge_pending_commit(&mut self) -> Result<(), ClientError> {
        let group = self.group.as_mut().ok_or_else(no_group)?;
        if group.pending_commit().is_none() {
            return Err(ClientError::failed("no pending commit to merge"));
        }
        group
            .merge_pending_commit(&self.provider)
            .map_err(|e| failed("merge pending commit", e))?;
        self.seen.clear();
        Ok(())
    }

    fn clear_pending_commit(&mut self) -> Result<(), ClientError> {
        let group = self.group.as_mut().ok_or_else(no_group)?;
        group
            .clear_pending_commit(self.provider.storage())
            .map_err(|e| failed("clear pending commit", e))
    }

    fn handle_commit(&mut self, proposals: &[Vec<u8>], commit: &[u8]) -> Result<(), ClientError> {
        for message in proposals {
            self.ingest_proposal(message)?;
        }
        let incoming = protocol_message(commit)?;
        let group = self.group.as_mut().ok_or_else(no_group)?;
        let processed = group
            .process_message(&self.provider, incoming)
            .map_err(|e| failed("process commit", e))?;
        match processed.into_content() {
            // Not merged by process_message (processing.rs:474).
            ProcessedMessageContent::StagedCommitMessage(staged) => group
                .merge_staged_commit(&self.provider, *staged)
                .map_err(|e| failed("merge commit", e))?,
            other => {
                return Err(ClientError::Failed(format!(
                    "expected a commit, got {}",
                    content_kind(&other)
                )))
            }
        }
        self.seen.clear();
        Ok(())
    }

    fn protect(
        &mut self,
        authenticated_data: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        let (group, provider, signer) = self.parts()?;
        // Used by the next outgoing message only (mls_group/mod.rs:329).
        group.set_aad(authenticated_data.to_vec());
        let message = group
            .create_message(provider, signer, plaintext)
            .map_err(|e| failed("protect", e))?;
        to_bytes(&message)
    }

    fn unprotect(&mut self, ciphertext: &[u8]) -> Result<Plaintext, ClientError> {
        let incoming = protocol_message(ciphertext)?;
        let group = self.group.as_mut().ok_or_else(no_group)?;
        let processed = group
            .process_message(&self.provider, incoming)
            .map_err(|e| failed("unprotect", e))?;
        let authenticated_data = processed.aad().to_vec();
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(m) => Ok(Plaintext {
                authenticated_data,
                plaintext: m.into_bytes(),
            }),
            other => Err(ClientError::Failed(format!(
                "expected an application message, got {}",
                content_kind(&other)
            ))),
        }
    }

    fn new_member_add_proposal(&mut self, group_info: &[u8]) -> Result<Vec<u8>, ClientError> {
        let gi = decode_group_info(group_info)?;
        let cs = suite(&self.provider, u16::from(gi.ciphersuite()))?;
        // The key package's private keys stay in the provider: a later Welcome finds them.
        let kp = self.new_key_package(cs)?;
        let key = self.signer_key(cs)?;
        let message =
            JoinProposal::new::<Storage>(kp, gi.group_id().clone(), gi.epoch(), self.signer(&key)?)
                .map_err(|e| failed("new-member Add proposal", e))?;
        to_bytes(&message)
    }

    fn create_external_signer(&mut self, cipher_suite: u16) -> Result<Vec<u8>, ClientError> {
        let cs = suite(&self.provider, cipher_suite)?;
        let pair = SignatureKeyPair::new(cs.signature_algorithm())
            .map_err(|e| failed("signature key generation", e))?;
        let sender = self
            .own_external_sender(&pair)
            .tls_serialize_detached()
            .map_err(|e| failed("encode ExternalSender", e))?;
        self.external_signer = Some(pair);
        Ok(sender)
    }

    fn add_external_signer(&mut self, external_sender: &[u8]) -> Result<Vec<u8>, ClientError> {
        let sender = ExternalSender::tls_deserialize_exact(external_sender)
            .map_err(|e| failed("decode ExternalSender", e))?;
        let mut extensions = self.group()?.extensions().clone();
        let mut senders = extensions.external_senders().cloned().unwrap_or_default();
        senders.push(sender);
        extensions
            .add_or_replace(Extension::ExternalSenders(senders))
            .map_err(|e| failed("external_senders extension", e))?;
        let (group, provider, signer) = self.parts()?;
        let (message, _) = group
            .propose_group_context_extensions(provider, extensions, signer)
            .map_err(|e| failed("propose GroupContextExtensions", e))?;
        let bytes = to_bytes(&message)?;
        self.seen.insert(bytes.clone());
        Ok(bytes)
    }

    fn external_signer_proposal(
        &mut self,
        group_info: &[u8],
        ratchet_tree: &[u8],
        proposal: &ProposalSpec,
    ) -> Result<Vec<u8>, ClientError> {
        let pair = self.external_signer.as_ref().ok_or_else(|| {
            ClientError::failed("not an external signer (no create_external_signer)")
        })?;
        // Refused before any input is read: these do not depend on it.
        let wanted = match proposal {
            ProposalSpec::Add { key_package } => External::Add(key_package),
            ProposalSpec::Remove { identity } => External::Remove(identity),
            ProposalSpec::GroupContextExtensions { extensions } => External::Gce(extensions),
            ProposalSpec::ExternalPsk { .. } | ProposalSpec::ResumptionPsk { .. } => {
                return Err(ClientError::unsupported(CLIENT,
                    "external-sender PreSharedKey proposal: openmls's ExternalProposal builds only \
                     Add, Remove and GroupContextExtensions (messages/external_proposals.rs)",
                ))
            }
            ProposalSpec::Reinit { .. } => {
                return Err(ClientError::unsupported(CLIENT,
                    "external-sender ReInit proposal: not in openmls's ExternalProposal",
                ))
            }
        };
        let gi = decode_group_info(group_info)?;
        suite(&self.provider, u16::from(gi.ciphersuite()))?;
        // Verifies the tree and the GroupInfo's signature; its copy of the public group goes to
        // a scratch store, not to this member's.
        let scratch = OpenMlsRustCrypto::default();
        let (public, _) = PublicGroup::from_external(
            self.provider.crypto(),
            scratch.storage(),
            decode_tree(ratchet_tree)?,
            gi,
            ProposalStore::new(),
        )
        .map_err(|e| failed("GroupInfo and ratchet tree", e))?;

        // Its index in external_senders, found by signature key (the runner never sets
        // signer_index). ExternalSender's fields are pub(crate), so its encoding is compared:
        // it starts with signature_key<V>.
        let key_prefix = VLBytes::new(pair.public().to_vec())
            .tls_serialize_detached()
            .map_err(|e| failed("encode signature key", e))?;
        let index = public
            .group_context()
            .extensions()
            .external_senders()
            .and_then(|senders| {
                senders.iter().position(|s| {
                    s.tls_serialize_detached()
                        .is_ok_and(|bytes| bytes.starts_with(&key_prefix))
                })
            })
            .ok_or_else(|| {
                ClientError::failed("this signer is not in the group's external_senders")
            })?;
        let index = SenderExtensionIndex::new(
            u32::try_from(index).map_err(|e| failed("external sender index", e))?,
        );
        let group_id = public.group_id().clone();
        let epoch = public.group_context().epoch();

        let message = match wanted {
            External::Add(kp) => ExternalProposal::new_add::<OpenMlsRustCrypto>(
                key_package(&self.provider, kp)?,
                group_id,
                epoch,
                pair,
                index,
            )
            .map_err(|e| failed("external Add proposal", e))?,
            External::Remove(identity) => ExternalProposal::new_remove::<OpenMlsRustCrypto>(
                leaf_of(public.members(), identity)?,
                group_id,
                epoch,
                pair,
                index,
            )
            .map_err(|e| failed("external Remove proposal", e))?,
            External::Gce(extensions) => {
                ExternalProposal::new_group_context_extensions::<OpenMlsRustCrypto>(
                    group_context_extensions(extensions)?,
                    group_id,
                    epoch,
                    pair,
                    index,
                )
                .map_err(|e| failed("external GroupContextExtensions proposal", e))?
            }
        };
        to_bytes(&message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str) -> OpenMlsMember {
        OpenMlsMember::new(name.as_bytes())
    }

    fn names(m: &OpenMlsMember) -> Vec<String> {
        m.roster()
            .unwrap()
            .iter()
            .map(|id| String::from_utf8_lossy(id).into_owned())
            .collect()
    }

    fn same_epoch(members: &[&OpenMlsMember]) {
        let ea = members[0].epoch_authenticator().unwrap();
        assert!(!ea.is_empty());
        for m in members {
            assert_eq!(
                m.epoch_authenticator().unwrap(),
                ea,
                "{}",
                String::from_utf8_lossy(m.identity())
            );
            assert_eq!(m.epoch(), members[0].epoch());
        }
    }

    /// alice creates the group and adds bob by value (the runner's createGroup).
    fn pair(enc: bool) -> (OpenMlsMember, OpenMlsMember) {
        let mut alice = member("alice");
        let mut bob = member("bob");
        alice.create_group(b"group", 1, enc).unwrap();
        assert_eq!(alice.epoch(), Some(0));
        let kp = bob.create_key_package(1).unwrap();
        let out = alice
            .commit(&[], &[ProposalSpec::Add { key_package: kp }], false, false)
            .unwrap();
        assert!(out.ratchet_tree.is_none());
        alice.merge_pending_commit().unwrap();
        bob.join(&out.welcome.unwrap(), None, enc).unwrap();
        same_epoch(&[&alice, &bob]);
        assert_eq!(names(&bob), ["alice", "bob"]);
        assert_eq!(bob.cipher_suite(), Some(1));
        (alice, bob)
    }

    fn wire_format(message: &[u8]) -> u16 {
        u16::from_be_bytes([message[2], message[3]])
    }

    #[test]
    fn two_members_both_wire_formats() {
        for enc in [false, true] {
            let (mut alice, mut bob) = pair(enc);

            // bob's update, committed by alice; bob gets his own proposal back and skips it.
            let update = bob.propose_update().unwrap();
            assert_eq!(wire_format(&update), if enc { 2 } else { 1 });
            let out = alice
                .commit(std::slice::from_ref(&update), &[], false, false)
                .unwrap();
            alice.merge_pending_commit().unwrap();
            bob.handle_commit(&[update], &out.commit).unwrap();
            same_epoch(&[&alice, &bob]);
            assert_eq!(alice.epoch(), Some(2));

            // Application data both ways, with AAD.
            let ct = alice.protect(b"aad-a", b"hello bob").unwrap();
            assert_eq!(
                bob.unprotect(&ct).unwrap(),
                Plaintext {
                    authenticated_data: b"aad-a".to_vec(),
                    plaintext: b"hello bob".to_vec()
                }
            );
            let ct = bob.protect(b"", b"hello alice").unwrap();
            assert_eq!(alice.unprotect(&ct).unwrap().plaintext, b"hello alice");
            assert!(alice.unprotect(&ct).is_err(), "a replay must not decrypt");

            // Out of order within an epoch, and from the previous epoch (application.json).
            let cts: Vec<_> = (0..3u8)
                .map(|i| alice.protect(&[i], &[i; 5]).unwrap())
                .collect();
            assert_eq!(bob.unprotect(&cts[2]).unwrap().plaintext, [2; 5]);
            let out = bob.commit(&[], &[], true, false).unwrap();
            bob.merge_pending_commit().unwrap();
            alice.handle_commit(&[], &out.commit).unwrap();
            for i in [1, 0] {
                let pt = bob.unprotect(&cts[i]).unwrap();
                assert_eq!(
                    (pt.authenticated_data, pt.plaintext),
                    (vec![i as u8], vec![i as u8; 5])
                );
            }

            // carol joins externally from a GroupInfo with the tree apart.
            let mut carol = member("carol");
            let (gi, tree) = bob.group_info(true).unwrap();
            let commit = carol
                .external_join(&gi, tree.as_deref(), enc, false, &[])
                .unwrap();
            assert_eq!(
                wire_format(&commit),
                1,
                "external commits are PublicMessages"
            );
            alice.handle_commit(&[], &commit).unwrap();
            bob.handle_commit(&[], &commit).unwrap();
            same_epoch(&[&alice, &bob, &carol]);
            assert_eq!(names(&alice), ["alice", "bob", "carol"]);

            // alice proposes removing bob by identity; carol commits it with a forced path.
            let remove = alice
                .propose(&ProposalSpec::Remove {
                    identity: b"bob".to_vec(),
                })
                .unwrap();
            let out = carol
                .commit(std::slice::from_ref(&remove), &[], true, false)
                .unwrap();
            carol.merge_pending_commit().unwrap();
            alice
                .handle_commit(std::slice::from_ref(&remove), &out.commit)
                .unwrap();
            bob.handle_commit(&[remove], &out.commit).unwrap();
            same_epoch(&[&alice, &carol]);
            assert_eq!(names(&carol), ["alice", "carol"]);
            let ct = alice.protect(b"", b"bob is gone").unwrap();
            assert!(bob.unprotect(&ct).is_err());
            assert_eq!(carol.unprotect(&ct).unwrap().plaintext, b"bob is gone");
        }
    }

    #[test]
    fn out_of_band_tree_psks_and_extensions() {
        let (mut alice, mut bob) = pair(true);
        let mut dave = member("dave");

        // Add by reference with the new tree returned apart (external_tree).
        let kp = dave.create_key_package(1).unwrap();
        let add = bob.propose(&ProposalSpec::Add { key_package: kp }).unwrap();
        let out = alice
            .commit(std::slice::from_ref(&add), &[], false, true)
            .unwrap();
        alice.merge_pending_commit().unwrap();
        bob.handle_commit(&[add], &out.commit).unwrap();
        let welcome = out.welcome.unwrap();
        assert!(
            dave.join(&welcome, None, true).is_err(),
            "no tree in the Welcome"
        );
        // openmls deletes the key package once the Welcome decrypts (creation.rs:706-712), so
        // the failed join used up this pending join: a fresh dave is added again.
        let mut dave = member("dave");
        let kp = dave.create_key_package(1).unwrap();
        let out = alice
            .commit(&[], &[ProposalSpec::Add { key_package: kp }], false, true)
            .unwrap();
        alice.merge_pending_commit().unwrap();
        bob.handle_commit(&[], &out.commit).unwrap();
        dave.join(&out.welcome.unwrap(), out.ratchet_tree.as_deref(), true)
            .unwrap();
        same_epoch(&[&alice, &bob, &dave]);

        // External and resumption PSKs by reference, then both by value.
        for m in [&mut alice, &mut bob, &mut dave] {
            m.store_psk(b"psk-id", b"psk secret").unwrap();
        }
        let external = ProposalSpec::ExternalPsk {
            psk_id: b"psk-id".to_vec(),
        };
        let epoch = alice.epoch().unwrap();
        let resumption = ProposalSpec::ResumptionPsk { epoch };
        let refs = vec![
            dave.propose(&external).unwrap(),
            alice.propose(&resumption).unwrap(),
        ];
        let out = bob.commit(&refs, &[], false, false).unwrap();
        bob.merge_pending_commit().unwrap();
        alice.handle_commit(&refs, &out.commit).unwrap();
        dave.handle_commit(&refs, &out.commit).unwrap();
        same_epoch(&[&alice, &bob, &dave]);
        let by_value = [external.clone(), ProposalSpec::ResumptionPsk { epoch }];
        let out = alice.commit(&[], &by_value, false, false).unwrap();
        alice.merge_pending_commit().unwrap();
        bob.handle_commit(&[], &out.commit).unwrap();
        dave.handle_commit(&[], &out.commit).unwrap();
        same_epoch(&[&alice, &bob, &dave]);

        // The scripts' GroupContextExtensions: required_capabilities and external_senders,
        // then a custom type listed in required_capabilities.
        let gce = alice
            .propose(&ProposalSpec::GroupContextExtensions {
                extensions: vec![
                    RawExtension {
                        extension_type: 3,
                        extension_data: vec![0, 0, 0],
                    },
                    RawExtension {
                        extension_type: 5,
                        extension_data: vec![0],
                    },
                ],
            })
            .unwrap();
        let out = dave
            .commit(std::slice::from_ref(&gce), &[], false, false)
            .unwrap();
        dave.merge_pending_commit().unwrap();
        alice
            .handle_commit(std::slice::from_ref(&gce), &out.commit)
            .unwrap();
        bob.handle_commit(&[gce], &out.commit).unwrap();
        same_epoch(&[&alice, &bob, &dave]);
        let custom = vec![
            RawExtension {
                extension_type: 3,
                // extension_types<V> = [0xff00], proposal_types<V> = [], credential_types<V> = []
                extension_data: vec![2, 0xff, 0x00, 0, 0],
            },
            RawExtension {
                extension_type: CUSTOM_EXTENSION,
                extension_data: b"custom".to_vec(),
            },
        ];
        let out = bob
            .commit(
                &[],
                &[ProposalSpec::GroupContextExtensions { extensions: custom }],
                false,
                false,
            )
            .unwrap();
        bob.merge_pending_commit().unwrap();
        alice.handle_commit(&[], &out.commit).unwrap();
        dave.handle_commit(&[], &out.commit).unwrap();
        same_epoch(&[&alice, &bob, &dave]);
        assert!(alice
            .group()
            .unwrap()
            .extensions()
            .unknown(CUSTOM_EXTENSION)
            .is_some());
    }

    #[test]
    fn external_parties_and_rejoin() {
        let (mut alice, mut bob) = pair(false);

        // A new member's own Add proposal, committed by alice.
        let mut erin = member("erin");
        let (gi, _) = alice.group_info(false).unwrap();
        let join = erin.new_member_add_proposal(&gi).unwrap();
        let out = alice
            .commit(std::slice::from_ref(&join), &[], false, false)
            .unwrap();
        alice.merge_pending_commit().unwrap();
        bob.handle_commit(&[join], &out.commit).unwrap();
        erin.join(&out.welcome.unwrap(), None, false).unwrap();
        same_epoch(&[&alice, &bob, &erin]);

        // An external sender joins external_senders; its Remove of erin is committed by bob.
        let mut ds = member("ds");
        let sender = ds.create_external_signer(1).unwrap();
        let gce = alice.add_external_signer(&sender).unwrap();
        let out = bob
            .commit(std::slice::from_ref(&gce), &[], false, false)
            .unwrap();
        bob.merge_pending_commit().unwrap();
        alice
            .handle_commit(std::slice::from_ref(&gce), &out.commit)
            .unwrap();
        erin.handle_commit(&[gce], &out.commit).unwrap();
        let (gi, tree) = alice.group_info(true).unwrap();
        let tree = tree.unwrap();
        assert!(matches!(
            ds.external_signer_proposal(&gi, &tree, &ProposalSpec::ExternalPsk { psk_id: vec![1] }),
            Err(ClientError::Unsupported { .. })
        ));
        let remove = ds
            .external_signer_proposal(
                &gi,
                &tree,
                &ProposalSpec::Remove {
                    identity: b"erin".to_vec(),
                },
            )
            .unwrap();
        let out = bob
            .commit(std::slice::from_ref(&remove), &[], false, false)
            .unwrap();
        bob.merge_pending_commit().unwrap();
        alice.handle_commit(&[remove], &out.commit).unwrap();
        same_epoch(&[&alice, &bob]);
        assert_eq!(names(&alice), ["alice", "bob"]);

        // bob rejoins externally, removing his prior leaf, with an external PSK.
        alice.store_psk(b"rejoin", b"secret").unwrap();
        let (gi, _) = alice.group_info(false).unwrap();
        let commit = bob
            .external_join(
                &gi,
                None,
                false,
                true,
                &[(b"rejoin".to_vec(), b"secret".to_vec())],
            )
            .unwrap();
        alice.handle_commit(&[], &commit).unwrap();
        same_epoch(&[&alice, &bob]);
        assert_eq!(names(&alice), ["alice", "bob"]);
    }

    #[test]
    fn bad_input_fails_cleanly() {
        let mut m = member("m");
        assert!(matches!(
            m.create_group(b"g", 7, false),
            Err(ClientError::Suite { suite: 7, .. })
        ));
        assert!(matches!(
            m.epoch_authenticator(),
            Err(ClientError::Failed(_))
        ));
        for junk in [&[][..], &[0, 1, 0, 5, 0xff][..], &[0xffu8; 40][..]] {
            assert!(matches!(
                m.join(junk, Some(junk), false),
                Err(ClientError::Failed(_))
            ));
            assert!(matches!(
                m.external_join(junk, None, false, false, &[]),
                Err(ClientError::Failed(_))
            ));
            assert!(m.new_member_add_proposal(junk).is_err());
            assert!(m.add_external_signer(junk).is_err());
        }
        m.create_group(b"g", 1, true).unwrap();
        for junk in [&[][..], &[0, 1, 0, 2, 0][..]] {
            assert!(matches!(m.unprotect(junk), Err(ClientError::Failed(_))));
            assert!(matches!(
                m.handle_commit(&[junk.to_vec()], junk),
                Err(ClientError::Failed(_))
            ));
            assert!(matches!(
                m.propose(&ProposalSpec::Add {
                    key_package: junk.to_vec()
                }),
                Err(ClientError::Failed(_))
            ));
        }
        assert!(matches!(
            m.propose(&ProposalSpec::GroupContextExtensions {
                extensions: vec![RawExtension {
                    extension_type: 3,
                    extension_data: vec![9]
                }]
            }),
            Err(ClientError::Failed(_))
        ));
        assert!(matches!(
            m.propose(&ProposalSpec::Remove {
                identity: b"nobody".to_vec()
            }),
            Err(ClientError::Failed(_))
        ));
        assert!(matches!(
            m.propose(&ProposalSpec::Reinit {
                group_id: vec![],
                cipher_suite: 1,
                extensions: vec![]
            }),
            Err(ClientError::Unsupported { .. })
        ));
        assert!(matches!(
            m.export_secret(&[0xff], b"", 32),
            Err(ClientError::Failed(_))
        ));
        assert_eq!(m.export_secret(b"label", b"", 32).unwrap().len(), 32);
        assert!(matches!(
            m.merge_pending_commit(),
            Err(ClientError::Failed(_))
        ));
    }
}
