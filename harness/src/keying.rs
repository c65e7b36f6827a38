//! Where an MLS epoch becomes SFrame media keys, for every level: RFC 9605 §5.2.
//!
//! `base_key = MLS-Exporter("SFrame 1.0 Base Key", "", AEAD.Nk)` in the epoch, and
//! `KID = (context << (S + E)) + (sender_index << E) + (epoch % (1 << E))`.
//!
//! The vectors level verifies this binding in every client (`vectors/mls_sframe.rs`); the
//! interop level treats each member's base key as a secret the delivery service must not hold;
//! the live calls protect their media with it. All three take the label, the key length and the
//! KID arithmetic from here.

use crate::clients::ClientError;

/// The exporter label of RFC 9605 §5.2.
pub const BASE_KEY_LABEL: &str = "SFrame 1.0 Base Key";

/// `AEAD.Nk` of each SFrame suite (RFC 9605 §4.5 table): the AES-CTR-HMAC suites take a 16-byte
/// AES key and a 32-byte HMAC key.
pub const fn aead_nk(sframe_suite: u16) -> Option<u16> {
    match sframe_suite {
        1..=3 => Some(48),
        4 => Some(16),
        5 => Some(32),
        _ => None,
    }
}

/// The SFrame suite the interop and live levels protect media with: AES_128_GCM_SHA256_128
/// (§4.5), the suite deployed WebRTC E2EE uses.
pub const MEDIA_SUITE: u16 = 4;

/// Its `AEAD.Nk`: the length of one epoch's media key, and of the windows the server-side
/// checks try as keys.
pub const MEDIA_KEY_LEN: usize = match aead_nk(MEDIA_SUITE) {
    Some(nk) => nk as usize,
    None => panic!("MEDIA_SUITE has no AEAD.Nk"),
};

/// `MLS-Exporter("SFrame 1.0 Base Key", "", AEAD.Nk)` of `sframe_suite`, through the client's
/// exporter (`MlsGroup::export_secret` or `Member::export_secret`).
pub fn base_key(
    sframe_suite: u16,
    exporter: impl FnOnce(&[u8], &[u8], usize) -> Result<Vec<u8>, ClientError>,
) -> Result<Vec<u8>, ClientError> {
    let nk = aead_nk(sframe_suite).ok_or_else(|| {
        ClientError::failed(format!("SFrame suite {sframe_suite} has no AEAD.Nk"))
    })?;
    exporter(BASE_KEY_LABEL.as_bytes(), b"", nk.into())
}

/// RFC 9605 §5.2's KID; None if the fields do not fit 64 bits or the sender does not fit S bits.
pub fn kid(context: u64, sender_index: u64, epoch: u64, e_bits: u32, s_bits: u32) -> Option<u64> {
    let epoch_part = epoch % 1u64.checked_shl(e_bits)?;
    if sender_index >= 1u64.checked_shl(s_bits)? {
        return None;
    }
    let high = context.checked_shl(s_bits.checked_add(e_bits)?)?;
    if high >> (s_bits + e_bits) != context {
        return None;
    }
    Some(high | sender_index << e_bits | epoch_part)
}

/// A KID layout: the `context`, `S` and `E` of §5.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KidLayout {
    pub context: u64,
    pub sender_bits: u32,
    pub epoch_bits: u32,
}

impl KidLayout {
    /// The live calls': up to 1,024 leaves, 256 epochs before the KID's epoch bits wrap.
    pub const LIVE: KidLayout = KidLayout {
        context: 0,
        sender_bits: 10,
        epoch_bits: 8,
    };

    /// The generated MLS→SFrame vectors': small fields, so a case shows every part of the KID.
    pub const VECTORS: KidLayout = KidLayout {
        context: 0,
        sender_bits: 6,
        epoch_bits: 4,
    };

    pub fn kid(self, sender_index: u64, epoch: u64) -> Option<u64> {
        kid(
            self.context,
            sender_index,
            epoch,
            self.epoch_bits,
            self.sender_bits,
        )
    }

    /// (sender index, epoch mod 2^E) from a KID of this layout.
    pub fn split(self, kid: u64) -> (u64, u64) {
        let epoch = kid & ((1 << self.epoch_bits) - 1);
        let sender = (kid >> self.epoch_bits) & ((1 << self.sender_bits) - 1);
        (sender, epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kid_follows_rfc_9605_section_5_2() {
        // context 1, sender 3, epoch 0x13 with E = 4 (epoch bits 3), S = 6.
        assert_eq!(kid(1, 3, 0x13, 4, 6), Some((1 << 10) | (3 << 4) | 3));
        assert_eq!(kid(0, 0, 1, 4, 6), Some(1));
        // A sender index that does not fit S bits is refused, not folded.
        assert_eq!(kid(0, 64, 1, 4, 6), None);
        assert_eq!(kid(u64::MAX, 0, 0, 4, 6), None);
    }

    #[test]
    fn a_layout_splits_what_it_makes() {
        let layout = KidLayout::LIVE;
        let made = layout.kid(1023, 300).unwrap();
        assert_eq!(layout.split(made), (1023, 300 % 256));
        assert_eq!(layout.kid(1024, 0), None);
    }

    #[test]
    fn the_base_key_asks_the_exporter_for_nk_bytes_under_the_rfc_label() {
        let asked = std::cell::RefCell::new(None);
        let key = base_key(5, |label, context, len| {
            *asked.borrow_mut() = Some((label.to_vec(), context.to_vec(), len));
            Ok(vec![0; len])
        });
        assert_eq!(key.unwrap().len(), 32);
        assert_eq!(
            asked.into_inner(),
            Some((b"SFrame 1.0 Base Key".to_vec(), vec![], 32))
        );
        assert_eq!(MEDIA_KEY_LEN, 16);
        assert!(base_key(9, |_, _, _| Ok(vec![])).is_err());
    }
}
