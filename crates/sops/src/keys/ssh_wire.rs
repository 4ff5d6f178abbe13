//! Reading SSH's wire encoding (RFC 4251 section 5): `uint32` in big-endian order and `string`
//! as a `uint32` length followed by that many bytes. OpenSSH uses it for public key blobs and
//! inside `openssh-key-v1` private key files (PROTOCOL.key).
//!
//! Both are read from key files a user or a repository hands us, so the reader is bounded: a
//! length is checked against what is left before anything is taken, it never reads past the
//! buffer, and it never allocates (strings are borrowed from the input), whatever length a
//! hostile file claims.

/// A cursor over wire-encoded bytes. Every read either takes a whole item or leaves the cursor
/// where it was and returns `None`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WireReader<'a> {
    rest: &'a [u8],
}

impl<'a> WireReader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> WireReader<'a> {
        WireReader { rest: input }
    }

    /// A big-endian `uint32`, or `None` when fewer than four bytes are left.
    pub(crate) fn u32(&mut self) -> Option<u32> {
        let (bytes, rest) = self.rest.split_first_chunk::<4>()?;
        self.rest = rest;
        Some(u32::from_be_bytes(*bytes))
    }

    /// A length-prefixed `string`, borrowed from the input, or `None` when the length claims more
    /// bytes than are left.
    pub(crate) fn string(&mut self) -> Option<&'a [u8]> {
        let (len, after_len) = self.rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
        let (value, rest) = after_len.split_at_checked(len)?;
        self.rest = rest;
        Some(value)
    }

    /// A `string` that must be exactly `N` bytes long (a key or a seed).
    pub(crate) fn fixed_string<const N: usize>(&mut self) -> Option<[u8; N]> {
        let mut probe = *self;
        let value = probe.string()?.try_into().ok()?;
        *self = probe;
        Some(value)
    }

    /// Whether every byte has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

/// `bytes` as a wire `string`, for tests that build blobs.
#[cfg(test)]
pub(crate) fn encode_string(bytes: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::encode_string as string;

    #[test]
    fn reads_integers_and_strings_in_order() {
        let mut input = vec![0, 0, 1, 2];
        input.extend(string(b"ssh-ed25519"));
        input.extend(string(b""));
        input.extend(string(&[7; 32]));
        let mut reader = WireReader::new(&input);
        assert_eq!(reader.u32(), Some(258));
        assert_eq!(reader.string(), Some(&b"ssh-ed25519"[..]));
        assert_eq!(reader.string(), Some(&b""[..]));
        assert!(!reader.is_empty());
        assert_eq!(reader.fixed_string::<32>(), Some([7; 32]));
        assert!(reader.is_empty());
        assert_eq!(reader.u32(), None);
        assert_eq!(reader.string(), None);
    }

    #[test]
    fn truncated_input_reads_nothing_and_keeps_the_cursor() {
        let whole = string(b"abcdef");
        for cut in 0..whole.len() {
            let mut reader = WireReader::new(&whole[..cut]);
            assert_eq!(reader.string(), None, "cut at {cut}");
            // Nothing was consumed: the bytes that are there still read as an integer.
            assert_eq!(reader.u32().is_some(), cut >= 4, "cut at {cut}");
        }
        assert_eq!(WireReader::new(&[0, 0, 1]).u32(), None);
    }

    #[test]
    fn oversized_lengths_are_refused_without_reading_or_allocating() {
        for claimed in [7u32, 0x10_0000, u32::MAX - 1, u32::MAX] {
            let mut input = claimed.to_be_bytes().to_vec();
            input.extend_from_slice(b"abcdef");
            let mut reader = WireReader::new(&input);
            assert_eq!(reader.string(), None, "length {claimed}");
            assert_eq!(reader.u32(), Some(claimed), "the cursor stays at the length");
        }
    }

    #[test]
    fn fixed_strings_must_have_the_exact_length() {
        for len in [31usize, 33] {
            let input = string(&vec![1; len]);
            let mut reader = WireReader::new(&input);
            assert_eq!(reader.fixed_string::<32>(), None, "{len} bytes");
            assert_eq!(reader.string().map(<[u8]>::len), Some(len), "the cursor did not move");
        }
    }
}
