//! Shamir secret sharing over GF(2^8), byte by byte, as sops does.
//!
//! The field is AES's (x^8 + x^4 + x^3 + x + 1). A share is the polynomial values for every
//! secret byte followed by one byte holding the x coordinate. sops ≥ 3.10 uses x = i + 1 for
//! share i, but older versions chose random x values, so combining always reads x from the share.

use zeroize::Zeroizing;

use crate::error::{Error, Result, ShamirProblem};

/// Splits `secret` into `parts` shares, any `threshold` of which recombine it.
/// Share `i` is evaluated at x = i + 1.
pub fn split(secret: &[u8], parts: usize, threshold: usize) -> Result<Vec<Zeroizing<Vec<u8>>>> {
    if parts < threshold {
        return Err(Error::Shamir(ShamirProblem::FewerSharesThanThreshold));
    }
    if parts > 255 {
        return Err(Error::Shamir(ShamirProblem::TooManyShares));
    }
    if threshold < 2 {
        return Err(Error::Shamir(ShamirProblem::ThresholdTooLow));
    }
    if secret.is_empty() {
        return Err(Error::Shamir(ShamirProblem::EmptySecret));
    }

    let mut shares: Vec<Zeroizing<Vec<u8>>> = (1..=parts)
        .map(|x| {
            let mut share = Zeroizing::new(Vec::with_capacity(secret.len() + 1));
            share.resize(secret.len(), 0);
            // `parts <= 255`, so every x fits in a byte and none is 0.
            share.push(u8::try_from(x).unwrap_or(u8::MAX));
            share
        })
        .collect();

    let mut coefficients = Zeroizing::new(vec![0u8; threshold]);
    for (index, &byte) in secret.iter().enumerate() {
        coefficients[0] = byte;
        crate::rng::fill(&mut coefficients[1..]);
        for share in &mut shares {
            let x = share[secret.len()];
            share[index] = evaluate(&coefficients, x);
        }
    }
    Ok(shares)
}

/// Recombines a secret from shares made by [`split`] (or by any sops version).
pub fn combine(shares: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>> {
    if shares.len() < 2 {
        return Err(Error::Shamir(ShamirProblem::TooFewShares));
    }
    let first_len = shares[0].len();
    if first_len < 2 {
        return Err(Error::Shamir(ShamirProblem::ShareTooShort));
    }
    if shares.iter().any(|share| share.len() != first_len) {
        return Err(Error::Shamir(ShamirProblem::UnevenShares));
    }
    let secret_len = first_len - 1;
    let xs: Vec<u8> = shares.iter().map(|share| share[secret_len]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) {
            return Err(Error::Shamir(ShamirProblem::DuplicateShare));
        }
    }

    // The Lagrange basis at 0 depends only on the x values, so compute it once.
    let basis: Vec<u8> = (0..xs.len())
        .map(|i| {
            let mut weight = 1u8;
            for (j, &xj) in xs.iter().enumerate() {
                if i != j {
                    // (0 - xj) / (xi - xj); subtraction is xor in this field.
                    weight = mul(weight, div(xj, xs[i] ^ xj));
                }
            }
            weight
        })
        .collect();

    let mut secret = Zeroizing::new(vec![0u8; secret_len]);
    for (index, out) in secret.iter_mut().enumerate() {
        *out = shares.iter().zip(&basis).fold(0u8, |acc, (share, &weight)| acc ^ mul(share[index], weight));
    }
    Ok(secret)
}

/// Horner's rule; `coefficients[0]` is the constant term.
fn evaluate(coefficients: &[u8], x: u8) -> u8 {
    coefficients.iter().rev().fold(0u8, |acc, &c| mul(acc, x) ^ c)
}

/// Multiplication in GF(2^8) modulo 0x11B, without data-dependent branches.
fn mul(a: u8, b: u8) -> u8 {
    let mut a = a;
    let mut b = b;
    let mut product = 0u8;
    for _ in 0..8 {
        product ^= a & (b & 1).wrapping_neg();
        let carry = (a >> 7).wrapping_neg();
        a = (a << 1) ^ (carry & 0x1B);
        b >>= 1;
    }
    product
}

/// a^254 = a^-1 for a ≠ 0 (the multiplicative group has order 255).
fn inverse(a: u8) -> u8 {
    let mut result = 1u8;
    let mut base = a;
    let mut exponent = 254u8;
    while exponent > 0 {
        if exponent & 1 == 1 {
            result = mul(result, base);
        }
        base = mul(base, base);
        exponent >>= 1;
    }
    result
}

fn div(a: u8, b: u8) -> u8 {
    mul(a, inverse(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MANIFEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sops-vectors/manifest.json");

    fn shamir_vector() -> (Vec<Vec<u8>>, Vec<u8>) {
        let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(MANIFEST).unwrap()).unwrap();
        let entry = manifest["vectors"].as_array().unwrap().iter().find(|v| v["file"] == "enc/shamir-2of3.json").unwrap();
        let shares = entry["shamir_shares_hex"].as_array().unwrap().iter().map(|s| hex::decode(s.as_str().unwrap()).unwrap()).collect();
        let key = hex::decode(entry["data_key_hex"].as_str().unwrap()).unwrap();
        (shares, key)
    }

    #[test]
    fn field_arithmetic_matches_aes() {
        // FIPS-197 section 4.2: {57} • {83} = {c1}, {57} • {13} = {fe}.
        assert_eq!(mul(0x57, 0x83), 0xC1);
        assert_eq!(mul(0x57, 0x13), 0xFE);
        for a in 1..=255u8 {
            assert_eq!(mul(a, inverse(a)), 1, "inverse of {a:#x}");
        }
    }

    #[test]
    fn any_two_sops_shares_give_the_data_key() {
        let (shares, key) = shamir_vector();
        assert_eq!(shares.len(), 3);
        for (i, j) in [(0, 1), (0, 2), (1, 2), (2, 0), (1, 0)] {
            let combined = combine(&[&shares[i], &shares[j]]).unwrap();
            assert_eq!(&combined[..], &key[..], "shares {i} and {j}");
        }
        let all = combine(&[&shares[0], &shares[1], &shares[2]]).unwrap();
        assert_eq!(&all[..], &key[..]);
    }

    #[test]
    fn x_is_read_from_the_share_not_its_position() {
        let (shares, key) = shamir_vector();
        // Reordered shares still carry their own x.
        let combined = combine(&[&shares[2], &shares[0]]).unwrap();
        assert_eq!(&combined[..], &key[..]);
        // Relabelling a share's x breaks the result.
        let mut relabelled = shares[2].clone();
        *relabelled.last_mut().unwrap() = 9;
        let wrong = combine(&[&shares[0], &relabelled]).unwrap();
        assert_ne!(&wrong[..], &key[..]);
    }

    #[test]
    fn bad_share_sets_are_rejected() {
        let (shares, _) = shamir_vector();
        assert!(matches!(combine(&[&shares[0]]), Err(Error::Shamir(_))));
        assert!(matches!(combine(&[]), Err(Error::Shamir(_))));
        assert!(matches!(combine(&[&shares[1], &shares[1]]), Err(Error::Shamir(_))));
        assert!(matches!(combine(&[&shares[0], &shares[1][..20]]), Err(Error::Shamir(_))));
        assert!(matches!(combine(&[&[1u8][..], &[2u8][..]]), Err(Error::Shamir(_))));
    }

    #[test]
    fn split_validates_its_parameters() {
        let secret = [7u8; 32];
        assert!(split(&secret, 3, 1).is_err());
        assert!(split(&secret, 2, 3).is_err());
        assert!(split(&secret, 256, 2).is_err());
        assert!(split(&[], 3, 2).is_err());
        assert_eq!(split(&secret, 255, 255).unwrap().len(), 255);
    }

    #[test]
    fn split_layout_is_values_then_x() {
        let shares = split(&[1, 2, 3], 4, 2).unwrap();
        for (i, share) in shares.iter().enumerate() {
            assert_eq!(share.len(), 4);
            assert_eq!(share[3] as usize, i + 1);
        }
    }

    proptest! {
        #[test]
        fn split_then_combine(
            secret in proptest::collection::vec(any::<u8>(), 1..48),
            parts in 2usize..8,
            threshold_seed in 0usize..100,
            pick_seed in any::<u64>(),
        ) {
            let threshold = 2 + threshold_seed % (parts - 1);
            let shares = split(&secret, parts, threshold).unwrap();
            prop_assert_eq!(shares.len(), parts);

            // Pick `threshold` distinct shares in a seed-dependent order.
            let mut order: Vec<usize> = (0..parts).collect();
            let mut seed = pick_seed;
            for i in (1..order.len()).rev() {
                let j = usize::try_from(seed % (u64::try_from(i).unwrap() + 1)).unwrap();
                order.swap(i, j);
                seed = seed.rotate_left(7) ^ 0x9E37_79B9_7F4A_7C15;
            }
            let chosen: Vec<&[u8]> = order[..threshold].iter().map(|&i| &shares[i][..]).collect();
            let combined = combine(&chosen).unwrap();
            prop_assert_eq!(&combined[..], &secret[..]);

            // One share fewer than the threshold gives no usable secret (or an error).
            if threshold > 2 {
                let fewer: Vec<&[u8]> = chosen[..threshold - 1].to_vec();
                let partial = combine(&fewer).unwrap();
                // With overwhelming probability for secrets this size the result differs.
                if secret.len() >= 16 {
                    prop_assert_ne!(&partial[..], &secret[..]);
                }
            }
        }
    }
}
