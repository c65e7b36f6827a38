//! The MLS → SFrame binding of RFC 9605 §5.2 ([`crate::keying`]), which has no published
//! vectors: this project generates them with one MLS client and verifies them with every client.

use super::{differ, FileCtx, Outcome};
use crate::clients::{ClientError, MlsClient, SframeClient, SframeFrame};
use crate::formats::{Hex, MlsSframe};
use crate::keying::{self, aead_nk, kid, KidLayout, BASE_KEY_LABEL};
use crate::results::Verdict;

/// The generated cases: one per MLS suite of `mls` and SFrame suite of `sframe`.
pub fn generate(
    mls: &dyn MlsClient,
    sframe: &dyn SframeClient,
) -> Result<Vec<MlsSframe>, ClientError> {
    let layout = KidLayout::VECTORS;
    let mut cases = Vec::new();
    let mut suites = mls.cipher_suites();
    suites.sort_unstable();
    for suite in suites {
        for sframe_suite in sframe.cipher_suites() {
            let Some(nk) = aead_nk(sframe_suite) else {
                continue;
            };
            let (group, join) = mls.create_with_passive_member(suite)?;
            let base_key = keying::base_key(sframe_suite, |l, c, n| group.export_secret(l, c, n))?;
            let (epoch, sender_index) = (group.epoch(), u64::from(group.own_leaf_index()));
            let kid = (layout.kid(sender_index, epoch))
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
                context: layout.context,
                e_bits: layout.epoch_bits,
                s_bits: layout.sender_bits,
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
