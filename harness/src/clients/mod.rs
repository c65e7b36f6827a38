//! The clients under test, behind the interfaces every level uses. A client is what it says
//! about itself ([`Client`]) plus any of:
//!
//! - [`MlsClient`]: the operations the RFC 9420 test vectors ask for (`e2ee vectors`): codecs,
//!   labelled crypto, joining passively from given keys. Only a library linked in can do most
//!   of these.
//! - [`MemberClient`]: makes group members ([`Member`], one per actor) for the interop
//!   scenarios and the live calls. This is all a client driven from outside (a server, a
//!   wheel) can offer, and all those levels need.
//! - [`SframeClient`]: RFC 9605 SFrame.
//!
//! Each operation answers with a result or a [`ClientError`] that tells "its public API cannot
//! express this" ([`ClientError::Unsupported`]: a not-applicable or unimplemented verdict, with
//! the reason) from "it tried and failed" ([`ClientError::Failed`]: a fail).
//!
//! ## Adding a client
//! 1. `clients/<name>.rs` (and `<name>_member.rs` when it plays members): a type implementing
//!    [`Client`] and whichever of [`MemberClient`], [`MlsClient`], [`SframeClient`] it can.
//!    Where its API cannot do something, answer `Unsupported` with the reason; never
//!    re-derive a value by hand over its primitives (that would test our code, not its).
//! 2. One line in [`member_clients`] (interop, live) and/or [`mls_clients`] (vectors) or
//!    [`sframe_clients`]: `--clients NAME` and the report's components list then know it.
//! 3. If it fails somewhere for a known cause, an entry in `expectations/known-findings.toml`
//!    with the evidence; nothing else changes: the levels, checks and report are written
//!    against these traits.
//!
//! A client that ships as a server of the IETF interop interface needs none of this: name it
//! `grpc:HOST:PORT` in `e2ee interop --clients` ([`grpc`]).

pub mod grpc;
pub mod member;
pub mod mls_rs;
pub mod mls_rs_member;
pub mod openmls;
pub mod openmls_member;
pub mod sframe;

pub use member::{CommitOutput, Member, Plaintext, ProposalSpec, RawExtension};

use crate::formats::{Format, PassiveClient, Welcome, WireKind};

/// Why an operation produced no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The client's public API cannot express the operation (a type or function is private,
    /// a structure is refused by design). Not a defect of the client under test.
    #[error("not expressible through {client}'s public API: {reason}")]
    Unsupported {
        client: &'static str,
        reason: String,
    },
    /// The cipher suite is not among the client's.
    #[error("cipher suite {suite} not supported by {client}")]
    Suite { client: &'static str, suite: u16 },
    /// The client ran the operation and it failed (rejected input, wrong output).
    #[error("{0}")]
    Failed(String),
    /// The client's process stopped answering earlier (a remote client): nothing was asked.
    #[error("not asked: {client} stopped answering earlier ({reason})")]
    Gone {
        client: &'static str,
        reason: String,
    },
}

impl ClientError {
    pub fn failed(what: impl std::fmt::Display) -> ClientError {
        ClientError::Failed(what.to_string())
    }

    pub fn unsupported(client: &'static str, reason: impl Into<String>) -> ClientError {
        ClientError::Unsupported {
            client,
            reason: reason.into(),
        }
    }
}

/// The operation `what` failed with the library's error `e`, in its Debug form (the libraries'
/// Display often drops the cause).
pub(crate) fn failed(what: &str, e: impl std::fmt::Debug) -> ClientError {
    ClientError::Failed(format!("{what}: {e:?}"))
}

/// An MLS group a client joined: what a passive member can do and observe.
pub trait MlsGroup {
    /// RFC 9420 §8.7 `epoch_authenticator` of the current epoch.
    fn epoch_authenticator(&self) -> Result<Vec<u8>, ClientError>;
    /// Processes one MLSMessage (a proposal or a commit, public or private); a commit moves the
    /// group to the next epoch.
    fn process(&mut self, mls_message: &[u8]) -> Result<(), ClientError>;
    /// RFC 9420 §8.5 `MLS-Exporter(label, context, length)`.
    fn export_secret(
        &self,
        label: &[u8],
        context: &[u8],
        len: usize,
    ) -> Result<Vec<u8>, ClientError>;
    fn epoch(&self) -> u64;
    /// This member's leaf index.
    fn own_leaf_index(&self) -> u32;
}

/// The labelled primitives of RFC 9420 §5 for one cipher suite, through the client's crypto
/// provider. Where the client exposes the labelled operation itself it is used; where it only
/// exposes the primitive (HKDF, signature, HPKE) the label encoding is ours, over its primitive.
pub trait SuiteCrypto {
    /// `RefHash(label, value)` (§5.2).
    fn ref_hash(&self, label: &[u8], value: &[u8]) -> Result<Vec<u8>, ClientError>;
    /// `ExpandWithLabel(secret, label, context, length)` (§8).
    fn expand_with_label(
        &self,
        secret: &[u8],
        label: &[u8],
        context: &[u8],
        length: u16,
    ) -> Result<Vec<u8>, ClientError>;
    /// `Nh`, the suite's hash output length in bytes.
    fn hash_length(&self) -> usize;
    /// `DeriveSecret(secret, label) = ExpandWithLabel(secret, label, "", Nh)`.
    fn derive_secret(&self, secret: &[u8], label: &[u8]) -> Result<Vec<u8>, ClientError> {
        let nh = u16::try_from(self.hash_length())
            .map_err(|_| ClientError::Failed(format!("Nh {} exceeds u16", self.hash_length())))?;
        self.expand_with_label(secret, label, &[], nh)
    }
    /// `DeriveTreeSecret(secret, label, generation, length)` (§9.1).
    fn derive_tree_secret(
        &self,
        secret: &[u8],
        label: &[u8],
        generation: u32,
        length: u16,
    ) -> Result<Vec<u8>, ClientError> {
        self.expand_with_label(secret, label, &generation.to_be_bytes(), length)
    }
    /// `SignWithLabel` (§5.1.2); ECDSA signatures are randomised, so callers verify. The public
    /// key rides along because some providers take an Ed25519 key as seed || public key.
    fn sign_with_label(
        &self,
        private: &[u8],
        public: &[u8],
        label: &[u8],
        content: &[u8],
    ) -> Result<Vec<u8>, ClientError>;
    /// `VerifyWithLabel`: Ok(true) when the signature verifies.
    fn verify_with_label(
        &self,
        public: &[u8],
        label: &[u8],
        content: &[u8],
        signature: &[u8],
    ) -> Result<bool, ClientError>;
    /// `EncryptWithLabel` (§5.1.3): (kem_output, ciphertext).
    fn encrypt_with_label(
        &self,
        public: &[u8],
        label: &[u8],
        context: &[u8],
        plaintext: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), ClientError>;
    /// `DecryptWithLabel`.
    fn decrypt_with_label(
        &self,
        private: &[u8],
        label: &[u8],
        context: &[u8],
        kem_output: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, ClientError>;
}

/// What every client says about itself.
pub trait Client: Send + Sync {
    /// Its name, as `--client`/`--clients` take it.
    fn name(&self) -> &'static str;
    /// The version under test.
    fn version(&self) -> &'static str;
    /// Cipher suites (RFC 9420 §17.1 numbers) its crypto provider offers.
    fn cipher_suites(&self) -> Vec<u16>;
    fn supports(&self, suite: u16) -> bool {
        self.cipher_suites().contains(&suite)
    }
    /// Why the client can take no more calls (a server that stopped answering), if so; a
    /// runner skips what it has not started with this reason.
    fn gone(&self) -> Option<String> {
        None
    }
    /// Whether two runs may use the client at once. A server of the IETF interop interface may
    /// not: the IETF runner drives it one run at a time, and servers key state by identity
    /// (openmls's pending key packages) or hand out ids that collide across runs (mls-rs's
    /// external signers).
    fn concurrent_runs(&self) -> bool {
        true
    }
    /// `Err(Suite)` unless `suite` is supported.
    fn require(&self, suite: u16) -> Result<(), ClientError> {
        if self.supports(suite) {
            Ok(())
        } else {
            Err(ClientError::Suite {
                client: self.name(),
                suite,
            })
        }
    }
}

/// A client that plays group members: the interop scenarios and the live calls.
pub trait MemberClient: Client {
    /// A new actor with this MLS identity (basic credential), holding no group yet.
    fn member(&self, identity: &[u8]) -> Result<Box<dyn Member>, ClientError>;
}

/// An MLS implementation under the test vectors' operations.
pub trait MlsClient: Client {
    /// Vector formats its public API cannot express, with the reason (a not-applicable verdict
    /// on each of their cases). Re-deriving such values by hand over the client's HKDF or AEAD
    /// would test our code, not the client's, so nothing stands in for them.
    fn cannot_express(&self, _format: Format) -> Option<&'static str> {
        None
    }
    /// Joins as the passive client of a passive-client vector: its key package with the given
    /// private keys, the external PSKs, the Welcome and (if given) the out-of-band ratchet tree.
    fn join_passive(&self, case: &PassiveClient) -> Result<Box<dyn MlsGroup>, ClientError>;
    /// welcome.json: decrypts the Welcome with the key package's init key and verifies the
    /// GroupInfo's signature with `signer_pub`.
    fn check_welcome(&self, case: &Welcome) -> Result<(), ClientError>;
    /// Decodes `bytes` as the structure `kind` and encodes it again.
    fn decode_reencode(&self, kind: WireKind, bytes: &[u8]) -> Result<Vec<u8>, ClientError>;
    /// deserialization.json: `header` is an RFC 9420 §2.1.2 variable-length integer announcing
    /// `length` bytes; the client's codec must decode it to `length`, consuming all of it, and
    /// encode `length` back to the same bytes (the minimal encoding).
    fn check_vlbytes_header(&self, header: &[u8], length: u32) -> Result<(), ClientError>;
    /// The labelled primitives for `suite`.
    fn crypto(&self, suite: u16) -> Result<Box<dyn SuiteCrypto + '_>, ClientError>;
    /// Creates a group in `suite` and adds one new member, returning the creator's group (in
    /// the epoch after the add) and everything the new member needs to join passively, in the
    /// passive-client vector's form: its key package, private keys, the Welcome. This is how
    /// the project makes vectors other clients must verify.
    fn create_with_passive_member(
        &self,
        suite: u16,
    ) -> Result<(Box<dyn MlsGroup>, PassiveClient), ClientError> {
        self.require(suite)?;
        Err(ClientError::Unsupported {
            client: self.name(),
            reason: "creating groups is not in this adapter yet".into(),
        })
    }
}

/// One SFrame protect or unprotect, with everything the vectors fix.
#[derive(Clone, Debug)]
pub struct SframeFrame<'a> {
    pub cipher_suite: u16,
    pub base_key: &'a [u8],
    pub kid: u64,
    pub ctr: u64,
    pub metadata: &'a [u8],
}

/// An SFrame implementation under test.
pub trait SframeClient: Send + Sync {
    fn name(&self) -> &'static str;
    fn version(&self) -> &'static str;
    /// RFC 9605 §4.5 cipher suite numbers.
    fn cipher_suites(&self) -> Vec<u16>;
    /// Encodes the header for (kid, ctr) (§4.3).
    fn encode_header(&self, kid: u64, ctr: u64) -> Result<Vec<u8>, ClientError>;
    /// Decodes a header: (kid, ctr, header length).
    fn decode_header(&self, bytes: &[u8]) -> Result<(u64, u64, usize), ClientError>;
    /// The AES-CTR-HMAC AEAD of §4.5.1 with a caller's key and nonce.
    fn aes_ctr_hmac_seal(
        &self,
        suite: u16,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        pt: &[u8],
    ) -> Result<Vec<u8>, ClientError>;
    /// Protects `pt`: header || ciphertext || tag.
    fn protect(&self, frame: &SframeFrame<'_>, pt: &[u8]) -> Result<Vec<u8>, ClientError>;
    /// Unprotects header || ciphertext || tag.
    fn unprotect(&self, frame: &SframeFrame<'_>, ct: &[u8]) -> Result<Vec<u8>, ClientError>;
}

/// Every client under the vectors' MLS operations, in report order.
pub fn mls_clients() -> Vec<Box<dyn MlsClient>> {
    vec![
        Box::new(openmls::OpenMls::new()),
        Box::new(mls_rs::MlsRs::new()),
    ]
}

/// Every client that plays group members (interop, live), in report order.
pub fn member_clients() -> Vec<Box<dyn MemberClient>> {
    vec![
        Box::new(openmls::OpenMls::new()),
        Box::new(mls_rs::MlsRs::new()),
    ]
}

/// Where a `grpc:` name is refused, what does take it.
pub(crate) fn remote_hint(name: &str) -> &'static str {
    if name.starts_with(grpc::PREFIX) {
        "; a grpc:HOST:PORT server plays members in `e2ee interop` only (vectors, live calls \
         and `e2ee serve` drive compiled-in clients)"
    } else {
        ""
    }
}

/// Every SFrame client.
pub fn sframe_clients() -> Vec<Box<dyn SframeClient>> {
    vec![Box::new(sframe::Sframe::new())]
}

/// A name `--client`/`--clients` does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown client `{name}` (MLS clients: {}){}", known.join(", "), remote_hint(name))]
pub struct UnknownClient {
    pub name: String,
    /// The registry's names, in report order.
    pub known: Vec<&'static str>,
}

/// The clients of `registry` ([`member_clients`], [`mls_clients`]) named, in the order given
/// (a name given twice gives two); all of them when `names` is `None`.
pub fn by_names<C: Client + ?Sized>(
    names: Option<&[String]>,
    registry: fn() -> Vec<Box<C>>,
) -> Result<Vec<Box<C>>, UnknownClient> {
    let Some(names) = names else {
        return Ok(registry());
    };
    names
        .iter()
        .map(|name| {
            let all = registry();
            let known = all.iter().map(|c| c.name()).collect();
            all.into_iter()
                .find(|c| c.name() == name)
                .ok_or_else(|| UnknownClient {
                    name: name.clone(),
                    known,
                })
        })
        .collect()
}

/// Why `--clients` named no usable client.
#[derive(Debug, thiserror::Error)]
pub enum NamedClientError {
    #[error(transparent)]
    Unknown(#[from] UnknownClient),
    #[error(transparent)]
    Connect(#[from] grpc::ConnectError),
}

/// The member clients named: compiled-in ones by name, and `grpc:HOST:PORT` servers of the
/// interop interface, connected (Name, SupportedCiphersuites) now; all compiled-in ones when
/// `names` is `None`.
pub fn member_clients_named(
    names: Option<&[String]>,
    rpc_timeout: std::time::Duration,
) -> Result<Vec<Box<dyn MemberClient>>, NamedClientError> {
    let Some(names) = names else {
        return Ok(member_clients());
    };
    names
        .iter()
        .map(|name| {
            if name.starts_with(grpc::PREFIX) {
                let client = grpc::Grpc::connect(name, rpc_timeout)?;
                Ok(Box::new(client) as Box<dyn MemberClient>)
            } else {
                let mut one = by_names(Some(std::slice::from_ref(name)), member_clients)?;
                Ok(one.remove(0))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_of<C: Client + ?Sized>(clients: &[Box<C>]) -> Vec<&'static str> {
        clients.iter().map(|c| c.name()).collect()
    }

    #[test]
    fn by_names_keeps_the_order_given_and_defaults_to_every_client() {
        let all = by_names(None, member_clients).unwrap();
        assert_eq!(names_of(&all), names_of(&member_clients()));
        assert_eq!(names_of(&all), names_of(&mls_clients()));
        let chosen = ["mls-rs".to_string(), "openmls".into(), "mls-rs".into()];
        let chosen = by_names(Some(&chosen), member_clients).unwrap();
        assert_eq!(names_of(&chosen), ["mls-rs", "openmls", "mls-rs"]);
    }

    #[test]
    fn by_names_names_the_unknown_client_and_the_known_ones() {
        let err = by_names(Some(&["openmls".into(), "webex".into()]), mls_clients).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("unknown client `webex` (MLS clients: openmls, mls-rs)")
        );
    }
}
