//! DAVE's displayable codes: what two members compare out of band to find a gateway that split
//! or joined their group (protocol.md "Displayable Codes", "Epoch Authenticator"; test vectors
//! from discord/libdave `js/__tests__/DisplayableCode-test.ts`).

/// `data`'s first `len` bytes, `group` bytes at a time, each read big-endian and shown as its
/// value mod 10^group, zero-padded to `group` digits. None when `len` exceeds the data, is not
/// a multiple of `group`, or `group` is not 1..=8 (libdave's bounds).
pub fn displayable(data: &[u8], len: usize, group: usize) -> Option<String> {
    if !(1..=8).contains(&group) || len % group != 0 || data.len() < len {
        return None;
    }
    let modulus = 10u64.pow(group as u32);
    Some(
        data[..len]
            .chunks(group)
            .map(|chunk| {
                let value = chunk.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b));
                format!("{:0width$}", value % modulus, width = group)
            })
            .collect(),
    )
}

/// The voice privacy code of an epoch: 30 digits from its 32-byte epoch authenticator.
pub fn voice_privacy_code(epoch_authenticator: &[u8]) -> Option<String> {
    displayable(epoch_authenticator, 30, 5)
}

/// The pairwise verification fingerprint of two users (daveprotocol.com "Verification
/// Fingerprint"; libdave `GetPairwiseFingerprint`): scrypt over the two key fingerprints
/// `u16 version 0 || signature key || u64 user id (BE)`, sorted, 64 bytes.
pub fn pairwise_fingerprint(ours: (&[u8], u64), theirs: (&[u8], u64)) -> Vec<u8> {
    const SALT: [u8; 16] = [
        0x24, 0xca, 0xb1, 0x7a, 0x7a, 0xf8, 0xec, 0x2b, 0x82, 0xb4, 0x12, 0xb9, 0x2d, 0xab, 0x19,
        0x2e,
    ];
    let key_fingerprint =
        |(key, user): (&[u8], u64)| [&0u16.to_be_bytes()[..], key, &user.to_be_bytes()].concat();
    let mut pair = [key_fingerprint(ours), key_fingerprint(theirs)];
    pair.sort();
    let params = scrypt::Params::new(14, 8, 2, 64).expect("DAVE's scrypt parameters are valid");
    let mut out = vec![0u8; 64];
    scrypt::scrypt(&pair.concat(), &SALT, &params, &mut out).expect("64 bytes is a valid length");
    out
}

/// The 45-digit verification code of a pairwise fingerprint (davey `get_verification_code`).
pub fn verification_code(fingerprint: &[u8]) -> Option<String> {
    displayable(fingerprint, 45, 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn libdave_vectors() {
        assert_eq!(
            displayable(&hex("aabbccddee"), 5, 5).as_deref(),
            Some("05870")
        );
        let data = hex("aabbccddeebbccddeeffccddeeffaaddeeffaabbeeffaabbccffaabbccdd");
        assert_eq!(
            voice_privacy_code(&data).as_deref(),
            Some("058708105556138052119572494877")
        );
    }

    #[test]
    fn impossible_layouts_are_refused() {
        assert_eq!(displayable(&[1, 2, 3], 5, 5), None);
        assert_eq!(displayable(&[0; 10], 10, 3), None);
        assert_eq!(displayable(&[0; 18], 18, 9), None);
    }

    /// libdave's `PairwiseFingerprint-test.ts`: (zeros(33), 1234) with (zeros(65), 5678).
    #[test]
    fn pairwise_fingerprint_matches_libdave() {
        let fp = pairwise_fingerprint((&[0u8; 33], 1234), (&[0u8; 65], 5678));
        assert_eq!(fp.len(), 64);
        assert_eq!(&fp[..8], &[133, 129, 241, 44, 36, 135, 79, 195]);
        assert_eq!(&fp[62..], &[164, 60]);
        // Symmetric: each side computes the same.
        assert_eq!(
            fp,
            pairwise_fingerprint((&[0u8; 65], 5678), (&[0u8; 33], 1234))
        );
        assert_eq!(verification_code(&fp).map(|c| c.len()), Some(45));
    }
}
