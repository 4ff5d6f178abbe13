//! What the dotenv and INI stores share: metadata flattened into `age__list_0__map_enc`-style
//! keys with string values (newlines as `\n`), and Go's `ValToString` for scalars in a layout
//! that only holds strings.

use crate::error::{Error, Result};
use crate::tree::{Map, MapItem, Value};

const MAP: &str = "__map_";
const LIST: &str = "__list_";

/// Flattens the metadata tree into sorted (key, value) pairs, as sops does before writing
/// `sops_*` lines or the `[sops]` section: nulls dropped, booleans and numbers as text, newlines
/// escaped, keys sorted byte-wise.
pub fn flatten(metadata: &Map) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (key, value) in metadata.entries() {
        flatten_into(key.to_string(), value, &mut out)?;
    }
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(out)
}

fn flatten_into(prefix: String, value: &Value, out: &mut Vec<(String, String)>) -> Result<()> {
    match value {
        Value::Null => {}
        Value::Map(map) => {
            for (key, child) in map.entries() {
                flatten_into(format!("{prefix}{MAP}{key}"), child, out)?;
            }
        }
        Value::List(items) => {
            for (i, child) in items.iter().enumerate() {
                flatten_into(format!("{prefix}{LIST}{i}"), child, out)?;
            }
        }
        Value::Str(s) => out.push((prefix, s.replace('\n', "\\n"))),
        Value::Int(i) => out.push((prefix, i.to_string())),
        Value::Bool(b) => out.push((prefix, b.to_string())),
        Value::Float(f) => out.push((prefix, format!("{f:.0}"))),
        other => return Err(Error::metadata(format!("{prefix}: unexpected metadata value {}", kind(other)))),
    }
    Ok(())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Time(_) => "time",
        Value::Bytes(_) => "bytes",
        Value::Comment(_) => "comment",
        _ => "value",
    }
}

enum Token {
    Key(String),
    Index(usize),
}

fn tokenize(path: &str) -> Result<Vec<Token>> {
    let bad = || Error::metadata(format!("malformed flattened metadata key `{path}`"));
    let mut tokens = Vec::new();
    // Whether the token being read is a list index.
    let mut current: Option<(bool, usize)> = None;
    let mut start = 0;
    let mut i = 0;
    let finish = |tokens: &mut Vec<Token>, is_list: bool, text: &str| -> Result<()> {
        if is_list {
            tokens.push(Token::Index(text.parse().map_err(|_| bad())?));
        } else {
            tokens.push(Token::Key(text.to_string()));
        }
        Ok(())
    };
    while i < path.len() {
        let (sep_list, sep_len) = if path[i..].starts_with(MAP) {
            (false, MAP.len())
        } else if path[i..].starts_with(LIST) {
            (true, LIST.len())
        } else {
            i += path[i..].chars().next().map(char::len_utf8).unwrap_or(1);
            continue;
        };
        let is_list = current.map(|c| c.0).unwrap_or(false);
        finish(&mut tokens, is_list, &path[start..i])?;
        current = Some((sep_list, i));
        i += sep_len;
        start = i;
    }
    finish(&mut tokens, current.map(|c| c.0).unwrap_or(false), &path[start..])?;
    Ok(tokens)
}

/// Rebuilds the metadata tree from flattened pairs: `\n` decoded, `mac_only_encrypted` a
/// boolean (true only for exactly `true`), `shamir_threshold` a number (old files wrote it as a
/// float), list positions as indices.
pub fn unflatten(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Map> {
    let mut root = Value::Map(Map::new());
    for (key, raw) in pairs {
        let text = raw.replace("\\n", "\n");
        let value = match key.as_str() {
            "mac_only_encrypted" => Value::Bool(text == "true"),
            "shamir_threshold" => Value::Int(parse_threshold(&text)?),
            _ => Value::Str(text),
        };
        let tokens = tokenize(&key)?;
        insert(&mut root, &tokens, value, &key)?;
    }
    match root {
        Value::Map(map) => Ok(map),
        _ => unreachable!("the root is a map"),
    }
}

fn parse_threshold(text: &str) -> Result<i64> {
    if let Ok(n) = text.parse::<i64>() {
        return Ok(n);
    }
    match text.parse::<f64>() {
        Ok(f) if f.fract() == 0.0 && f.abs() < 1e9 => Ok(f as i64),
        _ => Err(Error::metadata("shamir_threshold is not an integer")),
    }
}

fn insert(node: &mut Value, tokens: &[Token], value: Value, key: &str) -> Result<()> {
    let bad = || Error::metadata(format!("conflicting flattened metadata key `{key}`"));
    let Some((first, rest)) = tokens.split_first() else {
        *node = value;
        return Ok(());
    };
    let fresh = || match rest.first() {
        Some(Token::Index(_)) => Value::List(Vec::new()),
        Some(Token::Key(_)) => Value::Map(Map::new()),
        None => Value::Null,
    };
    match (first, node) {
        (Token::Key(k), Value::Map(map)) => {
            if map.get(k).is_none() {
                map.0.push(MapItem::Entry(k.clone(), fresh()));
            }
            let child = map.get_mut(k).ok_or_else(bad)?;
            insert(child, rest, value, key)
        }
        (Token::Index(i), Value::List(items)) => {
            if *i > 10_000 {
                return Err(bad());
            }
            while items.len() <= *i {
                items.push(Value::Null);
            }
            if matches!(items[*i], Value::Null) {
                items[*i] = fresh();
            }
            insert(&mut items[*i], rest, value, key)
        }
        _ => Err(bad()),
    }
}

/// A scalar as Go's `stores.ValToString` prints it into a string-only layout; `None` for
/// mappings and lists.
pub fn value_to_string(value: &Value) -> Option<String> {
    Some(match value {
        Value::Str(s) | Value::Time(s) | Value::Comment(s) => s.clone(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Float(f) => go_float_g(*f),
        Value::Null => "<nil>".to_string(),
        Value::Map(_) | Value::List(_) => return None,
    })
}

/// `strconv.FormatFloat(f, 'G', -1, 64)`, with `.0` added when it would read as an integer.
fn go_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if f < 0.0 { "-" } else { "" };
    // With the shortest precision Go switches to the exponent form outside 1e-4 ≤ |f| < 1e6.
    if !(-4..6).contains(&exp) {
        let e_sign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{}E{e_sign}{:02}", mantissa.to_uppercase(), exp.abs());
    }
    let plain = format!("{f}");
    if plain.contains('.') {
        plain
    } else {
        format!("{plain}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(map: &Map) -> Vec<(String, String)> {
        flatten(map).unwrap()
    }

    #[test]
    fn flattening_round_trips_key_groups() {
        let mut entry = Map::new();
        entry.push("recipient", Value::str("age1x"));
        entry.push("enc", Value::str("-----BEGIN-----\nabc\n-----END-----\n"));
        let mut group = Map::new();
        group.push("hc_vault", Value::Null);
        group.push("age", Value::List(vec![Value::Map(entry)]));
        let mut meta = Map::new();
        meta.push("shamir_threshold", Value::Int(2));
        meta.push("key_groups", Value::List((0..12).map(|_| Value::Map(group.clone())).collect()));
        meta.push("mac_only_encrypted", Value::Bool(true));
        let flat = pairs(&meta);
        let keys: Vec<&str> = flat.iter().map(|(k, _)| k.as_str()).collect();
        let ten = keys.iter().position(|k| k.starts_with("key_groups__list_10__")).unwrap();
        let two = keys.iter().position(|k| k.starts_with("key_groups__list_2__")).unwrap();
        assert!(ten < two, "byte-wise order puts 10 before 2");
        assert!(flat.iter().any(|(k, v)| k == "key_groups__list_0__map_age__list_0__map_enc" && v == "-----BEGIN-----\\nabc\\n-----END-----\\n"));
        let back = unflatten(flat).unwrap();
        let Some(Value::List(groups)) = back.get("key_groups") else { panic!() };
        assert_eq!(groups.len(), 12);
        assert_eq!(back.get("shamir_threshold"), Some(&Value::Int(2)));
        assert_eq!(back.get("mac_only_encrypted"), Some(&Value::Bool(true)));
        let Value::Map(g) = &groups[11] else { panic!() };
        let Some(Value::List(age)) = g.get("age") else { panic!() };
        let Value::Map(e) = &age[0] else { panic!() };
        assert_eq!(e.get("enc"), Some(&Value::str("-----BEGIN-----\nabc\n-----END-----\n")));
    }

    #[test]
    fn old_float_thresholds_and_bad_keys() {
        let back = unflatten(vec![("shamir_threshold".to_string(), "2.0".to_string())]).unwrap();
        assert_eq!(back.get("shamir_threshold"), Some(&Value::Int(2)));
        assert!(unflatten(vec![("shamir_threshold".to_string(), "two".to_string())]).is_err());
        assert!(unflatten(vec![("age__list_x".to_string(), "v".to_string())]).is_err());
    }

    #[test]
    fn go_value_to_string() {
        assert_eq!(value_to_string(&Value::Float(42.0)).unwrap(), "42.0");
        assert_eq!(value_to_string(&Value::Float(0.75)).unwrap(), "0.75");
        assert_eq!(value_to_string(&Value::Float(1e21)).unwrap(), "1E+21");
        assert_eq!(value_to_string(&Value::Float(1.5e-7)).unwrap(), "1.5E-07");
        assert_eq!(value_to_string(&Value::Float(1e6)).unwrap(), "1E+06");
        assert_eq!(value_to_string(&Value::Float(123456.0)).unwrap(), "123456.0");
        assert_eq!(value_to_string(&Value::Bool(true)).unwrap(), "true");
        assert_eq!(value_to_string(&Value::Map(Map::new())), None);
    }
}
