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
}
