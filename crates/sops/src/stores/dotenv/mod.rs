//! The dotenv store. The layout is deliberately primitive, as in sops: one `KEY=value` per line,
//! no quoting (quotes, `export` and a trailing `\r` are data), `#` at the very start of a line
//! for comments, and `\n` as the only escape. The metadata is appended as `sops_`-prefixed
//! flattened pairs.

mod stream;

use crate::error::{Error, Result};
use crate::file::DecryptSession;
use crate::format::Format;
use crate::stores::go_format::val_to_string;
use crate::stores::{flat, Store};
use crate::tree::{Document, Map, MapItem, Value};

const METADATA_PREFIX: &str = "sops_";

/// The dotenv store: `KEY=value` lines and `#` comments, metadata as flattened `sops_…` keys.
#[derive(Clone, Copy, Debug, Default)]
pub struct DotenvStore;

impl Store for DotenvStore {
    fn parse_plain(&self, input: &[u8]) -> Result<Document> {
        let branch = parse(input)?;
        if branch.entries().any(|(key, _)| key.starts_with(METADATA_PREFIX)) {
            return Err(Error::AlreadyEncrypted);
        }
        Ok(Document { branches: vec![branch] })
    }

    fn parse_encrypted(&self, input: &[u8]) -> Result<(Document, Map)> {
        let mut data = parse(input)?;
        let pairs = take_metadata(&mut data)?;
        if pairs.is_empty() {
            return Err(Error::MetadataNotFound);
        }
        Ok((Document { branches: vec![data] }, flat::unflatten(pairs)?))
    }

    fn decrypt_streaming(&self, input: &[u8], format: Format, session: &mut DecryptSession<'_>) -> Option<Vec<Vec<u8>>> {
        if format != Format::Dotenv {
            return None;
        }
        stream::decrypt(input, session)
    }

    fn emit_plain(&self, doc: &Document) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(doc.branches.first().map_or(0, plain_size));
        if let Some(branch) = doc.branches.first() {
            write_branch(branch, &mut out)?;
        }
        Ok(out)
    }

    fn emit_encrypted(&self, doc: &Document, metadata: &Map) -> Result<Vec<u8>> {
        let mut out = self.emit_plain(doc)?;
        for (name, value) in flat::flatten(metadata)? {
            write_line(&format!("{METADATA_PREFIX}{name}"), value.as_bytes(), &mut out);
        }
        Ok(out)
    }
}

/// Takes the metadata entries (`sops_…`) out of `data`, wherever they are, and returns them
/// as flattened pairs without the prefix.
fn take_metadata(data: &mut Map) -> Result<Vec<(String, String)>> {
    // Taken out of the parsed list in place: a second list as long as the file would be
    // allocated (and its pages touched) for nothing.
    let mut pairs = Vec::new();
    let mut problem = None;
    data.0.retain_mut(|item| {
        let MapItem::Entry(key, value) = item else { return true };
        let Some(name) = key.strip_prefix(METADATA_PREFIX) else { return true };
        match value {
            Value::Str(text) => pairs.push((name.to_string(), std::mem::take(text))),
            _ => {
                problem.get_or_insert_with(|| Error::metadata(format!("the value of `{key}` is not UTF-8 text")));
            }
        }
        false
    });
    match problem {
        Some(problem) => Err(problem),
        None => Ok(pairs),
    }
}

/// Splits on `\n` only; empty lines vanish. Values that are not UTF-8 are kept as bytes.
fn parse(input: &[u8]) -> Result<Map> {
    // One item per line at most: counted first (a vectorised count), so that the list of a
    // large file is not grown and copied a dozen times.
    let mut branch = Map(Vec::with_capacity(memchr::memchr_iter(b'\n', input).count() + 1));
    // Lines are found with a vectorised byte search; `split` would test every byte in turn.
    let ends = memchr::memchr_iter(b'\n', input).chain(std::iter::once(input.len()));
    let mut start = 0;
    for (index, end) in ends.enumerate() {
        let line = &input[start..end];
        start = end + 1;
        let line_number = index + 1;
        let text = |bytes: &[u8], what: &str| {
            String::from_utf8(bytes.to_vec()).map_err(|_| parse_error(format!("line {line_number}: the {what} is not valid UTF-8")))
        };
        match line {
            [] => {}
            [b'#', comment @ ..] => branch.0.push(MapItem::Comment(text(comment, "comment")?)),
            _ => {
                let eq = memchr::memchr(b'=', line)
                    .ok_or_else(|| parse_error(format!("line {line_number}: invalid dotenv input line (no `=`)")))?;
                let (key, value) = (&line[..eq], &line[eq + 1..]);
                let value = unescape_newlines(value);
                let value = match String::from_utf8(value) {
                    Ok(s) => Value::Str(s),
                    Err(e) => Value::Bytes(e.into_bytes()),
                };
                branch.push(text(key, "key")?, value);
            }
        }
    }
    Ok(branch)
}

fn parse_error(message: String) -> Error {
    Error::Parse { format: Format::Dotenv, message }
}

/// Turns each `\n` (backslash, `n`) into a newline, left to right; other backslashes stay.
fn unescape_newlines(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = memchr::memchr(b'\\', rest) {
        if rest.get(at + 1) == Some(&b'n') {
            out.extend_from_slice(&rest[..at]);
            out.push(b'\n');
            rest = rest.get(at + 2..).unwrap_or_default();
        } else {
            out.extend_from_slice(&rest[..=at]);
            rest = rest.get(at + 1..).unwrap_or_default();
        }
    }
    out.extend_from_slice(rest);
    out
}

fn write_branch(branch: &Map, out: &mut Vec<u8>) -> Result<()> {
    for item in &branch.0 {
        match item {
            MapItem::Comment(text) => {
                out.push(b'#');
                out.extend_from_slice(text.as_bytes());
                out.push(b'\n');
            }
            MapItem::Entry(key, Value::Map(_) | Value::List(_)) => {
                return Err(Error::Emit {
                    format: Format::Dotenv,
                    message: format!("cannot use complex value in dotenv file; offending key {key}"),
                });
            }
            // Only strings get their newlines escaped; sops prints other scalars as Go does.
            MapItem::Entry(key, Value::Str(s)) => write_line(key, s.as_bytes(), out),
            MapItem::Entry(key, Value::Bytes(b)) => write_line(key, b, out),
            MapItem::Entry(key, other) => {
                write_raw_line(key, &val_to_string(other), out);
            }
        }
    }
    Ok(())
}

/// About the size of `branch` written out (exact but for escaped newlines and converted
/// scalars), to allocate the output once.
fn plain_size(branch: &Map) -> usize {
    let value_size = |value: &Value| match value {
        Value::Str(s) => s.len(),
        Value::Bytes(b) => b.len(),
        _ => 0,
    };
    let item_size = |item: &MapItem| match item {
        MapItem::Comment(text) => text.len() + 2,
        MapItem::Entry(key, value) => key.len() + value_size(value) + 2,
    };
    branch.0.iter().map(item_size).sum()
}

/// A `KEY=value` line with each newline of the value written as `\n`.
fn write_line(key: &str, value: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    let mut rest = value;
    while let Some(at) = memchr::memchr(b'\n', rest) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(b"\\n");
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'\n');
}

fn write_raw_line(key: &str, value: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{files_in, read, same_shape, VECTORS};

    const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/flat-cases/dotenv");

    fn show(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    #[test]
    fn encrypted_vectors_round_trip_byte_for_byte() {
        let names = files_in(&format!("{VECTORS}/enc"), ".env");
        assert!(names.len() >= 2, "{names:?}");
        for name in names {
            let original = read(&format!("{VECTORS}/enc/{name}"));
            let (doc, metadata) = DotenvStore.parse_encrypted(&original).unwrap();
            let written = DotenvStore.emit_encrypted(&doc, &metadata).unwrap();
            assert_eq!(show(&written), show(&original), "{name}");
        }
    }

    #[test]
    fn decrypted_vectors_round_trip_and_plain_inputs_print_as_sops_does() {
        for name in files_in(&format!("{VECTORS}/dec"), ".env") {
            let dec = read(&format!("{VECTORS}/dec/{name}"));
            let doc = DotenvStore.parse_plain(&dec).unwrap();
            assert_eq!(show(&DotenvStore.emit_plain(&doc).unwrap()), show(&dec), "dec/{name}");
            let plain = read(&format!("{VECTORS}/plain/{name}"));
            let doc = DotenvStore.parse_plain(&plain).unwrap();
            assert_eq!(show(&DotenvStore.emit_plain(&doc).unwrap()), show(&dec), "plain/{name}");
        }
    }

    /// Crafted inputs with what `sops encrypt` wrote and `sops decrypt` printed for them.
    #[test]
    fn crafted_cases_match_sops() {
        let names = files_in(CASES, ".in.env");
        assert!(!names.is_empty());
        for name in names {
            let stem = name.trim_end_matches(".in.env");
            let input = read(&format!("{CASES}/{name}"));
            let enc = read(&format!("{CASES}/{stem}.enc.env"));
            let dec = read(&format!("{CASES}/{stem}.dec.env"));
            let plain = DotenvStore.parse_plain(&input).unwrap();
            assert_eq!(show(&DotenvStore.emit_plain(&plain).unwrap()), show(&dec), "{stem}: plain output");
            let (encrypted, metadata) = DotenvStore.parse_encrypted(&enc).unwrap();
            assert_eq!(same_shape(&plain.branches[0], &encrypted.branches[0]), Ok(()), "{stem}: structure");
            let rewritten = DotenvStore.emit_encrypted(&encrypted, &metadata).unwrap();
            assert_eq!(show(&rewritten), show(&enc), "{stem}: encrypted output");
        }
    }

    #[test]
    fn lines_are_taken_literally() {
        let doc = DotenvStore
            .parse_plain(
                b"#c1\n # not comment=1\nKEY =spaced\nexport FOO=1\nCR=value\r\nQ=\"a b\"\n\n\nE=\nML=a\\nb\\\\n\n=novalue\n#\nlast=x",
            )
            .unwrap();
        let expected = Map(vec![
            MapItem::Comment("c1".into()),
            MapItem::Entry(" # not comment".into(), Value::str("1")),
            MapItem::Entry("KEY ".into(), Value::str("spaced")),
            MapItem::Entry("export FOO".into(), Value::str("1")),
            MapItem::Entry("CR".into(), Value::str("value\r")),
            MapItem::Entry("Q".into(), Value::str("\"a b\"")),
            MapItem::Entry("E".into(), Value::str("")),
            MapItem::Entry("ML".into(), Value::str("a\nb\\\n")),
            MapItem::Entry(String::new(), Value::str("novalue")),
            MapItem::Comment(String::new()),
            MapItem::Entry("last".into(), Value::str("x")),
        ]);
        assert_eq!(doc.branches, vec![expected]);
    }

    #[test]
    fn only_backslash_n_is_unescaped() {
        for (raw, decoded) in [
            (&b"a\\"[..], &b"a\\"[..]),
            (b"\\", b"\\"),
            (b"\\x\\\\\\n\\nn", b"\\x\\\\\n\nn"),
            (b"\\n\\n", b"\n\n"),
            (b"\\\\", b"\\\\"),
            (b"plain", b"plain"),
        ] {
            assert_eq!(unescape_newlines(raw), decoded, "{}", show(raw));
        }
    }

    #[test]
    fn empty_input_is_one_empty_branch() {
        assert_eq!(DotenvStore.parse_plain(b"").unwrap().branches, vec![Map::new()]);
        assert_eq!(DotenvStore.parse_plain(b"\n\n").unwrap().branches, vec![Map::new()]);
    }

    #[test]
    fn non_utf8_values_are_kept_as_bytes() {
        let input = b"K=\xff\xfe\n";
        let doc = DotenvStore.parse_plain(input).unwrap();
        assert_eq!(doc.branches[0].get("K"), Some(&Value::Bytes(vec![0xff, 0xfe])));
        assert_eq!(DotenvStore.emit_plain(&doc).unwrap(), input.to_vec());
        assert!(DotenvStore.parse_plain(b"\xff=1\n").is_err());
    }

    #[test]
    fn reserved_prefix_and_bad_lines_are_refused() {
        assert!(matches!(DotenvStore.parse_plain(b"A=1\nsops_x=1\n"), Err(Error::AlreadyEncrypted)));
        match DotenvStore.parse_plain(b"A=1\nsupersecret\n") {
            Err(Error::Parse { format: Format::Dotenv, message }) => {
                assert!(message.contains("line 2") && !message.contains("supersecret"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_metadata_is_reported() {
        assert!(matches!(DotenvStore.parse_encrypted(b"A=1\n#c\n"), Err(Error::MetadataNotFound)));
        assert!(matches!(DotenvStore.parse_encrypted(b""), Err(Error::MetadataNotFound)));
    }

    #[test]
    fn metadata_anywhere_is_collected_and_removed() {
        let (doc, md) = DotenvStore.parse_encrypted(b"sops_version=3.11.0\nA=1\n#c\nsops_mac=ENC[x]\nB=2\n").unwrap();
        assert_eq!(
            doc.branches,
            vec![Map(vec![
                MapItem::Entry("A".into(), Value::str("1")),
                MapItem::Comment("c".into()),
                MapItem::Entry("B".into(), Value::str("2")),
            ])]
        );
        assert_eq!(md.get("version"), Some(&Value::str("3.11.0")));
        assert_eq!(md.get("mac"), Some(&Value::str("ENC[x]")));
    }

    #[test]
    fn converted_values_print_like_sops() {
        // Observed with `sops decrypt --output-type dotenv` on a YAML file.
        let branch = Map(vec![
            MapItem::Comment(" top".into()),
            MapItem::Entry("i".into(), Value::Int(42)),
            MapItem::Entry("f2".into(), Value::Float(2.0)),
            MapItem::Entry("f3".into(), Value::Float(1e21)),
            MapItem::Entry("f9".into(), Value::Float(f64::INFINITY)),
            MapItem::Entry("b".into(), Value::Bool(true)),
            MapItem::Entry("n".into(), Value::Null),
            MapItem::Entry("t".into(), Value::Time("2024-01-02T03:04:05.123Z".into())),
            MapItem::Entry("s".into(), Value::str("multi\nline")),
        ]);
        let second = Map(vec![MapItem::Entry("ignored".into(), Value::str("x"))]);
        let out = DotenvStore.emit_plain(&Document { branches: vec![branch, second] }).unwrap();
        assert_eq!(show(&out), "# top\ni=42\nf2=2.0\nf3=1E+21\nf9=+Inf\nb=true\nn=<nil>\nt=2024-01-02T03:04:05Z\ns=multi\\nline\n");
    }

    #[test]
    fn nested_values_cannot_be_written() {
        let branch = Map(vec![MapItem::Entry("sec".into(), Value::List(vec![]))]);
        let err = DotenvStore.emit_plain(&Document { branches: vec![branch] }).unwrap_err();
        assert!(matches!(err, Error::Emit { format: Format::Dotenv, .. }));
        assert!(err.to_string().contains("offending key sec"));
    }
}
