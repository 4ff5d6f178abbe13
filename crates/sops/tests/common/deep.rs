//! The deep JSON document the hostile-input tests of the format layer and of the CLI both nest
//! their values in (one shape, so that both measure the same thing): a depth that sops's Go
//! decoder accepts while a recursive reader on a small stack would overflow.

/// A JSON object `levels` deep (the top-level object included):
/// `{"d": {"k2": "v", "d": [1, {"k4": "v", "d": [1, …]}]}}`. One section-like entry at the top
/// (so that an INI file can hold it), then mappings and lists in turn, with a value beside each
/// container and one at the bottom.
pub fn deep_json(levels: usize) -> String {
    let mut text = String::from("{\"d\":");
    let mut closers = vec!['}'];
    for level in 2..levels {
        if level % 2 == 0 {
            text.push_str("{\"k");
            text.push_str(&level.to_string());
            text.push_str("\":\"v\",\"d\":");
            closers.push('}');
        } else {
            text.push_str("[1,");
            closers.push(']');
        }
    }
    text.push_str("{\"k\":\"v\",\"d\":\"bottom\"}");
    text.extend(closers.into_iter().rev());
    text
}
