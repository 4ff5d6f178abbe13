//! The document model every store parses into and emits from.
//!
//! It mirrors sops' own tree: ordered mappings whose items are either key/value entries or
//! comments, lists whose items may be comments, and typed scalar leaves. The same tree holds
//! ciphertext (`Str("ENC[…]")`, `Comment("ENC[…]")`) before decryption and typed plaintext after.

use zeroize::Zeroize;

/// One node of a document.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// YAML's `null` or `~`, JSON's `null`: never encrypted.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits 64 bits.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A UTF-8 string.
    Str(String),
    /// A string that is not valid UTF-8 (only the binary store produces these); its sops type is `str`.
    Bytes(Vec<u8>),
    /// A YAML timestamp, held in its canonical text form (Go `time.MarshalText`, RFC 3339 with
    /// trimmed nanoseconds), because that text is what sops encrypts and hashes.
    Time(String),
    /// A nested mapping.
    Map(Map),
    /// A sequence.
    List(Vec<Value>),
    /// A comment that stands as a list item (mapping comments are [`MapItem::Comment`]).
    Comment(String),
}

/// An ordered mapping. Duplicate keys are allowed, because JSON and dotenv keep them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Map(pub Vec<MapItem>);

/// One item of a [`Map`], in file order.
#[derive(Clone, Debug, PartialEq)]
pub enum MapItem {
    /// A key and its value.
    Entry(String, Value),
    /// A comment line between entries, kept so that writing the file back keeps it.
    Comment(String),
}

impl Map {
    /// An empty mapping.
    pub fn new() -> Self {
        Map(Vec::new())
    }

    /// The value of the first entry with this key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find_map(|item| match item {
            MapItem::Entry(k, v) if k == key => Some(v),
            _ => None,
        })
    }

    /// The value of the first entry with this key, to change it in place.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.0.iter_mut().find_map(|item| match item {
            MapItem::Entry(k, v) if k == key => Some(v),
            _ => None,
        })
    }

    /// Replaces the first entry with this key, or appends a new one.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        match self.get_mut(&key) {
            Some(slot) => *slot = value,
            None => self.0.push(MapItem::Entry(key, value)),
        }
    }

    /// Removes every entry with this key; returns the first removed value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let mut removed = None;
        let mut kept = Vec::with_capacity(self.0.len());
        for item in self.0.drain(..) {
            match item {
                MapItem::Entry(k, v) if k == key => {
                    if removed.is_none() {
                        removed = Some(v);
                    }
                }
                other => kept.push(other),
            }
        }
        self.0 = kept;
        removed
    }

    /// The entries in order, skipping comments.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().filter_map(|item| match item {
            MapItem::Entry(k, v) => Some((k.as_str(), v)),
            MapItem::Comment(_) => None,
        })
    }

    /// Appends an entry, even if the key is already there (as JSON and dotenv files may).
    pub fn push(&mut self, key: impl Into<String>, value: Value) {
        self.0.push(MapItem::Entry(key.into(), value));
    }

    /// Whether the mapping has no entry and no comment.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    /// The string, if this is a [`Value::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The mapping, if this is a [`Value::Map`].
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// How many mappings and lists are nested in this node, itself included: 0 for a scalar, 1
    /// for a flat mapping. Walks with its own stack, so any depth a reader produced is measured
    /// without recursion.
    pub fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(self, 0usize)];
        while let Some((node, above)) = stack.pop() {
            let children: Box<dyn Iterator<Item = &Value>> = match node {
                Value::Map(map) => Box::new(map.entries().map(|(_, v)| v)),
                Value::List(items) => Box::new(items.iter()),
                _ => continue,
            };
            deepest = deepest.max(above + 1);
            stack.extend(children.map(|child| (child, above + 1)));
        }
        deepest
    }

    /// Whether this node is a scalar leaf that sops encrypts and hashes (not null, not a container).
    pub fn is_leaf(&self) -> bool {
        !matches!(self, Value::Null | Value::Map(_) | Value::List(_))
    }
}

/// A parsed file: one branch per document (only YAML has more than one) plus its raw metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Document {
    /// The documents of the file, in order; every store but YAML has exactly one.
    pub branches: Vec<Map>,
}

impl Zeroize for Value {
    fn zeroize(&mut self) {
        match self {
            Value::Str(s) | Value::Time(s) | Value::Comment(s) => s.zeroize(),
            Value::Bytes(b) => b.zeroize(),
            Value::Map(m) => m.zeroize(),
            Value::List(items) => items.iter_mut().for_each(Zeroize::zeroize),
            Value::Int(i) => i.zeroize(),
            Value::Float(f) => f.zeroize(),
            Value::Bool(b) => *b = false,
            Value::Null => {}
        }
    }
}

impl Zeroize for Map {
    fn zeroize(&mut self) {
        for item in &mut self.0 {
            match item {
                MapItem::Entry(k, v) => {
                    k.zeroize();
                    v.zeroize();
                }
                MapItem::Comment(c) => c.zeroize(),
            }
        }
    }
}

impl Zeroize for Document {
    fn zeroize(&mut self) {
        self.branches.iter_mut().for_each(Zeroize::zeroize);
    }
}
