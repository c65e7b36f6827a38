//! The openmls adapter: openmls 0.9.2 with its pure-Rust provider `openmls_rust_crypto` 0.6.0,
//! driven only through public, non-test API (no `test-utils` feature).
//!
//! Three workarounds let the public API take the vectors as they are:
//! - the vectors' key packages expired in 2024, so a `KeyPackageIn` that fails validation only
//!   on its lifetime becomes a `KeyPackage` through serde (same shape, same TLS bytes), and
//!   joining skips lifetime checks (`JoinBuilder::skip_lifetime_validation`);
//! - `KeyPackageBundle` has crate-private fields and a test-only constructor, but is
//!   serde-(de)serializable, so the vector's private keys go in through serde_json;
//! - a bare `Commit` has no public type, so it is decoded inside a dummy PublicMessage.

use super::openmls_member::OpenMlsMember;
use super::{failed, Client, ClientError, Member, MemberClient, MlsClient, MlsGroup, SuiteCrypto};
use crate::formats::{Format, PassiveClient, Welcome, WireKind};

use openmls::ciphersuite::hash_ref::HashReference;
use openmls::ciphersuite::signature::SignContent;
use openmls::messages::group_info::GroupInfo;
use openmls::messages::proposals_in::{
    AddProposalIn, GroupContextExtensionProposalIn, UpdateProposalIn,
};
use openmls::prelude::{
    Ciphersuite, ContentType, CryptoError, ExternalInitProposal, HpkePrivateKey, KeyPackage,
    KeyPackageBundle, KeyPackageIn, KeyPackageVerifyError, MlsGroup as OpenMlsGroup,
    MlsGroupJoinConfig, MlsMessageBodyIn, MlsMessageIn, OpenMlsCrypto, OpenMlsProvider,
    OpenMlsSignaturePublicKey, PreSharedKeyProposal, ProcessedMessageContent, ProcessedWelcome,
    ProtocolVersion, RatchetTreeIn, ReInitProposal, RemoveProposal, StagedWelcome, Verifiable,
    MIXED_PLAINTEXT_WIRE_FORMAT_POLICY,
};
use openmls::schedule::PreSharedKeyId;
use openmls_rust_crypto::{OpenMlsRustCrypto, RustCrypto};
use openmls_traits::storage::StorageProvider as _;
use openmls_traits::types::{HpkeCiphertext, SignatureScheme};
// `tls_deserialize_exact` needs the tls_codec trait in scope; the prelude glob is not used here.
use tls_codec::{Deserialize as _, TlsSerialize, TlsSize, VLBytes};

use super::openmls_member::CLIENT;

/// RFC 9420 §5.1.2/§5.1.3/§8: every label is prefixed with "MLS 1.0 ".
const LABEL_PREFIX: &[u8] = b"MLS 1.0 ";

/// The openmls client. Each operation builds a fresh provider, so no state leaks between cases.
#[derive(Debug, Default)]
pub struct OpenMls;

impl OpenMls {
    pub fn new() -> OpenMls {
        OpenMls
    }
}

/// The suite, if the provider offers it.
fn suite(crypto: &RustCrypto, number: u16) -> Result<Ciphersuite, ClientError> {
    let unsupported = ClientError::Suite {
        client: CLIENT,
        suite: number,
    };
    let cs = Ciphersuite::try_from(number).map_err(|_| unsupported.clone())?;
    crypto.supports(cs).map_err(|_| unsupported)?;
    Ok(cs)
}

/// openmls's labelled APIs take labels as `&str`; a non-UTF-8 label cannot be passed.
fn label_str(label: &[u8]) -> Result<&str, ClientError> {
    std::str::from_utf8(label).map_err(|_| {
        ClientError::unsupported(
            CLIENT,
            "openmls takes MLS labels as &str; this label is not UTF-8",
        )
    })
}

fn decode_mls_message(bytes: &[u8]) -> Result<MlsMessageIn, ClientError> {
    MlsMessageIn::tls_deserialize_exact(bytes).map_err(|e| failed("decode MLSMessage", e))
}

/// The KeyPackage of an MLSMessage. A key package whose only defect is an expired lifetime is
/// accepted (the vectors' expired in 2024) by converting `KeyPackageIn` to `KeyPackage` via serde.
fn key_package(provider: &OpenMlsRustCrypto, bytes: &[u8]) -> Result<KeyPackage, ClientError> {
    let MlsMessageBodyIn::KeyPackage(kp_in) = decode_mls_message(bytes)?.extract() else {
        return Err(ClientError::failed(
            "key_package is not an MLSMessage(KeyPackage)",
        ));
    };
    let fallback: KeyPackageIn = kp_in.clone();
    match kp_in.validate(provider.crypto(), ProtocolVersion::Mls10) {
        Ok(kp) => Ok(kp),
        Err(KeyPackageVerifyError::LifetimeError(_)) => serde_json::to_value(&fallback)
            .and_then(serde_json::from_value)
            .map_err(|e| failed("KeyPackageIn -> KeyPackage via serde", e)),
        Err(e) => Err(failed("KeyPackage validation", e)),
    }
}

/// Stores the KeyPackageBundle (key package + init and leaf private keys) a Welcome is for.
fn store_bundle(
    provider: &OpenMlsRustCrypto,
    kp: &KeyPackage,
    init_priv: &[u8],
    encryption_priv: &[u8],
) -> Result<(), ClientError> {
    // The bundle's fields are pub(crate) and its constructor is test-only; serde is public.
    let bundle: KeyPackageBundle = serde_json::from_value(serde_json::json!({
        "key_package": kp,
        "private_init_key": HpkePrivateKey::from(init_priv.to_vec()),
        "private_encryption_key": { "key": HpkePrivateKey::from(encryption_priv.to_vec()) },
    }))
    .map_err(|e| failed("KeyPackageBundle via serde", e))?;
    let hash_ref = kp
        .hash_ref(provider.crypto())
        .map_err(|e| failed("KeyPackageRef", e))?;
    provider
        .storage()
        .write_key_package(&hash_ref, &bundle)
        .map_err(|e| failed("store key package", e))
}

fn decode_welcome(bytes: &[u8]) -> Result<openmls::prelude::Welcome, ClientError> {
    match decode_mls_message(bytes)?.extract() {
        MlsMessageBodyIn::Welcome(w) => Ok(w),
        _ => Err(ClientError::failed("welcome is not an MLSMessage(Welcome)")),
    }
}

impl Client for OpenMls {
    fn name(&self) -> &'static str {
        CLIENT
    }

    fn version(&self) -> &'static str {
        "0.9.2"
    }

    fn cipher_suites(&self) -> Vec<u16> {
        let mut suites: Vec<u16> = RustCrypto::default()
            .supported_ciphersuites()
            .into_iter()
            .map(u16::from)
            .collect();
        suites.sort_unstable();
        suites
    }
}

impl MemberClient for OpenMls {
    fn member(&self, identity: &[u8]) -> Result<Box<dyn Member>, ClientError> {
        Ok(Box::new(OpenMlsMember::new(identity)))
    }
}

impl MlsClient for OpenMls {
    /// The vector formats this client's public API cannot express, and why (read from its
    /// source: the types and functions named are `pub(crate)` or private).
    fn cannot_express(&self, format: Format) -> Option<&'static str> {
        Some(match format {
            Format::TreeMath => "openmls's tree math is private (mod binary_tree; treemath::{root,left,right,parent,sibling} are pub(crate))",
            Format::KeySchedule => "openmls's KeySchedule and epoch secrets are pub(crate) (schedule/mod.rs): no public way to run the schedule from given secrets",
            Format::PskSecret => "openmls's PskSecret is pub(crate) (schedule/psk.rs)",
            Format::TranscriptHashes => "openmls's AuthenticatedContent and transcript-hash functions are pub(crate)",
            Format::SecretTree => "openmls's SecretTree is in the private module `tree`",
            Format::MessageProtection => "openmls has no public way to build a group from given epoch secrets, and message unprotection is pub(crate)",
            Format::TreeOperations => "openmls applies proposals to a tree only inside a group (PublicGroupDiff is pub(crate))",
            Format::TreeValidation => "openmls's tree hashes, resolutions and parent-hash checks are pub(crate) (only leaf signatures are public, via RatchetTreeIn::into_verified)",
            Format::TreeKem => "openmls's UpdatePathIn, treekem and TreeSyncDiff are pub(crate)",
            _ => return None,
        })
    }

    fn join_passive(&self, case: &PassiveClient) -> Result<Box<dyn MlsGroup>, ClientError> {
        // One provider per case: joining consumes the stored key package.
        let provider = OpenMlsRustCrypto::default();
        suite(provider.crypto(), case.cipher_suite)?;
        for psk in &case.external_psks {
            // The store is keyed by the PSK id only, so the nonce can be empty.
            PreSharedKeyId::external(psk.psk_id.to_vec(), vec![])
                .store(&provider, &psk.psk)
                .map_err(|e| failed("store external PSK", e))?;
        }
        let kp = key_package(&provider, &case.key_package)?;
        store_bundle(&provider, &kp, &case.init_priv, &case.encryption_priv)?;

        // The vectors mix PublicMessage and PrivateMessage, and resume with up to 16 PSKs.
        let config = MlsGroupJoinConfig::builder()
            .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .number_of_resumption_psks(16)
            .use_ratchet_tree_extension(true)
            .build();
        let welcome = decode_welcome(&case.welcome)?;
        let mut join = StagedWelcome::build_from_welcome(&provider, &config, welcome)
            .map_err(|e| failed("process Welcome", e))?
            .skip_lifetime_validation();
        if let Some(tree) = &case.ratchet_tree {
            let tree = RatchetTreeIn::tls_deserialize_exact(&tree[..])
                .map_err(|e| failed("decode ratchet_tree", e))?;
            join = join.with_ratchet_tree(tree);
        }
        let group = join
            .build()
            .map_err(|e| failed("stage Welcome", e))?
            .into_group(&provider)
            .map_err(|e| failed("join group", e))?;
        Ok(Box::new(PassiveGroup { provider, group }))
    }

    fn check_welcome(&self, case: &Welcome) -> Result<(), ClientError> {
        let provider = OpenMlsRustCrypto::default();
        let cs = suite(provider.crypto(), case.cipher_suite)?;
        let kp = key_package(&provider, &case.key_package)?;
        // welcome.json has no leaf private key; ProcessedWelcome does not use it.
        store_bundle(&provider, &kp, &case.init_priv, &[0u8; 32])?;
        let welcome = decode_welcome(&case.welcome)?;
        // Decrypts the GroupSecrets with init_priv and the GroupInfo with the derived key.
        let processed =
            ProcessedWelcome::new_from_welcome(&provider, &MlsGroupJoinConfig::default(), welcome)
                .map_err(|e| failed("decrypt Welcome", e))?;
        let signer = OpenMlsSignaturePublicKey::new(
            case.signer_pub.to_vec().into(),
            cs.signature_algorithm(),
        )
        .map_err(|e| failed("signer_pub", e))?;
        let _: GroupInfo = processed
            .unverified_group_info()
            .clone()
            .verify(provider.crypto(), &signer)
            .map_err(|e| failed("GroupInfo signature", e))?;
        Ok(())
    }

    /// Through openmls's codec (tls_codec, which openmls re-exports and uses for every `<V>`
    /// length: `vlen::read_length` / `write_length`).
    fn check_vlbytes_header(&self, header: &[u8], length: u32) -> Result<(), ClientError> {
        let mut reader = header;
        let (got, used) = tls_codec::vlen::read_length(&mut reader)
            .map_err(|e| failed("decoding the header", e))?;
        if used != header.len() || !reader.is_empty() {
            return Err(ClientError::Failed(format!(
                "the header is {} bytes but the length took {used}",
                header.len()
            )));
        }
        if u32::try_from(got).ok() != Some(length) {
            return Err(ClientError::Failed(format!(
                "length: expected {length}, decoded {got}"
            )));
        }
        let mut again = Vec::new();
        tls_codec::vlen::write_length(&mut again, got)
            .map_err(|e| failed("encoding the length", e))?;
        if again != header {
            return Err(ClientError::Failed(format!(
                "re-encoded header {} differs from {}",
                hex::encode(&again),
                hex::encode(header)
            )));
        }
        Ok(())
    }

    fn decode_reencode(&self, kind: WireKind, bytes: &[u8]) -> Result<Vec<u8>, ClientError> {
        match kind {
            WireKind::MlsWelcome
            | WireKind::MlsGroupInfo
            | WireKind::MlsKeyPackage
            | WireKind::PublicMessageApplication
            | WireKind::PublicMessageProposal
            | WireKind::PublicMessageCommit
            | WireKind::PrivateMessage => {
                let message = decode_mls_message(bytes)?;
                check_message_kind(kind, &message)?;
                encode(&message)
            }
            WireKind::RatchetTree => reencode::<RatchetTreeIn>(bytes),
            WireKind::GroupSecrets => Err(ClientError::unsupported(
                CLIENT,
                "openmls::messages::GroupSecrets is pub(crate)",
            )),
            WireKind::AddProposal => reencode::<AddProposalIn>(bytes),
            WireKind::UpdateProposal => reencode::<UpdateProposalIn>(bytes),
            WireKind::RemoveProposal => reencode::<RemoveProposal>(bytes),
            WireKind::PreSharedKeyProposal => reencode::<PreSharedKeyProposal>(bytes),
            // openmls's decoder rejects extensions it deems not allowed in a GroupContext
            // (e.g. ratchet_tree), which the vectors' ReInit carries: reported as its failure.
            WireKind::ReInitProposal => reencode::<ReInitProposal>(bytes),
            WireKind::ExternalInitProposal => reencode::<ExternalInitProposal>(bytes),
            WireKind::GroupContextExtensionsProposal => {
                reencode::<GroupContextExtensionProposalIn>(bytes)
            }
            WireKind::Commit => reencode_commit(bytes),
        }
    }

    fn crypto(&self, number: u16) -> Result<Box<dyn SuiteCrypto + '_>, ClientError> {
        let crypto = RustCrypto::default();
        let cs = suite(&crypto, number)?;
        Ok(Box::new(OpenMlsSuite { crypto, cs }))
    }
}

fn encode(value: &impl tls_codec::Serialize) -> Result<Vec<u8>, ClientError> {
    value
        .tls_serialize_detached()
        .map_err(|e| failed("encode", e))
}

fn reencode<T: tls_codec::Deserialize + tls_codec::Serialize>(
    bytes: &[u8],
) -> Result<Vec<u8>, ClientError> {
    let value = T::tls_deserialize_exact(bytes)
        .map_err(|e| failed(&format!("decode {}", std::any::type_name::<T>()), e))?;
    encode(&value)
}

/// The MLSMessage must carry the structure its messages.json field names.
fn check_message_kind(kind: WireKind, message: &MlsMessageIn) -> Result<(), ClientError> {
    let body_ok = match (kind, message.clone().extract()) {
        (WireKind::MlsWelcome, MlsMessageBodyIn::Welcome(_))
        | (WireKind::MlsGroupInfo, MlsMessageBodyIn::GroupInfo(_))
        | (WireKind::MlsKeyPackage, MlsMessageBodyIn::KeyPackage(_))
        | (WireKind::PrivateMessage, MlsMessageBodyIn::PrivateMessage(_)) => true,
        (WireKind::PublicMessageApplication, MlsMessageBodyIn::PublicMessage(m)) => {
            m.content_type() == ContentType::Application
        }
        (WireKind::PublicMessageProposal, MlsMessageBodyIn::PublicMessage(m)) => {
            m.content_type() == ContentType::Proposal
        }
        (WireKind::PublicMessageCommit, MlsMessageBodyIn::PublicMessage(m)) => {
            m.content_type() == ContentType::Commit
        }
        _ => false,
    };
    if body_ok {
        Ok(())
    } else {
        Err(ClientError::Failed(format!(
            "{} decoded as a different MLSMessage ({:?})",
            kind.name(),
            message.wire_format()
        )))
    }
}

/// A PublicMessage from member 0 at epoch 0 with an empty group id and no authenticated data,
/// up to the Commit (RFC 9420 §6.2), and its empty signature, confirmation and membership tags.
const COMMIT_ENVELOPE_HEAD: [u8; 20] = [
    0, 1, // version mls10
    0, 1, // wire_format mls_public_message
    0, // group_id<V>
    0, 0, 0, 0, 0, 0, 0, 0, // epoch
    1, 0, 0, 0, 0, // sender: member, leaf_index 0
    0, // authenticated_data<V>
    3, // content_type commit
];
const COMMIT_ENVELOPE_TAIL: [u8; 3] = [0, 0, 0];

/// openmls's `Commit` is pub(crate); its decoder is reachable through a PublicMessage.
fn reencode_commit(commit: &[u8]) -> Result<Vec<u8>, ClientError> {
    let wrapped = [&COMMIT_ENVELOPE_HEAD[..], commit, &COMMIT_ENVELOPE_TAIL[..]].concat();
    let message = MlsMessageIn::tls_deserialize_exact(&wrapped)
        .map_err(|e| failed("decode Commit inside a PublicMessage", e))?;
    let out = encode(&message)?;
    let (head, tail) = (COMMIT_ENVELOPE_HEAD.len(), COMMIT_ENVELOPE_TAIL.len());
    if out.len() < head + tail
        || !out.starts_with(&COMMIT_ENVELOPE_HEAD)
        || !out.ends_with(&COMMIT_ENVELOPE_TAIL)
    {
        return Err(ClientError::failed(
            "re-encoding changed the PublicMessage around the Commit",
        ));
    }
    Ok(out[head..out.len() - tail].to_vec())
}

/// A joined group with the provider that holds its state.
#[derive(Debug)]
struct PassiveGroup {
    provider: OpenMlsRustCrypto,
    group: OpenMlsGroup,
}

impl MlsGroup for PassiveGroup {
    fn epoch_authenticator(&self) -> Result<Vec<u8>, ClientError> {
        Ok(self.group.epoch_authenticator().as_slice().to_vec())
    }

    fn process(&mut self, mls_message: &[u8]) -> Result<(), ClientError> {
        let message = decode_mls_message(mls_message)?
            .try_into_protocol_message()
            .map_err(|e| failed("not a PublicMessage or PrivateMessage", e))?;
        let processed = self
            .group
            .process_message(&self.provider, message)
            .map_err(|e| failed("process message", e))?;
        match processed.into_content() {
            ProcessedMessageContent::ProposalMessage(proposal)
            | ProcessedMessageContent::ExternalJoinProposalMessage(proposal) => self
                .group
                .store_pending_proposal(self.provider.storage(), *proposal)
                .map_err(|e| failed("store proposal", e)),
            ProcessedMessageContent::StagedCommitMessage(commit) => self
                .group
                .merge_staged_commit(&self.provider, *commit)
                .map_err(|e| failed("merge commit", e)),
            ProcessedMessageContent::ApplicationMessage(_) => Ok(()),
            other => Err(ClientError::Failed(format!(
                "unexpected processed content for a passive member: {other:?}"
            ))),
        }
    }

    fn export_secret(
        &self,
        label: &[u8],
        context: &[u8],
        len: usize,
    ) -> Result<Vec<u8>, ClientError> {
        self.group
            .export_secret(self.provider.crypto(), label_str(label)?, context, len)
            .map_err(|e| failed("export_secret", e))
    }

    fn epoch(&self) -> u64 {
        self.group.epoch().as_u64()
    }

    fn own_leaf_index(&self) -> u32 {
        self.group.own_leaf_index().u32()
    }
}

/// RFC 9420 §8 `KDFLabel`; openmls's own is pub(crate).
#[derive(TlsSerialize, TlsSize)]
struct KdfLabel {
    length: u16,
    label: VLBytes,
    context: VLBytes,
}

/// RFC 9420 §5.1.3 `EncryptContext`; openmls's own is in a private module.
#[derive(TlsSerialize, TlsSize)]
struct EncryptContext {
    label: VLBytes,
    context: VLBytes,
}

fn prefixed(label: &[u8]) -> VLBytes {
    [LABEL_PREFIX, label].concat().into()
}

/// The labelled primitives over openmls's `OpenMlsCrypto` (RustCrypto).
#[derive(Debug)]
struct OpenMlsSuite {
    crypto: RustCrypto,
    cs: Ciphersuite,
}

impl OpenMlsSuite {
    fn encrypt_context(&self, label: &[u8], context: &[u8]) -> Result<Vec<u8>, ClientError> {
        encode(&EncryptContext {
            label: prefixed(label),
            context: context.to_vec().into(),
        })
    }

    fn sign_content(&self, label: &[u8], content: &[u8]) -> Result<Vec<u8>, ClientError> {
        // SignContent::new adds the "MLS 1.0 " prefix itself (RFC 9420 §5.1.2).
        encode(&SignContent::new(
            label_str(label)?,
            content.to_vec().into(),
        ))
    }
}

impl SuiteCrypto for OpenMlsSuite {
    fn ref_hash(&self, label: &[u8], value: &[u8]) -> Result<Vec<u8>, ClientError> {
        HashReference::new(value, self.cs, &self.crypto, label)
            .map(|r| r.as_slice().to_vec())
            .map_err(|e| failed("HashReference::new", e))
    }

    fn expand_with_label(
        &self,
        secret: &[u8],
        label: &[u8],
        context: &[u8],
        length: u16,
    ) -> Result<Vec<u8>, ClientError> {
        let info = encode(&KdfLabel {
            length,
            label: prefixed(label),
            context: context.to_vec().into(),
        })?;
        self.crypto
            .hkdf_expand(self.cs.hash_algorithm(), secret, &info, length.into())
            .map(|okm| okm.as_slice().to_vec())
            .map_err(|e| failed("hkdf_expand", e))
    }

    fn hash_length(&self) -> usize {
        self.cs.hash_length()
    }

    fn sign_with_label(
        &self,
        private: &[u8],
        _public: &[u8],
        label: &[u8],
        content: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        // Ed25519 keys are the 32-byte seed; P-256 signatures come out DER-encoded.
        // RustCrypto panics on a P-256 scalar of the wrong length, so that is checked first.
        if self.cs.signature_algorithm() == SignatureScheme::ECDSA_SECP256R1_SHA256
            && private.len() != 32
        {
            return Err(ClientError::Failed(format!(
                "sign: P-256 private key is {} bytes, not 32",
                private.len()
            )));
        }
        let tbs = self.sign_content(label, content)?;
        self.crypto
            .sign(self.cs.signature_algorithm(), &tbs, private)
            .map_err(|e| failed("sign", e))
    }

    fn verify_with_label(
        &self,
        public: &[u8],
        label: &[u8],
        content: &[u8],
        signature: &[u8],
    ) -> Result<bool, ClientError> {
        let tbs = self.sign_content(label, content)?;
        match self
            .crypto
            .verify_signature(self.cs.signature_algorithm(), &tbs, public, signature)
        {
            Ok(()) => Ok(true),
            Err(CryptoError::InvalidSignature) => Ok(false),
            Err(e) => Err(failed("verify_signature", e)),
        }
    }

    fn encrypt_with_label(
        &self,
        public: &[u8],
        label: &[u8],
        context: &[u8],
        plaintext: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), ClientError> {
        let info = self.encrypt_context(label, context)?;
        let ct = self
            .crypto
            .hpke_seal(self.cs.hpke_config(), public, &info, &[], plaintext)
            .map_err(|e| failed("hpke_seal", e))?;
        Ok((
            ct.kem_output.as_slice().to_vec(),
            ct.ciphertext.as_slice().to_vec(),
        ))
    }

    fn decrypt_with_label(
        &self,
        private: &[u8],
        label: &[u8],
        context: &[u8],
        kem_output: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        let info = self.encrypt_context(label, context)?;
        let ct = HpkeCiphertext {
            kem_output: kem_output.to_vec().into(),
            ciphertext: ciphertext.to_vec().into(),
        };
        self.crypto
            .hpke_open(self.cs.hpke_config(), &ct, private, &info, &[])
            .map_err(|e| failed("hpke_open", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{CryptoBasics, Messages};
    use std::path::PathBuf;

    /// `<vectors>/mls/<file>` parsed (see `vectors::dir_for_tests`; missing vectors fail).
    fn load<T: serde::de::DeserializeOwned>(file: &str) -> Option<Vec<T>> {
        let path: PathBuf = crate::vectors::dir_for_tests().join("mls").join(file);
        let text = std::fs::read_to_string(&path).expect("read vector file");
        Some(serde_json::from_str(&text).expect("parse vector file"))
    }

    /// Malformed keys and ciphertexts give errors, never panics.
    #[test]
    fn malformed_crypto_inputs() {
        let client = OpenMls::new();
        for suite in client.cipher_suites() {
            let c = client.crypto(suite).unwrap();
            for key in [&[][..], &[1u8; 31][..], &[1u8; 33][..], &[0xffu8; 65][..]] {
                let _ = c.sign_with_label(key, &[], b"l", b"c");
                let _ = c.verify_with_label(key, b"l", b"c", &[0u8; 64]);
                let _ = c.verify_with_label(key, b"l", b"c", key);
                let _ = c.encrypt_with_label(key, b"l", b"c", b"p");
                let _ = c.decrypt_with_label(key, b"l", b"c", key, key);
                let _ = c.expand_with_label(key, b"l", b"c", u16::MAX);
                let _ = c.ref_hash(b"l", key);
            }
            assert!(c
                .expand_with_label(&[0u8; 32], b"l", b"", u16::MAX)
                .is_err());
        }
        for kind in WireKind::ALL {
            for bytes in [&[][..], &[0u8; 3][..], &[0, 1, 0, 1, 0xff][..]] {
                assert!(
                    client.decode_reencode(kind, bytes).is_err(),
                    "{}",
                    kind.name()
                );
            }
        }
    }

    #[test]
    fn cipher_suites_from_provider() {
        assert_eq!(OpenMls::new().cipher_suites(), vec![1, 2, 3]);
        assert!(matches!(
            OpenMls::new().crypto(7).err(),
            Some(ClientError::Suite { suite: 7, .. })
        ));
    }

    #[test]
    fn messages_case_0() {
        let Some(cases) = load::<Messages>("messages.json") else {
            return;
        };
        let client = OpenMls::new();
        for kind in WireKind::ALL {
            let bytes = cases[0].get(kind);
            match (kind, client.decode_reencode(kind, bytes)) {
                (WireKind::GroupSecrets, Err(ClientError::Unsupported { .. })) => {}
                (WireKind::ReInitProposal, Err(ClientError::Failed(e))) => {
                    eprintln!("messages case 0: re_init_proposal fails in openmls: {e}");
                }
                (_, Ok(out)) => assert_eq!(out, bytes, "{} re-encoding", kind.name()),
                (_, Err(e)) => panic!("{}: {e}", kind.name()),
            }
        }
    }

    #[test]
    fn welcome_first_supported() {
        let Some(cases) = load::<Welcome>("welcome.json") else {
            return;
        };
        let client = OpenMls::new();
        let case = cases
            .iter()
            .find(|c| client.supports(c.cipher_suite))
            .expect("a supported suite");
        client.check_welcome(case).unwrap();
        // Another valid key of the same scheme must not verify the GroupInfo.
        let Some(other) = load::<CryptoBasics>("crypto-basics.json")
            .and_then(|c| c.into_iter().find(|c| c.cipher_suite == case.cipher_suite))
        else {
            return;
        };
        let mut wrong = case.clone();
        wrong.signer_pub = other.sign_with_label.public;
        assert!(matches!(
            client.check_welcome(&wrong),
            Err(ClientError::Failed(e)) if e.starts_with("GroupInfo signature")
        ));
    }
}
