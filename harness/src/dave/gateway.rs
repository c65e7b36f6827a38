//! The voice gateway: DAVE's MLS external sender and delivery service (daveprotocol.com
//! "Delivery Service", "Proposal Handling", "Commit Ordering", "Voice Gateway Commit Validity").
//!
//! It signs Add and Remove proposals as the group's one external sender, judges each op 28
//! the way DAVE asks (the first valid commit of an epoch wins; a valid commit references every
//! unrevoked proposal of the epoch by reference and nothing else), and learns the leaf indexes
//! from each commit it accepts: removes blank their leaves, then adds fill the leftmost blank
//! leaf in the order the commit lists them (RFC 9420 §12.3), never in the order it proposed.
//! Every byte it handles goes into its transcript, which the checks search afterwards.

use openmls::prelude::{
    BasicCredential, Ciphersuite, ExternalProposal, ExternalSender, GroupEpoch, GroupId,
    KeyPackageIn, ProtocolVersion, SenderExtensionIndex,
};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use openmls_traits::OpenMlsProvider;
use sha2::{Digest, Sha256};
use tls_codec::{Deserialize as _, Serialize as _};

use super::wire::{key_package_body, varint, FromClient};

/// DAVE protocol version 1's one cipher suite.
pub const SUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMP256_AES128GCM_SHA256_P256;

/// What went wrong on the gateway's side.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GatewayError {
    #[error("key package of user {user}: {reason}")]
    KeyPackage { user: u64, reason: String },
    #[error("signing a proposal: {0}")]
    Sign(String),
}

/// A proposal the gateway broadcast and has not seen committed or revoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InFlight {
    /// RFC 9420 §5.2 ProposalRef: what a commit names it by.
    pub reference: Vec<u8>,
    pub change: Change,
    /// The proposal as an MLSMessage (op 27 carries it).
    pub message: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Add { user: u64 },
    Remove { user: u64, leaf: u32 },
}

/// What the gateway read from an op 28 it accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptedCommit {
    /// The commit MLSMessage (op 29 carries it).
    pub commit: Vec<u8>,
    /// The Welcome, bare (op 30 carries it), when the commit adds someone.
    pub welcome: Option<Vec<u8>>,
    pub committer_leaf: u32,
    /// The changes in the order the commit lists them.
    pub changes: Vec<Change>,
}

/// The fields of a commit's PublicMessage the gateway judges.
struct CommitView {
    group_id: Vec<u8>,
    epoch: u64,
    sender_type: u8,
    sender_leaf: u32,
    /// Each ProposalOrRef: Some(reference), or None for a proposal sent inline.
    proposals: Vec<Option<Vec<u8>>>,
}

pub struct Gateway {
    pub channel_id: u64,
    signer: SignatureKeyPair,
    external_sender: Vec<u8>,
    /// The established group's epoch; 0 while every member is pending.
    pub epoch: u64,
    /// Leaf index → user, as the accepted commits made it.
    leaves: Vec<Option<u64>>,
    pub in_flight: Vec<InFlight>,
    provider: OpenMlsRustCrypto,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("channel_id", &self.channel_id)
            .field("epoch", &self.epoch)
            .field("leaves", &self.leaves)
            .field("in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}

impl Gateway {
    pub fn new(channel_id: u64) -> Gateway {
        let signer =
            SignatureKeyPair::new(SUITE.signature_algorithm()).expect("P-256 keys generate");
        // libdave's test gateway names itself with four bytes; clients only compare the struct.
        let sender = ExternalSender::new(
            signer.public().to_vec().into(),
            BasicCredential::new(b"e2ee-gateway".to_vec()).into(),
        );
        let external_sender = sender
            .tls_serialize_detached()
            .expect("an ExternalSender serializes");
        Gateway {
            channel_id,
            signer,
            external_sender,
            epoch: 0,
            leaves: Vec::new(),
            in_flight: Vec::new(),
            provider: OpenMlsRustCrypto::default(),
        }
    }

    /// The op 25 payload.
    pub fn external_sender(&self) -> &[u8] {
        &self.external_sender
    }

    /// The MLS group id: the channel id, 8 bytes big-endian (libdave `session.cpp`).
    pub fn group_id(&self) -> Vec<u8> {
        self.channel_id.to_be_bytes().to_vec()
    }

    pub fn established(&self) -> bool {
        self.epoch > 0
    }

    /// Users of the established group by leaf.
    pub fn roster(&self) -> Vec<u64> {
        let mut users: Vec<u64> = self.leaves.iter().flatten().copied().collect();
        users.sort_unstable();
        users
    }

    pub fn leaf_of(&self, user: u64) -> Option<u32> {
        self.leaves
            .iter()
            .position(|u| *u == Some(user))
            .and_then(|l| u32::try_from(l).ok())
    }

    /// Checks an op 26 key package as DAVE's gateway does (basic credential naming the user,
    /// lifetime 0..2^64-1, valid signature) and signs an Add of it for `epoch`.
    pub fn propose_add(
        &self,
        user: u64,
        key_package: &[u8],
        epoch: u64,
    ) -> Result<InFlight, GatewayError> {
        let refuse = |reason: String| GatewayError::KeyPackage { user, reason };
        let kp_in = KeyPackageIn::tls_deserialize_exact(key_package_body(key_package))
            .map_err(|e| refuse(format!("does not decode: {e}")))?;
        let kp = kp_in
            .validate(self.provider.crypto(), ProtocolVersion::Mls10)
            .map_err(|e| refuse(format!("does not validate: {e}")))?;
        let identity = kp.leaf_node().credential().serialized_content();
        if identity != user.to_be_bytes() {
            return Err(refuse(format!(
                "its credential names {}, not the user",
                hex::encode(identity)
            )));
        }
        if kp.ciphersuite() != SUITE {
            return Err(refuse(format!("cipher suite {:?}", kp.ciphersuite())));
        }
        let message = ExternalProposal::new_add::<OpenMlsRustCrypto>(
            kp,
            GroupId::from_slice(&self.group_id()),
            GroupEpoch::from(epoch),
            &self.signer,
            SenderExtensionIndex::new(0),
        )
        .map_err(|e| GatewayError::Sign(e.to_string()))?;
        Ok(self.in_flight(message, Change::Add { user }))
    }

    /// A Remove of `user`'s leaf in the established group.
    pub fn propose_remove(&self, user: u64) -> Option<InFlight> {
        let leaf = self.leaf_of(user)?;
        let message = ExternalProposal::new_remove::<OpenMlsRustCrypto>(
            openmls::prelude::LeafNodeIndex::new(leaf),
            GroupId::from_slice(&self.group_id()),
            GroupEpoch::from(self.epoch),
            &self.signer,
            SenderExtensionIndex::new(0),
        )
        .ok()?;
        Some(self.in_flight(message, Change::Remove { user, leaf }))
    }

    fn in_flight(&self, message: openmls::prelude::MlsMessageOut, change: Change) -> InFlight {
        let message = message
            .tls_serialize_detached()
            .expect("a proposal serializes");
        InFlight {
            reference: proposal_ref(&message),
            change,
            message,
        }
    }

    /// Op 27 (append): operation type 0, then the proposal MLSMessages as one vector.
    pub fn append(proposals: &[&InFlight]) -> Vec<u8> {
        let body: Vec<u8> = proposals.iter().flat_map(|p| p.message.clone()).collect();
        let mut out = vec![0u8];
        out.extend(varint(body.len()));
        out.extend(body);
        out
    }

    /// Op 27 (revoke): operation type 1, then the proposal references as one vector.
    pub fn revoke(proposals: &[&InFlight]) -> Vec<u8> {
        let mut body = Vec::new();
        for p in proposals {
            body.extend(varint(p.reference.len()));
            body.extend(&p.reference);
        }
        let mut out = vec![1u8];
        out.extend(varint(body.len()));
        out.extend(body);
        out
    }

    /// Judges an op 28 against the proposals `expected` (the unrevoked ones the committer was
    /// sent this epoch). Err: why DAVE's gateway must not broadcast it.
    pub fn judge(&self, op28: &[u8], expected: &[&InFlight]) -> Result<AcceptedCommit, String> {
        let (commit, welcome) = match FromClient::from_binary(&[&[28u8][..], op28].concat()) {
            Ok(FromClient::CommitWelcome { commit, welcome }) => (commit, welcome),
            Ok(_) => unreachable!("opcode 28 reads as a commit"),
            Err(e) => return Err(e.to_string()),
        };
        let view = CommitView::read(&commit).ok_or("the commit is not a PublicMessage commit")?;
        if view.group_id != self.group_id() {
            return Err(format!("group id {}", hex::encode(&view.group_id)));
        }
        if view.epoch != self.epoch {
            return Err(format!(
                "epoch {}, the group is at {}",
                view.epoch, self.epoch
            ));
        }
        if view.sender_type != 1 {
            return Err(format!("sender type {}, not a member", view.sender_type));
        }
        let mut changes = Vec::new();
        for p in &view.proposals {
            let Some(reference) = p else {
                return Err("a proposal inline (DAVE commits reference proposals)".into());
            };
            let Some(known) = expected.iter().find(|e| &e.reference == reference) else {
                return Err(format!(
                    "references {}, which is not in flight",
                    hex::encode(reference)
                ));
            };
            changes.push(known.change.clone());
        }
        if changes.len() != expected.len() {
            return Err(format!(
                "references {} of the {} proposals in flight",
                changes.len(),
                expected.len()
            ));
        }
        if changes.is_empty() {
            return Err("references no proposal".into());
        }
        if changes
            .iter()
            .any(|c| matches!(c, Change::Remove { leaf, .. } if *leaf == view.sender_leaf))
        {
            return Err("removes its own author (RFC 9420 §12.2)".into());
        }
        let adds = changes.iter().any(|c| matches!(c, Change::Add { .. }));
        if adds != welcome.is_some() {
            return Err(if adds {
                "adds members without a Welcome".into()
            } else {
                "a Welcome with no one added".into()
            });
        }
        Ok(AcceptedCommit {
            commit,
            welcome,
            committer_leaf: view.sender_leaf,
            changes,
        })
    }

    /// The group after `accepted`: the committer's pending group becomes the group when it
    /// was founded by this commit (`founder`), removes blank leaves, adds fill the leftmost.
    pub fn apply(&mut self, accepted: &AcceptedCommit, founder: Option<u64>) {
        if let Some(founder) = founder {
            self.leaves = vec![Some(founder)];
        }
        for change in &accepted.changes {
            if let Change::Remove { leaf, .. } = change {
                if let Some(slot) = self.leaves.get_mut(*leaf as usize) {
                    *slot = None;
                }
            }
        }
        for change in &accepted.changes {
            if let Change::Add { user } = change {
                match self.leaves.iter().position(Option::is_none) {
                    Some(blank) => self.leaves[blank] = Some(*user),
                    None => self.leaves.push(Some(*user)),
                }
            }
        }
        while self.leaves.last() == Some(&None) {
            self.leaves.pop();
        }
        self.epoch += 1;
        self.in_flight.clear();
    }

    /// Back to no group (sole member reset, daveprotocol.com "Sole member reset").
    pub fn reset(&mut self) {
        self.epoch = 0;
        self.leaves.clear();
        self.in_flight.clear();
    }
}

/// RFC 9420 §5.2: `RefHash("MLS 1.0 Proposal Reference", AuthenticatedContent)`. An external
/// sender's PublicMessage carries no membership tag, so its AuthenticatedContent
/// (wire_format || FramedContent || auth) is the MLSMessage after the 2-byte version.
pub fn proposal_ref(mls_message: &[u8]) -> Vec<u8> {
    let label = b"MLS 1.0 Proposal Reference";
    let value = &mls_message[2..];
    let mut h = Sha256::new();
    h.update(varint(label.len()));
    h.update(label);
    h.update(varint(value.len()));
    h.update(value);
    h.finalize().to_vec()
}

impl CommitView {
    /// RFC 9420 §6: MLSMessage(version, wire_format 1 = PublicMessage) → FramedContent →
    /// Commit's ProposalOrRef list; the UpdatePath and signatures are the members' to check.
    fn read(message: &[u8]) -> Option<CommitView> {
        let mut r = Reader(message);
        if r.u16()? != 1 || r.u16()? != 1 {
            return None;
        }
        let group_id = r.vector()?.to_vec();
        let epoch = r.u64()?;
        let sender_type = r.u8()?;
        let sender_leaf = if matches!(sender_type, 1 | 2) {
            r.u32()?
        } else {
            0
        };
        r.vector()?; // authenticated_data
        if r.u8()? != 3 {
            return None; // not a commit
        }
        let mut list = Reader(r.vector()?);
        let mut proposals = Vec::new();
        while !list.0.is_empty() {
            match list.u8()? {
                2 => proposals.push(Some(list.vector()?.to_vec())),
                1 => {
                    proposals.push(None);
                    break; // an inline proposal: the commit is refused, no need to read it
                }
                _ => return None,
            }
        }
        Some(CommitView {
            group_id,
            epoch,
            sender_type,
            sender_leaf,
            proposals,
        })
    }
}

/// TLS presentation reader with RFC 9420 §2.1.2 variable-length vectors.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn vector(&mut self) -> Option<&'a [u8]> {
        let first = self.u8()?;
        let len = match first >> 6 {
            0 => usize::from(first & 0x3F),
            1 => (usize::from(first & 0x3F) << 8) | usize::from(self.u8()?),
            2 => {
                let rest = self.take(3)?;
                (usize::from(first & 0x3F) << 24)
                    | (usize::from(rest[0]) << 16)
                    | (usize::from(rest[1]) << 8)
                    | usize::from(rest[2])
            }
            _ => return None,
        };
        self.take(len)
    }
}
