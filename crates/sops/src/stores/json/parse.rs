//! JSON text to a tree, with the semantics of Go's `encoding/json` as sops uses it: the top level
//! must be an object, key order and duplicate keys are kept, every number is a float64, and
//! strings are decoded like Go decodes them (invalid UTF-8 and unpaired surrogates become U+FFFD).
//!
//! The parser is iterative, so hostile nesting cannot overflow the stack; it stops at Go's own
//! nesting limit.

use crate::error::{Error, Result};
use crate::format::Format;
use crate::tree::{Map, MapItem, Value};

/// Go's `encoding/json` scanner refuses documents nested deeper than this.
pub(super) const MAX_DEPTH: usize = 10_000;

/// Parses a whole document whose top level is an object.
///
/// Numbers are floats, except inside the value of the top-level key `int_key` (the sops metadata):
/// there an integer literal that fits an `i64` becomes [`Value::Int`], because Go decodes those
/// fields into integer struct fields rather than into `float64`.
pub(super) fn parse_object(input: &[u8], int_key: Option<&str>) -> Result<Map> {
    Parser { src: input, pos: 0, int_key }.document()
}

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    int_key: Option<&'a str>,
}

/// A container being filled.
struct Open {
    node: Node,
    /// Integer literals in this subtree stay integers (see [`parse_object`]).
    ints: bool,
}

enum Node {
    Object { map: Map, key: Option<String> },
    Array(Vec<Value>),
}

impl Node {
    fn closer(&self) -> u8 {
        match self {
            Node::Object { .. } => b'}',
            Node::Array(_) => b']',
        }
    }

    fn into_value(self) -> Value {
        match self {
            Node::Object { map, .. } => Value::Map(map),
            Node::Array(items) => Value::List(items),
        }
    }

    /// Adds a finished value: to an array, or to an object under the key read before it.
    fn attach(&mut self, value: Value) {
        match self {
            Node::Object { map, key } => {
                let key = key.take().unwrap_or_default();
                map.0.push(MapItem::Entry(key, value));
            }
            Node::Array(items) => items.push(value),
        }
    }
}

/// Where the parser is inside the innermost open container.
enum State {
    /// Just after `{` or `[`: the container may close at once.
    First,
    /// A member (object) or element (array) must follow.
    Item,
    /// After a value: `,` or the closer must follow.
    After,
}

impl Parser<'_> {
    fn document(mut self) -> Result<Map> {
        self.skip_ws();
        match self.peek() {
            Some(b'{') => self.pos += 1,
            Some(b'[') => return Err(self.error_here("the top level must be an object, not an array")),
            Some(b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => return Err(self.error_here("the top level must be an object")),
            Some(_) => return Err(self.unexpected("a JSON object")),
            None => return Err(self.error_here("the input is empty, expected a JSON object")),
        }
        let mut stack = vec![Open { node: Node::Object { map: Map::new(), key: None }, ints: false }];
        let mut state = State::First;
        loop {
            let top_level = stack.len() == 1;
            let Some(top) = stack.last_mut() else {
                return Err(self.error_here("internal parser state lost"));
            };
            match state {
                State::First => {
                    self.skip_ws();
                    if self.peek() == Some(top.node.closer()) {
                        self.pos += 1;
                        if let Some(root) = self.close(&mut stack)? {
                            return Ok(root);
                        }
                        state = State::After;
                    } else {
                        state = State::Item;
                    }
                }
                State::Item => {
                    let mut ints = top.ints;
                    if let Node::Object { key, .. } = &mut top.node {
                        self.skip_ws();
                        if self.peek() != Some(b'"') {
                            return Err(self.unexpected("a string object key"));
                        }
                        let name = self.string()?;
                        self.skip_ws();
                        if self.peek() != Some(b':') {
                            return Err(self.unexpected("`:` after an object key"));
                        }
                        self.pos += 1;
                        ints |= top_level && self.int_key == Some(name.as_str());
                        *key = Some(name);
                    }
                    self.skip_ws();
                    let node = match self.peek() {
                        Some(b'{') => Node::Object { map: Map::new(), key: None },
                        Some(b'[') => Node::Array(Vec::new()),
                        _ => {
                            let value = self.scalar(ints)?;
                            top.node.attach(value);
                            state = State::After;
                            continue;
                        }
                    };
                    if stack.len() >= MAX_DEPTH {
                        return Err(self.error_here(format!("nesting deeper than {MAX_DEPTH} levels")));
                    }
                    self.pos += 1;
                    stack.push(Open { node, ints });
                    state = State::First;
                }
                State::After => {
                    self.skip_ws();
                    let closer = top.node.closer();
                    match self.peek() {
                        Some(b',') => {
                            self.pos += 1;
                            state = State::Item;
                        }
                        Some(c) if c == closer => {
                            self.pos += 1;
                            if let Some(root) = self.close(&mut stack)? {
                                return Ok(root);
                            }
                        }
                        _ if closer == b'}' => return Err(self.unexpected("`,` or `}` after an object member")),
                        _ => return Err(self.unexpected("`,` or `]` after an array element")),
                    }
                }
            }
        }
    }

    /// Pops the container just closed. Returns the root object when that was the top level,
    /// after checking that nothing but whitespace follows it.
    fn close(&mut self, stack: &mut Vec<Open>) -> Result<Option<Map>> {
        let Some(done) = stack.pop() else {
            return Err(self.error_here("internal parser state lost"));
        };
        if let Some(parent) = stack.last_mut() {
            parent.node.attach(done.node.into_value());
            Ok(None)
        } else {
            // sops's own plaintext reader stops at the end of the object and silently drops
            // anything after it; we refuse instead of losing data.
            self.skip_ws();
            if self.pos < self.src.len() {
                return Err(self.error_here("unexpected data after the top-level object"));
            }
            match done.node {
                Node::Object { map, .. } => Ok(Some(map)),
                Node::Array(_) => Err(self.error_here("the top level must be an object")),
            }
        }
    }

    fn scalar(&mut self, ints: bool) -> Result<Value> {
        match self.peek() {
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(ints),
            _ => Err(self.unexpected("a value")),
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value> {
        if !self.src[self.pos..].starts_with(word.as_bytes()) {
            return Err(self.error_here(format!("invalid literal, expected `{word}`")));
        }
        self.pos += word.len();
        Ok(value)
    }

    /// The strict JSON number grammar Go enforces: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self, ints: bool) -> Result<Value> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error_here("invalid number")),
        }
        let mut integral = true;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            integral = false;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error_here("invalid number: digits must follow the decimal point"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            integral = false;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error_here("invalid number: digits must follow the exponent"));
            }
            self.digits();
        }
        let text = std::str::from_utf8(&self.src[start..self.pos]).map_err(|_| self.error_at(start, "invalid number"))?;
        if ints && integral {
            if let Ok(i) = text.parse::<i64>() {
                return Ok(Value::Int(i));
            }
        }
        // Correctly rounded like Go's strconv.ParseFloat; Go fails on overflow, and so do we.
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => Err(self.error_at(start, "number out of the float64 range")),
        }
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    /// Reads a string starting at its opening quote.
    ///
    /// Runs of plain bytes are found a word at a time ([`plain_run`]) and copied in one piece; a
    /// string without escapes (the common case: keys, ciphertexts) is allocated once at its exact
    /// length.
    fn string(&mut self) -> Result<String> {
        let open = self.pos;
        self.pos += 1;
        let first = self.pos + plain_run(&self.src[self.pos..]);
        if self.src.get(first) == Some(&b'"') {
            let run = &self.src[self.pos..first];
            self.pos = first + 1;
            let mut out = String::with_capacity(run.len());
            push_go_lossy(&mut out, run);
            return Ok(out);
        }
        let mut out = String::new();
        let mut end = first;
        loop {
            push_go_lossy(&mut out, &self.src[self.pos..end]);
            self.pos = end;
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape(&mut out)?;
                }
                Some(_) => return Err(self.error_here("control character inside a string")),
                None => return Err(self.error_at(open, "unterminated string")),
            }
            end = self.pos + plain_run(&self.src[self.pos..]);
        }
    }

    /// Decodes one escape sequence, the backslash already consumed.
    fn escape(&mut self, out: &mut String) -> Result<()> {
        let simple = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                let Some(unit) = self.hex4(self.pos) else {
                    return Err(self.error_here("invalid \\u escape in a string"));
                };
                self.pos += 4;
                out.push(self.code_unit(unit));
                return Ok(());
            }
            _ => return Err(self.error_here("invalid escape in a string")),
        };
        self.pos += 1;
        out.push(simple);
        Ok(())
    }

    /// Turns a `\u` code unit into a char. Like Go, a high surrogate combines only with an
    /// immediately following escaped low surrogate; any other surrogate becomes U+FFFD and the
    /// next escape is read on its own.
    fn code_unit(&mut self, unit: u32) -> char {
        if (0xD800..0xDC00).contains(&unit) && self.src[self.pos..].starts_with(b"\\u") {
            if let Some(low) = self.hex4(self.pos + 2).filter(|low| (0xDC00..0xE000).contains(low)) {
                self.pos += 6;
                let combined = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                return char::from_u32(combined).unwrap_or(char::REPLACEMENT_CHARACTER);
            }
        }
        char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER)
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = self.src.get(at..at.checked_add(4)?)?;
        digits.iter().try_fold(0u32, |acc, &b| Some(acc * 16 + char::from(b).to_digit(16)?))
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    /// JSON whitespace is exactly these four bytes (a BOM is an error, as in Go).
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    /// An error for the byte at the current position. Only structural punctuation is quoted:
    /// any other byte might belong to a secret.
    fn unexpected(&self, expected: &str) -> Error {
        let found = match self.peek() {
            None => "end of input".to_owned(),
            Some(b) if b.is_ascii_punctuation() => format!("`{}`", char::from(b)),
            Some(_) => "a character".to_owned(),
        };
        self.error_here(format!("expected {expected}, found {found}"))
    }

    fn error_here(&self, message: impl Into<String>) -> Error {
        self.error_at(self.pos, message)
    }

    fn error_at(&self, at: usize, message: impl Into<String>) -> Error {
        let before = self.src.get(..at).unwrap_or(self.src);
        // Once per error, over one document: a counting crate is not worth its dependency.
        #[allow(clippy::naive_bytecount)]
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
        Error::Parse { format: Format::Json, message: format!("{} at line {line}, column {column}", message.into()) }
    }
}

/// The length of the run of bytes at the start of `bytes` that a string copies as they are:
/// everything up to the first `"`, `\\` or control byte (below 0x20), or all of `bytes`.
///
/// Eight bytes are tested at once with the classic word tricks: `x - 0x01…01 & !x & 0x80…80`
/// flags the zero bytes of `x`, so XOR with a repeated `"` or `\\` flags those, and subtracting
/// a repeated 0x20 flags the bytes below it. A borrow can set flags above a true one but never
/// below it, so the lowest flag is exact. Bytes from 0x80 have their top bit set in `x` and are
/// never flagged.
fn plain_run(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    const SPACES: u64 = u64::from_ne_bytes([0x20; 8]);
    let mut words = bytes.chunks_exact(8);
    let mut done = 0;
    for word in &mut words {
        let Ok(word) = <[u8; 8]>::try_from(word) else { break };
        // Little-endian, so the lowest flag is the first byte in memory.
        let x = u64::from_le_bytes(word);
        let quote = x ^ QUOTES;
        let backslash = x ^ BACKSLASHES;
        let flags =
            ((quote.wrapping_sub(ONES) & !quote) | (backslash.wrapping_sub(ONES) & !backslash) | (x.wrapping_sub(SPACES) & !x)) & HIGHS;
        if flags != 0 {
            return done + (flags.trailing_zeros() / 8) as usize;
        }
        done += 8;
    }
    done + words.remainder().iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20).unwrap_or(words.remainder().len())
}

/// Appends bytes the way Go decodes a JSON string: valid UTF-8 is kept and every byte of an
/// invalid sequence becomes one U+FFFD (Go's `utf8.DecodeRune` consumes invalid input one byte
/// at a time, unlike Rust's lossy conversion, which replaces a whole truncated sequence once).
pub(super) fn push_go_lossy(out: &mut String, bytes: &[u8]) {
    // Valid text (nearly always) is checked by the standard validator's fast path and copied once.
    if let Ok(text) = std::str::from_utf8(bytes) {
        out.push_str(text);
        return;
    }
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        out.extend(std::iter::repeat_n(char::REPLACEMENT_CHARACTER, chunk.invalid().len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Map> {
        parse_object(text.as_bytes(), None)
    }

    fn entries(map: &Map) -> Vec<(&str, &Value)> {
        map.entries().collect()
    }

    fn message(result: Result<Map>) -> String {
        match result {
            Err(Error::Parse { format: Format::Json, message }) => message,
            other => panic!("expected a JSON parse error, got {other:?}"),
        }
    }

    #[test]
    fn scalars_and_every_number_is_a_float() {
        let map = parse(r#"{"s":"x","i":42,"n":-0,"f":2.5,"e":1E2,"t":true,"F":false,"z":null}"#).unwrap();
        assert_eq!(
            entries(&map),
            vec![
                ("s", &Value::str("x")),
                ("i", &Value::Float(42.0)),
                ("n", &Value::Float(-0.0)),
                ("f", &Value::Float(2.5)),
                ("e", &Value::Float(100.0)),
                ("t", &Value::Bool(true)),
                ("F", &Value::Bool(false)),
                ("z", &Value::Null),
            ]
        );
        let Some(Value::Float(neg_zero)) = map.get("n") else { panic!("n is not a float") };
        assert!(neg_zero.is_sign_negative());
    }

    #[test]
    fn big_integers_round_through_f64() {
        let map = parse(r#"{"a":9007199254740993,"b":9223372036854775807,"c":1e-400}"#).unwrap();
        assert_eq!(map.get("a"), Some(&Value::Float(9007199254740992.0)));
        assert_eq!(map.get("b"), Some(&Value::Float(9223372036854775808.0)));
        assert_eq!(map.get("c"), Some(&Value::Float(0.0)));
    }

    #[test]
    fn overflowing_number_is_refused() {
        assert!(message(parse(r#"{"a":1e400}"#)).contains("range"));
        assert!(message(parse(r#"{"a":-1e309}"#)).contains("range"));
    }

    #[test]
    fn integer_literals_under_the_int_key_stay_integers() {
        let map =
            parse_object(br#"{"n":2,"sops":{"shamir_threshold":2,"f":2.0,"e":1e2,"l":[3],"huge":99999999999999999999}}"#, Some("sops"))
                .unwrap();
        assert_eq!(map.get("n"), Some(&Value::Float(2.0)));
        let sops = map.get("sops").and_then(Value::as_map).unwrap();
        assert_eq!(sops.get("shamir_threshold"), Some(&Value::Int(2)));
        assert_eq!(sops.get("f"), Some(&Value::Float(2.0)));
        assert_eq!(sops.get("e"), Some(&Value::Float(100.0)));
        assert_eq!(sops.get("l"), Some(&Value::List(vec![Value::Int(3)])));
        assert_eq!(sops.get("huge"), Some(&Value::Float(1e20)));
    }

    #[test]
    fn int_key_applies_only_at_top_level() {
        let map = parse_object(br#"{"x":{"sops":{"n":1}}}"#, Some("sops")).unwrap();
        let inner = map.get("x").and_then(Value::as_map).and_then(|m| m.get("sops")).and_then(Value::as_map);
        assert_eq!(inner.and_then(|m| m.get("n")), Some(&Value::Float(1.0)));
    }

    #[test]
    fn key_order_and_duplicates_are_kept() {
        let map = parse(r#"{"z":1,"a":2,"z":3,"m":{"k":1,"k":2}}"#).unwrap();
        let keys: Vec<&str> = map.entries().map(|(k, _)| k).collect();
        assert_eq!(keys, ["z", "a", "z", "m"]);
        let inner = map.get("m").and_then(Value::as_map).unwrap();
        assert_eq!(entries(inner), vec![("k", &Value::Float(1.0)), ("k", &Value::Float(2.0))]);
    }

    #[test]
    fn empty_containers_and_whitespace() {
        let map = parse(" \r\n\t{ \"o\" : { } , \"a\" : [ ] , \"l\" : [ [ ] , { } ] } \n\t").unwrap();
        assert_eq!(
            entries(&map),
            vec![
                ("o", &Value::Map(Map::new())),
                ("a", &Value::List(vec![])),
                ("l", &Value::List(vec![Value::List(vec![]), Value::Map(Map::new())])),
            ]
        );
        assert!(parse("{}").unwrap().is_empty());
    }

    #[test]
    fn escapes_decode_like_go() {
        let map = parse(r#"{"s":"\"\\\/\b\f\n\r\t\u00e9\u2028\ud83d\ude00"}"#).unwrap();
        assert_eq!(map.get("s"), Some(&Value::str("\"\\/\u{8}\u{c}\n\r\té\u{2028}😀")));
    }

    #[test]
    fn unpaired_surrogates_become_replacement_characters() {
        let map = parse(r#"{"s":"\ud800 \udc00 \ud800\u0041 \ud800\ud800\udc00 \uDBFF\uDFFF"}"#).unwrap();
        assert_eq!(map.get("s"), Some(&Value::str("\u{FFFD} \u{FFFD} \u{FFFD}A \u{FFFD}\u{10000} \u{10FFFF}")));
    }

    #[test]
    fn invalid_utf8_becomes_one_replacement_per_byte() {
        let map = parse_object(b"{\"k\xff\":\"a\xffb\xc3(c\xed\xa0\x80d\xe2\x82x\xf0\x9f\x98e\"}", None).unwrap();
        let (key, value) = map.entries().next().unwrap();
        assert_eq!(key, "k\u{FFFD}");
        assert_eq!(value, &Value::str("a\u{FFFD}b\u{FFFD}(c\u{FFFD}\u{FFFD}\u{FFFD}d\u{FFFD}\u{FFFD}x\u{FFFD}\u{FFFD}\u{FFFD}e"));
    }

    /// The byte-at-a-time scan the word-at-a-time one replaced.
    fn naive_run(bytes: &[u8]) -> usize {
        bytes.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20).unwrap_or(bytes.len())
    }

    /// The string reader as it was before runs were scanned by words: byte by byte, each run
    /// decoded with Rust's chunked UTF-8 walk.
    fn reference_string(parser: &mut Parser<'_>) -> Result<String> {
        let open = parser.pos;
        parser.pos += 1;
        let mut out = String::new();
        loop {
            let run = parser.pos;
            while parser.peek().is_some_and(|b| b != b'"' && b != b'\\' && b >= 0x20) {
                parser.pos += 1;
            }
            for chunk in parser.src[run..parser.pos].utf8_chunks() {
                out.push_str(chunk.valid());
                out.extend(std::iter::repeat_n(char::REPLACEMENT_CHARACTER, chunk.invalid().len()));
            }
            match parser.peek() {
                Some(b'"') => {
                    parser.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    parser.pos += 1;
                    parser.escape(&mut out)?;
                }
                Some(_) => return Err(parser.error_here("control character inside a string")),
                None => return Err(parser.error_at(open, "unterminated string")),
            }
        }
    }

    #[test]
    fn plain_run_stops_at_every_stop_byte_in_every_lane() {
        for fill in [b'a', b'!', b' ', 0x7f, 0x80, 0xff, b'#', b']'] {
            for len in 0..=24 {
                for at in 0..len {
                    for stop in 0..=255u8 {
                        let mut bytes = vec![fill; len];
                        bytes[at] = stop;
                        assert_eq!(plain_run(&bytes), naive_run(&bytes), "fill {fill:#x}, len {len}, {stop:#x} at {at}");
                    }
                }
            }
        }
    }

    #[test]
    fn long_strings_with_escapes_and_invalid_bytes_decode_as_before() {
        let body = b"0123456789abcdef\\n\\u00e9\\ud83d\\ude00\\ud800x\xff\xc3\xa9\xe2\x82\\\"ab\\/cdefghijklmnop";
        let text = [&b"\""[..], body, b"\""].concat();
        let fast = Parser { src: &text, pos: 0, int_key: None }.string().unwrap();
        let slow = reference_string(&mut Parser { src: &text, pos: 0, int_key: None }).unwrap();
        assert_eq!(fast, slow);
        assert_eq!(fast, "0123456789abcdef\né😀\u{FFFD}x\u{FFFD}é\u{FFFD}\u{FFFD}\"ab/cdefghijklmnop");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// Bytes near every boundary the scan tests, plus text and escape material.
        fn tricky_byte() -> impl Strategy<Value = u8> {
            prop_oneof![
                4 => prop::sample::select(b"aZ09 /u".to_vec()),
                2 => prop::sample::select(b"\"\\".to_vec()),
                1 => prop::sample::select(vec![0x00, 0x01, 0x1f, 0x20, 0x21, 0x7f, 0x80, 0xbf, 0xc3, 0xa9, 0xed, 0xa0, 0xf0, 0x9f, 0xff]),
                1 => prop::sample::select(b"dD8Cc0e".to_vec()),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2_000))]

            /// The word scan agrees with the byte scan on any input.
            #[test]
            fn plain_run_matches_the_byte_scan(bytes in prop::collection::vec(tricky_byte(), 0..80)) {
                prop_assert_eq!(plain_run(&bytes), naive_run(&bytes));
            }

            /// The string reader gives the same text, error and end position as the reader before.
            #[test]
            fn string_matches_the_reference(body in prop::collection::vec(tricky_byte(), 0..80)) {
                let text = [&b"\""[..], &body].concat();
                let mut fast = Parser { src: &text, pos: 0, int_key: None };
                let mut slow = Parser { src: &text, pos: 0, int_key: None };
                let (a, b) = (fast.string(), reference_string(&mut slow));
                match (a, b) {
                    (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                    (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
                    (a, b) => prop_assert!(false, "fast {a:?}, reference {b:?}"),
                }
                prop_assert_eq!(fast.pos, slow.pos);
            }
        }
    }

    #[test]
    fn top_level_must_be_an_object() {
        assert!(message(parse("[1]")).contains("not an array"));
        assert!(message(parse(r#""x""#)).contains("must be an object"));
        assert!(message(parse("42")).contains("must be an object"));
        assert!(message(parse("")).contains("empty"));
        assert!(message(parse(" \n ")).contains("empty"));
        assert!(message(parse("\u{feff}{}")).contains("expected a JSON object"));
    }

    #[test]
    fn trailing_data_is_refused() {
        assert!(message(parse(r#"{"a":1} garbage"#)).contains("after the top-level object"));
        assert!(message(parse(r#"{"a":1}}"#)).contains("after the top-level object"));
        assert!(message(parse(r#"{"a":1} {"b":2}"#)).contains("after the top-level object"));
        assert!(parse("{\"a\":1} \r\n\t ").is_ok());
    }

    #[test]
    fn syntax_errors_are_refused() {
        for bad in [
            r#"{"a":1,}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":1e}"#,
            r#"{"a":-}"#,
            r#"{"a":+1}"#,
            r#"{"a":.5}"#,
            r#"{"a":NaN}"#,
            r#"{"a":Infinity}"#,
            r"{'a':1}",
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12"}"#,
            r#"{"a":tru}"#,
            r#"{"a" 1}"#,
            r#"{"a":1 "b":2}"#,
            r"{a:1}",
            r#"{"a":[1,]}"#,
            r#"{"a":[1 2]}"#,
            r#"{"a":[1}"#,
            r#"{"a":{]}"#,
            r#"{"a":1"#,
            r#"{"a":"#,
            r#"{"a""#,
            r#"{"a"#,
            r"{",
            "{\"a\":\"b\tc\"}",
            "{\"a\":\"b\u{1}c\"}",
            "{\"a\":/*c*/1}",
        ] {
            assert!(parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn errors_give_a_position_but_no_content() {
        let msg = message(parse("{\n  \"key\": \"s3cr3t\\q\"\n}"));
        assert!(msg.contains("line 2, column 18"), "{msg}");
        assert!(!msg.contains("s3cr3t"), "{msg}");
        let msg = message(parse("{\"a\": s3cr3t}"));
        assert!(!msg.contains("s3cr3t"), "{msg}");
        assert!(msg.contains("found a character"), "{msg}");
        let msg = message(parse("{\"a\":\n\"never closed"));
        assert!(msg.contains("unterminated string at line 2, column 1"), "{msg}");
    }

    #[test]
    fn nesting_up_to_go_limit_is_accepted() {
        // MAX_DEPTH containers in total, the top-level object included.
        let inner = MAX_DEPTH - 1;
        let text = format!("{{\"a\":{}1{}}}", "[".repeat(inner), "]".repeat(inner));
        let map = parse(&text).unwrap();
        let mut depth = 0;
        let mut node = map.get("a").unwrap();
        while let Value::List(items) = node {
            depth += 1;
            node = &items[0];
        }
        assert_eq!(depth, inner);
        assert_eq!(node, &Value::Float(1.0));
        // Dropping the tree is not recursive either.
        drop(map);
    }

    #[test]
    fn nesting_beyond_go_limit_is_refused() {
        let text = format!("{{\"a\":{}", "[".repeat(MAX_DEPTH));
        assert!(message(parse(&text)).contains("nesting deeper"));
        let text = "[".repeat(1_000_000);
        assert!(parse(&text).is_err());
    }
}
