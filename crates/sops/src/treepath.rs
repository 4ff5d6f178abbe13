//! sops' tree path syntax for `set`, `unset` and `--extract`: `["a"]["b"][0]`.

use crate::error::{Error, Result, TreePathProblem};
use crate::format::Format;
use crate::stores::{json, yaml};
use crate::tree::{Map, Value};

/// The deepest document `set` writes in any format, the top-level mapping included: the deepest
/// any reader accepts (JSON's 10,000 levels, Go's limit). Every walk over a tree keeps its own
/// stack, so such a document is safe on any thread.
pub const MAX_SET_DEPTH: usize = json::MAX_DEPTH;

/// The deepest document `set` may leave in a file of `format`: what the format's reader accepts
/// (a file we wrote must stay readable by us), at most [`MAX_SET_DEPTH`]. The flat stores hold
/// no nesting at all and refuse it when writing.
pub fn max_depth(format: Format) -> usize {
    let reader = match format {
        Format::Yaml => yaml::max_depth(),
        Format::Json | Format::Binary => json::MAX_DEPTH,
        Format::Dotenv | Format::Ini => MAX_SET_DEPTH,
    };
    reader.min(MAX_SET_DEPTH)
}

/// How deep a document is after [`set`] puts `value` at `path`: the top-level mapping, one
/// container for each step before the last, then the value's own nesting. Nothing else in the
/// document changes depth.
pub fn depth_after_set(path: &[Step], value: &Value) -> usize {
    path.len().max(1) + value.depth()
}

/// One step of a tree path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `["key"]`: the entry of a mapping with this key.
    Key(String),
    /// `[3]`: the item of a list at this position.
    Index(usize),
}

/// Parses `["key"][0]…`. Keys are double-quoted strings (JSON escapes allowed) or single-quoted;
/// indices are decimal.
pub fn parse(text: &str) -> Result<Vec<Step>> {
    let bad = |problem: TreePathProblem| Error::TreePath { path: text.to_string(), problem };
    let mut steps = Vec::new();
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad(TreePathProblem::Empty));
    }
    while !rest.is_empty() {
        rest = rest.strip_prefix('[').ok_or_else(|| bad(TreePathProblem::Expected('[')))?;
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = find_closing_quote(quoted).ok_or_else(|| bad(TreePathProblem::UnterminatedString))?;
            let key: String = serde_json::from_str(&rest[..end + 2]).map_err(|_| bad(TreePathProblem::InvalidEscape))?;
            steps.push(Step::Key(key));
            rest = &quoted[end + 1..];
        } else if let Some(quoted) = rest.strip_prefix('\'') {
            let end = quoted.find('\'').ok_or_else(|| bad(TreePathProblem::UnterminatedString))?;
            steps.push(Step::Key(quoted[..end].to_string()));
            rest = &quoted[end + 1..];
        } else {
            let end = rest.find(']').ok_or_else(|| bad(TreePathProblem::Expected(']')))?;
            let index = rest[..end].trim().parse::<usize>().map_err(|_| bad(TreePathProblem::NotAnIndex))?;
            steps.push(Step::Index(index));
            rest = &rest[end..];
        }
        rest = rest.strip_prefix(']').ok_or_else(|| bad(TreePathProblem::Expected(']')))?;
    }
    Ok(steps)
}

fn find_closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

/// The value at `path` inside `map`.
pub fn get<'a>(map: &'a Map, path: &[Step]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let Step::Key(key) = first else { return None };
    let mut node = map.get(key)?;
    for step in rest {
        node = match (step, node) {
            (Step::Key(k), Value::Map(m)) => m.get(k)?,
            (Step::Index(i), Value::List(items)) => items.iter().filter(|v| !matches!(v, Value::Comment(_))).nth(*i)?,
            _ => return None,
        };
    }
    Some(node)
}

/// Sets the value at `path`, creating missing mappings; an index past the end appends.
///
/// # Panics
///
/// Never: the `expect`s name entries this function has just inserted or pushed.
pub fn set(map: &mut Map, path: &[Step], value: Value) -> Result<()> {
    let display = || format!("{path:?}");
    let (first, rest) = path.split_first().ok_or_else(|| Error::TreePath { path: display(), problem: TreePathProblem::Empty })?;
    let Step::Key(key) = first else {
        return Err(Error::TreePath { path: display(), problem: TreePathProblem::StartsWithIndex });
    };
    if map.get(key).is_none() {
        map.push(key.clone(), Value::Map(Map::new()));
    }
    let mut node = map.get_mut(key).expect("inserted above");
    for step in rest {
        node = match step {
            Step::Key(k) => {
                if !matches!(node, Value::Map(_)) {
                    *node = Value::Map(Map::new());
                }
                let Value::Map(m) = node else { unreachable!() };
                if m.get(k).is_none() {
                    m.push(k.clone(), Value::Map(Map::new()));
                }
                m.get_mut(k).expect("inserted above")
            }
            Step::Index(i) => {
                if !matches!(node, Value::List(_)) {
                    *node = Value::List(Vec::new());
                }
                let Value::List(items) = node else { unreachable!() };
                let positions: Vec<usize> =
                    items.iter().enumerate().filter(|(_, v)| !matches!(v, Value::Comment(_))).map(|(p, _)| p).collect();
                if let Some(&p) = positions.get(*i) {
                    &mut items[p]
                } else {
                    items.push(Value::Map(Map::new()));
                    items.last_mut().expect("pushed above")
                }
            }
        };
    }
    *node = value;
    Ok(())
}

/// Checks, before anything is decrypted or written, that setting `value` at `path` leaves a
/// document the reader of `format` accepts (see [`max_depth`]).
pub fn check_set_depth(format: Format, path: &[Step], value: &Value) -> Result<()> {
    let (depth, limit) = (depth_after_set(path, value), max_depth(format));
    if depth > limit {
        return Err(Error::TooDeep { format, depth, limit });
    }
    Ok(())
}

/// Removes the value at `path`. Returns whether something was removed.
pub fn unset(map: &mut Map, path: &[Step]) -> Result<bool> {
    let Some((last, parents)) = path.split_last() else {
        return Err(Error::TreePath { path: String::new(), problem: TreePathProblem::Empty });
    };
    if parents.is_empty() {
        return Ok(match last {
            Step::Key(k) => map.remove(k).is_some(),
            Step::Index(_) => false,
        });
    }
    let Some(parent) = get_mut(map, parents) else { return Ok(false) };
    Ok(match (last, parent) {
        (Step::Key(k), Value::Map(m)) => m.remove(k).is_some(),
        (Step::Index(i), Value::List(items)) => {
            let position = items.iter().enumerate().filter(|(_, v)| !matches!(v, Value::Comment(_))).map(|(p, _)| p).nth(*i);
            match position {
                Some(p) => {
                    items.remove(p);
                    true
                }
                None => false,
            }
        }
        _ => false,
    })
}

fn get_mut<'a>(map: &'a mut Map, path: &[Step]) -> Option<&'a mut Value> {
    let (first, rest) = path.split_first()?;
    let Step::Key(key) = first else { return None };
    let mut node = map.get_mut(key)?;
    for step in rest {
        node = match (step, node) {
            (Step::Key(k), Value::Map(m)) => m.get_mut(k)?,
            (Step::Index(i), Value::List(items)) => items.iter_mut().filter(|v| !matches!(v, Value::Comment(_))).nth(*i)?,
            _ => return None,
        };
    }
    Some(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::Store;

    /// `{"a": {"a": … 1}}`, `maps` mappings deep.
    fn nested_maps(maps: usize) -> Value {
        let mut value = Value::Int(1);
        for _ in 0..maps {
            let mut map = Map::new();
            map.push("a", value);
            value = Value::Map(map);
        }
        value
    }

    #[test]
    fn depth_counts_the_top_mapping_the_path_and_the_value() {
        let key = |k: &str| Step::Key(k.into());
        assert_eq!(nested_maps(0).depth(), 0);
        assert_eq!(nested_maps(3).depth(), 3);
        assert_eq!(Value::List(vec![Value::Null, nested_maps(2)]).depth(), 3);
        assert_eq!(depth_after_set(&[key("a")], &Value::Int(1)), 1);
        assert_eq!(depth_after_set(&[key("a"), Step::Index(0), key("b")], &nested_maps(2)), 5);
    }

    /// The limit is the reader's own: a YAML document exactly that deep reads, one level more
    /// does not, and `set` refuses what would cross it.
    #[test]
    fn set_stays_within_what_the_reader_accepts() {
        let limit = max_depth(Format::Yaml);
        assert!(limit <= MAX_SET_DEPTH && limit > 32, "{limit}");
        let store = crate::stores::yaml::YamlStore::default();
        let path = [Step::Key("a".into())];
        for (maps, readable) in [(limit - 1, true), (limit, false)] {
            let mut doc = Map::new();
            set(&mut doc, &path, nested_maps(maps)).unwrap();
            let text = store.emit_plain(&crate::tree::Document { branches: vec![doc] }).unwrap();
            assert_eq!(store.parse_plain(&text).is_ok(), readable, "{maps} nested maps under the top one");
            assert_eq!(check_set_depth(Format::Yaml, &path, &nested_maps(maps)).is_ok(), readable);
        }
        let err = check_set_depth(Format::Yaml, &path, &nested_maps(limit)).unwrap_err();
        assert_eq!(err.sops_exit_code(), crate::error::codes::ERROR_INVALID_SET_FORMAT);
        assert!(err.to_string().contains(&format!("at most {limit}")), "{err}");
        assert_eq!(max_depth(Format::Json), MAX_SET_DEPTH);
        assert!(check_set_depth(Format::Json, &path, &nested_maps(MAX_SET_DEPTH - 1)).is_ok());
        assert!(check_set_depth(Format::Json, &path, &nested_maps(MAX_SET_DEPTH)).is_err());
    }

    #[test]
    fn parses_keys_and_indices() {
        assert_eq!(
            parse(r#"["a"]["b c"][0]['d']"#).unwrap(),
            vec![Step::Key("a".into()), Step::Key("b c".into()), Step::Index(0), Step::Key("d".into())]
        );
        assert_eq!(parse(r#"["q\"x"]"#).unwrap(), vec![Step::Key("q\"x".into())]);
        assert!(parse("a").is_err());
        assert!(parse(r#"["a""#).is_err());
        assert!(parse("[x]").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn set_creates_mappings_and_appends_past_the_end() {
        let mut map = Map::new();
        set(&mut map, &parse(r#"["a"]["b"]"#).unwrap(), Value::str("x")).unwrap();
        set(&mut map, &parse(r#"["l"][5]"#).unwrap(), Value::Int(1)).unwrap();
        assert_eq!(get(&map, &parse(r#"["a"]["b"]"#).unwrap()), Some(&Value::str("x")));
        assert_eq!(get(&map, &parse(r#"["l"][0]"#).unwrap()), Some(&Value::Int(1)));
        assert!(unset(&mut map, &parse(r#"["a"]["b"]"#).unwrap()).unwrap());
        assert!(!unset(&mut map, &parse(r#"["a"]["b"]"#).unwrap()).unwrap());
        assert!(unset(&mut map, &parse(r#"["l"]"#).unwrap()).unwrap());
    }
}
