//! AES-256-GCM value encryption: the `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` syntax, the
//! cipher with sops' 32-byte nonces, and the canonical plaintext bytes of each value type.

use std::fmt;

use aes::Aes256Enc;
#[allow(clippy::wildcard_imports, reason = "the type-level numbers U1 to U32 of `nonce_len_type`")]
use aes_gcm::aead::consts::*;
use aes_gcm::aead::generic_array::{ArrayLength, GenericArray};
use aes_gcm::aead::AeadInPlace;
use aes_gcm::AesGcm;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use zeroize::Zeroizing;

use crate::keys::DataKey;
use crate::tree::Value;

/// Base64 as Go's `base64.StdEncoding` decodes it for sops: padding required, and the unused
/// bits of the last character may be set (Go is not `Strict`); encoding is canonical.
const B64: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::STANDARD, GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true));

/// The nonce length sops writes.
pub const IV_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// The `type:` tag of an encrypted value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// A string, including the whole content of a binary-store file.
    Str,
    /// A 64-bit integer, written in decimal.
    Int,
    /// A float, written as Go's `strconv.FormatFloat(f, 'f', -1, 64)` does.
    Float,
    /// `true` or `false`.
    Bool,
    /// A YAML timestamp, kept as its text.
    Time,
    /// A comment line of YAML or an INI/dotenv file, encrypted unless `unencrypted_comment_regex` matches.
    Comment,
    /// Written by the Python-era sops only; read as raw bytes.
    Bytes,
}

impl ValueType {
    /// The tag as written after `type:`.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Str => "str",
            ValueType::Int => "int",
            ValueType::Float => "float",
            ValueType::Bool => "bool",
            ValueType::Time => "time",
            ValueType::Comment => "comment",
            ValueType::Bytes => "bytes",
        }
    }

    fn from_name(name: &str) -> Option<ValueType> {
        Some(match name {
            "str" => ValueType::Str,
            "int" => ValueType::Int,
            "float" => ValueType::Float,
            "bool" => ValueType::Bool,
            "time" => ValueType::Time,
            "comment" => ValueType::Comment,
            "bytes" => ValueType::Bytes,
            _ => return None,
        })
    }
}

/// A parsed `ENC[…]` string.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptedValue {
    /// The ciphertext, as long as the plaintext.
    pub data: Vec<u8>,
    /// The nonce: 32 random bytes when we write, 1 to 64 accepted when we read.
    pub iv: Vec<u8>,
    /// The 16-byte GCM authentication tag.
    pub tag: Vec<u8>,
    /// How the plaintext bytes turn back into a value.
    pub kind: ValueType,
}

impl fmt::Debug for EncryptedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptedValue({} bytes, type {})", self.data.len(), self.kind.name())
    }
}

/// Why an `ENC[…]` string could not be parsed. Carries no part of the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    /// The text does not have the `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` shape.
    #[error("not an ENC[AES256_GCM,…] value")]
    NotEncrypted,
    /// The named field (`data`, `iv` or `tag`) is not standard base64.
    #[error("the {0} field is not valid base64")]
    Base64(&'static str),
    /// The `type:` field names no [`ValueType`].
    #[error("unknown value type `{0}`")]
    UnknownType(String),
    /// The nonce is empty or longer than 64 bytes.
    #[error("the IV must be 1 to 64 bytes long")]
    IvLength,
    /// The tag is not exactly 16 bytes.
    #[error("the tag must be 16 bytes long")]
    TagLength,
}

impl EncryptedValue {
    /// Parses like sops' regex `^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]`:
    /// greedy groups, so the last `,iv:`/`,tag:`/`,type:` and the last `]` delimit the fields,
    /// and an empty field does not match.
    pub fn parse(text: &str) -> Result<EncryptedValue, SyntaxError> {
        let fields = Fields::of(text)?;
        let data = B64.decode(fields.data).map_err(|_| SyntaxError::Base64("data"))?;
        let iv = fields.iv()?;
        let tag = fields.tag()?;
        Ok(EncryptedValue { data, iv: iv.as_slice().to_vec(), tag: tag.to_vec(), kind: fields.kind })
    }

    /// Whether a string looks like an encrypted value (sops' regex matches).
    pub fn is_encrypted(text: &str) -> bool {
        EncryptedValue::parse(text).is_ok()
    }
}

/// What every `ENC[…]` string starts with, up to its data.
const DATA_PREFIX: &str = "ENC[AES256_GCM,data:";

/// The fields of an `ENC[…]` string, split but not decoded.
struct Fields<'a> {
    data: &'a str,
    iv: &'a str,
    tag: &'a str,
    kind: ValueType,
}

impl<'a> Fields<'a> {
    fn of(text: &'a str) -> Result<Fields<'a>, SyntaxError> {
        let rest = text.strip_prefix(DATA_PREFIX).ok_or(SyntaxError::NotEncrypted)?;
        let close = rest.rfind(']').ok_or(SyntaxError::NotEncrypted)?;
        let body = &rest[..close];
        let (before_type, kind) = split_last(body, ",type:")?;
        let (before_tag, tag) = split_last(before_type, ",tag:")?;
        let (data, iv) = split_last(before_tag, ",iv:")?;
        if data.is_empty() {
            return Err(SyntaxError::NotEncrypted);
        }
        let kind = ValueType::from_name(kind).ok_or_else(|| SyntaxError::UnknownType(kind.chars().take(16).collect()))?;
        Ok(Fields { data, iv, tag, kind })
    }

    /// The IV, decoded on the stack: 1 to 64 bytes.
    fn iv(&self) -> Result<Iv, SyntaxError> {
        // Room for what 88 base64 characters (the most 64 bytes take) may decode to.
        let mut bytes = [0u8; MAX_IV_LEN + 3];
        if self.iv.len() > 88 {
            return Err(if B64.decode(self.iv).is_err() { SyntaxError::Base64("iv") } else { SyntaxError::IvLength });
        }
        let len = B64.decode_slice(self.iv, &mut bytes).map_err(|_| SyntaxError::Base64("iv"))?;
        if len == 0 || len > MAX_IV_LEN {
            return Err(SyntaxError::IvLength);
        }
        let mut iv = Iv { bytes: [0; MAX_IV_LEN], len };
        iv.bytes[..len].copy_from_slice(&bytes[..len]);
        Ok(iv)
    }

    /// The 16-byte tag, decoded on the stack.
    fn tag(&self) -> Result<[u8; TAG_LEN], SyntaxError> {
        let mut bytes = [0u8; TAG_LEN + 2];
        if self.tag.len() > 24 {
            return Err(if B64.decode(self.tag).is_err() { SyntaxError::Base64("tag") } else { SyntaxError::TagLength });
        }
        let len = B64.decode_slice(self.tag, &mut bytes).map_err(|_| SyntaxError::Base64("tag"))?;
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(bytes.get(..len).filter(|b| b.len() == TAG_LEN).ok_or(SyntaxError::TagLength)?);
        Ok(tag)
    }
}

/// The longest IV accepted when reading.
const MAX_IV_LEN: usize = 64;

/// An IV of 1 to 64 bytes, held without an allocation.
#[derive(Clone, Copy)]
pub struct Iv {
    bytes: [u8; MAX_IV_LEN],
    len: usize,
}

impl Iv {
    /// The IV's bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// An `ENC[…]` string decrypted by [`open_text_owned`].
pub struct Opened {
    /// The plaintext bytes.
    pub plain: Zeroizing<Vec<u8>>,
    /// Its type tag.
    pub kind: ValueType,
    /// The IV it was encrypted with.
    pub iv: Iv,
}

/// Why [`open_text_owned`] failed.
#[derive(Debug)]
pub enum OpenError {
    /// The text is not a well-formed `ENC[…]` string.
    Syntax(SyntaxError),
    /// It does not decrypt with this key and AAD.
    Auth,
}

/// Parses and decrypts an `ENC[…]` string without an allocation: the IV and tag are decoded on
/// the stack, the ciphertext into the buffer of `text` itself, which is then decrypted in
/// place and becomes the plaintext's. The walk over a file's values calls this once per value;
/// no more memory is touched than the text held.
pub fn open_text_owned(key: &DataKey, text: String, aad: &[u8]) -> Result<Opened, OpenError> {
    let fields = Fields::of(&text).map_err(OpenError::Syntax)?;
    let stack_decoded = fields.iv().and_then(|iv| Ok((iv, fields.tag()?)));
    let (iv, tag) = match stack_decoded {
        Ok(decoded) => decoded,
        // The same first problem as [`EncryptedValue::parse`], which decodes the data first.
        Err(_) if B64.decode(fields.data).is_err() => return Err(OpenError::Syntax(SyntaxError::Base64("data"))),
        Err(e) => return Err(OpenError::Syntax(e)),
    };
    let (kind, data_len) = (fields.kind, fields.data.len());
    let mut buffer = Zeroizing::new(text.into_bytes());
    let len = decode_in_place(&mut buffer, DATA_PREFIX.len(), data_len).map_err(|()| OpenError::Syntax(SyntaxError::Base64("data")))?;
    buffer.truncate(len);
    open_in_place(key, iv.as_slice(), &tag, aad, &mut buffer).map_err(|_| OpenError::Auth)?;
    Ok(Opened { plain: buffer, kind, iv })
}

/// Decodes the `len` base64 characters at `start` of `buffer` to its beginning, as
/// [`base64::Engine::decode`] would (strict padding, at the end only), and returns the
/// decoded length. The characters pass through a stack buffer a chunk at a time; the output
/// never reaches characters not yet read, as it starts before them and is shorter.
fn decode_in_place(buffer: &mut [u8], start: usize, len: usize) -> Result<usize, ()> {
    const CHUNK: usize = 1024;
    let mut chunk = [0u8; CHUNK];
    let (mut read, mut written, end) = (start, 0, start + len);
    while read < end {
        let take = CHUNK.min(end - read);
        chunk[..take].copy_from_slice(&buffer[read..read + take]);
        read += take;
        // Padding belongs at the very end: a chunk that ends with it is the last.
        if read < end && chunk[take - 1] == b'=' {
            return Err(());
        }
        written += B64.decode_slice(&chunk[..take], &mut buffer[written..]).map_err(|_| ())?;
    }
    Ok(written)
}

fn split_last<'a>(s: &'a str, sep: &str) -> Result<(&'a str, &'a str), SyntaxError> {
    // Each separator starts with a comma, which base64 never contains: searching back for
    // commas finds the last occurrence at once, where building `str::rfind`'s two-way searcher
    // costs more than the search. The separators are ASCII, so `at` and the end of the match
    // are character boundaries.
    let (bytes, sep_bytes) = (s.as_bytes(), sep.as_bytes());
    let first = *sep_bytes.first().ok_or(SyntaxError::NotEncrypted)?;
    let at = memchr::memrchr_iter(first, bytes).find(|&at| bytes[at..].starts_with(sep_bytes)).ok_or(SyntaxError::NotEncrypted)?;
    let (head, tail) = (&s[..at], &s[at + sep.len()..]);
    if head.is_empty() || tail.is_empty() {
        return Err(SyntaxError::NotEncrypted);
    }
    Ok((head, tail))
}

impl fmt::Display for EncryptedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{}]",
            B64.encode(&self.data),
            B64.encode(&self.iv),
            B64.encode(&self.tag),
            self.kind.name()
        )
    }
}

/// Authentication failed: wrong key, wrong AAD (value moved), or tampered ciphertext.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("authentication failed")]
pub struct AuthError;

/// Encrypts `plaintext` under `key` with the given IV and AAD.
///
/// # Panics
///
/// Never in practice: AES-GCM refuses only messages longer than 64 GiB, far beyond any value.
pub fn seal(key: &DataKey, iv: &[u8; IV_LEN], aad: &[u8], plaintext: &[u8], kind: ValueType) -> EncryptedValue {
    let mut buffer = plaintext.to_vec();
    // A 32-byte nonce and a message far below GCM's limit cannot fail.
    let tag = key
        .gcm()
        .encrypt_in_place_detached(GenericArray::from_slice(iv), aad, &mut buffer)
        .expect("AES-GCM encryption of a bounded message");
    EncryptedValue { data: buffer, iv: iv.to_vec(), tag: tag.to_vec(), kind }
}

/// Decrypts with whatever IV length the value carries, as sops does (`NewGCMWithNonceSize`).
pub fn open(key: &DataKey, value: &EncryptedValue, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, AuthError> {
    let mut buffer = Zeroizing::new(value.data.clone());
    open_in_place(key, &value.iv, &value.tag, aad, &mut buffer)?;
    Ok(buffer)
}

fn open_in_place(key: &DataKey, iv: &[u8], tag: &[u8], aad: &[u8], buffer: &mut [u8]) -> Result<(), AuthError> {
    // The length sops writes, with the cipher the key keeps set up.
    if iv.len() == IV_LEN {
        let (nonce, tag) = (GenericArray::from_slice(iv), GenericArray::from_slice(tag));
        return key.gcm().decrypt_in_place_detached(nonce, aad, buffer, tag).map_err(|_| AuthError);
    }
    macro_rules! by_nonce_len {
        ($($n:literal => $size:ty),* $(,)?) => {
            match iv.len() {
                $($n => open_with::<$size>(key, iv, aad, tag, buffer),)*
                _ => Err(AuthError),
            }
        };
    }
    by_nonce_len!(
        1 => U1, 2 => U2, 3 => U3, 4 => U4, 5 => U5, 6 => U6, 7 => U7, 8 => U8, 9 => U9, 10 => U10,
        11 => U11, 12 => U12, 13 => U13, 14 => U14, 15 => U15, 16 => U16, 17 => U17, 18 => U18,
        19 => U19, 20 => U20, 21 => U21, 22 => U22, 23 => U23, 24 => U24, 25 => U25, 26 => U26,
        27 => U27, 28 => U28, 29 => U29, 30 => U30, 31 => U31, 32 => U32, 33 => U33, 34 => U34,
        35 => U35, 36 => U36, 37 => U37, 38 => U38, 39 => U39, 40 => U40, 41 => U41, 42 => U42,
        43 => U43, 44 => U44, 45 => U45, 46 => U46, 47 => U47, 48 => U48, 49 => U49, 50 => U50,
        51 => U51, 52 => U52, 53 => U53, 54 => U54, 55 => U55, 56 => U56, 57 => U57, 58 => U58,
        59 => U59, 60 => U60, 61 => U61, 62 => U62, 63 => U63, 64 => U64,
    )
}

fn open_with<N: ArrayLength<u8>>(key: &DataKey, iv: &[u8], aad: &[u8], tag: &[u8], buffer: &mut [u8]) -> Result<(), AuthError> {
    let cipher = AesGcm::<Aes256Enc, N>::from(key.cipher().clone());
    cipher.decrypt_in_place_detached(GenericArray::from_slice(iv), aad, buffer, GenericArray::from_slice(tag)).map_err(|_| AuthError)
}

/// A fresh random IV.
pub fn random_iv() -> [u8; IV_LEN] {
    let mut iv = [0u8; IV_LEN];
    crate::rng::fill(&mut iv);
    iv
}

/// The canonical plaintext bytes of a leaf (spec 2.4) and its type tag, or `None` for values
/// that are never encrypted (null, containers).
pub fn canonical_bytes(value: &Value) -> Option<(Zeroizing<Vec<u8>>, ValueType)> {
    let (bytes, kind) = match value {
        Value::Str(s) => (s.as_bytes().to_vec(), ValueType::Str),
        Value::Bytes(b) => (b.clone(), ValueType::Str),
        Value::Int(i) => (i.to_string().into_bytes(), ValueType::Int),
        Value::Float(f) => (format_float(*f).into_bytes(), ValueType::Float),
        Value::Bool(b) => ((if *b { "True" } else { "False" }).as_bytes().to_vec(), ValueType::Bool),
        Value::Time(t) => (crate::timefmt::canonical_time(t).into_bytes(), ValueType::Time),
        Value::Comment(c) => (c.as_bytes().to_vec(), ValueType::Comment),
        Value::Null | Value::Map(_) | Value::List(_) => return None,
    };
    Some((Zeroizing::new(bytes), kind))
}

/// Gives `f` the [`canonical_bytes`] of `value` (nothing for null and containers), a string's
/// own bytes without a copy: the MAC reads every value of a file.
pub fn with_canonical_bytes(value: &Value, f: impl FnOnce(&[u8])) {
    match value {
        Value::Str(s) | Value::Comment(s) => f(s.as_bytes()),
        Value::Bytes(b) => f(b),
        other => {
            if let Some((bytes, _)) = canonical_bytes(other) {
                f(&bytes);
            }
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest round-trip digits, never an exponent.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_string()
    } else if f == f64::INFINITY {
        "+Inf".to_string()
    } else if f == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{f}")
    }
}

/// Why a decrypted plaintext does not parse as its declared type.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the plaintext is not a valid {0}")]
pub struct TypeError(&'static str);

/// [`typed_value`], consuming the decrypted buffer: a string (the large case) takes it over
/// without a copy; what is left of the buffer is zeroized when it is dropped.
pub fn typed_value_owned(mut bytes: Zeroizing<Vec<u8>>, kind: ValueType) -> Result<Value, TypeError> {
    match kind {
        ValueType::Str | ValueType::Bytes => Ok(match String::from_utf8(std::mem::take(&mut *bytes)) {
            Ok(s) => Value::Str(s),
            Err(e) => Value::Bytes(e.into_bytes()),
        }),
        _ => typed_value(&bytes, kind),
    }
}

/// Turns decrypted bytes back into a typed value (Go `strconv` parsing rules).
pub fn typed_value(bytes: &[u8], kind: ValueType) -> Result<Value, TypeError> {
    let text = || std::str::from_utf8(bytes).map_err(|_| TypeError(kind.name()));
    Ok(match kind {
        ValueType::Str | ValueType::Bytes => match std::str::from_utf8(bytes) {
            Ok(s) => Value::Str(s.to_string()),
            Err(_) => Value::Bytes(bytes.to_vec()),
        },
        ValueType::Int => Value::Int(text()?.parse::<i64>().map_err(|_| TypeError("int"))?),
        ValueType::Float => Value::Float(parse_go_float(text()?).ok_or(TypeError("float"))?),
        ValueType::Bool => Value::Bool(match text()? {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
            _ => return Err(TypeError("bool")),
        }),
        ValueType::Time => Value::Time(text()?.to_string()),
        ValueType::Comment => Value::Comment(text()?.to_string()),
    })
}

fn parse_go_float(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" | "+inf" | "inf" => return Some(f64::INFINITY),
        "-Inf" | "-inf" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    text.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(byte: u8) -> DataKey {
        DataKey::from_bytes([byte; 32])
    }

    #[test]
    fn decrypts_the_sops_unit_vector() {
        // From sops' own aes/cipher_test.go: key of 32 ASCII 'f', AAD "bar:".
        let value = EncryptedValue::parse(
            "ENC[AES256_GCM,data:oYyi,iv:MyIDYbT718JRr11QtBkcj3Dwm4k1aCGZBVeZf0EyV8o=,tag:t5z2Z023Up0kxwCgw1gNxg==,type:str]",
        )
        .unwrap();
        assert_eq!(&open(&key_of(b'f'), &value, b"bar:").unwrap()[..], b"foo");
        assert_eq!(open(&key_of(b'f'), &value, b""), Err(AuthError));
    }

    #[test]
    fn seal_then_open_round_trips_and_formats_like_sops() {
        let key = key_of(7);
        let iv = random_iv();
        let sealed = seal(&key, &iv, b"a:b:", b"hello", ValueType::Str);
        let text = sealed.to_string();
        assert!(text.starts_with("ENC[AES256_GCM,data:"));
        assert!(text.ends_with(",type:str]"));
        let parsed = EncryptedValue::parse(&text).unwrap();
        assert_eq!(parsed, sealed);
        assert_eq!(parsed.iv.len(), 32);
        assert_eq!(&open(&key, &parsed, b"a:b:").unwrap()[..], b"hello");
        assert_eq!(open(&key, &parsed, b"a:c:"), Err(AuthError));
        assert_eq!(open(&key_of(8), &parsed, b"a:b:"), Err(AuthError));
    }

    #[test]
    fn accepts_any_iv_length_on_read() {
        use aes_gcm::aead::KeyInit;
        let key = key_of(1);
        for len in [12usize, 16, 64] {
            let iv = vec![3u8; len];
            let mut buffer = b"x".to_vec();
            macro_rules! seal_n {
                ($n:ty) => {{
                    let c = AesGcm::<Aes256Enc, $n>::new(GenericArray::from_slice(key.as_bytes()));
                    c.encrypt_in_place_detached(GenericArray::from_slice(&iv), b"k:", &mut buffer).unwrap()
                }};
            }
            let tag = match len {
                12 => seal_n!(U12),
                16 => seal_n!(U16),
                _ => seal_n!(U64),
            };
            let value = EncryptedValue { data: buffer, iv, tag: tag.to_vec(), kind: ValueType::Str };
            let reparsed = EncryptedValue::parse(&value.to_string()).unwrap();
            assert_eq!(&open(&key, &reparsed, b"k:").unwrap()[..], b"x");
        }
    }

    #[test]
    fn separators_split_at_their_last_occurrence() {
        assert_eq!(split_last("a,iv:b,iv:c", ",iv:"), Ok(("a,iv:b", "c")));
        assert_eq!(split_last("a,ivx,iv:c,,", ",iv:"), Ok(("a,ivx", "c,,")));
        assert_eq!(split_last(",iv:c", ",iv:"), Err(SyntaxError::NotEncrypted));
        assert_eq!(split_last("a,iv:", ",iv:"), Err(SyntaxError::NotEncrypted));
        assert_eq!(split_last("a,i", ",iv:"), Err(SyntaxError::NotEncrypted));
        assert_eq!(split_last("é,tag:ü", ",tag:"), Ok(("é", "ü")));
        // The data part may itself hold the separators (sops' regex groups are greedy).
        let value = EncryptedValue::parse("ENC[AES256_GCM,data:AA==,iv:AA==,iv:AA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]");
        assert_eq!(value, Err(SyntaxError::Base64("data")));
    }

    #[test]
    fn parse_rejects_malformed_values() {
        assert_eq!(EncryptedValue::parse("hello"), Err(SyntaxError::NotEncrypted));
        assert_eq!(EncryptedValue::parse("ENC[AES256_GCM,data:,iv:AA==,tag:AA==,type:str]"), Err(SyntaxError::NotEncrypted));
        assert!(matches!(
            EncryptedValue::parse("ENC[AES256_GCM,data:AA==,iv:AA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:nope]"),
            Err(SyntaxError::UnknownType(_))
        ));
        assert_eq!(EncryptedValue::parse("ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]"), Err(SyntaxError::TagLength));
        assert_eq!(
            EncryptedValue::parse("ENC[AES256_GCM,data:!!,iv:AA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]"),
            Err(SyntaxError::Base64("data"))
        );
        // Set bits past the end of the data are ignored, as by Go's (non-strict) decoder.
        let loose = EncryptedValue::parse("ENC[AES256_GCM,data:AB==,iv:AB==,tag:AAAAAAAAAAAAAAAAAAAAAB==,type:str]").unwrap();
        assert_eq!((loose.data, loose.iv, loose.tag), (vec![0], vec![0], vec![0; 16]));
        // Text after the closing bracket is ignored, as by sops' unanchored regex.
        assert!(EncryptedValue::parse("ENC[AES256_GCM,data:AA==,iv:AA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str] trailing").is_ok());
    }

    /// The walk's in-place path reads every text as `parse` then `open` do: the same
    /// plaintext, the same first problem, at every IV and tag length around the bounds.
    #[test]
    fn open_text_owned_agrees_with_parse_and_open() {
        let key = key_of(5);
        let b64 = |n: usize, byte: u8| B64.encode(vec![byte; n]);
        let sealed = seal(&key, &random_iv(), b"k:", b"value", ValueType::Int).to_string();
        let mut texts = vec![sealed.clone(), sealed.replace("type:int", "type:str"), "hello".to_string()];
        for iv in [b64(1, 1), b64(12, 1), b64(64, 1), b64(65, 1), b64(66, 1), b64(90, 1), "!".repeat(92), "A!==".into(), String::new()] {
            for tag in [b64(16, 2), b64(15, 2), b64(17, 2), b64(40, 2), "!".repeat(30), "AA=".into()] {
                for data in [b64(3, 3), "!!".into()] {
                    texts.push(format!("ENC[AES256_GCM,data:{data},iv:{iv},tag:{tag},type:str]"));
                }
            }
        }
        // Values long enough to be decoded in place a chunk at a time, and padding where a
        // chunk ends but the value does not.
        let long = seal(&key, &random_iv(), b"k:", &[7u8; 5000], ValueType::Str).to_string();
        let padded = |n: usize| long.replacen("data:", &format!("data:{}AAAA", b64(n, 4)), 1);
        texts.extend([long.clone(), padded(766), padded(767), padded(768), long.replacen("data:", "data:AAAA", 1)]);
        for text in &texts {
            let opened = open_text_owned(&key, text.clone(), b"k:");
            match EncryptedValue::parse(text) {
                Err(e) => assert!(matches!(&opened, Err(OpenError::Syntax(o)) if *o == e), "{text}: {e:?}"),
                Ok(parsed) => match open(&key, &parsed, b"k:") {
                    Ok(plain) => {
                        let opened = opened.unwrap_or_else(|e| panic!("{text}: {e:?}"));
                        assert_eq!((&opened.plain[..], opened.kind, opened.iv.as_slice()), (&plain[..], parsed.kind, &parsed.iv[..]));
                    }
                    Err(AuthError) => assert!(matches!(opened, Err(OpenError::Auth)), "{text}"),
                },
            }
        }
        assert_eq!(&open_text_owned(&key, sealed, b"k:").unwrap().plain[..], b"value");
    }

    /// The IV and tag decoded on the stack are what a full decode gives, or its error.
    #[test]
    fn stack_decoded_iv_and_tag_match_a_full_decode() {
        let b64 = |n: u8| B64.encode((0..n).collect::<Vec<u8>>());
        let mut texts: Vec<String> = (0..=70u8).map(b64).collect();
        texts.extend(["!".repeat(88), "!".repeat(92), "AAA=".into(), "AA=".into(), "AAAB".into(), "A===".into()]);
        for text in &texts {
            let fields = Fields { data: "AA==", iv: text, tag: text, kind: ValueType::Str };
            let full = B64.decode(text);
            let iv = match &full {
                Err(_) => Err(SyntaxError::Base64("iv")),
                Ok(b) if b.is_empty() || b.len() > 64 => Err(SyntaxError::IvLength),
                Ok(b) => Ok(b.clone()),
            };
            assert_eq!(fields.iv().map(|iv| iv.as_slice().to_vec()), iv, "{text}");
            let tag = match &full {
                Err(_) => Err(SyntaxError::Base64("tag")),
                Ok(b) if b.len() != TAG_LEN => Err(SyntaxError::TagLength),
                Ok(b) => Ok(b.clone()),
            };
            assert_eq!(fields.tag().map(|t| t.to_vec()), tag, "{text}");
        }
    }

    #[test]
    fn canonical_bytes_follow_go_formatting() {
        let bytes = |v: Value| canonical_bytes(&v).map(|(b, k)| (String::from_utf8(b.to_vec()).unwrap(), k.name()));
        assert_eq!(bytes(Value::Int(-17)), Some(("-17".into(), "int")));
        assert_eq!(bytes(Value::Float(1.0)), Some(("1".into(), "float")));
        assert_eq!(bytes(Value::Float(1e21)), Some(("1000000000000000000000".into(), "float")));
        assert_eq!(bytes(Value::Float(1.5e-7)), Some(("0.00000015".into(), "float")));
        assert_eq!(bytes(Value::Float(-0.0)), Some(("-0".into(), "float")));
        assert_eq!(bytes(Value::Float(f64::INFINITY)), Some(("+Inf".into(), "float")));
        assert_eq!(bytes(Value::Float(f64::NAN)), Some(("NaN".into(), "float")));
        assert_eq!(bytes(Value::Bool(true)), Some(("True".into(), "bool")));
        assert_eq!(bytes(Value::Bool(false)), Some(("False".into(), "bool")));
        assert_eq!(bytes(Value::Time("2024-01-02T00:00:00Z".into())), Some(("2024-01-02T00:00:00Z".into(), "time")));
        assert_eq!(bytes(Value::Null), None);
    }

    #[test]
    fn typed_values_parse_like_go_strconv() {
        assert_eq!(typed_value(b"t", ValueType::Bool), Ok(Value::Bool(true)));
        assert_eq!(typed_value(b"0", ValueType::Bool), Ok(Value::Bool(false)));
        assert!(typed_value(b"yes", ValueType::Bool).is_err());
        assert_eq!(typed_value(b"+5", ValueType::Int), Ok(Value::Int(5)));
        assert_eq!(typed_value(b"+Inf", ValueType::Float), Ok(Value::Float(f64::INFINITY)));
        assert_eq!(typed_value(b"1e3", ValueType::Float), Ok(Value::Float(1000.0)));
        assert_eq!(typed_value(&[0xff, 0x00], ValueType::Str), Ok(Value::Bytes(vec![0xff, 0])));
    }
}
