//! Shamir secret sharing over GF(2^8) (AES's field, polynomial 0x11B), byte by byte, as sops
//! splits a data key between key groups. A share is the polynomial values at `x` followed by
//! the byte `x`; readers take `x` from the share, never from its position.

use rand::RngCore;
use zeroize::Zeroizing;

/// Why shares could not be made or combined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShamirError {
    #[error("the threshold must be between 2 and the number of shares (at most 255)")]
    Threshold,
    #[error("at least two shares are needed")]
    TooFewShares,
    #[error("the shares have different lengths")]
    Lengths,
    #[error("two shares have the same x coordinate")]
    DuplicateX,
    #[error("a share has x = 0")]
    ZeroX,
}

fn mul(mut a: u8, mut b: u8) -> u8 {
    let mut product = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            product ^= a;
        }
        let carry = a & 0x80;
        a <<= 1;
        if carry != 0 {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    product
}

fn inverse(a: u8) -> u8 {
    // a^254 = a^-1 in GF(2^8).
    let mut result = 1u8;
    let mut base = a;
    let mut exp = 254u8;
    while exp > 0 {
        if exp & 1 != 0 {
            result = mul(result, base);
        }
        base = mul(base, base);
        exp >>= 1;
    }
    result
}

/// Splits `secret` into `parts` shares, any `threshold` of which recombine it. Share `i` is
/// evaluated at `x = i + 1`, as sops ≥ 3.10 does.
pub fn split(secret: &[u8], parts: usize, threshold: usize) -> Result<Vec<Zeroizing<Vec<u8>>>, ShamirError> {
    if threshold < 2 || threshold > parts || parts > 255 {
        return Err(ShamirError::Threshold);
    }
    let mut shares: Vec<Zeroizing<Vec<u8>>> = (0..parts).map(|_| Zeroizing::new(Vec::with_capacity(secret.len() + 1))).collect();
    let mut coefficients = Zeroizing::new(vec![0u8; threshold]);
    for &byte in secret {
        coefficients[0] = byte;
        rand::rngs::OsRng.fill_bytes(&mut coefficients[1..]);
        for (i, share) in shares.iter_mut().enumerate() {
            let x = (i + 1) as u8;
            // Horner's rule from the highest coefficient down.
            let y = coefficients.iter().rev().fold(0u8, |acc, &c| mul(acc, x) ^ c);
            share.push(y);
        }
    }
    for (i, share) in shares.iter_mut().enumerate() {
        share.push((i + 1) as u8);
    }
    Ok(shares)
}

/// Recombines shares with Lagrange interpolation at 0.
pub fn combine(shares: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>, ShamirError> {
    if shares.len() < 2 {
        return Err(ShamirError::TooFewShares);
    }
    let len = shares[0].len();
    if len < 2 || shares.iter().any(|s| s.len() != len) {
        return Err(ShamirError::Lengths);
    }
    let xs: Vec<u8> = shares.iter().map(|s| s[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if *x == 0 {
            return Err(ShamirError::ZeroX);
        }
        if xs[..i].contains(x) {
            return Err(ShamirError::DuplicateX);
        }
    }
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    for (i, share) in shares.iter().enumerate() {
        // The Lagrange basis polynomial of share i, evaluated at 0.
        let mut basis = 1u8;
        for (j, &xj) in xs.iter().enumerate() {
            if i != j {
                basis = mul(basis, mul(xj, inverse(xj ^ xs[i])));
            }
        }
        for (out, &y) in secret.iter_mut().zip(&share[..len - 1]) {
            *out ^= mul(y, basis);
        }
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn field_arithmetic() {
        assert_eq!(mul(0x57, 0x83), 0xc1);
        for a in 1..=255u8 {
            assert_eq!(mul(a, inverse(a)), 1);
        }
    }

    #[test]
    fn the_vectors_shares_combine_to_their_data_key() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sops-vectors/manifest.json")).unwrap();
        let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut checked = 0;
        for entry in manifest["vectors"].as_array().unwrap() {
            let Some(shares) = entry["shamir_shares_hex"].as_array() else { continue };
            let shares: Vec<Vec<u8>> = shares.iter().map(|s| hex::decode(s.as_str().unwrap()).unwrap()).collect();
            let key = hex::decode(entry["data_key_hex"].as_str().unwrap()).unwrap();
            for (a, b) in [(0, 1), (1, 2), (0, 2), (2, 0)] {
                assert_eq!(combine(&[&shares[a], &shares[b]]).unwrap().to_vec(), key);
            }
            checked += 1;
        }
        assert_eq!(checked, 4);
    }

    #[test]
    fn bad_share_sets_are_refused() {
        assert_eq!(combine(&[&[1, 1]]), Err(ShamirError::TooFewShares));
        assert_eq!(combine(&[&[1, 1], &[2, 1]]), Err(ShamirError::DuplicateX));
        assert_eq!(combine(&[&[1, 1], &[2, 2, 3]]), Err(ShamirError::Lengths));
        assert!(split(b"k", 3, 1).is_err());
        assert!(split(b"k", 2, 3).is_err());
    }

    proptest! {
        #[test]
        fn any_threshold_subset_recombines(secret in proptest::collection::vec(any::<u8>(), 1..40), parts in 2usize..6, pick in any::<u64>()) {
            let threshold = 2 + (pick as usize % (parts - 1));
            let shares = split(&secret, parts, threshold).unwrap();
            let start = (pick as usize / 7) % parts;
            let chosen: Vec<&[u8]> = (0..threshold).map(|i| shares[(start + i) % parts].as_slice()).collect();
            prop_assert_eq!(combine(&chosen).unwrap().to_vec(), secret);
        }
    }
}
