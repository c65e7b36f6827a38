//! The `sframe` crate (2.1, rust-crypto backend: RFC 9605 suites 1–5, no system library).

use super::{ClientError, SframeClient, SframeFrame};
use sframe::frame::{EncryptedFrame, MediaFrame, SingleUseCounter};
use sframe::header::SframeHeader;
use sframe::key::{DecryptionKey, EncryptionKey};
use sframe::CipherSuite;

const NAME: &str = "sframe";

#[derive(Debug, Default)]
pub struct Sframe;

impl Sframe {
    pub fn new() -> Sframe {
        Sframe
    }
}

/// RFC 9605 §4.5 numbers to the crate's suites (it has no `TryFrom<u16>`).
fn suite(n: u16) -> Result<CipherSuite, ClientError> {
    Ok(match n {
        1 => CipherSuite::AesCtr128HmacSha256_80,
        2 => CipherSuite::AesCtr128HmacSha256_64,
        3 => CipherSuite::AesCtr128HmacSha256_32,
        4 => CipherSuite::AesGcm128Sha256,
        5 => CipherSuite::AesGcm256Sha512,
        suite => {
            return Err(ClientError::Suite {
                client: NAME,
                suite,
            })
        }
    })
}

fn failed(what: &str, e: impl std::fmt::Display) -> ClientError {
    ClientError::Failed(format!("{what}: {e}"))
}

impl SframeClient for Sframe {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> &'static str {
        "2.1.0"
    }

    fn cipher_suites(&self) -> Vec<u16> {
        vec![1, 2, 3, 4, 5]
    }

    fn encode_header(&self, kid: u64, ctr: u64) -> Result<Vec<u8>, ClientError> {
        Ok(Vec::from(&SframeHeader::new(kid, ctr)))
    }

    fn decode_header(&self, bytes: &[u8]) -> Result<(u64, u64, usize), ClientError> {
        let h = SframeHeader::deserialize(bytes).map_err(|e| failed("header", e))?;
        Ok((h.key_id(), h.counter(), h.len()))
    }

    fn aes_ctr_hmac_seal(
        &self,
        suite_number: u16,
        _key: &[u8],
        _nonce: &[u8],
        _aad: &[u8],
        _pt: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        suite(suite_number)?;
        Err(ClientError::Unsupported {
            client: NAME,
            reason: "no AEAD with a caller's key and nonce (sframe::crypto::Secret::aes_ctr is \
                     pub(crate)); the same AES-CTR-HMAC runs under derived keys in the sframe \
                     vectors of suites 1-3"
                .into(),
        })
    }

    fn protect(&self, f: &SframeFrame<'_>, pt: &[u8]) -> Result<Vec<u8>, ClientError> {
        let key = EncryptionKey::derive_from(suite(f.cipher_suite)?, f.kid, f.base_key)
            .map_err(|e| failed("key derivation", e))?;
        // A counter that hands out exactly the vector's value.
        let mut counter = SingleUseCounter::new(f.ctr);
        let frame = MediaFrame::try_with_meta_data(&mut counter, pt, f.metadata)
            .map_err(|e| failed("media frame", e))?;
        let encrypted = frame.encrypt(&key).map_err(|e| failed("encrypt", e))?;
        Ok(encrypted.sframe_cipher_text().to_vec())
    }

    fn unprotect(&self, f: &SframeFrame<'_>, ct: &[u8]) -> Result<Vec<u8>, ClientError> {
        let key = DecryptionKey::derive_from(suite(f.cipher_suite)?, f.kid, f.base_key)
            .map_err(|e| failed("key derivation", e))?;
        let frame = EncryptedFrame::try_with_meta_data(ct, f.metadata)
            .map_err(|e| failed("encrypted frame", e))?;
        let media = frame.decrypt(&key).map_err(|e| failed("decrypt", e))?;
        if media.counter() != f.ctr {
            return Err(ClientError::Failed(format!(
                "decrypted counter {} where the header said {}",
                media.counter(),
                f.ctr
            )));
        }
        Ok(media.payload().to_vec())
    }
}
