//! Shamir secret sharing over GF(2^8), byte by byte, as sops does.
