//! The randomness of data keys, IVs and Shamir coefficients: one generator per thread, seeded
//! once from the operating system, instead of a `getrandom` call for each 12 or 32 bytes (a
//! bulk re-key draws a few per file, thousands per command).
//!
//! The generator is `rand`'s `ThreadRng`: ChaCha12 keyed from `getrandom`, re-keyed from it
//! every 64 KiB of output and after a `fork`, the same construction as the kernel's own
//! generator behind `getrandom`. sops draws its keys and IVs from Go's `crypto/rand`; the
//! strength is the same, the system calls fewer.

use rand::RngCore;

/// Fills `bytes` with cryptographically secure random bytes.
pub(crate) fn fill(bytes: &mut [u8]) {
    rand::thread_rng().fill_bytes(bytes);
}
