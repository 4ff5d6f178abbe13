//! When go-yaml quotes a string, and how.
//!
//! sops builds each scalar with `yaml.Node.Encode`, so a string's style is what go-yaml's
//! encoder picks for it on its own: a literal block when it has a newline, plain when it would
//! read back as the same string, double quotes otherwise; the emitter then downgrades a style
//! the characters do not allow (plain → single quotes → double quotes, literal → double
//! quotes), using libyaml's scalar analysis reproduced here byte for byte.

use super::scalar::{resolve_plain_tag, STR_TAG};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// What the characters of a scalar allow (libyaml `yaml_emitter_analyze_scalar`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Analysis {
    pub multiline: bool,
    pub flow_plain_allowed: bool,
    pub block_plain_allowed: bool,
    pub single_quoted_allowed: bool,
    pub block_allowed: bool,
}

/// UTF-8 width from a leading byte (0 for a continuation byte).
pub(super) fn width(b: u8) -> usize {
    match b {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 0,
    }
}

fn at(v: &[u8], i: usize) -> u8 {
    v.get(i).copied().unwrap_or(0)
}

pub(super) fn is_space(v: &[u8], i: usize) -> bool {
    at(v, i) == b' '
}

pub(super) fn is_blank(v: &[u8], i: usize) -> bool {
    matches!(at(v, i), b' ' | b'\t')
}

pub(super) fn is_break(v: &[u8], i: usize) -> bool {
    match at(v, i) {
        b'\r' | b'\n' => true,
        0xC2 => at(v, i + 1) == 0x85,
        0xE2 => at(v, i + 1) == 0x80 && matches!(at(v, i + 2), 0xA8 | 0xA9),
        _ => false,
    }
}

fn is_blankz(v: &[u8], i: usize) -> bool {
    is_blank(v, i) || is_break(v, i) || at(v, i) == 0
}

/// libyaml's check looks at the start of the value whatever `i` is, so a value that begins
/// with a byte-order mark gets every character escaped inside double quotes.
pub(super) fn is_bom(v: &[u8], _i: usize) -> bool {
    v.starts_with(&[0xEF, 0xBB, 0xBF])
}

/// libyaml's printable set: no C0/C1 controls, no surrogates, no BOM, nothing beyond the BMP.
pub(super) fn is_printable(v: &[u8], i: usize) -> bool {
    let (b0, b1, b2) = (at(v, i), at(v, i + 1), at(v, i + 2));
    b0 == 0x0A
        || (0x20..=0x7E).contains(&b0)
        || (b0 == 0xC2 && b1 >= 0xA0)
        || (b0 > 0xC2 && b0 < 0xED)
        || (b0 == 0xED && b1 < 0xA0)
        || b0 == 0xEE
        || (b0 == 0xEF && !(b1 == 0xBB && b2 == 0xBF) && !(b1 == 0xBF && (b2 == 0xBE || b2 == 0xBF)))
}

pub(super) fn analyze(value: &str) -> Analysis {
    let v = value.as_bytes();
    if v.is_empty() {
        return Analysis {
            multiline: false,
            flow_plain_allowed: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let mut block_indicators = false;
    let mut flow_indicators = false;
    let mut line_breaks = false;
    let mut special_characters = false;
    let mut tab_characters = false;
    let mut leading_space = false;
    let mut leading_break = false;
    let mut trailing_space = false;
    let mut trailing_break = false;
    let mut break_space = false;
    let mut space_break = false;
    let mut previous_space = false;
    let mut previous_break = false;

    if v.starts_with(b"---") || v.starts_with(b"...") {
        block_indicators = true;
        flow_indicators = true;
    }
    let mut preceded_by_whitespace = true;
    let mut i = 0;
    while i < v.len() {
        let w = width(v[i]).max(1);
        let followed_by_whitespace = i + w >= v.len() || is_blank(v, i + w);
        if i == 0 {
            match v[i] {
                b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\'' | b'"' | b'%' | b'@' | b'`' => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                b'?' | b':' => {
                    flow_indicators = true;
                    if followed_by_whitespace {
                        block_indicators = true;
                    }
                }
                b'-' if followed_by_whitespace => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                _ => {}
            }
        } else {
            match v[i] {
                b',' | b'?' | b'[' | b']' | b'{' | b'}' => flow_indicators = true,
                b':' => {
                    flow_indicators = true;
                    if followed_by_whitespace {
                        block_indicators = true;
                    }
                }
                b'#' if preceded_by_whitespace => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                _ => {}
            }
        }

        if v[i] == b'\t' {
            tab_characters = true;
        } else if !is_printable(v, i) {
            special_characters = true;
        }
        if is_space(v, i) {
            if i == 0 {
                leading_space = true;
            }
            if i + w == v.len() {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(v, i) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + w == v.len() {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_blankz(v, i);
        i += w;
    }

    let mut a = Analysis {
        multiline: line_breaks,
        flow_plain_allowed: true,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || tab_characters || special_characters {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special_characters {
        a.block_allowed = false;
    }
    if line_breaks {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
    }
    if flow_indicators {
        a.flow_plain_allowed = false;
    }
    if block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// YAML 1.1 booleans, quoted on output for old parsers.
fn is_old_bool(s: &str) -> bool {
    matches!(s, "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF")
}

/// YAML 1.1 sexagesimal floats (`190:20:30.15`), quoted on output for old parsers:
/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        let start = i;
        if b.get(i).is_some_and(|c| (b'0'..=b'5').contains(c)) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 2;
        } else if b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// The style go-yaml's encoder gives a string on its own (the style sops' node keeps).
pub(super) fn string_style(s: &str) -> Style {
    let a = analyze(s);
    if s.contains('\n') {
        return if a.block_allowed { Style::Literal } else { Style::Double };
    }
    let can_use_plain = resolve_plain_tag(s) == STR_TAG && !is_base60_float(s) && !is_old_bool(s);
    if !can_use_plain {
        return Style::Double;
    }
    downgrade_plain(a, false)
}

/// A plain style request in block context, after the emitter's checks.
pub(super) fn downgrade_plain(a: Analysis, flow: bool) -> Style {
    let plain_ok = if flow { a.flow_plain_allowed } else { a.block_plain_allowed };
    if plain_ok {
        Style::Plain
    } else if a.single_quoted_allowed {
        Style::Single
    } else {
        Style::Double
    }
}

/// The escape a character gets inside double quotes, if it needs one.
pub(super) fn double_quote_escape(v: &[u8], i: usize, c: char) -> Option<String> {
    let needs = !is_printable(v, i) || is_bom(v, i) || is_break(v, i) || c == '"' || c == '\\';
    if !needs {
        return None;
    }
    let short = match c {
        '\0' => "0",
        '\u{7}' => "a",
        '\u{8}' => "b",
        '\t' => "t",
        '\n' => "n",
        '\u{b}' => "v",
        '\u{c}' => "f",
        '\r' => "r",
        '\u{1b}' => "e",
        '"' => "\"",
        '\\' => "\\",
        '\u{85}' => "N",
        '\u{a0}' => "_",
        '\u{2028}' => "L",
        '\u{2029}' => "P",
        _ => "",
    };
    let code = c as u32;
    Some(if !short.is_empty() {
        format!("\\{short}")
    } else if code <= 0xFF {
        format!("\\x{code:02X}")
    } else if code <= 0xFFFF {
        format!("\\u{code:04X}")
    } else {
        format!("\\U{code:08X}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_that_resolve_otherwise_are_double_quoted() {
        for s in ["", "12345", "true", "null", "~", "1.5", "0x1F", "2024-01-02", "off", "yes", "N", "12:30", ".inf"] {
            assert_eq!(string_style(s), Style::Double, "{s:?}");
        }
    }

    #[test]
    fn ordinary_strings_stay_plain() {
        for s in [
            "hello",
            "demo-service",
            "a b",
            "ENC[AES256_GCM,data:x,type:str]",
            "^(data|stringData)$",
            "Grüße",
            "a:b",
            "a#b",
            "3.11.0",
            "-x",
            "2024-01-02 21:59:43.10 -5",
        ] {
            assert_eq!(string_style(s), Style::Plain, "{s:?}");
        }
    }

    #[test]
    fn indicators_and_edges_get_single_quotes() {
        for s in [
            " lead", "trail ", "a: b", "a #b", "- x", "-", "?", ":", "#x", "*x", "&x", "!x", "|", ">", "'q", "\"q", "%x", "@x", "`x", "[x",
            "{x", "---", "...x", "@",
        ] {
            assert_eq!(string_style(s), Style::Single, "{s:?}");
        }
    }

    #[test]
    fn control_and_astral_characters_force_double_quotes() {
        for s in ["tab\there", "bell\u{7}", "emoji 🎵", "bom\u{feff}", "nel\u{85}x", "del\u{7f}"] {
            assert_eq!(string_style(s), Style::Double, "{s:?}");
        }
    }

    #[test]
    fn multi_line_strings_are_literal_unless_they_cannot_be() {
        assert_eq!(string_style("a\nb"), Style::Literal);
        assert_eq!(string_style("a\nb\n"), Style::Literal);
        assert_eq!(string_style("a \nb"), Style::Double);
        assert_eq!(string_style("a\nb "), Style::Double);
        assert_eq!(string_style("a\n\tb"), Style::Literal);
    }

    #[test]
    fn escapes() {
        let esc = |s: &str| {
            let v = s.as_bytes();
            s.char_indices().map(|(i, c)| double_quote_escape(v, i, c).unwrap_or_else(|| c.to_string())).collect::<String>()
        };
        assert_eq!(esc("a\tb\"\\"), "a\\tb\\\"\\\\");
        assert_eq!(esc("🎵"), "\\U0001F3B5");
        assert_eq!(esc("\u{1}\u{7f}"), "\\x01\\x7F");
        assert_eq!(esc("\u{feff}"), "\\uFEFF");
        assert_eq!(esc("\u{feff}a1"), "\\uFEFF\\x61\\x31");
        assert_eq!(esc("a\u{feff}1"), "a\\uFEFF1");
        assert_eq!(esc("é"), "é");
    }
}
