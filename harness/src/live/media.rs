//! Media as a call sends it: synthetic frames shaped like real ones, each end-to-end protected
//! with SFrame (RFC 9605) under a key from the MLS epoch (§5.2), with the codec's payload
//! header left in clear as deployed systems do (it is SFrame metadata: authenticated, not
//! encrypted) so an SFU can still find keyframes.
//!
//! - Audio: Opus, 20 ms frames (48 kHz clock: +960 per frame), 60–100 bytes.
//! - Video: VP8, 30 fps (90 kHz clock: +3000), a keyframe every second. The RTP payload is the
//!   one-byte VP8 payload descriptor (RFC 7741 §4.2, start of partition), the VP8 frame tag
//!   (3 bytes; 10 with the keyframe start code and size, RFC 6386 §9.1) in clear, then SFrame.
//!
//! Every frame's plaintext carries a canary: sender, kind, sequence number and a random tag.

use crate::clients::{ClientError, SframeClient, SframeFrame};
use crate::keying::{KidLayout, MEDIA_SUITE};
use rand::Rng;

/// RTP payload types as negotiated (dynamic range, the values browsers use).
pub const OPUS_PT: u8 = 111;
pub const VP8_PT: u8 = 96;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MediaKind {
    Audio,
    Video,
}

impl MediaKind {
    pub fn name(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }

    /// Frame interval in milliseconds.
    pub fn interval_ms(self) -> u64 {
        match self {
            MediaKind::Audio => 20,
            MediaKind::Video => 33,
        }
    }

    /// RTP timestamp increment per frame.
    pub fn ts_step(self) -> u32 {
        match self {
            MediaKind::Audio => 960,
            MediaKind::Video => 3000,
        }
    }

    pub fn payload_type(self) -> u8 {
        match self {
            MediaKind::Audio => OPUS_PT,
            MediaKind::Video => VP8_PT,
        }
    }
}

/// One frame before protection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub kind: MediaKind,
    pub seq: u64,
    /// Left in clear (VP8 payload descriptor and frame tag; nothing for Opus).
    pub clear: Vec<u8>,
    /// Encrypted by SFrame; starts with the canary.
    pub body: Vec<u8>,
    pub canary: Vec<u8>,
}

/// The canary of a frame: who sent it, which, and a tag nobody can guess.
pub fn canary(sender: &str, kind: MediaKind, seq: u64, tag: u64) -> Vec<u8> {
    format!("CANARY/{sender}/{}/{seq}/{tag:016x}", kind.name()).into_bytes()
}

/// A synthetic frame: `seq` is the sender's frame number for this kind.
pub fn synth(kind: MediaKind, sender: &str, seq: u64, rng: &mut impl Rng) -> Frame {
    let canary = canary(sender, kind, seq, rng.random());
    let (clear, size) = match kind {
        // Opus at ~32 kbit/s: 80 bytes per 20 ms, varying a little.
        MediaKind::Audio => (Vec::new(), rng.random_range(60..=100)),
        MediaKind::Video => {
            let key = seq % 30 == 0;
            // Descriptor: S=1, partition 0. Frame tag: bit 0 clear for a keyframe, show_frame.
            let mut clear = vec![0x10, if key { 0x10 } else { 0x11 }, 0x02, 0x00];
            if key {
                // Start code and 640x360 (RFC 6386 §9.1).
                clear.extend_from_slice(&[0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]);
            }
            // Keyframes larger; both fit one RTP packet (no fragmentation to reassemble).
            (
                clear,
                if key {
                    rng.random_range(900..=1100)
                } else {
                    rng.random_range(150..=400)
                },
            )
        }
    };
    let mut body = canary.clone();
    while body.len() < size {
        body.push(rng.random());
    }
    Frame {
        kind,
        seq,
        clear,
        body,
        canary,
    }
}

/// KID of a sender in an epoch (§5.2, context 0).
pub fn sender_kid(leaf: u32, epoch: u64) -> Option<u64> {
    KidLayout::LIVE.kid(u64::from(leaf), epoch)
}

/// (leaf, epoch mod 2^E) from a KID.
pub fn split_kid(kid: u64) -> (u32, u64) {
    let (leaf, epoch) = KidLayout::LIVE.split(kid);
    (u32::try_from(leaf).unwrap_or(u32::MAX), epoch)
}

/// How many bytes of an RTP payload of `kind` stay in clear.
pub fn clear_len(kind: MediaKind, payload: &[u8]) -> usize {
    match kind {
        MediaKind::Audio => 0,
        MediaKind::Video => match payload.get(1) {
            Some(tag) if tag & 1 == 0 => 11,
            Some(_) => 4,
            None => payload.len(),
        },
    }
}

/// The RTP payload: clear part, then SFrame header and ciphertext over the body with the clear
/// part as metadata.
pub fn protect(
    sframe: &dyn SframeClient,
    frame: &Frame,
    base_key: &[u8],
    kid: u64,
    ctr: u64,
) -> Result<Vec<u8>, ClientError> {
    let f = SframeFrame {
        cipher_suite: MEDIA_SUITE,
        base_key,
        kid,
        ctr,
        metadata: &frame.clear,
    };
    let mut payload = frame.clear.clone();
    payload.extend(sframe.protect(&f, &frame.body)?);
    Ok(payload)
}

/// Where an RTP payload's SFrame part says it comes from.
pub fn header(
    sframe: &dyn SframeClient,
    kind: MediaKind,
    payload: &[u8],
) -> Result<(u64, u64), ClientError> {
    let clear = clear_len(kind, payload);
    let rest = payload
        .get(clear..)
        .ok_or_else(|| ClientError::failed("payload shorter than its clear header"))?;
    let (kid, ctr, _) = sframe.decode_header(rest)?;
    Ok((kid, ctr))
}

/// Opens an RTP payload with `base_key`: the body (canary first).
pub fn unprotect(
    sframe: &dyn SframeClient,
    kind: MediaKind,
    payload: &[u8],
    base_key: &[u8],
) -> Result<Vec<u8>, ClientError> {
    let clear = clear_len(kind, payload);
    let (meta, rest) = payload.split_at(clear.min(payload.len()));
    let (kid, ctr, _) = sframe.decode_header(rest)?;
    let f = SframeFrame {
        cipher_suite: MEDIA_SUITE,
        base_key,
        kid,
        ctr,
        metadata: meta,
    };
    sframe.unprotect(&f, rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::sframe::Sframe;
    use crate::keying::MEDIA_KEY_LEN;
    use rand::SeedableRng;

    #[test]
    fn frames_round_trip_and_the_clear_header_is_authenticated() {
        let sframe = Sframe::new();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let key = [7u8; MEDIA_KEY_LEN];
        let kid = sender_kid(3, 258).unwrap();
        assert_eq!(split_kid(kid), (3, 2));
        for (kind, seq) in [
            (MediaKind::Audio, 0),
            (MediaKind::Video, 0),
            (MediaKind::Video, 1),
        ] {
            let frame = synth(kind, "alice", seq, &mut rng);
            assert!(frame.body.starts_with(&frame.canary));
            let payload = protect(&sframe, &frame, &key, kid, seq).unwrap();
            assert!(!payload
                .windows(frame.canary.len())
                .any(|w| w == frame.canary));
            assert_eq!(header(&sframe, kind, &payload).unwrap(), (kid, seq));
            assert_eq!(
                unprotect(&sframe, kind, &payload, &key).unwrap(),
                frame.body
            );
            assert!(unprotect(&sframe, kind, &payload, &[8u8; MEDIA_KEY_LEN]).is_err());
            if kind == MediaKind::Video {
                // Keyframe or not is readable in clear, and tampering with it is caught.
                assert_eq!(payload[1] & 1 == 0, seq % 30 == 0);
                let mut bad = payload.clone();
                bad[2] ^= 1;
                assert!(unprotect(&sframe, kind, &bad, &key).is_err());
            }
        }
    }
}
