//! The INI store, with the semantics of the go-ini library sops uses: sections are the top-level
//! keys (keys before any header are in `DEFAULT`), a comment above a section header is the
//! section's first item, a comment above a key is stored after that key, inline `#`/`;` end a
//! value, and the writer aligns `=` per section and quotes values as go-ini does.

use crate::error::{Error, Result};
use crate::format::Format;
use crate::stores::flat;
use crate::stores::Store;
use crate::tree::{Document, Map, MapItem, Value};

const DEFAULT_SECTION: &str = "DEFAULT";
const SOPS_SECTION: &str = "sops";

#[derive(Clone, Copy, Debug, Default)]
pub struct IniStore;

fn parse_error(line: usize, reason: &str) -> Error {
    Error::parse(Format::Ini, format!("line {line}: {reason}"))
}

/// One parsed section: its name, comment and keys (with their comments), in file order.
struct Section {
    name: String,
    comment: String,
    keys: Vec<(String, String, String)>,
}

/// Reads the file the way go-ini does with sops' options (non-unique sections allowed).
fn parse_sections(input: &[u8]) -> Result<Vec<Section>> {
    let mut text = std::str::from_utf8(input).map_err(|e| Error::parse(Format::Ini, format!("not UTF-8 text (byte {})", e.valid_up_to())))?;
    text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut sections = vec![Section { name: DEFAULT_SECTION.to_string(), comment: String::new(), keys: Vec::new() }];
    let mut comment = String::new();
    let mut i = 0;
    while i < lines.len() {
        let number = i + 1;
        let line = lines[i].trim_start();
        i += 1;
        if line.is_empty() {
            continue;
        }
        if line.starts_with('#') || line.starts_with(';') {
            comment.push_str(line);
            continue;
        }
        if line.starts_with('[') {
            let close = line.rfind(']').ok_or_else(|| parse_error(number, "unclosed section header"))?;
            let name = &line[1..close];
            if name.is_empty() {
                return Err(parse_error(number, "empty section name"));
            }
            if let Some(at) = line[close + 1..].find(['#', ';']) {
                comment.push_str(&line[close + 1 + at..]);
            }
            sections.push(Section { name: name.to_string(), comment: comment.trim().to_string(), keys: Vec::new() });
            comment.clear();
            continue;
        }
        let (key, offset) = read_key(line).ok_or_else(|| parse_error(number, "expected `key = value`"))?;
        let value = read_value(&line[offset..], &lines, &mut i, &mut comment).map_err(|reason| parse_error(number, reason))?;
        let section = sections.last_mut().expect("the default section is always there");
        let key_comment = comment.trim().to_string();
        comment.clear();
        match section.keys.iter_mut().find(|(k, _, _)| *k == key) {
            Some(existing) => {
                existing.1 = value;
                existing.2 = key_comment;
            }
            None => section.keys.push((key, value, key_comment)),
        }
    }
    Ok(sections)
}

/// The key name and where its value starts.
fn read_key(line: &str) -> Option<(String, usize)> {
    let quote = if line.starts_with("\"\"\"") && line.len() > 6 {
        "\"\"\""
    } else if line.starts_with('"') {
        "\""
    } else if line.starts_with('`') {
        "`"
    } else {
        ""
    };
    if quote.is_empty() {
        let end = line.find(['=', ':'])?;
        return Some((line[..end].trim().to_string(), end + 1));
    }
    let start = quote.len();
    let close = line[start..].find(quote)? + start;
    let delimiter = line[close + start..].find(['=', ':'])?;
    Some((line[start..close].trim().to_string(), close + delimiter + start + 1))
}

fn read_value(raw: &str, lines: &[&str], next: &mut usize, comment: &mut String) -> std::result::Result<String, &'static str> {
    let line = raw.trim_start();
    if line.is_empty() {
        return Ok(String::new());
    }
    let quote = if line.len() > 3 && line.starts_with("\"\"\"") {
        "\"\"\""
    } else if line.starts_with('`') {
        "`"
    } else {
        ""
    };
    if !quote.is_empty() {
        let rest = &line[quote.len()..];
        if let Some(pos) = rest.rfind(quote) {
            return Ok(rest[..pos].to_string());
        }
        // A quoted value spanning lines, up to the line holding the closing quote.
        let mut value = rest.to_string();
        loop {
            let Some(next_line) = lines.get(*next) else { return Err("missing closing quote") };
            *next += 1;
            if let Some(pos) = next_line.rfind(quote) {
                value.push_str(&next_line[..pos]);
                if let Some(at) = next_line[pos..].find(['#', ';']) {
                    comment.push_str(next_line[pos + at..].trim());
                }
                return Ok(value);
            }
            value.push_str(next_line);
        }
    }
    let mut value = line.trim().to_string();
    if value.ends_with('\\') {
        value.pop();
        loop {
            let Some(next_line) = lines.get(*next) else { break };
            let piece = next_line.trim();
            if piece.is_empty() {
                break;
            }
            *next += 1;
            value.push_str(piece);
            if !value.ends_with('\\') {
                break;
            }
            value.pop();
        }
        return Ok(value);
    }
    if let Some(at) = value.find(['#', ';']) {
        comment.push_str(&value[at..]);
        value = value[..at].trim().to_string();
    }
    for q in ['\'', '"'] {
        let surrounded = value.len() >= 2 && value.starts_with(q) && value.ends_with(q) && !value[1..value.len() - 1].contains(q);
        if surrounded {
            return Ok(value[1..value.len() - 1].to_string());
        }
    }
    Ok(value)
}

/// sops' `stripCommentChar`: leading `;`/`#` and spaces go.
fn strip_comment_char(comment: &str) -> String {
    if comment.starts_with(';') {
        comment.trim_start_matches([';', ' ']).to_string()
    } else if comment.starts_with('#') {
        comment.trim_start_matches(['#', ' ']).to_string()
    } else {
        comment.to_string()
    }
}

fn to_tree(sections: Vec<Section>) -> Map {
    let mut root = Map::new();
    for section in sections {
        let mut items = Map::new();
        if !section.comment.is_empty() {
            items.0.push(MapItem::Comment(strip_comment_char(&section.comment)));
        }
        for (key, value, comment) in section.keys {
            items.0.push(MapItem::Entry(key, Value::Str(value)));
            if !comment.is_empty() {
                items.0.push(MapItem::Comment(strip_comment_char(&comment)));
            }
        }
        root.0.push(MapItem::Entry(section.name, Value::Map(items)));
    }
    root
}

fn emit_error(message: impl Into<String>) -> Error {
    Error::Emit { format: Format::Ini, message: message.into() }
}

/// Writes sections as go-ini's pretty writer does.
fn emit(branch: &Map, extra: Option<(&str, &[(String, String)])>) -> Result<Vec<u8>> {
    let mut blocks: Vec<String> = Vec::new();
    let mut index = 0;
    let mut write_section = |name: &str, comment: Option<&str>, keys: &[(String, String, Option<String>)]| {
        let mut out = String::new();
        if let Some(comment) = comment {
            for line in comment.split('\n') {
                match line.chars().next() {
                    Some('#') | Some(';') => {
                        out.push_str(&line[..1]);
                        out.push(' ');
                        out.push_str(line[1..].trim());
                    }
                    _ => {
                        out.push_str("; ");
                        out.push_str(line);
                    }
                }
                out.push('\n');
            }
        }
        let first = index == 0;
        index += 1;
        if !(first && name == DEFAULT_SECTION) {
            out.push_str(&format!("[{name}]\n"));
        } else if keys.is_empty() {
            return;
        }
        let shown: Vec<String> = keys.iter().map(|(k, _, _)| quote_key(k)).collect();
        let width = shown.iter().map(|k| k.len()).max().unwrap_or(0);
        for ((_, value, comment), key) in keys.iter().zip(&shown) {
            if let Some(comment) = comment {
                for line in comment.split('\n') {
                    match line.chars().next() {
                        Some(c @ ('#' | ';')) => out.push_str(&format!("{c} {}\n", line[1..].trim())),
                        _ => out.push_str(&format!("; {}\n", line.trim())),
                    }
                }
            }
            out.push_str(key);
            out.push_str(&" ".repeat(width - key.len()));
            out.push_str(" = ");
            out.push_str(&quote_value(value));
            out.push('\n');
        }
        blocks.push(out);
    };
    for (name, value) in branch.entries() {
        let Value::Map(items) = value else {
            return Err(emit_error(format!("section `{name}` is not a mapping; INI files hold sections of keys")));
        };
        let mut comment = None;
        let mut keys: Vec<(String, String, Option<String>)> = Vec::new();
        for (i, item) in items.0.iter().enumerate() {
            match item {
                MapItem::Comment(c) if i == 0 => comment = Some(c.as_str()),
                MapItem::Comment(c) => {
                    if let Some(last) = keys.last_mut() {
                        last.2 = Some(c.clone());
                    }
                }
                MapItem::Entry(key, value) => {
                    let text = flat::value_to_string(value)
                        .ok_or_else(|| emit_error(format!("cannot write the nested value of `{name}.{key}` in an INI file")))?;
                    match keys.iter_mut().find(|(k, _, _)| k == key) {
                        Some(existing) => existing.1 = text,
                        None => keys.push((key.clone(), text, None)),
                    }
                }
            }
        }
        write_section(name, comment, &keys);
    }
    if let Some((name, pairs)) = extra {
        let keys: Vec<(String, String, Option<String>)> = pairs.iter().map(|(k, v)| (k.clone(), v.clone(), None)).collect();
        write_section(name, None, &keys);
    }
    Ok(blocks.join("\n").into_bytes())
}

fn quote_key(key: &str) -> String {
    if key.contains('"') || key.contains(['=', ':']) {
        format!("`{key}`")
    } else if key.contains('`') {
        format!("\"\"\"{key}\"\"\"")
    } else {
        key.to_string()
    }
}

fn quote_value(value: &str) -> String {
    if value.contains(['\n', '`']) {
        format!("\"\"\"{value}\"\"\"")
    } else if value.contains(['#', ';']) {
        format!("`{value}`")
    } else if value.trim() != value {
        format!("\"{value}\"")
    } else {
        value.to_string()
    }
}

impl Store for IniStore {
    fn parse_plain(&self, input: &[u8]) -> Result<Document> {
        Ok(Document { branches: vec![to_tree(parse_sections(input)?)] })
    }

    fn parse_encrypted(&self, input: &[u8]) -> Result<(Document, Map)> {
        let mut sections = parse_sections(input)?;
        let position = sections.iter().position(|s| s.name == SOPS_SECTION).ok_or(Error::MetadataNotFound)?;
        let sops = sections.remove(position);
        let metadata = flat::unflatten(sops.keys.into_iter().map(|(k, v, _)| (k, v.replace('\n', "\\n"))))?;
        sections.retain(|s| s.name != SOPS_SECTION);
        Ok((Document { branches: vec![to_tree(sections)] }, metadata))
    }

    fn emit_plain(&self, doc: &Document) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for branch in &doc.branches {
            out.extend(emit(branch, None)?);
        }
        Ok(out)
    }

    fn emit_encrypted(&self, doc: &Document, metadata: &Map) -> Result<Vec<u8>> {
        let pairs = flat::flatten(metadata)?;
        let empty = Map::new();
        let branch = doc.branches.first().unwrap_or(&empty);
        emit(branch, Some((SOPS_SECTION, &pairs)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(path: &str) -> Vec<u8> {
        std::fs::read(format!("{}/../../fixtures/sops-vectors/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    /// sops writes the `[sops]` keys in random order: compare with them sorted.
    fn sorted_sops_section(text: &str) -> String {
        let (data, sops) = text.split_once("[sops]\n").unwrap();
        let mut lines: Vec<&str> = sops.lines().collect();
        lines.sort_by_key(|l| l.split(' ').next().unwrap_or("").to_string());
        format!("{data}[sops]\n{}\n", lines.join("\n"))
    }

    #[test]
    fn encrypted_vectors_round_trip_up_to_the_sops_key_order() {
        for name in ["enc/basic.ini", "enc/shamir-2of3.ini"] {
            let text = String::from_utf8(vector(name)).unwrap();
            let (doc, metadata) = IniStore.parse_encrypted(text.as_bytes()).unwrap();
            let again = String::from_utf8(IniStore.emit_encrypted(&doc, &metadata).unwrap()).unwrap();
            assert_eq!(again, sorted_sops_section(&text), "{name}");
        }
    }

    #[test]
    fn plain_input_emits_what_sops_decrypt_prints() {
        for name in ["basic.ini", "shamir-2of3.ini"] {
            let doc = IniStore.parse_plain(&vector(&format!("plain/{name}"))).unwrap();
            assert_eq!(String::from_utf8(IniStore.emit_plain(&doc).unwrap()).unwrap(), String::from_utf8(vector(&format!("dec/{name}"))).unwrap(), "{name}");
            let dec = IniStore.parse_plain(&vector(&format!("dec/{name}"))).unwrap();
            assert_eq!(IniStore.emit_plain(&dec).unwrap(), vector(&format!("dec/{name}")));
        }
    }

    #[test]
    fn go_ini_value_quirks() {
        let doc = IniStore.parse_plain(b"[s]\na = has # hash\nb = \"quoted\"\nc = `keep ; this`\nd = \"s3cr3t ; x\"\ne: colon\n").unwrap();
        let Some(Value::Map(s)) = doc.branches[0].get("s") else { panic!() };
        assert_eq!(s.get("a"), Some(&Value::str("has")));
        assert_eq!(s.0[1], MapItem::Comment("hash".into()));
        assert_eq!(s.get("b"), Some(&Value::str("quoted")));
        assert_eq!(s.get("c"), Some(&Value::str("keep ; this")));
        assert_eq!(s.get("d"), Some(&Value::str("\"s3cr3t")));
        assert_eq!(s.get("e"), Some(&Value::str("colon")));
        let out = String::from_utf8(IniStore.emit_plain(&doc).unwrap()).unwrap();
        assert!(out.contains("c = `keep ; this`"), "{out}");
        assert!(IniStore.parse_plain(b"[s]\nno delimiter here\n").unwrap_err().to_string().contains("line 2"));
        assert!(IniStore.parse_plain(b"[s\n").is_err());
    }

    #[test]
    fn values_with_spaces_are_quoted_and_read_back() {
        let mut section = Map::new();
        section.push("k", Value::str("  padded "));
        let mut root = Map::new();
        root.push("s", Value::Map(section));
        let doc = Document { branches: vec![root] };
        let out = IniStore.emit_plain(&doc).unwrap();
        assert_eq!(String::from_utf8(out.clone()).unwrap(), "[s]\nk = \"  padded \"\n");
        // Like go-ini, reading adds the (empty) DEFAULT section first.
        let mut expected = Map::new();
        expected.push(DEFAULT_SECTION, Value::Map(Map::new()));
        expected.0.extend(doc.branches[0].0.clone());
        assert_eq!(IniStore.parse_plain(&out).unwrap(), Document { branches: vec![expected] });
    }
}
