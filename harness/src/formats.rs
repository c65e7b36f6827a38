//! One serde struct per vector format, as mlswg/mls-implementations `test-vectors.md` (commit
//! cfd4502) and RFC 9605 Appendix C define them. Byte strings are lower-case hex in the files and
//! [`Hex`] here; a bad hex string fails with the JSON path of its field.
//!
//! Upstream file names are kept as the format names ([`Format::upstream_name`]), but a file is
//! recognised by its shape ([`Format::recognise`]), not its name.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Bytes that arrive as a hex string.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Hex(pub Vec<u8>);

impl fmt::Debug for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", hex::encode(&self.0))
    }
}

impl std::ops::Deref for Hex {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Hex, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(&s).map(Hex).map_err(|e| {
            let shown: String = s.chars().take(16).collect();
            serde::de::Error::custom(format!("bad hex ({e}) in \"{shown}...\""))
        })
    }
}

/// The formats, by what their cases look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    TreeMath,
    CryptoBasics,
    SecretTree,
    KeySchedule,
    PskSecret,
    MessageProtection,
    TranscriptHashes,
    Welcome,
    TreeOperations,
    TreeValidation,
    TreeKem,
    Messages,
    Deserialization,
    /// passive-client-welcome, passive-client-handling-commit and passive-client-random share it.
    PassiveClient,
    /// RFC 9605 Appendix C: an object of `header`, `aes_ctr_hmac` and `sframe` lists.
    Sframe,
    /// This project's MLS → SFrame binding vectors (`vectors/mls-sframe.json`).
    MlsSframe,
}

impl Format {
    /// The upstream file this format comes from.
    pub fn upstream_name(self) -> &'static str {
        match self {
            Format::TreeMath => "tree-math.json",
            Format::CryptoBasics => "crypto-basics.json",
            Format::SecretTree => "secret-tree.json",
            Format::KeySchedule => "key-schedule.json",
            Format::PskSecret => "psk_secret.json",
            Format::MessageProtection => "message-protection.json",
            Format::TranscriptHashes => "transcript-hashes.json",
            Format::Welcome => "welcome.json",
            Format::TreeOperations => "tree-operations.json",
            Format::TreeValidation => "tree-validation.json",
            Format::TreeKem => "treekem.json",
            Format::Messages => "messages.json",
            Format::Deserialization => "deserialization.json",
            Format::PassiveClient => "passive-client-*.json",
            Format::Sframe => "rfc9605-test-vectors.json",
            Format::MlsSframe => "mls-sframe.json",
        }
    }

    /// The keys that identify a case of each MLS format (every one must be present).
    const SIGNATURES: &'static [(Format, &'static [&'static str])] = &[
        (
            Format::TreeMath,
            &[
                "n_leaves", "n_nodes", "root", "left", "right", "parent", "sibling",
            ],
        ),
        (
            Format::CryptoBasics,
            &[
                "cipher_suite",
                "ref_hash",
                "expand_with_label",
                "derive_secret",
                "sign_with_label",
            ],
        ),
        (
            Format::SecretTree,
            &["cipher_suite", "sender_data", "encryption_secret", "leaves"],
        ),
        (
            Format::KeySchedule,
            &["cipher_suite", "group_id", "initial_init_secret", "epochs"],
        ),
        (Format::PskSecret, &["cipher_suite", "psks", "psk_secret"]),
        (
            Format::MessageProtection,
            &[
                "cipher_suite",
                "group_id",
                "epoch",
                "encryption_secret",
                "sender_data_secret",
            ],
        ),
        (
            Format::TranscriptHashes,
            &["cipher_suite", "confirmation_key", "authenticated_content"],
        ),
        (
            Format::PassiveClient,
            &[
                "cipher_suite",
                "key_package",
                "welcome",
                "epochs",
                "init_priv",
            ],
        ),
        (
            Format::Welcome,
            &[
                "cipher_suite",
                "init_priv",
                "signer_pub",
                "key_package",
                "welcome",
            ],
        ),
        (
            Format::TreeOperations,
            &["cipher_suite", "tree_before", "proposal", "tree_after"],
        ),
        (
            Format::TreeValidation,
            &[
                "cipher_suite",
                "tree",
                "group_id",
                "resolutions",
                "tree_hashes",
            ],
        ),
        (
            Format::TreeKem,
            &[
                "cipher_suite",
                "ratchet_tree",
                "update_paths",
                "leaves_private",
            ],
        ),
        (
            Format::Messages,
            &["mls_welcome", "mls_group_info", "mls_key_package", "commit"],
        ),
        (Format::Deserialization, &["vlbytes_header", "length"]),
        (
            Format::MlsSframe,
            &[
                "cipher_suite",
                "sframe_cipher_suite",
                "join",
                "sframe_base_key",
                "kid",
            ],
        ),
    ];

    /// What format a parsed file is, from the shape of its content: a list whose first case has
    /// a format's keys, or an object of RFC 9605's three lists.
    pub fn recognise(file: &serde_json::Value) -> Option<Format> {
        if let Some(obj) = file.as_object() {
            let sframe = ["header", "aes_ctr_hmac", "sframe"];
            return sframe
                .iter()
                .all(|k| obj.get(*k).is_some_and(|v| v.is_array()))
                .then_some(Format::Sframe);
        }
        let first = file.as_array()?.first()?.as_object()?;
        Self::SIGNATURES
            .iter()
            .find(|(_, keys)| keys.iter().all(|k| first.contains_key(*k)))
            .map(|(f, _)| *f)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        f.write_str(&name)
    }
}

// ---------------------------------------------------------------------------------------------
// MLS
// ---------------------------------------------------------------------------------------------

/// crypto-basics.json: one cipher suite's labelled primitives.
/// `{"cipher_suite": 1, "ref_hash": {...}, "expand_with_label": {...}, "derive_secret": {...},
///   "derive_tree_secret": {...}, "sign_with_label": {...}, "encrypt_with_label": {...}}`
#[derive(Clone, Debug, Deserialize)]
pub struct CryptoBasics {
    pub cipher_suite: u16,
    pub ref_hash: RefHash,
    pub expand_with_label: ExpandWithLabel,
    pub derive_secret: DeriveSecret,
    pub derive_tree_secret: DeriveTreeSecret,
    pub sign_with_label: SignWithLabel,
    pub encrypt_with_label: EncryptWithLabel,
}

/// `{"label": "RefHash label", "value": hex, "out": hex}` (the label is text, not hex).
#[derive(Clone, Debug, Deserialize)]
pub struct RefHash {
    pub label: String,
    pub value: Hex,
    pub out: Hex,
}

/// `{"secret": hex, "label": text, "context": hex, "length": n, "out": hex}`
#[derive(Clone, Debug, Deserialize)]
pub struct ExpandWithLabel {
    pub secret: Hex,
    pub label: String,
    pub context: Hex,
    pub length: u16,
    pub out: Hex,
}

/// `{"secret": hex, "label": text, "out": hex}`
#[derive(Clone, Debug, Deserialize)]
pub struct DeriveSecret {
    pub secret: Hex,
    pub label: String,
    pub out: Hex,
}

/// `{"secret": hex, "label": text, "generation": n, "length": n, "out": hex}`
#[derive(Clone, Debug, Deserialize)]
pub struct DeriveTreeSecret {
    pub secret: Hex,
    pub label: String,
    pub generation: u32,
    pub length: u16,
    pub out: Hex,
}

/// `{"priv": hex, "pub": hex, "content": hex, "label": text, "signature": hex}`
#[derive(Clone, Debug, Deserialize)]
pub struct SignWithLabel {
    #[serde(rename = "priv")]
    pub private: Hex,
    #[serde(rename = "pub")]
    pub public: Hex,
    pub content: Hex,
    pub label: String,
    pub signature: Hex,
}

/// `{"priv": hex, "pub": hex, "label": text, "context": hex, "plaintext": hex,
///   "kem_output": hex, "ciphertext": hex}`
#[derive(Clone, Debug, Deserialize)]
pub struct EncryptWithLabel {
    #[serde(rename = "priv")]
    pub private: Hex,
    #[serde(rename = "pub")]
    pub public: Hex,
    pub label: String,
    pub context: Hex,
    pub plaintext: Hex,
    pub kem_output: Hex,
    pub ciphertext: Hex,
}

/// passive-client-*.json: join from a Welcome with the given private keys, then follow every
/// epoch. `{"cipher_suite", "external_psks": [{"psk_id", "psk"}], "key_package",
/// "signature_priv", "encryption_priv", "init_priv", "welcome", "ratchet_tree": hex | null,
/// "initial_epoch_authenticator", "epochs": [{"proposals": [hex], "commit": hex,
/// "epoch_authenticator": hex}]}`
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct PassiveClient {
    pub cipher_suite: u16,
    #[serde(default)]
    pub external_psks: Vec<ExternalPsk>,
    pub key_package: Hex,
    pub signature_priv: Hex,
    pub encryption_priv: Hex,
    pub init_priv: Hex,
    pub welcome: Hex,
    pub ratchet_tree: Option<Hex>,
    pub initial_epoch_authenticator: Hex,
    pub epochs: Vec<PassiveEpoch>,
}

/// `{"psk_id": hex, "psk": hex}`
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ExternalPsk {
    pub psk_id: Hex,
    pub psk: Hex,
}

/// `{"proposals": [hex], "commit": hex, "epoch_authenticator": hex}`
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct PassiveEpoch {
    #[serde(default)]
    pub proposals: Vec<Hex>,
    pub commit: Hex,
    pub epoch_authenticator: Hex,
}

/// welcome.json: `{"cipher_suite", "init_priv", "signer_pub", "key_package", "welcome"}`
#[derive(Clone, Debug, Deserialize)]
pub struct Welcome {
    pub cipher_suite: u16,
    pub init_priv: Hex,
    pub signer_pub: Hex,
    pub key_package: Hex,
    pub welcome: Hex,
}

/// messages.json: one serialized example of every wire structure, each to decode and re-encode
/// byte-identically. `{"mls_welcome": hex, "mls_group_info": hex, ..., "commit": hex}`
#[derive(Clone, Debug, Deserialize)]
pub struct Messages {
    pub mls_welcome: Hex,
    pub mls_group_info: Hex,
    pub mls_key_package: Hex,
    pub ratchet_tree: Hex,
    pub group_secrets: Hex,
    pub add_proposal: Hex,
    pub update_proposal: Hex,
    pub remove_proposal: Hex,
    pub pre_shared_key_proposal: Hex,
    pub re_init_proposal: Hex,
    pub external_init_proposal: Hex,
    pub group_context_extensions_proposal: Hex,
    pub commit: Hex,
    pub public_message_application: Hex,
    pub public_message_proposal: Hex,
    pub public_message_commit: Hex,
    pub private_message: Hex,
}

/// The structures of messages.json, in its order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WireKind {
    MlsWelcome,
    MlsGroupInfo,
    MlsKeyPackage,
    RatchetTree,
    GroupSecrets,
    AddProposal,
    UpdateProposal,
    RemoveProposal,
    PreSharedKeyProposal,
    ReInitProposal,
    ExternalInitProposal,
    GroupContextExtensionsProposal,
    Commit,
    PublicMessageApplication,
    PublicMessageProposal,
    PublicMessageCommit,
    PrivateMessage,
}

impl WireKind {
    pub const ALL: [WireKind; 17] = [
        WireKind::MlsWelcome,
        WireKind::MlsGroupInfo,
        WireKind::MlsKeyPackage,
        WireKind::RatchetTree,
        WireKind::GroupSecrets,
        WireKind::AddProposal,
        WireKind::UpdateProposal,
        WireKind::RemoveProposal,
        WireKind::PreSharedKeyProposal,
        WireKind::ReInitProposal,
        WireKind::ExternalInitProposal,
        WireKind::GroupContextExtensionsProposal,
        WireKind::Commit,
        WireKind::PublicMessageApplication,
        WireKind::PublicMessageProposal,
        WireKind::PublicMessageCommit,
        WireKind::PrivateMessage,
    ];

    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

impl Messages {
    pub fn get(&self, kind: WireKind) -> &[u8] {
        match kind {
            WireKind::MlsWelcome => &self.mls_welcome,
            WireKind::MlsGroupInfo => &self.mls_group_info,
            WireKind::MlsKeyPackage => &self.mls_key_package,
            WireKind::RatchetTree => &self.ratchet_tree,
            WireKind::GroupSecrets => &self.group_secrets,
            WireKind::AddProposal => &self.add_proposal,
            WireKind::UpdateProposal => &self.update_proposal,
            WireKind::RemoveProposal => &self.remove_proposal,
            WireKind::PreSharedKeyProposal => &self.pre_shared_key_proposal,
            WireKind::ReInitProposal => &self.re_init_proposal,
            WireKind::ExternalInitProposal => &self.external_init_proposal,
            WireKind::GroupContextExtensionsProposal => &self.group_context_extensions_proposal,
            WireKind::Commit => &self.commit,
            WireKind::PublicMessageApplication => &self.public_message_application,
            WireKind::PublicMessageProposal => &self.public_message_proposal,
            WireKind::PublicMessageCommit => &self.public_message_commit,
            WireKind::PrivateMessage => &self.private_message,
        }
    }
}

/// deserialization.json: `{"vlbytes_header": hex, "length": n}` (RFC 9420 §2.1.2 varints).
#[derive(Clone, Debug, Deserialize)]
pub struct Deserialization {
    pub vlbytes_header: Hex,
    pub length: u32,
}

/// This project's MLS → SFrame binding vectors (RFC 9605 §5.2 has none published), written by
/// `e2ee vectors generate --kind mls-sframe`; the format is documented in vectors/README.md.
/// `{"generator": "mls-rs 0.57.0", "cipher_suite": n, "join": {passive-client case},
///   "sframe_cipher_suite": n, "exporter_label": text, "exporter_length": n,
///   "sframe_base_key": hex, "epoch": n, "sender_index": n, "context": n, "e_bits": n,
///   "s_bits": n, "kid": n, "ctr": n, "metadata": hex, "pt": hex, "ct": hex}`
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct MlsSframe {
    pub generator: String,
    /// The MLS cipher suite (RFC 9420 §17.1).
    pub cipher_suite: u16,
    /// A member's view of the group: join it passively to reach the epoch.
    pub join: PassiveClient,
    /// The SFrame cipher suite (RFC 9605 §4.5).
    pub sframe_cipher_suite: u16,
    pub exporter_label: String,
    /// `AEAD.Nk` of the SFrame suite.
    pub exporter_length: u16,
    /// `MLS-Exporter(exporter_label, "", exporter_length)` in the epoch.
    pub sframe_base_key: Hex,
    pub epoch: u64,
    pub sender_index: u64,
    pub context: u64,
    /// E: how many low bits of the epoch the KID carries.
    pub e_bits: u32,
    /// S: how many bits the sender index takes.
    pub s_bits: u32,
    pub kid: u64,
    pub ctr: u64,
    pub metadata: Hex,
    pub pt: Hex,
    /// The SFrame ciphertext (header || ciphertext || tag) of `pt` from `sender_index`.
    pub ct: Hex,
}

// ---------------------------------------------------------------------------------------------
// SFrame (RFC 9605 Appendix C)
// ---------------------------------------------------------------------------------------------

/// rfc9605-test-vectors.json: `{"header": [...], "aes_ctr_hmac": [...], "sframe": [...]}`
#[derive(Clone, Debug, Deserialize)]
pub struct SframeFile {
    pub header: Vec<serde_json::Value>,
    pub aes_ctr_hmac: Vec<serde_json::Value>,
    pub sframe: Vec<serde_json::Value>,
}

/// `{"kid": n, "ctr": n, "encoded": hex}` (§4.3 header encoding).
#[derive(Clone, Debug, Deserialize)]
pub struct SframeHeader {
    pub kid: u64,
    pub ctr: u64,
    pub encoded: Hex,
}

/// `{"cipher_suite", "key", "enc_key", "auth_key", "nonce", "aad", "pt", "ct"}` (§4.5.1).
#[derive(Clone, Debug, Deserialize)]
pub struct AesCtrHmac {
    pub cipher_suite: u16,
    pub key: Hex,
    pub enc_key: Hex,
    pub auth_key: Hex,
    pub nonce: Hex,
    pub aad: Hex,
    pub pt: Hex,
    pub ct: Hex,
}

/// `{"cipher_suite", "kid", "ctr", "base_key", "sframe_key_label", "sframe_salt_label",
///   "sframe_secret", "sframe_key", "sframe_salt", "metadata", "nonce", "aad", "pt", "ct"}`
#[derive(Clone, Debug, Deserialize)]
pub struct SframeCase {
    pub cipher_suite: u16,
    pub kid: u64,
    pub ctr: u64,
    pub base_key: Hex,
    pub sframe_key_label: Hex,
    pub sframe_salt_label: Hex,
    pub sframe_secret: Hex,
    pub sframe_key: Hex,
    pub sframe_salt: Hex,
    pub metadata: Hex,
    pub nonce: Hex,
    pub aad: Hex,
    pub pt: Hex,
    pub ct: Hex,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes_are_recognised_by_keys_not_names() {
        let passive = json!([{"cipher_suite": 1, "key_package": "", "welcome": "", "epochs": [],
                              "init_priv": "", "extra_field_of_a_newer_file": 1}]);
        assert_eq!(Format::recognise(&passive), Some(Format::PassiveClient));
        let welcome = json!([{"cipher_suite": 1, "init_priv": "", "signer_pub": "",
                              "key_package": "", "welcome": ""}]);
        assert_eq!(Format::recognise(&welcome), Some(Format::Welcome));
        let sframe = json!({"header": [], "aes_ctr_hmac": [], "sframe": []});
        assert_eq!(Format::recognise(&sframe), Some(Format::Sframe));
        assert_eq!(Format::recognise(&json!([{"what": 1}])), None);
        assert_eq!(Format::recognise(&json!([])), None);
        assert_eq!(Format::recognise(&json!("text")), None);
    }

    #[test]
    fn bad_hex_names_its_field() {
        let case = json!({"cipher_suite": 1, "init_priv": "00", "signer_pub": "zz",
                          "key_package": "", "welcome": ""});
        let err = serde_path_to_error::deserialize::<_, Welcome>(&case).unwrap_err();
        assert_eq!(err.path().to_string(), "signer_pub");
        assert!(
            err.inner().to_string().contains("bad hex"),
            "{}",
            err.inner()
        );
    }

    #[test]
    fn missing_field_names_it() {
        let case = json!({"cipher_suite": 1, "init_priv": "00", "key_package": "", "welcome": ""});
        let err = serde_path_to_error::deserialize::<_, Welcome>(&case).unwrap_err();
        assert!(err.to_string().contains("signer_pub"), "{err}");
    }

    #[test]
    fn nested_paths_reach_the_epoch() {
        let case = json!({"cipher_suite": 1, "key_package": "", "signature_priv": "",
            "encryption_priv": "", "init_priv": "", "welcome": "", "ratchet_tree": null,
            "initial_epoch_authenticator": "",
            "epochs": [{"proposals": [], "commit": "", "epoch_authenticator": ""},
                       {"proposals": ["0g"], "commit": "", "epoch_authenticator": ""}]});
        let err = serde_path_to_error::deserialize::<_, PassiveClient>(&case).unwrap_err();
        assert_eq!(err.path().to_string(), "epochs[1].proposals[0]");
    }

    #[test]
    fn every_wire_kind_reads_its_own_field() {
        let mut obj = serde_json::Map::new();
        for (i, k) in WireKind::ALL.iter().enumerate() {
            obj.insert(k.name(), json!(format!("{i:02x}")));
        }
        let m: Messages = serde_json::from_value(serde_json::Value::Object(obj)).unwrap();
        for (i, k) in WireKind::ALL.iter().enumerate() {
            assert_eq!(m.get(*k), [i as u8], "{k:?}");
        }
    }
}
