//! Our own DAVE participant: mls-rs 0.57 (a third MLS stack beside libdave's MLSpp and davey's
//! OpenMLS) with DAVE's parameters and our frame transform ([`super::frame`]).
//!
//! DAVE v1 as daveprotocol.com states it: cipher suite 2; basic credential = user id, 8 bytes
//! big-endian; key package lifetime 0..2^64-1; group id = channel id big-endian; one external
//! sender (op 25) in the group context; handshakes as PublicMessage with the ratchet tree in
//! the Welcome; an op 27 is applied whole or not at all (as libdave applies it on a copy of its
//! state), Adds only of recognized users; a commit references every queued proposal; media
//! keys `MLS-Exporter("Discord Secure Frames v0", user id LE, 16)` into the hash ratchet, old
//! epochs kept for late frames (libdave keeps them 10 s; we keep the previous epoch), replays
//! refused.

use std::collections::{BTreeMap, HashSet};

use mls_rs::extension::built_in::ExternalSendersExt;
use mls_rs::group::proposal::Proposal;
use mls_rs::group::{CommitEffect, ReceivedMessage};
use mls_rs::identity::basic::{BasicCredential, BasicIdentityProvider};
use mls_rs::identity::SigningIdentity;
use mls_rs::mls_rs_codec::MlsDecode;
use mls_rs::time::MlsTime;
use mls_rs::{
    CipherSuite, CipherSuiteProvider, Client, CryptoProvider, ExtensionList, Group, MlsMessage,
};
use mls_rs_crypto_rustcrypto::RustCryptoProvider;

use super::frame::{self, SecureFrame, EXPORTER_LABEL, OPUS_SILENCE};
use super::participant::{Media, Participant, ParticipantError, Shown};

pub const NAME: &str = "ours";

/// The member adapter's rules, left at their defaults, are DAVE's for every group:
/// PublicMessage handshakes, the ratchet tree in the Welcome, no path forced (libdave
/// `CommitOpts{inline_tree=true, force_path=false}`).
type Config = crate::clients::mls_rs_member::Config;

/// A sender's ratchet of one epoch, with the nonces already opened.
#[derive(Debug)]
struct ReceiveKey {
    base: Vec<u8>,
    opened: HashSet<u32>,
}

/// Our DAVE participant.
pub struct Ours {
    user: u64,
    channel: u64,
    client: Client<Config>,
    external_sender: Option<SigningIdentity>,
    group: Option<Group<Config>>,
    /// Whether `group` is established (epoch ≥ 1), not our pending one-member group.
    established: bool,
    /// This epoch's accepted op 27 proposals, to re-apply when a later op 27 is refused or
    /// revoked (mls-rs keeps received proposals in a cache we can only clear whole).
    queued: Vec<(Vec<u8>, MlsMessage)>,
    /// Our commit awaiting its op 29.
    own_commit: Option<Vec<u8>>,
    /// Send key of the epoch prepared, waiting for op 22; the key we send under, with its nonce.
    next_send: Option<Vec<u8>>,
    send: Option<(Vec<u8>, u32)>,
    /// Per sender: the newest epoch's key first, then the previous one.
    receive: BTreeMap<u64, Vec<ReceiveKey>>,
}

impl std::fmt::Debug for Ours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ours")
            .field("user", &self.user)
            .field("established", &self.established)
            .field("epoch", &self.group.as_ref().map(|g| g.current_epoch()))
            .finish_non_exhaustive()
    }
}

fn refused(op: &str, reason: impl std::fmt::Display) -> ParticipantError {
    ParticipantError::Refused {
        implementation: NAME.into(),
        op: op.into(),
        reason: reason.to_string(),
    }
}

/// The user id in a basic credential (8 bytes big-endian).
fn user_of(identity: &SigningIdentity) -> Option<u64> {
    let basic = identity.credential.as_basic()?;
    Some(u64::from_be_bytes(
        basic.identifier.as_slice().try_into().ok()?,
    ))
}

impl Ours {
    pub fn new(user: u64, channel: u64) -> Result<Ours, ParticipantError> {
        let suite = CipherSuite::P256_AES128;
        let provider = RustCryptoProvider::new()
            .cipher_suite_provider(suite)
            .ok_or_else(|| refused("new", "no P-256 suite in the crypto provider"))?;
        let (secret, public) = provider
            .signature_key_generate()
            .map_err(|e| refused("new", e))?;
        let credential = BasicCredential::new(user.to_be_bytes().to_vec()).into_credential();
        let client = Client::builder()
            .crypto_provider(RustCryptoProvider::new())
            .identity_provider(BasicIdentityProvider::new())
            .mls_rules(crate::clients::mls_rs_member::Rules::default())
            .signing_identity(SigningIdentity::new(credential, public), secret, suite)
            // With a timestamp of 0, the lifetime DAVE asks for: 0..2^64-1.
            .key_package_lifetime(std::time::Duration::from_secs(u64::MAX))
            .build();
        Ok(Ours {
            user,
            channel,
            client,
            external_sender: None,
            group: None,
            established: false,
            queued: Vec::new(),
            own_commit: None,
            next_send: None,
            send: None,
            receive: BTreeMap::new(),
        })
    }

    /// A pending group: epoch 0, ourselves alone, the gateway as external sender.
    fn pending_group(&mut self) -> Result<Vec<u8>, ParticipantError> {
        let sender = self
            .external_sender
            .clone()
            .ok_or_else(|| refused("start", "no external sender (op 25)"))?;
        let mut extensions = ExtensionList::new();
        extensions
            .set_from(ExternalSendersExt::new(vec![sender]))
            .map_err(|e| refused("start", e))?;
        let group = self
            .client
            .create_group_with_id(
                self.channel.to_be_bytes().to_vec(),
                extensions,
                ExtensionList::new(),
                // Our leaf's lifetime, as in every key package: 0..2^64-1 (openmls, in davey,
                // refuses a Welcome whose tree holds a leaf not current).
                Some(MlsTime::from(0)),
            )
            .map_err(|e| refused("start", e))?;
        self.group = Some(group);
        self.established = false;
        self.queued.clear();
        self.own_commit = None;
        let kp = self
            .client
            .generate_key_package_message(
                ExtensionList::new(),
                ExtensionList::new(),
                Some(MlsTime::from(0)),
            )
            .map_err(|e| refused("key package", e))?
            .to_bytes()
            .map_err(|e| refused("key package", e))?;
        // Clients send the bare KeyPackage (libdave, davey), not the MLSMessage.
        Ok(super::wire::key_package_body(&kp).to_vec())
    }

    fn group(&mut self, op: &str) -> Result<&mut Group<Config>, ParticipantError> {
        self.group.as_mut().ok_or_else(|| refused(op, "no group"))
    }

    /// Processes `messages` as one op 27 on top of what is queued: all or nothing.
    fn apply_proposals(
        &mut self,
        messages: &[(Vec<u8>, MlsMessage)],
        recognized: &[u64],
    ) -> Result<(), ParticipantError> {
        let group_id = self.channel.to_be_bytes().to_vec();
        let epoch = self.group("proposals")?.current_epoch();
        for (_, m) in messages {
            if m.group_id() != Some(group_id.as_slice()) {
                return Err(refused("proposals", "a proposal for another group"));
            }
            if m.epoch() != Some(epoch) {
                return Err(refused(
                    "proposals",
                    format!("a proposal for epoch {:?}, we are at {epoch}", m.epoch()),
                ));
            }
        }
        let mut result = Ok(());
        for (_, m) in messages {
            let group = self.group("proposals")?;
            match group.process_incoming_message(m.clone()) {
                Ok(ReceivedMessage::Proposal(p)) => {
                    let external = matches!(p.sender, mls_rs::group::ProposalSender::External(0));
                    let check = match &p.proposal {
                        _ if !external => {
                            Err("a proposal not from the external sender".to_string())
                        }
                        Proposal::Add(add) => match user_of(add.signing_identity()) {
                            Some(u) if recognized.contains(&u) => Ok(()),
                            Some(u) => Err(format!("an Add of user {u}, not recognized")),
                            None => Err("an Add whose credential is not a user id".into()),
                        },
                        Proposal::Remove(_) => Ok(()),
                        other => Err(format!("a {:?} proposal", other.proposal_type())),
                    };
                    if let Err(why) = check {
                        result = Err(refused("proposals", why));
                        break;
                    }
                }
                Ok(_) => {
                    result = Err(refused("proposals", "not a proposal"));
                    break;
                }
                Err(e) => {
                    result = Err(refused("proposals", e));
                    break;
                }
            }
        }
        if result.is_ok() {
            self.queued.extend(messages.iter().cloned());
            return Ok(());
        }
        // All or nothing: back to what was queued before this op 27.
        self.requeue()?;
        result
    }

    /// Clears the proposal cache and processes the queued proposals again.
    fn requeue(&mut self) -> Result<(), ParticipantError> {
        let queued = self.queued.clone();
        let group = self.group("proposals")?;
        group.clear_proposal_cache();
        for (_, m) in queued {
            group
                .process_incoming_message(m)
                .map_err(|e| refused("proposals", e))?;
        }
        Ok(())
    }

    /// After a new epoch: nothing queued, and the commit it came from is history.
    fn entered_epoch(&mut self) {
        self.queued.clear();
        self.own_commit = None;
        self.established = true;
    }
}

/// The proposal MLSMessages of an op 27 append vector, each with its bytes.
fn split_messages(mut body: &[u8]) -> Result<Vec<(Vec<u8>, MlsMessage)>, ParticipantError> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let before = body;
        let m = MlsMessage::mls_decode(&mut body).map_err(|e| refused("proposals", e))?;
        out.push((before[..before.len() - body.len()].to_vec(), m));
    }
    Ok(out)
}

/// An op 27 vector's body (after the one-byte operation type).
fn vector_body(payload: &[u8]) -> Result<&[u8], ParticipantError> {
    let mut rest = payload;
    let body = Vec::<u8>::mls_decode(&mut rest).map_err(|e| refused("proposals", e))?;
    Ok(&payload[payload.len() - rest.len() - body.len()..payload.len() - rest.len()])
}

impl Participant for Ours {
    fn implementation(&self) -> &str {
        NAME
    }

    fn user_id(&self) -> u64 {
        self.user
    }

    fn start(&mut self, external_sender: &[u8]) -> Result<Vec<u8>, ParticipantError> {
        let sender = SigningIdentity::mls_decode(&mut &*external_sender)
            .map_err(|e| refused("start", format!("op 25: {e}")))?;
        self.external_sender = Some(sender);
        self.pending_group()
    }

    fn restart(&mut self) -> Result<Vec<u8>, ParticipantError> {
        self.pending_group()
    }

    fn proposals(
        &mut self,
        payload: &[u8],
        recognized: &[u64],
    ) -> Result<Option<Vec<u8>>, ParticipantError> {
        let (&op, rest) = payload
            .split_first()
            .ok_or_else(|| refused("proposals", "empty op 27"))?;
        let body = vector_body(rest)?;
        match op {
            0 => {
                let messages = split_messages(body)?;
                self.apply_proposals(&messages, recognized)?;
            }
            1 => {
                let mut refs = body;
                while !refs.is_empty() {
                    let r =
                        Vec::<u8>::mls_decode(&mut refs).map_err(|e| refused("proposals", e))?;
                    let before = self.queued.len();
                    self.queued
                        .retain(|(bytes, _)| super::gateway::proposal_ref(bytes) != r);
                    if self.queued.len() == before {
                        return Err(refused("proposals", "revokes a proposal we do not hold"));
                    }
                }
                self.requeue()?;
            }
            other => return Err(refused("proposals", format!("operation type {other}"))),
        }
        // A new op 27 replaces the commit we made for the last one (it was not broadcast).
        self.group("commit")?.clear_pending_commit();
        self.own_commit = None;
        if self.queued.is_empty() {
            // Nothing left to commit (davey does the same; a commit must reference one).
            return Ok(None);
        }
        let output = self
            .group("commit")?
            .commit_builder()
            .build()
            .map_err(|e| refused("commit", e))?;
        let commit = output
            .commit_message
            .to_bytes()
            .map_err(|e| refused("commit", e))?;
        let mut op28 = commit.clone();
        if let Some(w) = output.welcome_messages.first() {
            let w = w.to_bytes().map_err(|e| refused("commit", e))?;
            op28.extend_from_slice(super::wire::welcome_body(&w));
        }
        self.own_commit = Some(commit);
        Ok(Some(op28))
    }

    fn commit(&mut self, commit: &[u8]) -> Result<bool, ParticipantError> {
        if self.group.is_none() || self.queued.is_empty() {
            return Ok(false);
        }
        if self.own_commit.as_deref() == Some(commit) {
            self.group("commit")?
                .apply_pending_commit()
                .map_err(|e| refused("commit", e))?;
            self.entered_epoch();
            return Ok(true);
        }
        let message = MlsMessage::from_bytes(commit).map_err(|e| refused("commit", e))?;
        let group = self.group("commit")?;
        group.clear_pending_commit();
        match group.process_incoming_message(message) {
            Ok(ReceivedMessage::Commit(c)) => {
                if matches!(c.effect, CommitEffect::Removed { .. }) {
                    self.group = None;
                    self.established = false;
                    self.queued.clear();
                    return Ok(true);
                }
                self.entered_epoch();
                Ok(true)
            }
            Ok(_) => Err(refused("commit", "not a commit")),
            Err(e) => Err(refused("commit", e)),
        }
    }

    fn welcome(&mut self, welcome: &[u8], recognized: &[u64]) -> Result<(), ParticipantError> {
        if self.established {
            return Err(refused("welcome", "already in a group"));
        }
        let wrapped = [&[0u8, 1, 0, 3][..], welcome].concat();
        let message = MlsMessage::from_bytes(&wrapped).map_err(|e| refused("welcome", e))?;
        let (group, _) = self
            .client
            .join_group(None, &message, None)
            .map_err(|e| refused("welcome", e))?;
        if group.group_id() != self.channel.to_be_bytes() {
            return Err(refused("welcome", "a group other than the channel's"));
        }
        let senders = group
            .context()
            .extensions
            .get_as::<ExternalSendersExt>()
            .map_err(|e| refused("welcome", e))?
            .map(|e| e.allowed_senders().to_vec())
            .unwrap_or_default();
        if senders.len() != 1 || Some(&senders[0]) != self.external_sender.as_ref() {
            return Err(refused(
                "welcome",
                "its external sender is not the gateway's (op 25)",
            ));
        }
        for m in group.roster().members() {
            match user_of(&m.signing_identity) {
                Some(u) if u == self.user || recognized.contains(&u) => {}
                Some(u) => {
                    return Err(refused(
                        "welcome",
                        format!("its roster lists user {u}, not recognized"),
                    ))
                }
                None => {
                    return Err(refused(
                        "welcome",
                        "a member whose credential is not a user id",
                    ))
                }
            }
        }
        self.group = Some(group);
        self.entered_epoch();
        Ok(())
    }

    fn prepare(&mut self, _transition: u16) -> Result<(), ParticipantError> {
        let user = self.user;
        let group = self.group("prepare")?;
        let mut keys = Vec::new();
        for m in group.roster().members() {
            let Some(u) = user_of(&m.signing_identity) else {
                continue;
            };
            let base = group
                .export_secret(EXPORTER_LABEL.as_bytes(), &u.to_le_bytes(), 16)
                .map_err(|e| refused("prepare", e))?
                .as_bytes()
                .to_vec();
            keys.push((u, base));
        }
        for (u, base) in keys {
            if u == user {
                self.next_send = Some(base);
                continue;
            }
            let ratchets = self.receive.entry(u).or_default();
            ratchets.insert(
                0,
                ReceiveKey {
                    base,
                    opened: HashSet::new(),
                },
            );
            ratchets.truncate(2);
        }
        Ok(())
    }

    fn execute(&mut self, _transition: u16) -> Result<(), ParticipantError> {
        if let Some(base) = self.next_send.take() {
            self.send = Some((base, 0));
        }
        Ok(())
    }

    fn shown(&mut self) -> Result<Shown, ParticipantError> {
        let Some(group) = self.group.as_ref().filter(|_| self.established) else {
            return Ok(Shown::default());
        };
        let ea = group
            .epoch_authenticator()
            .map_err(|e| refused("shown", e))?
            .to_vec();
        let mut roster: Vec<u64> = group
            .roster()
            .members()
            .iter()
            .filter_map(|m| user_of(&m.signing_identity))
            .collect();
        roster.sort_unstable();
        Ok(Shown {
            code: super::code::voice_privacy_code(&ea),
            epoch_authenticator: Some(ea),
            roster: Some(roster),
        })
    }

    fn encrypt(&mut self, media: Media, plain: &[u8]) -> Result<Option<Vec<u8>>, ParticipantError> {
        if plain == OPUS_SILENCE {
            return Ok(Some(plain.to_vec()));
        }
        let Some((base, nonce)) = self.send.as_mut() else {
            return Ok(None);
        };
        *nonce += 1;
        let key = frame::ratchet_key(base, *nonce >> 24);
        let ranges = match media {
            Media::Opus => vec![],
            // VP8: the P bit (bit 0 of byte 0) clear marks a key frame, 10 bytes in clear;
            // otherwise 1 (daveprotocol.com "Codec Handling").
            Media::Vp8 if plain.first().is_some_and(|b| b & 1 == 0) => {
                vec![(0, 10.min(plain.len()))]
            }
            Media::Vp8 => vec![(0, 1.min(plain.len()))],
        };
        Ok(Some(frame::seal(&key, *nonce, plain, &ranges)))
    }

    fn decrypt(
        &mut self,
        sender: u64,
        _media: Media,
        sealed: &[u8],
    ) -> Result<Option<Vec<u8>>, ParticipantError> {
        if sealed == OPUS_SILENCE {
            return Ok(Some(sealed.to_vec()));
        }
        let Some(parsed) = SecureFrame::parse(sealed) else {
            return Ok(None);
        };
        let Some(ratchets) = self.receive.get_mut(&sender) else {
            return Ok(None);
        };
        for r in ratchets.iter_mut() {
            let key = frame::ratchet_key(&r.base, parsed.generation());
            if let Some(plain) = frame::open(&key, sealed) {
                // No frame is opened twice (libdave: no key/nonce decrypted twice).
                return Ok(r.opened.insert(parsed.nonce).then_some(plain));
            }
        }
        Ok(None)
    }

    fn fingerprint(&mut self, other: u64) -> Result<Option<Vec<u8>>, ParticipantError> {
        let Some(group) = self.group.as_ref().filter(|_| self.established) else {
            return Ok(None);
        };
        let key_of = |user: u64| {
            group
                .roster()
                .members()
                .into_iter()
                .find(|m| user_of(&m.signing_identity) == Some(user))
                .map(|m| m.signing_identity.signature_key.as_bytes().to_vec())
        };
        let (Some(mine), Some(theirs)) = (key_of(self.user), key_of(other)) else {
            return Ok(None);
        };
        Ok(Some(super::code::pairwise_fingerprint(
            (&mine, self.user),
            (&theirs, other),
        )))
    }

    fn media_key(&mut self, user: u64) -> Result<Vec<u8>, ParticipantError> {
        Ok(self
            .group("media_key")?
            .export_secret(EXPORTER_LABEL.as_bytes(), &user.to_le_bytes(), 16)
            .map_err(|e| refused("media_key", e))?
            .as_bytes()
            .to_vec())
    }
}
