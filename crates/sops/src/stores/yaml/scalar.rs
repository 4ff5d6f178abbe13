//! Scalar typing as go-yaml v3 resolves it (`resolve.go`), close to the YAML 1.2 core schema:
//! `true`/`false` are bools but `yes`/`no`/`on`/`off` stay strings; ints take `0x`, `0o`, `0b`,
//! a leading `0` (octal) and `_` separators; out-of-range ints become unsigned or float; dates
//! and RFC 3339-like times are timestamps.

use super::timestamp;

pub(super) const NULL_TAG: &str = "!!null";
pub(super) const BOOL_TAG: &str = "!!bool";
pub(super) const STR_TAG: &str = "!!str";
pub(super) const INT_TAG: &str = "!!int";
pub(super) const FLOAT_TAG: &str = "!!float";
pub(super) const TIMESTAMP_TAG: &str = "!!timestamp";
pub(super) const BINARY_TAG: &str = "!!binary";
pub(super) const MERGE_TAG: &str = "!!merge";

const LONG_TAG_PREFIX: &str = "tag:yaml.org,2002:";

/// A resolved scalar, before it becomes a tree value.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    /// Above `i64::MAX`: go-yaml yields a `uint64`, which sops cannot encrypt.
    Uint(u64),
    Float(f64),
    /// The text itself is the string (the caller already holds it: no copy is made here).
    Str,
    /// Canonical RFC 3339 text (Go `time.MarshalText`).
    Time(String),
}

pub(super) fn short_tag(tag: &str) -> String {
    match tag.strip_prefix(LONG_TAG_PREFIX) {
        Some(rest) => format!("!!{rest}"),
        None => tag.to_string(),
    }
}

fn resolvable(tag: &str) -> bool {
    matches!(tag, "" | STR_TAG | BOOL_TAG | INT_TAG | FLOAT_TAG | NULL_TAG | TIMESTAMP_TAG)
}

/// The tag an untagged plain scalar resolves to.
pub(super) fn resolve_plain_tag(value: &str) -> &'static str {
    match resolve("", value) {
        Ok((tag, _)) => tag,
        Err(()) => STR_TAG,
    }
}

/// Resolves `value` under `tag` (short form, `""` for none). Errors when an explicit tag
/// cannot hold the value (`!!int abc`).
pub(super) fn resolve(tag: &str, value: &str) -> Result<(&'static str, Resolved), ()> {
    if !resolvable(tag) {
        // Unknown tags (`!env`, `!!binary`, `!!merge`) keep the text.
        return Ok((STR_TAG, Resolved::Str));
    }
    let (rtag, out) = resolve_untyped(tag, value);
    if tag.is_empty() || tag == rtag || tag == STR_TAG {
        return Ok((rtag, out));
    }
    if tag == FLOAT_TAG && rtag == INT_TAG {
        if let Resolved::Int(i) = out {
            #[allow(clippy::cast_precision_loss, reason = "go-yaml converts with float64(i), rounding as this does")]
            return Ok((FLOAT_TAG, Resolved::Float(i as f64)));
        }
    }
    Err(())
}

fn resolve_untyped(tag: &str, value: &str) -> (&'static str, Resolved) {
    let hint = match value.as_bytes().first() {
        None => b'N',
        Some(b'+' | b'-') => b'S',
        Some(b'0'..=b'9') => b'D',
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => b'M',
        Some(b'.') => b'.',
        Some(_) => 0,
    };
    if hint == 0 || tag == STR_TAG {
        return (STR_TAG, Resolved::Str);
    }
    match value {
        "true" | "True" | "TRUE" => return (BOOL_TAG, Resolved::Bool(true)),
        "false" | "False" | "FALSE" => return (BOOL_TAG, Resolved::Bool(false)),
        "" | "~" | "null" | "Null" | "NULL" => return (NULL_TAG, Resolved::Null),
        ".nan" | ".NaN" | ".NAN" => return (FLOAT_TAG, Resolved::Float(f64::NAN)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return (FLOAT_TAG, Resolved::Float(f64::INFINITY));
        }
        "-.inf" | "-.Inf" | "-.INF" => return (FLOAT_TAG, Resolved::Float(f64::NEG_INFINITY)),
        _ => {}
    }
    match hint {
        b'.' => {
            if let Some(f) = go_parse_float(value) {
                return (FLOAT_TAG, Resolved::Float(f));
            }
        }
        b'D' | b'S' => {
            if tag.is_empty() || tag == TIMESTAMP_TAG {
                if let Some(t) = timestamp::parse(value) {
                    return (TIMESTAMP_TAG, Resolved::Time(t));
                }
            }
            let plain: String = value.chars().filter(|&c| c != '_').collect();
            if let Some(i) = parse_int(&plain, 0) {
                return (INT_TAG, Resolved::Int(i));
            }
            if let Some(u) = parse_uint(&plain, 0) {
                return (INT_TAG, Resolved::Uint(u));
            }
            if is_yaml_style_float(&plain) {
                if let Some(f) = go_parse_float(&plain) {
                    return (FLOAT_TAG, Resolved::Float(f));
                }
            }
            let (neg, digits) = match plain.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, plain.as_str()),
            };
            for (prefix, radix) in [("0b", 2), ("0o", 8)] {
                if let Some(d) = digits.strip_prefix(prefix) {
                    if neg {
                        if let Some(i) = parse_int(&format!("-{d}"), radix) {
                            return (INT_TAG, Resolved::Int(i));
                        }
                    } else if let Some(i) = parse_int(d, radix) {
                        return (INT_TAG, Resolved::Int(i));
                    } else if let Some(u) = parse_uint(d, radix) {
                        return (INT_TAG, Resolved::Uint(u));
                    }
                }
            }
        }
        _ => {}
    }
    (STR_TAG, Resolved::Str)
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Decimal floats as Go `strconv.ParseFloat` reads them here: overflow is an error.
fn go_parse_float(s: &str) -> Option<f64> {
    let body = s.trim_start_matches(['+', '-']);
    if !body.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    if body.contains(['_', 'x', 'X', 'p', 'P']) {
        return None;
    }
    let f: f64 = s.parse().ok()?;
    f.is_finite().then_some(f)
}

/// Go `strconv.ParseUint(s, base, 64)`; base 0 reads `0x`, `0o`, `0b` and a leading `0`.
fn parse_uint(s: &str, base: u32) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let (digits, radix) = if base == 0 {
        let b = s.as_bytes();
        if b[0] == b'0' {
            match b.get(1).map(u8::to_ascii_lowercase) {
                Some(b'b') if b.len() >= 3 => (&s[2..], 2),
                Some(b'o') if b.len() >= 3 => (&s[2..], 8),
                Some(b'x') if b.len() >= 3 => (&s[2..], 16),
                _ => (&s[1..], 8),
            }
        } else {
            (s, 10)
        }
    } else {
        (s, base)
    };
    let mut n: u64 = 0;
    for c in digits.chars() {
        let d = u64::from(c.to_digit(radix)?);
        n = n.checked_mul(u64::from(radix))?.checked_add(d)?;
    }
    Some(n)
}

/// Go `strconv.ParseInt(s, base, 64)`.
fn parse_int(s: &str, base: u32) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let u = parse_uint(rest, base)?;
    if neg {
        if let Ok(positive) = i64::try_from(u) {
            Some(-positive)
        } else if u == i64::MAX.unsigned_abs() + 1 {
            Some(i64::MIN)
        } else {
            None
        }
    } else {
        i64::try_from(u).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(v: &str) -> Resolved {
        resolve("", v).unwrap().1
    }

    #[test]
    fn bools_are_only_true_and_false() {
        assert_eq!(r("true"), Resolved::Bool(true));
        assert_eq!(r("False"), Resolved::Bool(false));
        for s in ["yes", "no", "on", "off", "y", "n", "tRue"] {
            assert_eq!(r(s), Resolved::Str, "{s}");
        }
    }

    #[test]
    fn nulls() {
        for s in ["", "~", "null", "Null", "NULL"] {
            assert_eq!(r(s), Resolved::Null, "{s:?}");
        }
        assert_eq!(r("nULL"), Resolved::Str);
    }

    #[test]
    fn ints_in_every_base() {
        assert_eq!(r("42"), Resolved::Int(42));
        assert_eq!(r("-17"), Resolved::Int(-17));
        assert_eq!(r("+5"), Resolved::Int(5));
        assert_eq!(r("0x1F"), Resolved::Int(31));
        assert_eq!(r("0o17"), Resolved::Int(15));
        assert_eq!(r("0b101"), Resolved::Int(5));
        assert_eq!(r("-0b101"), Resolved::Int(-5));
        assert_eq!(r("0777"), Resolved::Int(511));
        assert_eq!(r("1_000"), Resolved::Int(1000));
        assert_eq!(r("-9223372036854775808"), Resolved::Int(i64::MIN));
    }

    #[test]
    fn out_of_range_ints() {
        assert_eq!(r("18446744073709551615"), Resolved::Uint(u64::MAX));
        assert_eq!(r("99999999999999999999999"), Resolved::Float(1e23));
        // Not valid octal, so it falls through to a float.
        assert_eq!(r("09"), Resolved::Float(9.0));
    }

    #[test]
    fn floats() {
        assert_eq!(r("0.75"), Resolved::Float(0.75));
        assert_eq!(r("1.0e+21"), Resolved::Float(1e21));
        assert_eq!(r(".5"), Resolved::Float(0.5));
        assert_eq!(r("+.5"), Resolved::Float(0.5));
        assert_eq!(r("1e5"), Resolved::Float(1e5));
        assert_eq!(r(".inf"), Resolved::Float(f64::INFINITY));
        assert_eq!(r("-.Inf"), Resolved::Float(f64::NEG_INFINITY));
        assert!(matches!(r(".NaN"), Resolved::Float(f) if f.is_nan()));
        // Overflow is an error in Go, so the text stays a string.
        assert_eq!(r("1e400"), Resolved::Str);
        assert_eq!(r(".inF"), Resolved::Str);
        assert_eq!(r("1.2.3"), Resolved::Str);
        assert_eq!(r("0x1p3"), Resolved::Str);
    }

    #[test]
    fn timestamps() {
        assert_eq!(r("2024-01-02"), Resolved::Time("2024-01-02T00:00:00Z".into()));
        assert_eq!(r("2001-12-14 21:59:43.10 -5"), Resolved::Str);
    }

    #[test]
    fn explicit_tags() {
        assert_eq!(resolve("!!float", "1").unwrap().1, Resolved::Float(1.0));
        assert!(resolve("!!int", "abc").is_err());
        assert!(resolve("!!bool", "yes").is_err());
        assert_eq!(resolve("!!str", "12").unwrap().1, Resolved::Str);
        assert_eq!(resolve("!env", "12").unwrap().1, Resolved::Str);
        assert_eq!(resolve("!!timestamp", "2024-01-02").unwrap().1, Resolved::Time("2024-01-02T00:00:00Z".into()));
    }

    #[test]
    fn long_tags_shorten() {
        assert_eq!(short_tag("tag:yaml.org,2002:str"), "!!str");
        assert_eq!(short_tag("!env"), "!env");
    }
}
