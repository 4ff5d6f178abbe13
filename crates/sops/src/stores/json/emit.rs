//! A tree to JSON text exactly as sops writes it: each value is marshalled by Go's
//! `encoding/json` (HTML-safe string escaping, Go float formatting) and the whole document is
//! then re-indented by Go's `json.Indent`. Both steps are done here in one pass.

use crate::error::{Error, Result};
use crate::format::Format;
use crate::tree::{Map, MapItem, Value};

use super::number::go_format_float_json;

/// Go's `json.Indent` unit: a tab by default, or a number of spaces.
#[derive(Clone, Copy, Debug)]
pub(super) enum Indent {
    Tab,
    Spaces(usize),
}

/// Writes `{ branch entries…, "sops": metadata }`, then a final newline. Comments are skipped:
/// JSON cannot hold them.
///
/// The walk keeps its own stack instead of recursing, so any depth the parser accepts (Go's
/// limit of 10 000 levels) can be written back.
pub(super) fn document(branch: &Map, metadata: Option<(&str, &Map)>, indent: Indent) -> Result<Vec<u8>> {
    let mut out = Output { text: String::from("{"), indent };
    let mut stack = vec![Open::Object { items: branch.0.iter(), extra: metadata, first: true, depth: 0 }];
    while let Some(open) = stack.last_mut() {
        let Some((key, child)) = open.next_child() else {
            if let Some(done) = stack.pop() {
                out.close(&done);
            }
            continue;
        };
        let depth = open.start_child(&mut out);
        if let Some(key) = key {
            push_quoted(&mut out.text, key);
            out.text.push_str(": ");
        }
        match child {
            Child::Map(map) | Child::Value(Value::Map(map)) => {
                out.text.push('{');
                stack.push(Open::Object { items: map.0.iter(), extra: None, first: true, depth });
            }
            Child::Value(Value::List(items)) => {
                out.text.push('[');
                stack.push(Open::Array { items: items.iter(), first: true, depth });
            }
            Child::Value(scalar) => out.scalar(scalar)?,
        }
    }
    out.text.push('\n');
    Ok(out.text.into_bytes())
}

/// A container whose members are being written.
enum Open<'a> {
    Object {
        items: std::slice::Iter<'a, MapItem>,
        /// A member written after the items (the metadata of an encrypted file).
        extra: Option<(&'a str, &'a Map)>,
        first: bool,
        depth: usize,
    },
    Array {
        items: std::slice::Iter<'a, Value>,
        first: bool,
        depth: usize,
    },
}

enum Child<'a> {
    Value(&'a Value),
    Map(&'a Map),
}

impl<'a> Open<'a> {
    /// The next member to write, with its key for objects; comments are passed over.
    fn next_child(&mut self) -> Option<(Option<&'a str>, Child<'a>)> {
        match self {
            Open::Object { items, extra, .. } => items
                .find_map(|item| match item {
                    MapItem::Entry(key, value) => Some((Some(key.as_str()), Child::Value(value))),
                    MapItem::Comment(_) => None,
                })
                .or_else(|| extra.take().map(|(key, map)| (Some(key), Child::Map(map)))),
            Open::Array { items, .. } => items.find(|value| !matches!(value, Value::Comment(_))).map(|value| (None, Child::Value(value))),
        }
    }

    /// `json.Indent` puts every member on its own line: a comma after the previous one, then a
    /// newline and the indentation of its depth. Returns that depth.
    fn start_child(&mut self, out: &mut Output) -> usize {
        let (Open::Object { first, depth, .. } | Open::Array { first, depth, .. }) = self;
        if !*first {
            out.text.push(',');
        }
        *first = false;
        out.newline(*depth + 1);
        *depth + 1
    }
}

struct Output {
    text: String,
    indent: Indent,
}

impl Output {
    fn scalar(&mut self, value: &Value) -> Result<()> {
        match value {
            Value::Null => self.text.push_str("null"),
            Value::Bool(b) => self.text.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => self.text.push_str(&i.to_string()),
            Value::Float(f) if !f.is_finite() => {
                // Go's marshaller fails with "json: unsupported value: NaN" (or +Inf/-Inf).
                return Err(Error::Emit {
                    format: Format::Json,
                    message: "a float is NaN or infinite, which JSON cannot represent".to_owned(),
                });
            }
            Value::Float(f) => self.text.push_str(&go_format_float_json(*f)),
            // A time marshals as its RFC 3339 text, which is what the tree holds.
            Value::Str(s) | Value::Time(s) => push_quoted(&mut self.text, s),
            Value::Bytes(b) => push_quoted_bytes(&mut self.text, b),
            // Only reachable for a comment that is not a list item, which no store produces;
            // sops would marshal its Go struct, which means nothing to a reader. Keep the text.
            Value::Comment(c) => push_quoted(&mut self.text, c),
            // Containers are opened by the walk in `document`.
            Value::Map(_) | Value::List(_) => {
                return Err(Error::Emit { format: Format::Json, message: "internal: container written as a scalar".to_owned() })
            }
        }
        Ok(())
    }

    /// An empty container stays `{}` / `[]`; otherwise the closer goes on its own line.
    fn close(&mut self, done: &Open) {
        let (closer, first, depth) = match done {
            Open::Object { first, depth, .. } => ('}', *first, *depth),
            Open::Array { first, depth, .. } => (']', *first, *depth),
        };
        if !first {
            self.newline(depth);
        }
        self.text.push(closer);
    }

    fn newline(&mut self, depth: usize) {
        self.text.push('\n');
        match self.indent {
            Indent::Tab => self.text.extend(std::iter::repeat_n('\t', depth)),
            Indent::Spaces(n) => self.text.extend(std::iter::repeat_n(' ', depth.saturating_mul(n))),
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends a string quoted the way Go's `json.Marshal` does (HTML escaping on): `"` and `\`,
/// the short escapes `\b \f \n \r \t`, other C0 controls as `\u00XX`, `<` `>` `&` as
/// `\u003c` `\u003e` `\u0026`, and U+2028/U+2029 escaped. Everything else, DEL and `/`
/// included, is written as is.
pub fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    push_escaped(out, s);
    out.push('"');
}

/// As [`push_quoted`] for bytes that may not be UTF-8: Go writes each byte of an invalid
/// sequence as the escape `\ufffd`.
pub fn push_quoted_bytes(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        push_escaped(out, chunk.valid());
        for _ in chunk.invalid() {
            out.push_str("\\ufffd");
        }
    }
    out.push('"');
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0}'..='\u{1f}' | '<' | '>' | '&' => {
                let b = c as u8;
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(s: &str) -> String {
        let mut out = String::new();
        push_quoted(&mut out, s);
        out
    }

    fn emit(map: &Map, indent: Indent) -> String {
        String::from_utf8(document(map, None, indent).unwrap()).unwrap()
    }

    fn map(entries: Vec<(&str, Value)>) -> Map {
        Map(entries.into_iter().map(|(k, v)| MapItem::Entry(k.to_owned(), v)).collect())
    }

    #[test]
    fn html_characters_are_escaped() {
        assert_eq!(quoted("<a href=\"x\">&amp;</a> / "), r#""\u003ca href=\"x\"\u003e\u0026amp;\u003c/a\u003e / ""#);
    }

    #[test]
    fn line_and_paragraph_separators_are_escaped() {
        assert_eq!(quoted("a\u{2028}b\u{2029}c\u{2027}"), "\"a\\u2028b\\u2029c\u{2027}\"");
    }

    #[test]
    fn control_characters_use_short_or_unicode_escapes() {
        assert_eq!(
            quoted("\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1b}\u{1f} \u{7f}"),
            r#""\u0000\u0001\b\t\n\u000b\f\r\u001b\u001f "#.to_owned() + "\u{7f}\""
        );
        assert_eq!(quoted("q\"b\\s"), r#""q\"b\\s""#);
    }

    #[test]
    fn non_ascii_is_written_as_is() {
        assert_eq!(quoted("Grüße, 世界 ✓ 😀 \u{feff}\u{fffd}"), "\"Grüße, 世界 ✓ 😀 \u{feff}\u{fffd}\"");
    }

    #[test]
    fn invalid_utf8_bytes_become_escaped_replacements() {
        let mut out = String::new();
        push_quoted_bytes(&mut out, b"a\xffb\xe2\x82x<\xc3\xa9\x00");
        assert_eq!(out, r#""a\ufffdb\ufffd\ufffdx\u003cé\u0000""#);
    }

    #[test]
    fn indentation_matches_go_json_indent() {
        let inner = map(vec![("k", Value::str("v"))]);
        let doc = map(vec![
            ("o", Value::Map(inner)),
            ("l", Value::List(vec![Value::Float(1.0), Value::List(vec![]), Value::Map(Map::new())])),
            ("e", Value::List(vec![])),
        ]);
        let expected = "{\n\t\"o\": {\n\t\t\"k\": \"v\"\n\t},\n\t\"l\": [\n\t\t1,\n\t\t[],\n\t\t{}\n\t],\n\t\"e\": []\n}\n";
        assert_eq!(emit(&doc, Indent::Tab), expected);
        assert_eq!(emit(&doc, Indent::Spaces(2)), expected.replace('\t', "  "));
        assert_eq!(emit(&doc, Indent::Spaces(0)), expected.replace('\t', ""));
        assert_eq!(emit(&Map::new(), Indent::Tab), "{}\n");
    }

    #[test]
    fn comments_are_skipped() {
        let doc = Map(vec![
            MapItem::Comment("top".into()),
            MapItem::Entry("l".into(), Value::List(vec![Value::Comment("c".into()), Value::Bool(true)])),
            MapItem::Entry("only".into(), Value::List(vec![Value::Comment("c".into())])),
            MapItem::Entry("m".into(), Value::Map(Map(vec![MapItem::Comment("c".into())]))),
        ]);
        assert_eq!(emit(&doc, Indent::Tab), "{\n\t\"l\": [\n\t\ttrue\n\t],\n\t\"only\": [],\n\t\"m\": {}\n}\n");
    }

    #[test]
    fn scalar_kinds() {
        let doc = map(vec![
            ("n", Value::Null),
            ("t", Value::Bool(true)),
            ("f", Value::Bool(false)),
            ("i", Value::Int(-9223372036854775808)),
            ("x", Value::Float(1e21)),
            ("time", Value::Time("2024-01-02T03:04:05Z".into())),
            ("b", Value::Bytes(vec![0xff, b'a'])),
        ]);
        assert_eq!(
            emit(&doc, Indent::Tab),
            "{\n\t\"n\": null,\n\t\"t\": true,\n\t\"f\": false,\n\t\"i\": -9223372036854775808,\n\t\"x\": 1e+21,\n\t\"time\": \"2024-01-02T03:04:05Z\",\n\t\"b\": \"\\ufffda\"\n}\n"
        );
    }

    #[test]
    fn non_finite_floats_are_refused() {
        for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let doc = map(vec![("x", Value::List(vec![Value::Float(f)]))]);
            assert!(matches!(document(&doc, None, Indent::Tab), Err(Error::Emit { format: Format::Json, .. })));
        }
    }

    #[test]
    fn metadata_goes_last() {
        let doc = map(vec![("a", Value::str("x"))]);
        let meta = map(vec![("hc_vault", Value::Null), ("shamir_threshold", Value::Int(2))]);
        let out = String::from_utf8(document(&doc, Some(("sops", &meta)), Indent::Tab).unwrap()).unwrap();
        assert_eq!(out, "{\n\t\"a\": \"x\",\n\t\"sops\": {\n\t\t\"hc_vault\": null,\n\t\t\"shamir_threshold\": 2\n\t}\n}\n");
        let out = String::from_utf8(document(&Map::new(), Some(("sops", &Map::new())), Indent::Tab).unwrap()).unwrap();
        assert_eq!(out, "{\n\t\"sops\": {}\n}\n");
    }
}
