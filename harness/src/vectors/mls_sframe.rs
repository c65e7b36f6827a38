//! The MLS → SFrame binding of RFC 9605 §5.2, which has no published vectors: this project
//! generates them with one MLS client and verifies them with every client.
//!
//! §5.2: `base_key = MLS-Exporter("SFrame 1.0 Base Key", "", AEAD.Nk)` in the epoch, and
//! `KID = (context << (S + E)) + (sender_index << E) + (epoch % (1 << E))`.

use super::formats::{Hex, MlsSframe};
use super::{differ, FileCtx, Outcome};
use crate::clients::{ClientError, MlsClient, SframeClient, SframeFrame};
use crate::results::Verdict;

/// The exporter label of RFC 9605 §5.2.
pub const BASE_KEY_LABEL: &str = "SFrame 1.0 Base Key";

/// `AEAD.Nk` of each SFrame suite (RFC 9605 §4.5 table): the AES-CTR-HMAC suites take a 16-byte
/// AES key and a 32-byte HMAC key.
pub fn aead_nk(sframe_suite: u16) -> Option<u16> {
    match sframe_suite {
        1..=3 => Some(48),
        4 => Some(16),
        5 => Some(32),
        _ => None,
    }
}

/// RFC 9605 §5.2's KID; None if the fields do not fit 64 bits.
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

/// The generated cases: one per MLS suite of `mls` and SFrame suite of `sframe`.
pub fn generate(
    mls: &dyn MlsClient,
    sframe: &dyn SframeClient,
) -> Result<Vec<MlsSframe>, ClientError> {
    let (e_bits, s_bits, context) = (4, 6, 0);
    let mut cases = Vec::new();
    let mut suites = mls.cipher_suites();
    suites.sort_unstable();
    for suite in suites {
        for sframe_suite in sframe.cipher_suites() {
            let Some(nk) = aead_nk(sframe_suite) else {
                continue;
            };
            let (group, join) = mls.create_with_passive_member(suite)?;
            let base_key = group.export_secret(BASE_KEY_LABEL.as_bytes(), b"", nk.into())?;
            let (epoch, sender_index) = (group.epoch(), u64::from(group.own_leaf_index()));
            let kid = kid(context, sender_index, epoch, e_bits, s_bits)
                .ok_or_else(|| ClientError::failed("KID does not fit 64 bits"))?;
            let (ctr, metadata, pt) = (7, b"frame metadata".to_vec(), b"one media frame".to_vec());
            let frame = SframeFrame {
                cipher_suite: sframe_suite,
                base_key: &base_key,
                kid,
                ctr,
                metadata: &metadata,
            };
            let ct = sframe.protect(&frame, &pt)?;
            cases.push(MlsSframe {
                generator: format!("{} {}", mls.name(), mls.version()),
                cipher_suite: suite,
                join,
                sframe_cipher_suite: sframe_suite,
                exporter_label: BASE_KEY_LABEL.into(),
                exporter_length: nk,
                sframe_base_key: Hex(base_key),
                epoch,
                sender_index,
                context,
                e_bits,
                s_bits,
                kid,
                ctr,
                metadata: Hex(metadata),
                pt: Hex(pt),
                ct: Hex(ct),
            });
        }
    }
    Ok(cases)
}

pub(super) fn run(
    ctx: &FileCtx<'_>,
    cases: &[serde_json::Value],
    mls: &[Box<dyn MlsClient>],
    sframe: &[Box<dyn SframeClient>],
    outcome: &mut Outcome,
) {
    for (i, value) in cases.iter().enumerate() {
        let label = i.to_string();
        let Some(case) = ctx.case::<MlsSframe>(&label, value, outcome) else {
            continue;
        };
        for m in mls {
            for s in sframe {
                let subject = format!("{}+{}", m.name(), s.name());
                let check = match verify(m.as_ref(), s.as_ref(), &case) {
                    Ok(()) => ctx.check(
                        &subject,
                        &label,
                        Some(case.cipher_suite),
                        Verdict::Pass,
                        format!(
                            "base key, KID and SFrame {} frame match (made by {})",
                            case.sframe_cipher_suite, case.generator
                        ),
                    ),
                    Err(e) => ctx.error_check(&subject, &label, Some(case.cipher_suite), e),
                };
                outcome.checks.push(check);
            }
        }
    }
}

/// Join, export the base key, derive the KID, protect and unprotect the frame.
fn verify(m: &dyn MlsClient, s: &dyn SframeClient, case: &MlsSframe) -> Result<(), ClientError> {
    m.require(case.cipher_suite)?;
    if !s.cipher_suites().contains(&case.sframe_cipher_suite) {
        return Err(ClientError::Suite {
            client: s.name(),
            suite: case.sframe_cipher_suite,
        });
    }
    let group = m.join_passive(&case.join)?;
    let same = |what: &str, expected: &[u8], got: &[u8]| {
        if expected == got {
            Ok(())
        } else {
            Err(ClientError::Failed(differ(what, expected, got)))
        }
    };
    same(
        "epoch_authenticator",
        &case.join.initial_epoch_authenticator,
        &group.epoch_authenticator()?,
    )?;
    let base = group.export_secret(
        case.exporter_label.as_bytes(),
        b"",
        case.exporter_length.into(),
    )?;
    same("sframe_base_key", &case.sframe_base_key, &base)?;
    let kid = kid(
        case.context,
        case.sender_index,
        group.epoch(),
        case.e_bits,
        case.s_bits,
    );
    if kid != Some(case.kid) {
        return Err(ClientError::Failed(format!(
            "kid: expected {}, derived {kid:?} from the joined epoch {}",
            case.kid,
            group.epoch()
        )));
    }
    let frame = SframeFrame {
        cipher_suite: case.sframe_cipher_suite,
        base_key: &base,
        kid: case.kid,
        ctr: case.ctr,
        metadata: &case.metadata,
    };
    same("ct", &case.ct, &s.protect(&frame, &case.pt)?)?;
    same("pt", &case.pt, &s.unprotect(&frame, &case.ct)?)
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
}
