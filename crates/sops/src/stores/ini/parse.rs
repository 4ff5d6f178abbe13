//! Reading INI text the way go-ini v1 does with the options sops uses (non-unique sections
//! allowed, everything else default). Its quirks decide which bytes become values, so they are
//! reproduced: inline `#`/`;` end a value, `:` separates like `=`, a trailing `\` continues the
//! value on the next line, and a key named `-` gets an auto-numbered name.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::format::Format;

pub(super) const DEFAULT_SECTION: &str = "DEFAULT";

/// A section as go-ini holds it: raw comment text (comment characters included) and keys in
/// first-appearance order.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Section {
    pub name: String,
    pub comment: String,
    pub keys: Vec<Key>,
}

#[derive(Debug, PartialEq)]
pub(super) struct Key {
    pub name: String,
    pub value: String,
    pub comment: String,
}

impl Section {
    fn named(name: &str) -> Section {
        Section { name: name.to_string(), ..Section::default() }
    }

    /// A repeated key keeps its first position and takes the later value and comment.
    /// `positions` maps this section's key names to their place in `keys`, so that a section of
    /// many keys is read in linear time.
    fn set(&mut self, positions: &mut HashMap<String, usize>, name: String, value: String, comment: String) {
        if let Some(key) = positions.get(&name).and_then(|&i| self.keys.get_mut(i)) {
            key.value = value;
            key.comment = comment;
        } else {
            positions.insert(name.clone(), self.keys.len());
            self.keys.push(Key { name, value, comment });
        }
    }
}

/// Parses INI text into its sections. The first section is always the implicit `DEFAULT` one,
/// even when it is empty.
pub(super) fn parse(input: &[u8]) -> Result<Vec<Section>> {
    let text = std::str::from_utf8(strip_bom(input))
        .map_err(|e| parse_error(format!("the input is not valid UTF-8 (byte {})", e.valid_up_to())))?;
    let mut parser = Parser { lines: text.split_inclusive('\n'), line_number: 0, comment: String::new() };
    parser.run()
}

/// go-ini drops a UTF-8 byte order mark, and the first two bytes of a UTF-16 one.
fn strip_bom(input: &[u8]) -> &[u8] {
    if let Some(rest) = input.strip_prefix(b"\xEF\xBB\xBF") {
        rest
    } else if input.starts_with(b"\xFE\xFF") || input.starts_with(b"\xFF\xFE") {
        input.get(2..).unwrap_or_default()
    } else {
        input
    }
}

fn parse_error(message: String) -> Error {
    Error::parse(Format::Ini, message)
}

struct Parser<'a> {
    /// Lines with their `\n`; go-ini looks at that terminator in a few places.
    lines: std::str::SplitInclusive<'a, char>,
    line_number: usize,
    /// Comment lines (and inline comments) waiting for the next key or section.
    comment: String,
}

impl<'a> Parser<'a> {
    /// The next line, or "" at the end of the input (go-ini's read at EOF).
    fn next_line(&mut self) -> &'a str {
        match self.lines.next() {
            Some(line) => {
                self.line_number += 1;
                line
            }
            None => "",
        }
    }

    fn error(&self, what: &str) -> Error {
        parse_error(format!("line {}: {what}", self.line_number))
    }

    fn run(&mut self) -> Result<Vec<Section>> {
        let mut sections = vec![Section::named(DEFAULT_SECTION)];
        // Where each key of the last section stands (see `Section::set`).
        let mut positions = HashMap::new();
        let mut auto_number = 1;
        loop {
            let raw = self.next_line();
            if raw.is_empty() {
                return Ok(sections);
            }
            let line = raw.trim_start();
            if line.is_empty() {
                continue;
            }
            if line.starts_with(['#', ';']) {
                self.comment.push_str(line);
                continue;
            }
            if line.starts_with('[') {
                let close = line.rfind(']').ok_or_else(|| self.error("unclosed section header"))?;
                let name = &line[1..close];
                if name.is_empty() {
                    return Err(self.error("empty section name"));
                }
                if let Some(inline) = comment_part(&line[close + 1..]) {
                    self.comment.push_str(inline);
                }
                let mut section = Section::named(name);
                section.comment = std::mem::take(&mut self.comment).trim().to_string();
                sections.push(section);
                positions.clear();
                auto_number = 1;
                continue;
            }
            let (mut name, offset) = self.key_name(line)?;
            if name == "-" {
                name = format!("#{auto_number}");
                auto_number += 1;
            }
            let value = self.value(&line[offset..])?;
            if name.is_empty() {
                return Err(self.error("empty key name"));
            }
            let comment = std::mem::take(&mut self.comment).trim().to_string();
            // `sections` starts non-empty and never shrinks.
            if let Some(section) = sections.last_mut() {
                section.set(&mut positions, name, value, comment);
            }
        }
    }

    /// The key name and the offset just past its delimiter (`=` or `:`). A name may be quoted
    /// with `"`, `"""` or a backtick to hold delimiters.
    fn key_name(&self, line: &str) -> Result<(String, usize)> {
        let quote = if line.starts_with('"') {
            if line.len() > 6 && line.starts_with(r#"""""#) {
                r#"""""#
            } else {
                "\""
            }
        } else if line.starts_with('`') {
            "`"
        } else {
            ""
        };
        let not_found = || self.error("no `=` or `:` after the key name");
        if quote.is_empty() {
            let end = line.find(['=', ':']).ok_or_else(not_found)?;
            if end == 0 {
                return Err(self.error("empty key name"));
            }
            return Ok((line[..end].trim().to_string(), end + 1));
        }
        let start = quote.len();
        let close = start + line[start..].find(quote).ok_or_else(|| self.error("missing closing quote of the key name"))?;
        let after_quote = close + quote.len();
        let delimiter = after_quote + line[after_quote..].find(['=', ':']).ok_or_else(not_found)?;
        Ok((line[start..close].trim().to_string(), delimiter + 1))
    }

    /// The value after the delimiter (`rest` still ends with the line's `\n`).
    fn value(&mut self, rest: &str) -> Result<String> {
        let line = rest.trim_start();
        if line.is_empty() {
            return Ok(String::new());
        }
        let quote = if line.len() > 3 && line.starts_with(r#"""""#) {
            r#"""""#
        } else if line.starts_with('`') {
            "`"
        } else {
            ""
        };
        if !quote.is_empty() {
            let inner = &line[quote.len()..];
            return match inner.rfind(quote) {
                Some(end) => Ok(inner[..end].to_string()),
                None => self.multiline_value(inner, quote),
            };
        }

        let line = line.trim();
        if let Some(continued) = line.strip_suffix('\\') {
            return Ok(self.continued_value(continued));
        }
        let mut value = line;
        if let Some(at) = value.find(['#', ';']) {
            self.comment.push_str(&value[at..]);
            value = value[..at].trim();
        }
        if surrounded_by(value, b'\'') || surrounded_by(value, b'"') {
            value = &value[1..value.len() - 1];
        }
        Ok(value.to_string())
    }

    /// A quoted value whose closing quote is on a later line: the lines are kept verbatim, up to
    /// the last quote on the closing line; a comment after that quote is kept as a comment.
    fn multiline_value(&mut self, first: &str, quote: &str) -> Result<String> {
        let start_line = self.line_number;
        let mut value = first.to_string();
        loop {
            let next = self.next_line();
            if let Some(end) = next.rfind(quote) {
                value.push_str(&next[..end]);
                if let Some(comment) = comment_part(&next[end..]) {
                    self.comment.push_str(comment.trim());
                }
                return Ok(value);
            }
            value.push_str(next);
            if !next.ends_with('\n') {
                return Err(parse_error(format!("line {start_line}: the quoted value is never closed")));
            }
        }
    }

    /// A value ending in `\` goes on with the next non-empty line, trimmed, as long as each line
    /// ends in `\`. No comment or quote handling applies to such values.
    fn continued_value(&mut self, first: &str) -> String {
        let mut value = first.to_string();
        loop {
            let next = self.next_line().trim();
            if next.is_empty() {
                return value;
            }
            value.push_str(next);
            if !value.ends_with('\\') {
                return value;
            }
            value.pop();
        }
    }
}

/// The text from the first `#` or `;` on.
fn comment_part(text: &str) -> Option<&str> {
    text.find(['#', ';']).map(|at| &text[at..])
}

/// Whether the value is wholly wrapped in this quote, with no other such quote inside.
fn surrounded_by(value: &str, quote: u8) -> bool {
    let bytes = value.as_bytes();
    bytes.len() >= 2
        && bytes.first() == Some(&quote)
        && bytes.last() == Some(&quote)
        && bytes.iter().skip(1).position(|b| *b == quote) == Some(bytes.len() - 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (section name, [(key, value, comment)], section comment)
    type Flat = (String, Vec<(String, String, String)>, String);

    fn keys(input: &str) -> Vec<Flat> {
        parse(input.as_bytes())
            .unwrap()
            .into_iter()
            .map(|s| {
                let keys = s.keys.into_iter().map(|k| (k.name, k.value, k.comment)).collect();
                (s.name, keys, s.comment)
            })
            .collect()
    }

    fn values(input: &str) -> Vec<(String, String)> {
        keys(input).into_iter().flat_map(|(_, ks, _)| ks).map(|(k, v, _)| (k, v)).collect()
    }

    fn kv(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn value_quirks_match_go_ini() {
        let input = "a = 1\n[s]\nq = \"quoted\"\nsq = 'single'\nh = has # hash\nsc = has ; semi\n\
                     qh = \"s3cr3t ; x\"\nbt = `with # and ; inside`\neq = a=b=c\ncolon: value\n\
                     sp = \"  lead and trail  \"\nempty =\nk with space = v\nk5 = \"a\"b\"\nk6 = ''\n\
                     k7 = \t tab\t \n";
        assert_eq!(
            values(input),
            kv(&[
                ("a", "1"),
                ("q", "quoted"),
                ("sq", "single"),
                ("h", "has"),
                ("sc", "has"),
                ("qh", "\"s3cr3t"),
                ("bt", "with # and ; inside"),
                ("eq", "a=b=c"),
                ("colon", "value"),
                ("sp", "  lead and trail  "),
                ("empty", ""),
                ("k with space", "v"),
                ("k5", "\"a\"b\""),
                ("k6", ""),
                ("k7", "tab"),
            ])
        );
    }

    #[test]
    fn multiline_continuation_and_quoted_keys() {
        let input = "[s]\ncont = a \\\n  b\\\n c\nml = \"\"\"x\ny\"\"\" ; after\nbt2 = `a\nb`\n\
                     one = \"\"\"one line\"\"\"  trailing\n\"q k\" = 1\n`b:k` = 2\nend = x\\";
        let parsed = keys(input);
        let s = &parsed[1].1;
        let get = |n: &str| s.iter().find(|k| k.0 == n).map(|k| (k.1.as_str(), k.2.as_str())).unwrap();
        assert_eq!(get("cont"), ("a bc", ""));
        assert_eq!(get("ml"), ("x\ny", "; after"));
        assert_eq!(get("bt2"), ("a\nb", ""));
        assert_eq!(get("one"), ("one line", ""));
        assert_eq!(get("q k"), ("1", ""));
        assert_eq!(get("b:k"), ("2", ""));
        assert_eq!(get("end"), ("x", ""));
    }

    #[test]
    fn comments_attach_to_the_next_key_or_section() {
        let input = "; c1\n# c2\n[s] ; hdr\n; kc\nk = v1 # inline\nk2 = v\n; lost\n";
        let parsed = keys(input);
        assert_eq!(parsed[0], ("DEFAULT".to_string(), vec![], String::new()));
        assert_eq!(parsed[1].2, "; c1\n# c2\n; hdr");
        assert_eq!(parsed[1].1[0], ("k".into(), "v1".into(), "; kc\n# inline".into()));
        assert_eq!(parsed[1].1[1], ("k2".into(), "v".into(), String::new()));
    }

    #[test]
    fn duplicates_and_sections() {
        let input = "[s]\nk = v1 ; c\nk = v2\n- = a\n- = b\n[ spaced ]\nx=1\n[DEFAULT]\ny=2\n[s]\nz=3\n[s]\n- = c\n";
        let parsed = keys(input);
        let names: Vec<&str> = parsed.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(names, ["DEFAULT", "s", " spaced ", "DEFAULT", "s", "s"]);
        assert_eq!(
            parsed[1].1,
            vec![
                ("k".into(), "v2".into(), String::new()),
                ("#1".into(), "a".into(), String::new()),
                ("#2".into(), "b".into(), String::new()),
            ]
        );
        assert_eq!(parsed[5].1[0].0, "#1");
    }

    #[test]
    fn crlf_and_bom() {
        let input = "\u{feff}[s]\r\nk = v\r\n; c\r\nk2 = \"x\" y\r\n";
        let parsed = keys(input);
        assert_eq!(parsed[1].1[0], ("k".into(), "v".into(), String::new()));
        assert_eq!(parsed[1].1[1], ("k2".into(), "\"x\" y".into(), "; c".into()));
    }

    #[test]
    fn malformed_input_fails_without_echoing_it() {
        for bad in ["[s\nk=v\n", "secretline\n", "[]\nk=v\n", "[s]\n=v\n", "[s]\nk=\"\"\"abc\n", "\"\" = v\n", "\"k = v\n"] {
            match parse(bad.as_bytes()) {
                Err(Error::Parse { format: Format::Ini, message }) => {
                    assert!(message.starts_with("line "), "{message}");
                    assert!(!message.contains("secretline") && !message.contains("abc"), "{message}");
                }
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        assert!(parse(b"[s]\nk = \xff\n").is_err());
    }
}
