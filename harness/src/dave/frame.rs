//! DAVE's media keys and frames, as the gateway and the checks need them: the per-sender hash
//! ratchet and the secure-frame layout (daveprotocol.com "Sender Key Derivation", "Payload
//! Format"; libdave `encryptor.cpp`, `frame_processors.cpp`, `leb128.cpp`).
//!
//! ```text
//! [frame, unencrypted ranges in place, the rest ciphertext] [tag: 8 bytes, AES-128-GCM cut]
//! [ULEB128 truncated nonce] [ULEB128 (offset, size) pairs] [u8 supplemental size] [FA FA]
//! ```
//! The AAD is the unencrypted bytes in order; the IV is eight zero bytes and the truncated
//! nonce little-endian; the generation is the nonce's top byte.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `MLS-Exporter` label of every sender's base secret (16 bytes, context = user id LE).
pub const EXPORTER_LABEL: &str = "Discord Secure Frames v0";
/// The Opus silence frame, which DAVE passes through in clear both ways.
pub const OPUS_SILENCE: [u8; 3] = [0xF8, 0xFF, 0xFE];
const MAGIC: [u8; 2] = [0xFA, 0xFA];
const TAG_BYTES: usize = 8;
/// Tag, size byte and magic: the smallest trailer (libdave `kSupplementalBytes`).
const MIN_SUPPLEMENTAL: usize = TAG_BYTES + 1 + 2;

/// A frame's trailer, read as libdave's `InboundFrameProcessor::ParseFrame` reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecureFrame {
    /// Bytes before the trailer: ciphertext interleaved with the unencrypted ranges.
    pub body_len: usize,
    pub tag: [u8; TAG_BYTES],
    pub nonce: u32,
    /// (offset, size) of each unencrypted range, ascending.
    pub ranges: Vec<(usize, usize)>,
}

impl SecureFrame {
    /// The trailer, or None when the bytes are not a DAVE secure frame.
    pub fn parse(frame: &[u8]) -> Option<SecureFrame> {
        let len = frame.len();
        if len < MIN_SUPPLEMENTAL || frame[len - 2..] != MAGIC {
            return None;
        }
        let supplemental = frame[len - 3] as usize;
        if supplemental < MIN_SUPPLEMENTAL || supplemental > len {
            return None;
        }
        let body_len = len - supplemental;
        let tag: [u8; TAG_BYTES] = frame[body_len..body_len + TAG_BYTES].try_into().ok()?;
        let mut rest = &frame[body_len + TAG_BYTES..len - 3];
        let nonce = u32::try_from(read_uleb128(&mut rest)?).ok()?;
        let mut ranges = Vec::new();
        let mut end = 0;
        while !rest.is_empty() {
            let offset = usize::try_from(read_uleb128(&mut rest)?).ok()?;
            let size = usize::try_from(read_uleb128(&mut rest)?).ok()?;
            if offset < end || offset.checked_add(size)? > body_len {
                return None;
            }
            end = offset + size;
            ranges.push((offset, size));
        }
        Some(SecureFrame {
            body_len,
            tag,
            nonce,
            ranges,
        })
    }

    /// The ratchet generation the nonce belongs to.
    pub fn generation(&self) -> u32 {
        self.nonce >> 24
    }

    /// (ciphertext, aad): the encrypted and unencrypted bytes of the body, each in order.
    fn split(&self, frame: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let body = &frame[..self.body_len];
        let (mut ct, mut aad, mut at) = (Vec::new(), Vec::new(), 0);
        for &(offset, size) in &self.ranges {
            ct.extend_from_slice(&body[at..offset]);
            aad.extend_from_slice(&body[offset..offset + size]);
            at = offset + size;
        }
        ct.extend_from_slice(&body[at..]);
        (ct, aad)
    }
}

/// Opens `frame` with the AES key `key`: the frame with its encrypted ranges in clear, or
/// None when the tag does not match.
pub fn open(key: &[u8; 16], frame: &[u8]) -> Option<Vec<u8>> {
    let parsed = SecureFrame::parse(frame)?;
    let (ct, aad) = parsed.split(frame);
    let cipher = Aes128Gcm::new(key.into());
    let iv = iv(parsed.nonce);
    // GCM is CTR plus a tag over the ciphertext, and the aes-gcm crate checks only full
    // 16-byte tags. Sealing the ciphertext yields the plaintext (the same keystream); sealing
    // that plaintext again yields the full tag of this ciphertext, whose first 8 bytes DAVE sent.
    let mut plain = ct.clone();
    cipher
        .encrypt_in_place_detached(&iv, b"", &mut plain)
        .ok()?;
    let mut again = plain.clone();
    let full = cipher
        .encrypt_in_place_detached(&iv, &aad, &mut again)
        .ok()?;
    let diff = full[..TAG_BYTES]
        .iter()
        .zip(parsed.tag)
        .fold(0u8, |d, (a, b)| d | (a ^ b));
    if diff != 0 {
        return None;
    }
    let mut out = frame[..parsed.body_len].to_vec();
    let (mut at, mut taken) = (0, 0);
    let mut put = |from: usize, to: usize, out: &mut Vec<u8>| {
        let n = to - from;
        out[from..to].copy_from_slice(&plain[taken..taken + n]);
        taken += n;
    };
    for &(offset, size) in &parsed.ranges {
        put(at, offset, &mut out);
        at = offset + size;
    }
    put(at, parsed.body_len, &mut out);
    Some(out)
}

/// Seals `frame` with `ranges` left in clear, as a DAVE sender does with truncated nonce
/// `nonce` under AES key `key`.
pub fn seal(key: &[u8; 16], nonce: u32, frame: &[u8], ranges: &[(usize, usize)]) -> Vec<u8> {
    let parsed = SecureFrame {
        body_len: frame.len(),
        tag: [0; TAG_BYTES],
        nonce,
        ranges: ranges.to_vec(),
    };
    let (mut ct, aad) = parsed.split(frame);
    let tag = Aes128Gcm::new(key.into())
        .encrypt_in_place_detached(&iv(nonce), &aad, &mut ct)
        .expect("AES-GCM seals any frame under 64 GiB");
    let mut out = frame.to_vec();
    let (mut at, mut taken) = (0, 0);
    for &(offset, size) in ranges.iter().chain([(frame.len(), 0)].iter()) {
        out[at..offset].copy_from_slice(&ct[taken..taken + offset - at]);
        taken += offset - at;
        at = offset + size;
    }
    let trailer_start = out.len();
    out.extend_from_slice(&tag[..TAG_BYTES]);
    write_uleb128(&mut out, u64::from(nonce));
    for &(offset, size) in ranges {
        write_uleb128(&mut out, offset as u64);
        write_uleb128(&mut out, size as u64);
    }
    let supplemental = out.len() - trailer_start + 3;
    out.push(u8::try_from(supplemental).expect("a trailer fits a size byte"));
    out.extend_from_slice(&MAGIC);
    out
}

fn iv(nonce: u32) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut iv = [0u8; 12];
    iv[8..].copy_from_slice(&nonce.to_le_bytes());
    iv.into()
}

/// The AES key of `generation` in the ratchet rooted at a sender's 16-byte base secret (RFC
/// 9420 §9.1's secret tree ratchet, as mlspp's `HashRatchet` runs it).
pub fn ratchet_key(base_secret: &[u8], generation: u32) -> [u8; 16] {
    let mut secret = base_secret.to_vec();
    for g in 0..generation {
        secret = derive_tree_secret(&secret, "secret", g, 32);
    }
    derive_tree_secret(&secret, "key", generation, 16)
        .try_into()
        .expect("16 bytes asked")
}

/// `ExpandWithLabel(secret, label, u32 generation, len)` (RFC 9420 §8, §9.1), with HKDF-Expand
/// written out: the first secret is 16 bytes, which the `hkdf` crate refuses as a PRK.
fn derive_tree_secret(secret: &[u8], label: &str, generation: u32, len: u16) -> Vec<u8> {
    let full_label = format!("MLS 1.0 {label}");
    let mut info = len.to_be_bytes().to_vec();
    info.extend_from_slice(&super::wire::varint(full_label.len()));
    info.extend_from_slice(full_label.as_bytes());
    info.extend_from_slice(&super::wire::varint(4));
    info.extend_from_slice(&generation.to_be_bytes());
    let mut out = Vec::with_capacity(usize::from(len));
    let mut previous: Vec<u8> = Vec::new();
    let mut counter = 1u8;
    while out.len() < usize::from(len) {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(&previous);
        mac.update(&info);
        mac.update(&[counter]);
        previous = mac.finalize().into_bytes().to_vec();
        out.extend_from_slice(&previous);
        counter += 1;
    }
    out.truncate(usize::from(len));
    out
}

fn read_uleb128(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(b & 0x7F) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn write_uleb128(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let b = (value & 0x7F) as u8;
        value >>= 7;
        if value == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// davey's `hash_ratchet.rs` test (ported from libdave): base secret → generation 0 key.
    #[test]
    fn ratchet_matches_davey_and_libdave() {
        let base = [
            206, 221, 97, 177, 184, 161, 202, 105, 4, 101, 84, 40, 44, 247, 11, 123,
        ];
        let key = [
            117, 48, 249, 169, 148, 94, 45, 46, 6, 208, 101, 31, 123, 42, 134, 75,
        ];
        assert_eq!(ratchet_key(&base, 0), key);
        assert_ne!(ratchet_key(&base, 1), key);
    }

    #[test]
    fn seals_and_opens_with_ranges_and_refuses_a_flipped_bit_or_another_key() {
        let key = [7u8; 16];
        let vp8 = (0..200u8).collect::<Vec<u8>>();
        let sealed = seal(&key, 0x0100_0001, &vp8, &[(0, 10)]);
        assert_eq!(&sealed[..10], &vp8[..10], "the VP8 header stays in clear");
        assert_ne!(&sealed[10..200], &vp8[10..]);
        let parsed = SecureFrame::parse(&sealed).unwrap();
        assert_eq!((parsed.nonce, parsed.generation()), (0x0100_0001, 1));
        assert_eq!(open(&key, &sealed).unwrap(), vp8);
        let mut flipped = sealed.clone();
        flipped[3] ^= 1; // in the authenticated clear range
        assert_eq!(open(&key, &flipped), None);
        flipped = sealed.clone();
        flipped[50] ^= 1;
        assert_eq!(open(&key, &flipped), None);
        assert_eq!(open(&[8u8; 16], &sealed), None);
        let opus = b"opus frame".to_vec();
        let sealed = seal(&key, 1, &opus, &[]);
        // tag 8, nonce 1, size byte, magic: the Opus trailer libdave writes (`.. 01 0c fa fa`).
        assert_eq!(&sealed[sealed.len() - 4..], &[1, 12, 0xFA, 0xFA]);
        assert_eq!(open(&key, &sealed).unwrap(), opus);
        assert_eq!(SecureFrame::parse(&OPUS_SILENCE), None);
    }
}
