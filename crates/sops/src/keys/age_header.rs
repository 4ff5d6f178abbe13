//! The header of a binary age v1 file, parsed once, in one pass, within fixed bounds.
//!
//! The layout (age-encryption.org/v1) is an intro line, one stanza per recipient
//! (`-> type arg…` followed by a base64 body in 64-column lines that ends with a shorter,
//! possibly empty, line), a footer `--- <base64 MAC>` and the binary payload. Parsing follows
//! Go age's `internal/format` strictly (unpadded canonical base64, arguments of printable
//! ASCII, single spaces), so the bytes the MAC covers are exactly the bytes read.
//!
//! Why our own parser: the age crate's reader re-parses the header from its start after each
//! line it reads, and the header was parsed again for every identity, so a header of a few
//! thousand stanzas took seconds to minutes. This parser reads each byte once, and the header
//! is parsed once per file whatever the number of identities.
//!
//! Limits: neither sops nor age bound the number of stanzas. sops writes one age file per
//! recipient, holding one stanza (Go age) or two (the age crate adds a random "grease"
//! stanza), so [`MAX_STANZAS`] leaves room for age files written to hundreds of recipients by
//! other tools while bounding the key agreements an identity may be asked to perform per file.
//! The largest standard stanza body is an ssh-rsa one (512 bytes for a 4096-bit key, 11 lines);
//! post-quantum and plugin stanzas carry kilobytes in their arguments, which
//! [`MAX_STANZA_LINE`] allows.

use age::secrecy::ExposeSecret;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;

/// The first line of every age v1 file.
const INTRO: &[u8] = b"age-encryption.org/v1\n";
const STANZA_PREFIX: &str = "->";
const FOOTER_PREFIX: &[u8] = b"---";
/// Bytes of body per full 64-column line.
const BYTES_PER_LINE: usize = 48;
const MAC_LEN: usize = 32;

/// At most this many stanzas in one header.
pub const MAX_STANZAS: usize = 1024;
/// At most this many body lines in one stanza (12 KiB of body).
pub const MAX_BODY_LINES: usize = 256;
/// At most this many bytes in a stanza's `->` line (an ML-KEM-768 hybrid stanza's is about 1.5
/// KiB).
pub const MAX_STANZA_LINE: usize = 8 * 1024;

/// Why a binary age file's header is not acceptable. Never holds any of the file's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The file does not start with age's version line.
    #[error("not an age v1 file (the first line is not `age-encryption.org/v1`)")]
    NotAgeV1,
    /// The input ends inside the header.
    #[error("the age header ends early, before its `---` line")]
    Truncated,
    #[error("stanza {stanza} of the age header is malformed (expected `-> type arguments`)")]
    /// A stanza's first line is not `-> type arguments…`.
    MalformedStanza {
        /// Which stanza, counting from 0.
        stanza: usize,
    },
    #[error("line {line} of the body of stanza {stanza} of the age header is malformed (expected unpadded base64 of at most 64 columns)")]
    /// A body line of a stanza is not unpadded base64 of at most 64 columns.
    MalformedBody {
        /// Which stanza, counting from 0.
        stanza: usize,
        /// Which line of the stanza's body, counting from 0.
        line: usize,
    },
    /// The footer is not `--- ` followed by a 32-byte MAC in base64.
    #[error("the `---` line of the age header is malformed (expected `--- ` and a 32-byte MAC in base64)")]
    MalformedFooter,
    #[error("the age header has more than {limit} stanzas; no sops file needs that many (sops writes one or two per recipient)")]
    /// More stanzas than [`MAX_STANZAS`]: refused before any is tried, so a file with
    /// thousands of recipients cannot make decryption slow.
    TooManyStanzas {
        /// The limit that was passed.
        limit: usize,
    },
    #[error("the first line of stanza {stanza} of the age header is longer than {limit} bytes")]
    /// A stanza's first line is longer than [`MAX_STANZA_LINE`].
    StanzaLineTooLong {
        /// Which stanza, counting from 0.
        stanza: usize,
        /// The limit that was passed.
        limit: usize,
    },
    #[error("the body of stanza {stanza} of the age header has more than {limit} lines")]
    /// A stanza's body has more lines than a sane stanza needs.
    BodyTooLong {
        /// Which stanza, counting from 0.
        stanza: usize,
        /// The limit that was passed.
        limit: usize,
    },
}

/// A parsed binary age file: the recipient stanzas, the MAC and where the payload starts.
#[derive(Debug)]
pub struct AgeFile<'a> {
    /// The stanzas in file order, in the form age identities unwrap.
    pub stanzas: Vec<age_core::format::Stanza>,
    /// The header bytes the MAC covers: from the intro through the footer's `---`.
    mac_input: &'a [u8],
    mac: [u8; MAC_LEN],
    /// Everything after the footer line: the nonce and the STREAM chunks.
    pub payload: &'a [u8],
}

impl<'a> AgeFile<'a> {
    /// Parses the header of a binary age file.
    pub fn parse(binary: &'a [u8]) -> Result<AgeFile<'a>, HeaderError> {
        let rest = binary.strip_prefix(INTRO).ok_or(HeaderError::NotAgeV1)?;
        let mut cursor = Cursor { data: binary, pos: binary.len() - rest.len() };
        let mut stanzas = Vec::new();
        loop {
            if cursor.remaining().starts_with(FOOTER_PREFIX) {
                let footer_start = cursor.pos;
                let line = cursor.line(usize::MAX).ok_or(HeaderError::Truncated)?;
                let mac = parse_footer(line).ok_or(HeaderError::MalformedFooter)?;
                return Ok(AgeFile { stanzas, mac_input: &binary[..footer_start + FOOTER_PREFIX.len()], mac, payload: cursor.remaining() });
            }
            if stanzas.len() == MAX_STANZAS {
                return Err(HeaderError::TooManyStanzas { limit: MAX_STANZAS });
            }
            stanzas.push(parse_stanza(&mut cursor, stanzas.len() + 1)?);
        }
    }

    /// The header bytes the MAC covers: the intro line through the footer's `---`. Because
    /// parsing is strict, they are exactly what age writes for [`AgeFile::stanzas`].
    pub fn header_bytes(&self) -> &'a [u8] {
        self.mac_input
    }

    /// Whether `mac` (HMAC-SHA256 under the key derived from the file key) authenticates the
    /// header, compared in constant time.
    pub fn mac_matches(&self, file_key: &age_core::format::FileKey) -> bool {
        use hmac::{Hmac, Mac};
        let key = age_core::primitives::hkdf(&[], b"header", file_key.expose_secret());
        let Ok(mut hmac) = Hmac::<sha2::Sha256>::new_from_slice(&key) else {
            return false;
        };
        hmac.update(self.mac_input);
        hmac.verify_slice(&self.mac).is_ok()
    }
}

/// A read position in the binary file.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }

    /// The next line without its `\n`; `None` if there is no `\n` within `limit` bytes (or
    /// at all). Scans each byte at most once.
    fn line(&mut self, limit: usize) -> Option<&'a [u8]> {
        let rest = self.remaining();
        let window = &rest[..rest.len().min(limit.saturating_add(1))];
        let end = memchr::memchr(b'\n', window)?;
        self.pos += end + 1;
        Some(&rest[..end])
    }
}

fn parse_stanza(cursor: &mut Cursor<'_>, number: usize) -> Result<age_core::format::Stanza, HeaderError> {
    let before = cursor.remaining().len();
    let Some(line) = cursor.line(MAX_STANZA_LINE) else {
        return Err(if before > MAX_STANZA_LINE {
            HeaderError::StanzaLineTooLong { stanza: number, limit: MAX_STANZA_LINE }
        } else {
            HeaderError::Truncated
        });
    };
    let malformed = HeaderError::MalformedStanza { stanza: number };
    let line = std::str::from_utf8(line).map_err(|_| malformed.clone())?;
    let mut parts = line.split(' ');
    if parts.next() != Some(STANZA_PREFIX) {
        return Err(malformed);
    }
    // The words are checked, then taken: no list of them is built in between.
    let words = parts.clone();
    if words.clone().next().is_none() || !words.clone().all(is_valid_argument) {
        return Err(malformed);
    }
    let mut words = words.map(ToString::to_string);
    let tag = words.next().unwrap_or_default();
    let args = words.collect();

    // An X25519 stanza's body is 32 bytes, one short line.
    let mut body = Vec::with_capacity(BYTES_PER_LINE);
    for line_number in 1..=MAX_BODY_LINES {
        let line = cursor.line(usize::MAX).ok_or(HeaderError::Truncated)?;
        let decoded = decode_body_line(line, &mut body).ok_or(HeaderError::MalformedBody { stanza: number, line: line_number })?;
        if decoded < BYTES_PER_LINE {
            return Ok(age_core::format::Stanza { tag, args, body });
        }
    }
    Err(HeaderError::BodyTooLong { stanza: number, limit: MAX_BODY_LINES })
}

/// One body line: canonical unpadded base64 of at most 48 bytes (64 columns), decoded onto the
/// end of `body`; how many bytes it added.
fn decode_body_line(line: &[u8], body: &mut Vec<u8>) -> Option<usize> {
    if line.len() > 64 {
        return None;
    }
    // The base64 engine refuses CR, LF, padding and non-zero trailing bits, as Go's strict
    // decoder with age's extra newline check does.
    let before = body.len();
    STANDARD_NO_PAD.decode_vec(line, body).ok()?;
    Some(body.len() - before)
}

/// A stanza argument: a non-empty string of printable ASCII without spaces.
fn is_valid_argument(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| (33..=126).contains(&b))
}

/// `--- <mac>`: exactly one argument, the 32-byte MAC.
fn parse_footer(line: &[u8]) -> Option<[u8; MAC_LEN]> {
    let encoded = line.strip_prefix(b"--- ")?;
    if encoded.contains(&b' ') {
        return None;
    }
    let mac = STANDARD_NO_PAD.decode(encoded).ok()?;
    mac.try_into().ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A header with the given stanza lines (each `-> …` line followed by one short body line)
    /// and an all-zero MAC.
    pub(crate) fn crafted(stanzas: usize) -> Vec<u8> {
        let mut out = INTRO.to_vec();
        for i in 0..stanzas {
            out.extend_from_slice(format!("-> X25519 {}\n", STANDARD_NO_PAD.encode([i.to_le_bytes()[0]; 32])).as_bytes());
            out.extend_from_slice(STANDARD_NO_PAD.encode([7u8; 32]).as_bytes());
            out.push(b'\n');
        }
        out.extend_from_slice(format!("--- {}\n", STANDARD_NO_PAD.encode([0u8; 32])).as_bytes());
        out.extend_from_slice(&[1u8; 16 + 48]);
        out
    }

    fn header(body: &str) -> Vec<u8> {
        format!("age-encryption.org/v1\n{body}--- {}\npayload", STANDARD_NO_PAD.encode([9u8; 32])).into_bytes()
    }

    #[test]
    fn parses_stanzas_mac_and_payload() {
        let full_line = STANDARD_NO_PAD.encode([3u8; 48]);
        let text = header(&format!("-> X25519 abc\n{}\n-> grease a$ b\n{full_line}\n\n-> t\n\n", STANDARD_NO_PAD.encode([1u8; 32])));
        let file = AgeFile::parse(&text).unwrap();
        assert_eq!(file.stanzas.len(), 3);
        assert_eq!(file.stanzas[0].tag, "X25519");
        assert_eq!(file.stanzas[0].args, ["abc"]);
        assert_eq!(file.stanzas[0].body, [1u8; 32]);
        assert_eq!(file.stanzas[1].args, ["a$", "b"]);
        assert_eq!(file.stanzas[1].body, [3u8; 48]);
        assert!(file.stanzas[2].args.is_empty() && file.stanzas[2].body.is_empty());
        assert_eq!(file.mac, [9u8; 32]);
        assert_eq!(file.payload, b"payload");
        assert!(file.mac_input.ends_with(b"\n---"));
        assert_eq!(AgeFile::parse(&header("")).unwrap().stanzas.len(), 0);
    }

    #[test]
    fn refuses_what_go_age_refuses() {
        let body = STANDARD_NO_PAD.encode([1u8; 32]);
        let cases: Vec<(Vec<u8>, HeaderError)> = vec![
            (b"age-encryption.org/v2\n".to_vec(), HeaderError::NotAgeV1),
            (b"".to_vec(), HeaderError::NotAgeV1),
            (b"age-encryption.org/v1\n-> X25519 a\n".to_vec(), HeaderError::Truncated),
            (b"age-encryption.org/v1\n-> X25519 a".to_vec(), HeaderError::Truncated),
            (b"age-encryption.org/v1\n".to_vec(), HeaderError::Truncated),
            (header(&format!("->  X25519\n{body}\n")), HeaderError::MalformedStanza { stanza: 1 }),
            (header(&format!("-> X25519 \n{body}\n")), HeaderError::MalformedStanza { stanza: 1 }),
            (header(&format!("->\n{body}\n")), HeaderError::MalformedStanza { stanza: 1 }),
            (header(&format!("-> \u{e9}\n{body}\n")), HeaderError::MalformedStanza { stanza: 1 }),
            (header(&format!("-> a\n\n=> b\n{body}\n")), HeaderError::MalformedStanza { stanza: 2 }),
            (header(&format!("-> a\n{body}=\n")), HeaderError::MalformedBody { stanza: 1, line: 1 }),
            (header(&format!("-> a\n{body}\r\n")), HeaderError::MalformedBody { stanza: 1, line: 1 }),
            (header("-> a\nAB\n"), HeaderError::MalformedBody { stanza: 1, line: 1 }),
            (header(&format!("-> a\n{}A\n", STANDARD_NO_PAD.encode([3u8; 48]))), HeaderError::MalformedBody { stanza: 1, line: 1 }),
            // A body made only of full lines runs into the footer.
            (header(&format!("-> a\n{}\n", STANDARD_NO_PAD.encode([3u8; 48]))), HeaderError::MalformedBody { stanza: 1, line: 2 }),
            (b"age-encryption.org/v1\n--- AAAA\n".to_vec(), HeaderError::MalformedFooter),
            (b"age-encryption.org/v1\n---\n".to_vec(), HeaderError::MalformedFooter),
            (format!("age-encryption.org/v1\n---  {}\n", STANDARD_NO_PAD.encode([0u8; 32])).into_bytes(), HeaderError::MalformedFooter),
            (format!("age-encryption.org/v1\n--- {} x\n", STANDARD_NO_PAD.encode([0u8; 32])).into_bytes(), HeaderError::MalformedFooter),
            (format!("age-encryption.org/v1\n--- {}", STANDARD_NO_PAD.encode([0u8; 32])).into_bytes(), HeaderError::Truncated),
        ];
        for (input, expected) in cases {
            assert_eq!(AgeFile::parse(&input).unwrap_err(), expected, "{:?}", String::from_utf8_lossy(&input));
        }
    }

    #[test]
    fn limits_are_enforced_at_their_edge() {
        assert_eq!(AgeFile::parse(&crafted(MAX_STANZAS)).unwrap().stanzas.len(), MAX_STANZAS);
        assert_eq!(AgeFile::parse(&crafted(MAX_STANZAS + 1)).unwrap_err(), HeaderError::TooManyStanzas { limit: MAX_STANZAS });

        let full = STANDARD_NO_PAD.encode([3u8; 48]);
        // `lines` full lines, then the empty short line that ends the body.
        let body = |lines: usize| format!("-> a\n{}\n\n", vec![full.as_str(); lines].join("\n"));
        assert_eq!(AgeFile::parse(&header(&body(MAX_BODY_LINES - 1))).unwrap().stanzas[0].body.len(), 48 * (MAX_BODY_LINES - 1));
        assert_eq!(
            AgeFile::parse(&header(&body(MAX_BODY_LINES))).unwrap_err(),
            HeaderError::BodyTooLong { stanza: 1, limit: MAX_BODY_LINES }
        );

        let arg = |len: usize| header(&format!("-> {}\n\n", "a".repeat(len)));
        assert!(AgeFile::parse(&arg(MAX_STANZA_LINE - 3)).is_ok());
        assert_eq!(
            AgeFile::parse(&arg(MAX_STANZA_LINE - 2)).unwrap_err(),
            HeaderError::StanzaLineTooLong { stanza: 1, limit: MAX_STANZA_LINE }
        );
    }

    #[test]
    fn a_header_with_far_too_many_stanzas_is_refused_after_reading_the_limit() {
        // 10,000 stanzas: refused at stanza 1,025 without reading the rest.
        let input = crafted(10_000);
        assert_eq!(AgeFile::parse(&input).unwrap_err(), HeaderError::TooManyStanzas { limit: MAX_STANZAS });
    }

    #[test]
    fn reads_files_written_by_sops_and_by_the_age_crate() {
        let path = format!("{}/enc/basic.json", crate::test_support::VECTORS);
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let binary = super::super::armor::dearmor(json["sops"]["age"][0]["enc"].as_str().unwrap()).unwrap();
        let file = AgeFile::parse(&binary).unwrap();
        assert_eq!(file.stanzas.len(), 1);
        assert_eq!(file.stanzas[0].tag, "X25519");
        assert_eq!(file.payload.len(), 16 + 32 + 16);

        let enc = super::super::age_wrap::wrap("age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg", &[0u8; 32]).unwrap();
        let binary = super::super::armor::dearmor(&enc).unwrap();
        let file = AgeFile::parse(&binary).unwrap();
        // The crate adds a grease stanza of a random type.
        assert_eq!(file.stanzas.len(), 2, "{:?}", file.stanzas.iter().map(|s| &s.tag).collect::<Vec<_>>());
    }
}
