//! Go's text form of tree values, as sops prints them into the flat layouts and into the
//! environment of `exec-env`.
//!
//! A scalar written as a dotenv value or an INI key goes through sops' `ValToString`; anything
//! nested inside an INI key is printed with Go's `%v` verb. Both are reproduced here because they
//! decide the bytes of converted output (`sops decrypt --output-type ini|dotenv`).

use crate::tree::{MapItem, Value};

/// A scalar the way sops' `ValToString` prints it: floats as `strconv.FormatFloat(f, 'G', -1)`
/// with `.0` added when the text would read as an integer, bools `true`/`false`, times as
/// RFC 3339 at second precision, null as `<nil>`, and containers through `fmt_v` (Go's `%v`).
pub fn val_to_string(value: &Value) -> Vec<u8> {
    match value {
        Value::Str(s) => s.as_bytes().to_vec(),
        Value::Bytes(b) => b.clone(),
        Value::Float(f) => {
            let mut text = format_g(*f, b'E');
            if f.is_finite() && !text.contains('.') && !text.contains('E') {
                text.push_str(".0");
            }
            text.into_bytes()
        }
        Value::Time(t) => strip_fraction(t).into_bytes(),
        other => {
            let mut out = Vec::new();
            fmt_v(other, &mut out);
            out
        }
    }
}

/// A piece of [`fmt_v`]'s output still to write.
enum Piece<'a> {
    Value(&'a Value),
    Text(&'a [u8]),
}

/// Appends Go's `%v` rendering of a value. sops' tree types print as Go structs and slices:
/// a mapping is `[{key value} …]`, a comment item `{{text} <nil>}`, a list `[a b]`.
///
/// Go prints nesting of any depth; so does this, from a stack of pieces still to write rather
/// than by recursion.
pub(crate) fn fmt_v(value: &Value, out: &mut Vec<u8>) {
    let mut pending = vec![Piece::Value(value)];
    while let Some(piece) = pending.pop() {
        let value = match piece {
            Piece::Text(text) => {
                out.extend_from_slice(text);
                continue;
            }
            Piece::Value(value) => value,
        };
        match value {
            Value::Null => out.extend_from_slice(b"<nil>"),
            Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
            Value::Float(f) => out.extend_from_slice(format_g(*f, b'e').as_bytes()),
            Value::Str(s) => out.extend_from_slice(s.as_bytes()),
            Value::Bytes(b) => out.extend_from_slice(b),
            Value::Time(t) => out.extend_from_slice(time_string(t).as_bytes()),
            Value::Comment(c) => {
                out.push(b'{');
                out.extend_from_slice(c.as_bytes());
                out.push(b'}');
            }
            // Containers open here and push their members, last first, so that they pop in order.
            Value::List(items) => {
                out.push(b'[');
                pending.push(Piece::Text(b"]"));
                for (i, item) in items.iter().enumerate().rev() {
                    pending.push(Piece::Value(item));
                    if i > 0 {
                        pending.push(Piece::Text(b" "));
                    }
                }
            }
            Value::Map(map) => {
                out.push(b'[');
                pending.push(Piece::Text(b"]"));
                for (i, item) in map.0.iter().enumerate().rev() {
                    match item {
                        MapItem::Entry(key, value) => {
                            pending.extend([
                                Piece::Text(b"}"),
                                Piece::Value(value),
                                Piece::Text(b" "),
                                Piece::Text(key.as_bytes()),
                                Piece::Text(b"{"),
                            ]);
                        }
                        MapItem::Comment(text) => {
                            pending.extend([Piece::Text(b"} <nil>}"), Piece::Text(text.as_bytes()), Piece::Text(b"{{")]);
                        }
                    }
                    if i > 0 {
                        pending.push(Piece::Text(b" "));
                    }
                }
            }
        }
    }
}

/// `strconv.FormatFloat(f, 'g' or 'G', -1, 64)`: the shortest round-trip digits, in exponent
/// form when the decimal exponent is below -4 or at least 6 (Go's rule for shortest output).
fn format_g(f: f64, exp_char: u8) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let (digits, point) = shortest_digits(f.abs());
    let exp = point - 1;
    let mut out = String::from(sign);
    if (-4..6).contains(&exp) {
        // Positional form with exactly as many fraction digits as the shortest digits need.
        let nd = i32::try_from(digits.len()).unwrap_or(i32::MAX);
        if point > 0 {
            for i in 0..point {
                out.push(usize::try_from(i).ok().and_then(|i| digits.as_bytes().get(i)).map_or('0', |d| *d as char));
            }
        } else {
            out.push('0');
        }
        let frac = (nd - point).max(0);
        if frac > 0 {
            out.push('.');
            for i in 0..frac {
                let j = point + i;
                let d = usize::try_from(j).ok().and_then(|j| digits.as_bytes().get(j).copied());
                out.push(d.map_or('0', |d| d as char));
            }
        }
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push(exp_char as char);
        out.push(if exp < 0 { '-' } else { '+' });
        let magnitude = exp.unsigned_abs();
        if magnitude < 10 {
            out.push('0');
        }
        out.push_str(&magnitude.to_string());
    }
    out
}

/// The shortest round-trip decimal digits of a finite non-negative float and the position of the
/// decimal point relative to them (`0.0015` → `("15", -2)`); zero is `("0", 1)`.
fn shortest_digits(f: f64) -> (String, i32) {
    if f == 0.0 {
        return ("0".to_string(), 1);
    }
    // Rust's `{:e}` prints the shortest round-trip digits, like Go's shortest mode.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (digits, exp + 1)
}

/// `time.Format(time.RFC3339)` of a canonical RFC 3339 timestamp: the fraction is dropped.
fn strip_fraction(t: &str) -> String {
    match fraction_span(t) {
        Some((start, end)) => format!("{}{}", &t[..start], &t[end..]),
        None => t.to_string(),
    }
}

/// The byte span of `.ddd` after the seconds of an RFC 3339 timestamp.
fn fraction_span(t: &str) -> Option<(usize, usize)> {
    let time_start = t.find('T')?;
    let dot = time_start + t[time_start..].find('.')?;
    let digits = t[dot + 1..].bytes().take_while(u8::is_ascii_digit).count();
    Some((dot, dot + 1 + digits))
}

/// Go's `time.Time.String()` (`2006-01-02 15:04:05.999999999 -0700 MST`) for a canonical RFC 3339
/// timestamp. UTC prints as `+0000 UTC`; a numeric offset has no zone name, so Go repeats the
/// offset. (Go would print a local zone's name when the offset equals the local one; sops runs
/// are assumed to be in UTC.)
fn time_string(t: &str) -> String {
    let Some(t_pos) = t.find('T') else {
        return t.to_string();
    };
    let (date, clock) = (&t[..t_pos], &t[t_pos + 1..]);
    let zone_at = clock.find(['Z', 'z', '+', '-']).unwrap_or(clock.len());
    let (clock, zone) = clock.split_at(zone_at);
    let zone = match zone {
        "Z" | "z" | "+00:00" | "-00:00" | "" => "+0000 UTC".to_string(),
        offset => {
            let compact = offset.replace(':', "");
            format!("{compact} {compact}")
        }
    };
    format!("{date} {clock} {zone}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Map;

    fn top(v: Value) -> String {
        String::from_utf8(val_to_string(&v)).unwrap()
    }

    fn nested(v: Value) -> String {
        let mut out = Vec::new();
        fmt_v(&v, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_print_like_sops_val_to_string() {
        // Observed with `sops decrypt --output-type dotenv` on YAML floats.
        let cases = [
            (1.5, "1.5"),
            (2.0, "2.0"),
            (1e21, "1E+21"),
            (1.5e-7, "1.5E-07"),
            (123456.0, "123456.0"),
            (1234567.0, "1.234567E+06"),
            (0.0001, "0.0001"),
            (0.00001, "1E-05"),
            (100000.0, "100000.0"),
            (1e6, "1E+06"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (1e100, "1E+100"),
        ];
        for (f, want) in cases {
            assert_eq!(top(Value::Float(f)), want, "{f:?}");
        }
    }

    #[test]
    fn other_scalars_print_like_go() {
        assert_eq!(top(Value::Int(-7)), "-7");
        assert_eq!(top(Value::Bool(true)), "true");
        assert_eq!(top(Value::Null), "<nil>");
        assert_eq!(top(Value::Time("2024-01-02T03:04:05.123Z".into())), "2024-01-02T03:04:05Z");
        assert_eq!(top(Value::Time("2024-01-02T00:00:00Z".into())), "2024-01-02T00:00:00Z");
        assert_eq!(top(Value::Time("2024-01-02T03:04:05.5+02:00".into())), "2024-01-02T03:04:05+02:00");
    }

    #[test]
    fn nested_values_print_like_go_percent_v() {
        // Observed with `sops decrypt --output-type ini` on nested YAML.
        let list = Value::List(vec![
            Value::Float(1234567.0),
            Value::Float(123456.0),
            Value::Float(1.0),
            Value::Float(0.00001),
            Value::Float(f64::INFINITY),
            Value::Time("2024-01-02T03:04:05.5Z".into()),
            Value::Time("2024-01-02T03:04:05+02:00".into()),
        ]);
        assert_eq!(top(list), "[1.234567e+06 123456 1 1e-05 +Inf 2024-01-02 03:04:05.5 +0000 UTC 2024-01-02 03:04:05 +0200 +0200]");
        let mut inner = Map::new();
        inner.push("c", Value::str("x"));
        let mut map = Map::new();
        map.push("a", Value::Int(1));
        map.push("b", Value::Map(inner));
        assert_eq!(nested(Value::Map(map)), "[{a 1} {b [{c x}]}]");
        let with_comment = Map(vec![MapItem::Comment(" c in map".into()), MapItem::Entry("k".into(), Value::str("v"))]);
        assert_eq!(nested(Value::Map(with_comment)), "[{{ c in map} <nil>} {k v}]");
        let list = Value::List(vec![Value::Comment(" c".into()), Value::str("a"), Value::Null, Value::Bool(false)]);
        assert_eq!(nested(list), "[{ c} a <nil> false]");
    }
}
