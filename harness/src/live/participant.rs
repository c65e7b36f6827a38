//! One participant's end-to-end state, without I/O: its MLS member (openmls or mls-rs, through
//! the one [`Member`] trait), the SFrame base key of every epoch it has been in, and its
//! senders' counters. The transport hands it delivery-service messages and RTP payloads.

use super::media::{self, Frame, MediaKind};
use crate::clients::sframe::Sframe;
use crate::clients::{ClientError, Member, MemberClient, ProposalSpec};
use crate::keying::{self, KidLayout};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The MLS cipher suite of the live calls (X25519, AES-128-GCM, SHA-256, Ed25519).
pub const MLS_SUITE: u16 = 1;

/// A participant.
pub struct Participant {
    pub name: String,
    pub client: &'static str,
    mls: Box<dyn Member>,
    sframe: Sframe,
    /// SFrame base key of each epoch it was in, and when a newer epoch replaced it: frames sent
    /// just before an epoch change still arrive after it, so an old key opens frames for
    /// `retain` more, then no longer (a removed sender's frames stop opening).
    keys: BTreeMap<u64, (Vec<u8>, Option<Instant>)>,
    retain: Duration,
    /// Still in the group (its own leaf is in the roster).
    member: bool,
    stale_sender: bool,
    /// SFrame counter, shared by its audio and video (one KID per epoch).
    ctr: u64,
    seq: BTreeMap<MediaKind, u64>,
    rng: StdRng,
}

impl std::fmt::Debug for Participant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Participant")
            .field("name", &self.name)
            .field("client", &self.client)
            .field("epoch", &self.mls.epoch())
            .finish()
    }
}

impl Participant {
    pub fn new(
        name: &str,
        client: &dyn MemberClient,
        seed: u64,
    ) -> Result<Participant, ClientError> {
        Ok(Participant {
            name: name.to_string(),
            client: client.name(),
            mls: client.member(name.as_bytes())?,
            sframe: Sframe::new(),
            keys: BTreeMap::new(),
            retain: Duration::from_millis(500),
            member: false,
            stale_sender: false,
            ctr: 0,
            seq: BTreeMap::new(),
            rng: StdRng::seed_from_u64(seed),
        })
    }

    pub fn epoch(&self) -> Option<u64> {
        self.mls.epoch()
    }

    /// In the group now: it has a group and its own identity is in the roster.
    pub fn in_group(&self) -> bool {
        self.member
    }

    /// How long an epoch's key keeps opening frames after a newer epoch began.
    pub fn set_retain(&mut self, retain: Duration) {
        self.retain = retain;
    }

    /// Notes the current epoch's base key and whether it is still a member.
    fn rekey(&mut self) -> Result<(), ClientError> {
        let epoch = self
            .mls
            .epoch()
            .ok_or_else(|| ClientError::failed("no group"))?;
        self.member = self.mls.active()
            && self
                .mls
                .roster()
                .is_ok_and(|r| r.iter().any(|id| id == self.name.as_bytes()));
        if self.keys.contains_key(&epoch) {
            return Ok(());
        }
        let key = keying::base_key(keying::MEDIA_SUITE, |l, c, n| {
            self.mls.export_secret(l, c, n)
        })?;
        let now = Instant::now();
        for (_, superseded) in self.keys.values_mut() {
            superseded.get_or_insert(now);
        }
        self.keys.insert(epoch, (key, None));
        Ok(())
    }

    /// The current epoch's base key (the harness's ground truth for the SFU checks).
    pub fn current_key(&self) -> Option<(u64, Vec<u8>)> {
        let epoch = self.mls.epoch()?;
        Some((epoch, self.keys.get(&epoch)?.0.clone()))
    }

    pub fn key_package(&mut self) -> Result<Vec<u8>, ClientError> {
        self.mls.create_key_package(MLS_SUITE)
    }

    /// Starts the call's group alone.
    pub fn create_group(&mut self, group_id: &[u8]) -> Result<(), ClientError> {
        self.mls.create_group(group_id, MLS_SUITE, true)?;
        self.rekey()
    }

    pub fn join(&mut self, welcome: &[u8]) -> Result<(), ClientError> {
        self.mls.join(welcome, None, true)?;
        self.rekey()
    }

    /// Commits adds (key packages), removes (names) and proposals by reference; with none of
    /// them, a self-update, and applies it at once (a designated committer races nobody).
    /// Returns the commit and the Welcome.
    pub fn commit(
        &mut self,
        adds: &[Vec<u8>],
        removes: &[String],
        proposals: &[Vec<u8>],
    ) -> Result<(Vec<u8>, Option<Vec<u8>>), ClientError> {
        let out = self.commit_pending(adds, removes, proposals)?;
        self.merge_own()?;
        Ok(out)
    }

    /// The same commit, left pending: under `any` it applies only if it wins the race.
    pub fn commit_pending(
        &mut self,
        adds: &[Vec<u8>],
        removes: &[String],
        proposals: &[Vec<u8>],
    ) -> Result<(Vec<u8>, Option<Vec<u8>>), ClientError> {
        let mut specs: Vec<ProposalSpec> = adds
            .iter()
            .map(|kp| ProposalSpec::Add {
                key_package: kp.clone(),
            })
            .collect();
        specs.extend(removes.iter().map(|n| ProposalSpec::Remove {
            identity: n.as_bytes().to_vec(),
        }));
        let force_path = specs.is_empty() && proposals.is_empty();
        let out = self.mls.commit(proposals, &specs, force_path, false)?;
        Ok((out.commit, out.welcome))
    }

    /// Applies its own pending commit (it won, or nobody raced it).
    pub fn merge_own(&mut self) -> Result<(), ClientError> {
        self.mls.merge_pending_commit()?;
        self.rekey()
    }

    /// Drops its own pending commit: another member's commit of the epoch won (DAVE).
    pub fn discard_own(&mut self) -> Result<(), ClientError> {
        self.mls.clear_pending_commit()
    }

    /// An Update proposal of its own leaf (for a designated committer to commit).
    pub fn propose_update(&mut self) -> Result<Vec<u8>, ClientError> {
        self.mls.propose_update()
    }

    /// Applies another member's commit, with the proposals it covers.
    pub fn handle_commit(
        &mut self,
        proposals: &[Vec<u8>],
        commit: &[u8],
    ) -> Result<(), ClientError> {
        self.mls.handle_commit(proposals, commit)?;
        self.rekey()
    }

    /// How many epoch keys it holds (grows when it learns one).
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// The key of the epoch before the current one, if it had it.
    pub fn previous_key(&self) -> Option<(u64, Vec<u8>)> {
        let epoch = self.mls.epoch()?.checked_sub(1)?;
        Some((epoch, self.keys.get(&epoch)?.0.clone()))
    }

    /// Takes a key it did not derive (the history control), as current as its own.
    pub fn install_key(&mut self, epoch: u64, key: Vec<u8>) {
        self.keys.entry(epoch).or_insert((key, None));
    }

    /// Sends its frames under the key of the epoch it joined in, whatever the epoch now (the
    /// stale-key control: a sender that never picks up new keys).
    pub fn set_stale_sender(&mut self, stale: bool) {
        self.stale_sender = stale;
    }

    /// An MLS application message to the group.
    pub fn seal(&mut self, data: &[u8]) -> Result<Vec<u8>, ClientError> {
        self.mls.protect(b"", data)
    }

    /// Opens an MLS application message from the group.
    pub fn open(&mut self, message: &[u8]) -> Result<Vec<u8>, ClientError> {
        Ok(self.mls.unprotect(message)?.plaintext)
    }

    /// The next frame of `kind` and its RTP payload under the current epoch's key.
    pub fn next_frame(&mut self, kind: MediaKind) -> Result<(Frame, Vec<u8>), ClientError> {
        let (epoch, key) = if self.stale_sender {
            self.keys.iter().next().map(|(e, (k, _))| (*e, k.clone()))
        } else {
            self.current_key()
        }
        .ok_or_else(|| ClientError::failed("no group"))?;
        let leaf = self
            .mls
            .own_leaf()
            .ok_or_else(|| ClientError::failed("no leaf"))?;
        let kid = media::sender_kid(leaf, epoch)
            .ok_or_else(|| ClientError::failed("leaf index does not fit the KID"))?;
        let seq = self.seq.entry(kind).or_default();
        let frame = media::synth(kind, &self.name, *seq, &mut self.rng);
        *seq += 1;
        let payload = media::protect(&self.sframe, &frame, &key, kid, self.ctr)?;
        self.ctr += 1;
        Ok((frame, payload))
    }

    /// Opens a received payload with the key of the epoch its KID names (the newest epoch it
    /// knows with those low bits).
    pub fn receive(&self, kind: MediaKind, payload: &[u8]) -> Result<Vec<u8>, ClientError> {
        let (kid, _) = media::header(&self.sframe, kind, payload)?;
        let (_, low) = media::split_kid(kid);
        let now = Instant::now();
        let key = self
            .keys
            .iter()
            .rev()
            .find(|(e, _)| *e % (1 << KidLayout::LIVE.epoch_bits) == low)
            .and_then(|(_, (k, superseded))| match superseded {
                Some(t) if now.duration_since(*t) > self.retain => None,
                _ => Some(k),
            })
            .ok_or_else(|| {
                ClientError::failed(format!("no current key for epoch {low} (mod 2^8)"))
            })?;
        media::unprotect(&self.sframe, kind, payload, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::member_clients;

    #[test]
    fn openmls_and_mls_rs_share_media_across_epochs() {
        let clients = member_clients();
        let mut alice = Participant::new("alice", clients[0].as_ref(), 1).unwrap();
        let mut bob = Participant::new("bob", clients[1].as_ref(), 2).unwrap();
        let mut carol = Participant::new("carol", clients[0].as_ref(), 3).unwrap();
        alice.create_group(b"call").unwrap();
        let kp = bob.key_package().unwrap();
        let (_, welcome) = alice.commit(&[kp], &[], &[]).unwrap();
        bob.join(&welcome.unwrap()).unwrap();
        let (frame, payload) = bob.next_frame(MediaKind::Video).unwrap();
        assert_eq!(
            alice.receive(MediaKind::Video, &payload).unwrap(),
            frame.body
        );
        // A frame from the epoch before a join still opens after it; the joiner cannot open it.
        let kp = carol.key_package().unwrap();
        let (commit, welcome) = alice.commit(&[kp], &[], &[]).unwrap();
        bob.handle_commit(&[], &commit).unwrap();
        carol.join(&welcome.unwrap()).unwrap();
        assert_eq!(bob.receive(MediaKind::Video, &payload).unwrap(), frame.body);
        assert!(carol.receive(MediaKind::Video, &payload).is_err());
        // After bob's removal he opens nothing new; a rotation changes the key again.
        let (commit, _) = alice.commit(&[], &["bob".to_string()], &[]).unwrap();
        carol.handle_commit(&[], &commit).unwrap();
        let _ = bob.handle_commit(&[], &commit);
        let (frame, payload) = carol.next_frame(MediaKind::Audio).unwrap();
        assert_eq!(
            alice.receive(MediaKind::Audio, &payload).unwrap(),
            frame.body
        );
        assert!(bob.receive(MediaKind::Audio, &payload).is_err());
        let (commit, _) = carol.commit(&[], &[], &[]).unwrap();
        alice.handle_commit(&[], &commit).unwrap();
        assert_eq!(alice.epoch(), Some(4));
        assert_ne!(
            alice.current_key(),
            carol.keys.get(&3).map(|k| (3, k.0.clone()))
        );
        assert_eq!(alice.current_key(), carol.current_key());
    }
}
