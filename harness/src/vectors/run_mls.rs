//! RFC 9420 vectors through every MLS client.

use super::{differ, FileCtx, Outcome};
use crate::clients::{ClientError, MlsClient, SuiteCrypto};
use crate::formats::{
    CryptoBasics, Deserialization, Format, Messages, PassiveClient, Welcome, WireKind,
};
use crate::results::{Check, Verdict};

pub(super) fn run(
    ctx: &FileCtx<'_>,
    cases: &[serde_json::Value],
    clients: &[Box<dyn MlsClient>],
    outcome: &mut Outcome,
) {
    for (i, value) in cases.iter().enumerate() {
        let label = i.to_string();
        let suite = value
            .get("cipher_suite")
            .and_then(|s| s.as_u64())
            .and_then(|s| u16::try_from(s).ok());
        // Formats no client can run are still read, so a malformed case is still reported.
        match ctx.format {
            Format::PassiveClient => {
                let Some(case) = ctx.case::<PassiveClient>(&label, value, outcome) else {
                    continue;
                };
                for c in clients {
                    outcome.checks.push(passive(ctx, c.as_ref(), &label, &case));
                }
            }
            Format::Welcome => {
                let Some(case) = ctx.case::<Welcome>(&label, value, outcome) else {
                    continue;
                };
                for c in clients {
                    let s = Some(case.cipher_suite);
                    let check = match c.require(case.cipher_suite).and_then(|_| c.check_welcome(&case)) {
                        Ok(()) => ctx.check(
                            c.name(),
                            &label,
                            s,
                            Verdict::Pass,
                            "the Welcome decrypts with init_priv and its GroupInfo verifies under signer_pub",
                        ),
                        Err(e) => ctx.error_check(c.name(), &label, s, e),
                    };
                    outcome.checks.push(check);
                }
            }
            Format::Messages => {
                let Some(case) = ctx.case::<Messages>(&label, value, outcome) else {
                    continue;
                };
                for c in clients {
                    for kind in WireKind::ALL {
                        outcome
                            .checks
                            .push(round_trip(ctx, c.as_ref(), &label, &case, kind));
                    }
                }
            }
            Format::CryptoBasics => {
                let Some(case) = ctx.case::<CryptoBasics>(&label, value, outcome) else {
                    continue;
                };
                for c in clients {
                    outcome
                        .checks
                        .extend(crypto_basics(ctx, c.as_ref(), &label, &case));
                }
            }
            Format::Deserialization => {
                let Some(case) = ctx.case::<Deserialization>(&label, value, outcome) else {
                    continue;
                };
                for c in clients {
                    let check = match c.check_vlbytes_header(&case.vlbytes_header, case.length) {
                        Ok(()) => ctx.check(
                            c.name(),
                            &label,
                            None,
                            Verdict::Pass,
                            "the header decodes to the length and encodes back to itself",
                        ),
                        Err(e) => ctx.error_check(c.name(), &label, None, e),
                    };
                    outcome.checks.push(check);
                }
            }
            other => {
                // Read the case as JSON only: its fields are not used by any client.
                outcome.cases_read += 1;
                for c in clients {
                    let check = match c.cannot_express(other) {
                        Some(reason) => ctx.check(
                            c.name(),
                            &label,
                            suite,
                            Verdict::NotApplicable,
                            format!(
                                "not expressible through {}'s public API: {reason}",
                                c.name()
                            ),
                        ),
                        None => ctx.check(
                            c.name(),
                            &label,
                            suite,
                            Verdict::Unimplemented,
                            format!("{other} cases are not yet run against {}", c.name()),
                        ),
                    };
                    outcome.checks.push(check);
                }
            }
        }
    }
}

/// Join from the Welcome, follow every epoch, compare every epoch_authenticator.
fn passive(ctx: &FileCtx<'_>, c: &dyn MlsClient, label: &str, case: &PassiveClient) -> Check {
    let s = Some(case.cipher_suite);
    let fail = |reason: String| ctx.check(c.name(), label, s, Verdict::Fail, reason);
    if let Err(e) = c.require(case.cipher_suite) {
        return ctx.error_check(c.name(), label, s, e);
    }
    let mut group = match c.join_passive(case) {
        Ok(g) => g,
        Err(ClientError::Failed(e)) => return fail(format!("joining from the Welcome: {e}")),
        Err(e) => return ctx.error_check(c.name(), label, s, e),
    };
    match group.epoch_authenticator() {
        Ok(a) if a == case.initial_epoch_authenticator.0 => {}
        Ok(a) => {
            return fail(differ(
                "epoch_authenticator after joining",
                &case.initial_epoch_authenticator,
                &a,
            ))
        }
        Err(e) => return ctx.error_check(c.name(), label, s, e),
    }
    for (n, epoch) in case.epochs.iter().enumerate() {
        let n = n + 1;
        for (j, p) in epoch.proposals.iter().enumerate() {
            if let Err(e) = group.process(p) {
                return match e {
                    ClientError::Failed(e) => fail(format!("epoch {n}, proposal {j}: {e}")),
                    e => ctx.error_check(c.name(), label, s, e),
                };
            }
        }
        if let Err(e) = group.process(&epoch.commit) {
            return match e {
                ClientError::Failed(e) => fail(format!("epoch {n}, commit: {e}")),
                e => ctx.error_check(c.name(), label, s, e),
            };
        }
        match group.epoch_authenticator() {
            Ok(a) if a == epoch.epoch_authenticator.0 => {}
            Ok(a) => {
                return fail(differ(
                    &format!("epoch_authenticator of epoch {n}"),
                    &epoch.epoch_authenticator,
                    &a,
                ))
            }
            Err(e) => return ctx.error_check(c.name(), label, s, e),
        }
    }
    ctx.check(
        c.name(),
        label,
        s,
        Verdict::Pass,
        format!(
            "joined and followed {} epochs; every epoch_authenticator matches",
            case.epochs.len()
        ),
    )
}

/// Decode and re-encode one structure of a messages case.
fn round_trip(
    ctx: &FileCtx<'_>,
    c: &dyn MlsClient,
    label: &str,
    case: &Messages,
    kind: WireKind,
) -> Check {
    let label = format!("{label}.{}", kind.name());
    let bytes = case.get(kind);
    match c.decode_reencode(kind, bytes) {
        Ok(out) if out == bytes => ctx.check(
            c.name(),
            &label,
            None,
            Verdict::Pass,
            "decodes and re-encodes byte-identically",
        ),
        Ok(out) => ctx.check(
            c.name(),
            &label,
            None,
            Verdict::Fail,
            differ("re-encoded", bytes, &out),
        ),
        Err(e) => ctx.error_check(c.name(), &label, None, e),
    }
}

/// The six labelled operations of a crypto-basics case, one check each.
fn crypto_basics(
    ctx: &FileCtx<'_>,
    c: &dyn MlsClient,
    label: &str,
    case: &CryptoBasics,
) -> Vec<Check> {
    let s = Some(case.cipher_suite);
    let ops = [
        "ref_hash",
        "expand_with_label",
        "derive_secret",
        "derive_tree_secret",
        "sign_with_label",
        "encrypt_with_label",
    ];
    let crypto = match c.crypto(case.cipher_suite) {
        Ok(k) => k,
        Err(e) => {
            return ops
                .iter()
                .map(|op| ctx.error_check(c.name(), &format!("{label}.{op}"), s, e.clone()))
                .collect()
        }
    };
    ops.iter()
        .map(|op| {
            let l = format!("{label}.{op}");
            match crypto_op(crypto.as_ref(), op, case) {
                Ok(()) => ctx.check(c.name(), &l, s, Verdict::Pass, "matches the vector"),
                Err(e) => ctx.error_check(c.name(), &l, s, e),
            }
        })
        .collect()
}

fn same(what: &str, expected: &[u8], got: Vec<u8>) -> Result<(), ClientError> {
    if got == expected {
        Ok(())
    } else {
        Err(ClientError::Failed(differ(what, expected, &got)))
    }
}

fn crypto_op(k: &dyn SuiteCrypto, op: &str, case: &CryptoBasics) -> Result<(), ClientError> {
    match op {
        "ref_hash" => {
            let v = &case.ref_hash;
            same("out", &v.out, k.ref_hash(v.label.as_bytes(), &v.value)?)
        }
        "expand_with_label" => {
            let v = &case.expand_with_label;
            same(
                "out",
                &v.out,
                k.expand_with_label(&v.secret, v.label.as_bytes(), &v.context, v.length)?,
            )
        }
        "derive_secret" => {
            let v = &case.derive_secret;
            same(
                "out",
                &v.out,
                k.derive_secret(&v.secret, v.label.as_bytes())?,
            )
        }
        "derive_tree_secret" => {
            let v = &case.derive_tree_secret;
            same(
                "out",
                &v.out,
                k.derive_tree_secret(&v.secret, v.label.as_bytes(), v.generation, v.length)?,
            )
        }
        "sign_with_label" => {
            // ECDSA is randomised: verify the vector's signature, then a fresh one of ours.
            let v = &case.sign_with_label;
            let label = v.label.as_bytes();
            if !k.verify_with_label(&v.public, label, &v.content, &v.signature)? {
                return Err(ClientError::failed(
                    "the vector's signature does not verify",
                ));
            }
            let ours = k.sign_with_label(&v.private, &v.public, label, &v.content)?;
            if !k.verify_with_label(&v.public, label, &v.content, &ours)? {
                return Err(ClientError::failed(
                    "a signature made with the vector's key does not verify",
                ));
            }
            let mut tampered = v.content.0.clone();
            tampered.push(0);
            if k.verify_with_label(&v.public, label, &tampered, &v.signature)? {
                return Err(ClientError::failed(
                    "the vector's signature verifies over different content",
                ));
            }
            Ok(())
        }
        "encrypt_with_label" => {
            // HPKE is randomised: open the vector's ciphertext, then seal and open our own.
            let v = &case.encrypt_with_label;
            let label = v.label.as_bytes();
            let pt =
                k.decrypt_with_label(&v.private, label, &v.context, &v.kem_output, &v.ciphertext)?;
            same("decrypted plaintext", &v.plaintext, pt)?;
            let (kem, ct) = k.encrypt_with_label(&v.public, label, &v.context, &v.plaintext)?;
            let back = k.decrypt_with_label(&v.private, label, &v.context, &kem, &ct)?;
            same("round-tripped plaintext", &v.plaintext, back)
        }
        _ => Err(ClientError::failed(format!("unknown operation {op}"))),
    }
}
