//! The mls-rs adapter: AWS Labs' mls-rs 0.57 with its pure-Rust crypto provider
//! (mls-rs-crypto-rustcrypto 0.23), driven only through public API.
//!
//! What the public API cannot express, and what stands in for it:
//! - `GroupSecrets` is private and only ever travels encrypted, so it is not round-tripped.
//! - `Commit` is private: it is round-tripped inside a synthetic PublicMessage (`commit`).
//! - RFC 9420 §5's labelled operations are private: they are built here over the provider's
//!   public primitives (`Crypto`).
//! - The provider takes an Ed25519 secret key as seed || public key: the vectors' public key
//!   is appended to their seed.
//! - The Welcome's confirmation tag is not checked (see [`MlsRs::check_welcome`]).

use super::{failed, Client, ClientError, MemberClient, MlsClient, MlsGroup, SuiteCrypto};
use crate::formats::{Format, Hex, PassiveClient, Welcome, WireKind};
use mls_rs::client_builder::{ClientBuilder, MlsConfig};
use mls_rs::crypto::{
    HpkeCiphertext, HpkePublicKey, HpkeSecretKey, SignaturePublicKey, SignatureSecretKey,
};
use mls_rs::group::proposal::{
    AddProposal, ExternalInit, PreSharedKeyProposal, ReInitProposal, RemoveProposal, UpdateProposal,
};
use mls_rs::group::{ContentType, ExportedTree};
use mls_rs::identity::basic::{BasicCredential, BasicIdentityProvider};
use mls_rs::identity::SigningIdentity;
use mls_rs::mls_rs_codec::{self, MlsDecode, MlsEncode};
use mls_rs::psk::{ExternalPskId, PreSharedKey};
use mls_rs::storage_provider::in_memory::InMemoryKeyPackageStorage;
use mls_rs::storage_provider::KeyPackageData;
use mls_rs::{
    CipherSuite, CipherSuiteProvider, CryptoProvider, ExtensionList, Group, KeyPackage, MlsMessage,
    MlsMessageDescription, WireFormat,
};
use mls_rs_crypto_rustcrypto::ec_signer::EcSigner;
use mls_rs_crypto_rustcrypto::ecdh::Ecdh;
use mls_rs_crypto_rustcrypto::RustCryptoProvider;
use std::fmt::Debug;

use super::mls_rs_member::NAME;

/// The provider's per-suite crypto.
type Suite = <RustCryptoProvider as CryptoProvider>::CipherSuiteProvider;

#[derive(Debug, Default)]
pub struct MlsRs;

impl MlsRs {
    pub fn new() -> MlsRs {
        MlsRs
    }
}

/// The provider's crypto for `suite`, or `Err(Suite)` if it has none.
fn suite_provider(suite: u16) -> Result<Suite, ClientError> {
    RustCryptoProvider::new()
        .cipher_suite_provider(CipherSuite::from(suite))
        .ok_or(ClientError::Suite {
            client: NAME,
            suite,
        })
}

/// Ed25519 suites, whose signature keys need the 64-byte form below.
fn is_ed25519(suite: u16) -> bool {
    matches!(
        CipherSuite::from(suite),
        CipherSuite::CURVE25519_AES128 | CipherSuite::CURVE25519_CHACHA
    )
}

/// The provider takes an Ed25519 secret key as seed || public key (ed25519-dalek keypair bytes)
/// while the vectors give the 32-byte seed and, beside it, the public key; other keys pass
/// through.
fn signature_secret(
    suite: u16,
    private: &[u8],
    public: &[u8],
) -> Result<SignatureSecretKey, ClientError> {
    if !is_ed25519(suite) || private.len() != 32 {
        return Ok(private.to_vec().into());
    }
    Ok([private, public].concat().into())
}

/// The key package inside an MLSMessage, as the vectors carry it.
fn key_package(bytes: &[u8]) -> Result<KeyPackage, ClientError> {
    MlsMessage::from_bytes(bytes)
        .map_err(|e| failed("decoding key_package", e))?
        .into_key_package()
        .ok_or_else(|| ClientError::failed("key_package is not an MLSMessage(KeyPackage)"))
}

/// A key-package store holding `kp` under its KeyPackageRef; mls-rs wants the bare KeyPackage
/// encoding there, not the MLSMessage.
fn key_package_store(
    cs: &Suite,
    kp: &KeyPackage,
    init_priv: &[u8],
    encryption_priv: &[u8],
) -> Result<InMemoryKeyPackageStorage, ClientError> {
    let reference = kp
        .to_reference(cs)
        .map_err(|e| failed("KeyPackageRef", e))?;
    let bytes = kp
        .mls_encode_to_vec()
        .map_err(|e| failed("encoding key package", e))?;
    let store = InMemoryKeyPackageStorage::new();
    // The expiration is only used by storage clean-up, never by join.
    store.insert(
        reference.to_vec(),
        KeyPackageData::new(
            bytes,
            HpkeSecretKey::from(init_priv.to_vec()),
            HpkeSecretKey::from(encryption_priv.to_vec()),
            u64::MAX,
        ),
    );
    Ok(store)
}

impl Client for MlsRs {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> &'static str {
        "0.57.0"
    }

    fn cipher_suites(&self) -> Vec<u16> {
        RustCryptoProvider::all_supported_cipher_suites()
            .into_iter()
            .map(u16::from)
            .collect()
    }
}

impl MemberClient for MlsRs {
    fn member(&self, identity: &[u8]) -> Result<Box<dyn super::Member>, ClientError> {
        Ok(Box::new(super::mls_rs_member::MlsRsMember::new(identity)))
    }
}

impl MlsClient for MlsRs {
    /// The vector formats this client's public API cannot express, and why (read from its
    /// source: the types and functions named are `pub(crate)` or private).
    fn cannot_express(&self, format: Format) -> Option<&'static str> {
        Some(match format {
            Format::TreeMath => "mls-rs's tree math (tree_kem::math) is private",
            Format::KeySchedule => "mls-rs's KeySchedule and kdf_expand_with_label are pub(crate): no public way to run the schedule from given secrets",
            Format::PskSecret => "mls-rs's psk::secret is pub(crate)",
            Format::TranscriptHashes => "mls-rs's ConfirmedTranscriptHash, InterimTranscriptHash and AuthenticatedContent are pub(crate)",
            Format::SecretTree => "mls-rs's SecretTree is private; its key access works only on a live group, not from a given encryption_secret",
            Format::MessageProtection => "mls-rs has no public way to build a group from given epoch secrets; message processing exists only inside a Group",
            Format::TreeOperations => "mls-rs applies proposals to a tree and hashes it only inside a group",
            Format::TreeValidation => "mls-rs's TreeValidator, tree hashes and resolutions are private; it validates a tree only when joining from a Welcome or GroupInfo",
            Format::TreeKem => "mls-rs's TreeKemPublic/TreeKemPrivate and UpdatePath decapsulation are private",
            _ => return None,
        })
    }

    /// A fresh client with the vector's key package and keys, its external PSKs and a basic
    /// identity provider; joins with the out-of-band ratchet tree when the vector has one.
    fn join_passive(&self, case: &PassiveClient) -> Result<Box<dyn MlsGroup>, ClientError> {
        let cs = suite_provider(case.cipher_suite)?;
        let kp = key_package(&case.key_package)?;
        let store = key_package_store(&cs, &kp, &case.init_priv, &case.encryption_priv)?;
        let public = kp.signing_identity().signature_key.to_vec();
        // join_group refuses to run without a signer, though a passive member never signs.
        let signer = signature_secret(case.cipher_suite, &case.signature_priv, &public)?;
        let mut builder = ClientBuilder::new()
            .crypto_provider(RustCryptoProvider::new())
            .identity_provider(BasicIdentityProvider::new())
            .key_package_repo(store)
            .signer(signer);
        for psk in &case.external_psks {
            builder = builder.psk(
                ExternalPskId::new(psk.psk_id.to_vec()),
                PreSharedKey::new(psk.psk.to_vec()),
            );
        }
        let client = builder.build();
        let tree = match &case.ratchet_tree {
            Some(t) => Some(ExportedTree::from_bytes(t).map_err(|e| failed("ratchet_tree", e))?),
            None => None,
        };
        let welcome = MlsMessage::from_bytes(&case.welcome).map_err(|e| failed("welcome", e))?;
        let (group, _) = client
            .join_group(tree, &welcome, None)
            .map_err(|e| failed("join_group", e))?;
        Ok(Box::new(Joined { group }))
    }

    /// Through mls-rs's codec's `VarInt` (`mls_rs_codec::VarInt`, what every `<V>` length uses).
    fn check_vlbytes_header(&self, header: &[u8], length: u32) -> Result<(), ClientError> {
        let mut reader = header;
        let got = mls_rs_codec::VarInt::mls_decode(&mut reader)
            .map_err(|e| failed("decoding the header", e))?;
        if !reader.is_empty() {
            return Err(ClientError::Failed(format!(
                "{} bytes of the header left undecoded",
                reader.len()
            )));
        }
        if u32::from(got) != length {
            return Err(ClientError::Failed(format!(
                "length: expected {length}, decoded {}",
                u32::from(got)
            )));
        }
        let again = mls_rs_codec::VarInt::try_from(length)
            .and_then(|v| v.mls_encode_to_vec())
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

    /// A creator and a joiner with fresh basic credentials; the joiner's key package, init and
    /// leaf keys come back out of its key-package store (KeyPackageData), its signature key
    /// from generation (an Ed25519 key as the 32-byte seed, the vectors' form).
    fn create_with_passive_member(
        &self,
        suite: u16,
    ) -> Result<(Box<dyn MlsGroup>, PassiveClient), ClientError> {
        let cs = suite_provider(suite)?;
        let identity = |name: &[u8]| -> Result<(SigningIdentity, SignatureSecretKey), ClientError> {
            let (secret, public) = cs
                .signature_key_generate()
                .map_err(|e| failed("signature_key_generate", e))?;
            let credential = BasicCredential::new(name.to_vec()).into_credential();
            Ok((SigningIdentity::new(credential, public), secret))
        };
        let (creator_id, creator_key) = identity(b"creator")?;
        let (joiner_id, joiner_key) = identity(b"joiner")?;
        let creator = ClientBuilder::new()
            .crypto_provider(RustCryptoProvider::new())
            .identity_provider(BasicIdentityProvider::new())
            .signing_identity(creator_id, creator_key, CipherSuite::from(suite))
            .build();
        let joiner_store = InMemoryKeyPackageStorage::new();
        let joiner = ClientBuilder::new()
            .crypto_provider(RustCryptoProvider::new())
            .identity_provider(BasicIdentityProvider::new())
            .key_package_repo(joiner_store.clone())
            .signing_identity(joiner_id, joiner_key.clone(), CipherSuite::from(suite))
            .build();
        let kp = joiner
            .generate_key_package_message(ExtensionList::default(), ExtensionList::default(), None)
            .map_err(|e| failed("generate_key_package_message", e))?;
        let mut group = creator
            .create_group(ExtensionList::default(), ExtensionList::default(), None)
            .map_err(|e| failed("create_group", e))?;
        let out = group
            .commit_builder()
            .add_member(kp.clone())
            .and_then(|b| b.build())
            .map_err(|e| failed("commit adding the joiner", e))?;
        group
            .apply_pending_commit()
            .map_err(|e| failed("apply_pending_commit", e))?;
        let welcome = out
            .welcome_messages
            .first()
            .ok_or_else(|| ClientError::failed("the add produced no Welcome"))?
            .to_bytes()
            .map_err(|e| failed("encoding the Welcome", e))?;
        let ratchet_tree = out
            .ratchet_tree
            .map(|t| t.to_bytes())
            .transpose()
            .map_err(|e| failed("encoding the ratchet tree", e))?;
        let (_, data) = joiner_store
            .key_packages()
            .into_iter()
            .next()
            .ok_or_else(|| ClientError::failed("the joiner's key package was not stored"))?;
        let signature_priv = if is_ed25519(suite) {
            joiner_key[..32].to_vec()
        } else {
            joiner_key.to_vec()
        };
        let authenticator = group
            .epoch_authenticator()
            .map_err(|e| failed("epoch_authenticator", e))?
            .to_vec();
        let case = PassiveClient {
            cipher_suite: suite,
            external_psks: Vec::new(),
            key_package: Hex(kp
                .to_bytes()
                .map_err(|e| failed("encoding key package", e))?),
            signature_priv: Hex(signature_priv),
            encryption_priv: Hex(data.leaf_node_key.to_vec()),
            init_priv: Hex(data.init_key.to_vec()),
            welcome: Hex(welcome),
            ratchet_tree: ratchet_tree.map(Hex),
            initial_epoch_authenticator: Hex(authenticator),
            epochs: Vec::new(),
        };
        Ok((Box::new(Joined { group }), case))
    }

    /// Decrypts the Welcome's GroupSecrets with the init key and its GroupInfo with the welcome
    /// secret (`examine_welcome_message`), then verifies the GroupInfo signature with
    /// `signer_pub` (`validate_group_info`, which also checks protocol version and suite).
    ///
    /// Not checked: the GroupInfo's `confirmation_tag`. Verifying it needs the joiner secret
    /// and key schedule, which mls-rs keeps private, and `join_group` needs the ratchet tree
    /// and leaf private key that welcome.json does not carry.
    fn check_welcome(&self, case: &Welcome) -> Result<(), ClientError> {
        let cs = suite_provider(case.cipher_suite)?;
        let kp = key_package(&case.key_package)?;
        // welcome.json has no leaf (encryption) private key; examining a Welcome never uses it.
        let store = key_package_store(&cs, &kp, &case.init_priv, &[0; 32])?;
        let client = ClientBuilder::new()
            .crypto_provider(RustCryptoProvider::new())
            .identity_provider(BasicIdentityProvider::new())
            .key_package_repo(store)
            .build();
        let welcome = MlsMessage::from_bytes(&case.welcome).map_err(|e| failed("welcome", e))?;
        let info = client
            .examine_welcome_message(&welcome)
            .map_err(|e| failed("decrypting the Welcome", e))?;
        // validate_group_info takes an MLSMessage: version mls10 (1), wire_format group_info (4).
        let mut wrapped = vec![0, 1, 0, 4];
        wrapped.extend(
            info.mls_encode_to_vec()
                .map_err(|e| failed("encoding GroupInfo", e))?,
        );
        let message = MlsMessage::from_bytes(&wrapped).map_err(|e| failed("GroupInfo", e))?;
        // The credential is irrelevant to the signature; only signer_pub is checked.
        let signer = SigningIdentity::new(
            BasicCredential::new(b"signer".to_vec()).into_credential(),
            SignaturePublicKey::from(case.signer_pub.to_vec()),
        );
        client
            .validate_group_info(&message, &signer)
            .map_err(|e| failed("GroupInfo signature", e))
    }

    fn decode_reencode(&self, kind: WireKind, bytes: &[u8]) -> Result<Vec<u8>, ClientError> {
        use ContentType as C;
        use WireFormat as W;
        match kind {
            WireKind::MlsWelcome => message(bytes, W::Welcome, None),
            WireKind::MlsGroupInfo => message(bytes, W::GroupInfo, None),
            WireKind::MlsKeyPackage => message(bytes, W::KeyPackage, None),
            WireKind::PublicMessageApplication => {
                message(bytes, W::PublicMessage, Some(C::Application))
            }
            WireKind::PublicMessageProposal => message(bytes, W::PublicMessage, Some(C::Proposal)),
            WireKind::PublicMessageCommit => message(bytes, W::PublicMessage, Some(C::Commit)),
            WireKind::PrivateMessage => message(bytes, W::PrivateMessage, None),
            WireKind::RatchetTree => round_trip::<ExportedTree>(bytes),
            WireKind::GroupSecrets => Err(ClientError::unsupported(
                NAME,
                "GroupSecrets is pub(crate) in mls-rs 0.57 (src/group/mod.rs) and only appears \
                 HPKE-encrypted inside a Welcome; no public type decodes it",
            )),
            WireKind::AddProposal => round_trip::<AddProposal>(bytes),
            WireKind::UpdateProposal => round_trip::<UpdateProposal>(bytes),
            WireKind::RemoveProposal => remove_proposal(bytes),
            WireKind::PreSharedKeyProposal => round_trip::<PreSharedKeyProposal>(bytes),
            WireKind::ReInitProposal => round_trip::<ReInitProposal>(bytes),
            WireKind::ExternalInitProposal => round_trip::<ExternalInit>(bytes),
            WireKind::GroupContextExtensionsProposal => round_trip::<ExtensionList>(bytes),
            WireKind::Commit => commit(bytes),
        }
    }

    fn crypto(&self, suite: u16) -> Result<Box<dyn SuiteCrypto + '_>, ClientError> {
        Ok(Box::new(Crypto {
            suite,
            cs: suite_provider(suite)?,
        }))
    }
}

/// A joined group; its config type is whatever the builder produced.
struct Joined<C: MlsConfig> {
    group: Group<C>,
}

impl<C: MlsConfig> MlsGroup for Joined<C> {
    fn epoch_authenticator(&self) -> Result<Vec<u8>, ClientError> {
        self.group
            .epoch_authenticator()
            .map(|s| s.to_vec())
            .map_err(|e| failed("epoch_authenticator", e))
    }

    fn process(&mut self, mls_message: &[u8]) -> Result<(), ClientError> {
        let message = MlsMessage::from_bytes(mls_message).map_err(|e| failed("decoding", e))?;
        self.group
            .process_incoming_message(message)
            .map(|_| ())
            .map_err(|e| failed("process_incoming_message", e))
    }

    fn export_secret(
        &self,
        label: &[u8],
        context: &[u8],
        len: usize,
    ) -> Result<Vec<u8>, ClientError> {
        self.group
            .export_secret(label, context, len)
            .map(|s| s.to_vec())
            .map_err(|e| failed("export_secret", e))
    }

    fn epoch(&self) -> u64 {
        self.group.current_epoch()
    }

    fn own_leaf_index(&self) -> u32 {
        self.group.current_member_index()
    }
}

// ---------------------------------------------------------------------------------------------
// messages.json
// ---------------------------------------------------------------------------------------------

/// Decodes a `T` that must take every byte, and encodes it again.
fn round_trip<T: MlsDecode + MlsEncode>(bytes: &[u8]) -> Result<Vec<u8>, ClientError> {
    let mut reader = bytes;
    let value = T::mls_decode(&mut reader).map_err(|e| failed("decode", e))?;
    if !reader.is_empty() {
        return Err(ClientError::Failed(format!(
            "decode left {} of {} bytes unread",
            reader.len(),
            bytes.len()
        )));
    }
    value.mls_encode_to_vec().map_err(|e| failed("encode", e))
}

/// An MLSMessage round trip that also checks it decoded as the expected kind of message.
fn message(
    bytes: &[u8],
    wire_format: WireFormat,
    content_type: Option<ContentType>,
) -> Result<Vec<u8>, ClientError> {
    let out = round_trip::<MlsMessage>(bytes)?;
    let msg = MlsMessage::from_bytes(bytes).map_err(|e| failed("decode", e))?;
    if msg.wire_format() != wire_format {
        return Err(ClientError::Failed(format!(
            "decoded as {:?}, expected {wire_format:?}",
            msg.wire_format()
        )));
    }
    if let (Some(want), MlsMessageDescription::PublicProtocolMessage { content_type, .. }) =
        (content_type, msg.description())
    {
        if content_type != want {
            return Err(ClientError::Failed(format!(
                "decoded content type {content_type:?}, expected {want:?}"
            )));
        }
    }
    Ok(out)
}

/// The largest leaf index mls-rs decodes (`LeafIndex::try_from` in src/tree_kem/node.rs).
const MAX_LEAF_INDEX: u32 = (1 << 24) - 1;

/// mls-rs refuses leaf indices above 2^24-1 by design, with codec error `Custom(6)`. RFC 9420
/// encodes a leaf index as a uint32, so a valid encoding that does not decode is a failure,
/// whose reason names the design limit when that is the cause.
fn remove_proposal(bytes: &[u8]) -> Result<Vec<u8>, ClientError> {
    let mut reader = bytes;
    match RemoveProposal::mls_decode(&mut reader) {
        Err(mls_rs_codec::Error::Custom(6)) => {
            let index = bytes
                .get(..4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes);
            match index {
                Some(i) if i > MAX_LEAF_INDEX => Err(ClientError::Failed(
                    "the removed leaf index is above 2^24-1, which mls-rs refuses by design \
                     (LeafIndex decode, src/tree_kem/node.rs); RFC 9420 encodes it as a uint32"
                        .into(),
                )),
                _ => Err(failed("decode", mls_rs_codec::Error::Custom(6))),
            }
        }
        _ => round_trip::<RemoveProposal>(bytes),
    }
}

/// PublicMessage header for a synthetic commit: version mls10, wire_format public_message,
/// empty group_id, epoch 0, sender member leaf 0, empty authenticated_data, content_type commit.
const COMMIT_PREFIX: [u8; 20] = [0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 3];
/// Empty signature, confirmation_tag and membership_tag.
const COMMIT_SUFFIX: [u8; 3] = [0, 0, 0];

/// `Commit` is pub(crate) in mls-rs, so the commit is wrapped in a synthetic PublicMessage,
/// round-tripped as an MLSMessage (mls-rs's own Commit decoder runs) and unwrapped again.
fn commit(bytes: &[u8]) -> Result<Vec<u8>, ClientError> {
    let wrapped = [&COMMIT_PREFIX[..], bytes, &COMMIT_SUFFIX[..]].concat();
    let out = round_trip::<MlsMessage>(&wrapped)?;
    out.strip_prefix(&COMMIT_PREFIX[..])
        .and_then(|rest| rest.strip_suffix(&COMMIT_SUFFIX[..]))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| ClientError::failed("re-encoded wrapper around the commit changed"))
}

// ---------------------------------------------------------------------------------------------
// crypto-basics.json: RFC 9420 §5 over the provider's primitives
// ---------------------------------------------------------------------------------------------

/// The labelled operations of RFC 9420 §5. mls-rs keeps its own (`kdf_expand_with_label`,
/// `SignWithLabel`, `EncryptWithLabel`, `HashReference`) pub(crate), so the label encodings
/// are ours over its public `CipherSuiteProvider` primitives.
struct Crypto {
    suite: u16,
    cs: Suite,
}

/// `opaque<V>`: a QUIC-style varint length, then the bytes (RFC 9420 §2.1.2).
fn opaque(bytes: &[u8]) -> Result<Vec<u8>, ClientError> {
    bytes
        .to_vec()
        .mls_encode_to_vec()
        .map_err(|e| failed("encoding opaque<V>", e))
}

/// `opaque<V>` of `"MLS 1.0 " + label` (§5.1.2, §5.1.3, §8).
fn mls_label(label: &[u8]) -> Result<Vec<u8>, ClientError> {
    opaque(&[b"MLS 1.0 ".as_slice(), label].concat())
}

/// `struct { opaque label<V>; opaque content<V>; }`: SignContent, EncryptContext.
fn labelled(label: &[u8], content: &[u8]) -> Result<Vec<u8>, ClientError> {
    Ok([mls_label(label)?, opaque(content)?].concat())
}

impl Crypto {
    /// The HPKE public key of `private`, which `hpke_open` needs for the KEM context; the
    /// provider's EC code derives it when pointed at the suite's KEM curve.
    fn hpke_public(&self, private: &[u8]) -> Result<HpkePublicKey, ClientError> {
        let ecdh = Ecdh::new(CipherSuite::from(self.suite))
            .ok_or_else(|| ClientError::failed("no KEM curve for the suite"))?;
        EcSigner::new_from_curve(*ecdh)
            .signature_key_derive_public(&SignatureSecretKey::from(private.to_vec()))
            .map(|k| HpkePublicKey::from(k.to_vec()))
            .map_err(|e| failed("HPKE public key", e))
    }
}

impl SuiteCrypto for Crypto {
    /// `RefHash(label, value) = Hash(RefHashInput { label<V>, value<V> })` (§5.2): the label is
    /// used as given, without "MLS 1.0 ".
    fn ref_hash(&self, label: &[u8], value: &[u8]) -> Result<Vec<u8>, ClientError> {
        let input = [opaque(label)?, opaque(value)?].concat();
        self.cs.hash(&input).map_err(|e| failed("hash", e))
    }

    /// `KDF.Expand(secret, KDFLabel { uint16 length; label<V>; context<V> }, length)` (§8).
    fn expand_with_label(
        &self,
        secret: &[u8],
        label: &[u8],
        context: &[u8],
        length: u16,
    ) -> Result<Vec<u8>, ClientError> {
        let info = [
            length.to_be_bytes().to_vec(),
            mls_label(label)?,
            opaque(context)?,
        ]
        .concat();
        self.cs
            .kdf_expand(secret, &info, usize::from(length))
            .map(|k| k.to_vec())
            .map_err(|e| failed("kdf_expand", e))
    }

    fn hash_length(&self) -> usize {
        self.cs.kdf_extract_size()
    }

    /// `Signature.Sign(private, SignContent)` (§5.1.2); an Ed25519 seed is first made into the
    /// 64-byte key the provider takes.
    fn sign_with_label(
        &self,
        private: &[u8],
        public: &[u8],
        label: &[u8],
        content: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        let key = signature_secret(self.suite, private, public)?;
        self.cs
            .sign(&key, &labelled(label, content)?)
            .map_err(|e| failed("sign", e))
    }

    /// A signature the provider reports as invalid is `Ok(false)`; a key or signature it cannot
    /// even parse is an error.
    fn verify_with_label(
        &self,
        public: &[u8],
        label: &[u8],
        content: &[u8],
        signature: &[u8],
    ) -> Result<bool, ClientError> {
        use mls_rs_crypto_rustcrypto::{ec_signer::EcSignerError, RustCryptoError};
        let key = SignaturePublicKey::from(public.to_vec());
        match self.cs.verify(&key, signature, &labelled(label, content)?) {
            Ok(()) => Ok(true),
            Err(RustCryptoError::EcSignerError(EcSignerError::InvalidSignature)) => Ok(false),
            Err(e) => Err(failed("verify", e)),
        }
    }

    /// `SealBase(public, EncryptContext, "", plaintext)` (§5.1.3).
    fn encrypt_with_label(
        &self,
        public: &[u8],
        label: &[u8],
        context: &[u8],
        plaintext: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), ClientError> {
        let key = HpkePublicKey::from(public.to_vec());
        let ct = self
            .cs
            .hpke_seal(&key, &labelled(label, context)?, None, plaintext)
            .map_err(|e| failed("hpke_seal", e))?;
        Ok((ct.kem_output, ct.ciphertext))
    }

    /// `OpenBase(kem_output, private, EncryptContext, "", ciphertext)` (§5.1.3).
    fn decrypt_with_label(
        &self,
        private: &[u8],
        label: &[u8],
        context: &[u8],
        kem_output: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        let ct = HpkeCiphertext {
            kem_output: kem_output.to_vec(),
            ciphertext: ciphertext.to_vec(),
        };
        let public = self.hpke_public(private)?;
        let secret = HpkeSecretKey::from(private.to_vec());
        self.cs
            .hpke_open(&ct, &secret, &public, &labelled(label, context)?, None)
            .map(|pt| pt.to_vec())
            .map_err(|e| failed("hpke_open", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::Messages;
    use std::path::PathBuf;

    /// The vectors (see `vectors::dir_for_tests`; missing vectors fail, never skip).
    fn vectors() -> Option<PathBuf> {
        Some(crate::vectors::dir_for_tests())
    }

    fn load<T: serde::de::DeserializeOwned>(dir: &std::path::Path, file: &str) -> Vec<T> {
        let text = std::fs::read_to_string(dir.join("mls").join(file)).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn messages_case_0() {
        let Some(dir) = vectors() else { return };
        let client = MlsRs::new();
        let cases: Vec<Messages> = load(&dir, "messages.json");
        let case = &cases[0];
        for kind in WireKind::ALL {
            let bytes = case.get(kind);
            match client.decode_reencode(kind, bytes) {
                Ok(out) => assert_eq!(out, bytes, "{}", kind.name()),
                Err(ClientError::Unsupported { reason, .. }) => {
                    assert_eq!(kind, WireKind::GroupSecrets, "{reason}");
                }
                // Case 0's removed leaf index is above mls-rs's design limit of 2^24-1.
                Err(ClientError::Failed(reason)) if kind == WireKind::RemoveProposal => {
                    assert!(reason.contains("2^24-1"), "{reason}");
                }
                Err(e) => panic!("{}: {e}", kind.name()),
            }
        }
        // A truncated or padded structure is a failure, never a panic.
        let add = case.get(WireKind::AddProposal);
        assert!(matches!(
            client.decode_reencode(WireKind::AddProposal, &add[..add.len() - 1]),
            Err(ClientError::Failed(_))
        ));
        let padded = [add, &[0][..]].concat();
        assert!(matches!(
            client.decode_reencode(WireKind::AddProposal, &padded),
            Err(ClientError::Failed(_))
        ));
        let small = client.decode_reencode(WireKind::RemoveProposal, &[0, 0, 0, 7]);
        assert_eq!(small.unwrap(), vec![0, 0, 0, 7]);
    }

    #[test]
    fn welcome() {
        let Some(dir) = vectors() else { return };
        let client = MlsRs::new();
        let cases: Vec<Welcome> = load(&dir, "welcome.json");
        for case in cases.iter().filter(|c| client.supports(c.cipher_suite)) {
            client.check_welcome(case).unwrap();
            let mut wrong = case.clone();
            // A valid key of the suite that did not sign: the joiner's own.
            let kp = key_package(&case.key_package).unwrap();
            wrong.signer_pub.0 = kp.signing_identity().signature_key.to_vec();
            assert!(matches!(
                client.check_welcome(&wrong),
                Err(ClientError::Failed(_))
            ));
        }
    }
}
