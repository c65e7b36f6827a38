//! RFC 9605 Appendix C through every SFrame client: header encoding (§4.3), the AES-CTR-HMAC
//! AEAD (§4.5.1) and full protect/unprotect (§4.4).

use super::{differ, FileCtx, Outcome};
use crate::clients::{SframeClient, SframeFrame};
use crate::formats::{AesCtrHmac, SframeCase, SframeHeader};
use crate::results::Verdict;

pub(super) fn run(
    ctx: &FileCtx<'_>,
    file: &serde_json::Value,
    clients: &[Box<dyn SframeClient>],
    outcome: &mut Outcome,
) {
    for (label, case) in cases::<SframeHeader>(ctx, file, "header", outcome) {
        for c in clients {
            outcome.checks.push(header(ctx, c.as_ref(), &label, &case));
        }
    }
    for (label, case) in cases::<AesCtrHmac>(ctx, file, "aes_ctr_hmac", outcome) {
        for c in clients {
            let s = Some(case.cipher_suite);
            let check = match c.aes_ctr_hmac_seal(
                case.cipher_suite,
                &case.key,
                &case.nonce,
                &case.aad,
                &case.pt,
            ) {
                Ok(ct) if ct == case.ct.0 => ctx.check(
                    c.name(),
                    &label,
                    s,
                    Verdict::Pass,
                    "ciphertext || tag matches",
                ),
                Ok(ct) => ctx.check(
                    c.name(),
                    &label,
                    s,
                    Verdict::Fail,
                    differ("ct", &case.ct, &ct),
                ),
                Err(e) => ctx.error_check(c.name(), &label, s, e),
            };
            outcome.checks.push(check);
        }
    }
    for (label, case) in cases::<SframeCase>(ctx, file, "sframe", outcome) {
        for c in clients {
            outcome.checks.push(frame(ctx, c.as_ref(), &label, &case));
        }
    }
}

/// The cases of one section of the file (`header`, `aes_ctr_hmac`, `sframe`), each labelled
/// `section.index`; one that does not parse is an input error and left out.
fn cases<T: serde::de::DeserializeOwned>(
    ctx: &FileCtx<'_>,
    file: &serde_json::Value,
    section: &str,
    outcome: &mut Outcome,
) -> Vec<(String, T)> {
    let values = file.get(section).and_then(|v| v.as_array());
    values
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, v)| {
            let label = format!("{section}.{i}");
            let case = ctx.case::<T>(&label, v, outcome)?;
            Some((label, case))
        })
        .collect()
}

/// Encode (kid, ctr) and compare; decode the encoding and compare.
fn header(
    ctx: &FileCtx<'_>,
    c: &dyn SframeClient,
    label: &str,
    case: &SframeHeader,
) -> crate::results::Check {
    let encoded = match c.encode_header(case.kid, case.ctr) {
        Ok(e) => e,
        Err(e) => return ctx.error_check(c.name(), label, None, e),
    };
    if encoded != case.encoded.0 {
        return ctx.check(
            c.name(),
            label,
            None,
            Verdict::Fail,
            differ("encoded header", &case.encoded, &encoded),
        );
    }
    match c.decode_header(&case.encoded) {
        Ok((kid, ctr, len)) if (kid, ctr, len) == (case.kid, case.ctr, case.encoded.len()) => ctx
            .check(
                c.name(),
                label,
                None,
                Verdict::Pass,
                "encodes and decodes both ways",
            ),
        Ok((kid, ctr, len)) => ctx.check(
            c.name(),
            label,
            None,
            Verdict::Fail,
            format!(
                "decoded kid {kid}, ctr {ctr}, {len} bytes; expected kid {}, ctr {}, {} bytes",
                case.kid,
                case.ctr,
                case.encoded.len()
            ),
        ),
        Err(e) => ctx.error_check(c.name(), label, None, e),
    }
}

/// Protect the plaintext and compare with `ct`; unprotect `ct` and compare with `pt`.
fn frame(
    ctx: &FileCtx<'_>,
    c: &dyn SframeClient,
    label: &str,
    case: &SframeCase,
) -> crate::results::Check {
    let s = Some(case.cipher_suite);
    let f = SframeFrame {
        cipher_suite: case.cipher_suite,
        base_key: &case.base_key,
        kid: case.kid,
        ctr: case.ctr,
        metadata: &case.metadata,
    };
    match c.protect(&f, &case.pt) {
        Ok(ct) if ct == case.ct.0 => {}
        Ok(ct) => {
            return ctx.check(
                c.name(),
                label,
                s,
                Verdict::Fail,
                differ("protected frame", &case.ct, &ct),
            )
        }
        Err(e) => return ctx.error_check(c.name(), label, s, e),
    }
    match c.unprotect(&f, &case.ct) {
        Ok(pt) if pt == case.pt.0 => ctx.check(
            c.name(),
            label,
            s,
            Verdict::Pass,
            "protect gives ct; unprotect gives pt",
        ),
        Ok(pt) => ctx.check(
            c.name(),
            label,
            s,
            Verdict::Fail,
            differ("unprotected payload", &case.pt, &pt),
        ),
        Err(e) => ctx.error_check(c.name(), label, s, e),
    }
}
