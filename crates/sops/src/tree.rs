//! The document model every store parses into and emits from.
//!
//! It mirrors sops' own tree: ordered mappings whose items are either key/value entries or
//! comments, lists whose items may be comments, and typed scalar leaves. The same tree holds
//! ciphertext (`Str("ENC[…]")`, `Comment("ENC[…]")`) before decryption and typed plaintext after.
//!
//! A tree is as deep as its file: the JSON reader accepts Go's 10,000 levels. So nothing here
//! recurses once per level, not even what the compiler would derive: cloning, comparing,
//! zeroizing and dropping a [`Value`] each keep their own stack of pending nodes, and work on any
//! thread whatever its stack size.

use zeroize::Zeroize;

/// One node of a document.
///
/// Because dropping one is not recursive (see the module docs), a `Value` cannot be taken apart
/// by moving a field out of it in a `match`; take the field with [`std::mem::take`] instead.
#[derive(Debug)]
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

    /// Removes every entry with this key; returns the first removed value. Works in place: a
    /// large mapping is not copied.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let has_key = |item: &MapItem| matches!(item, MapItem::Entry(k, _) if k == key);
        let first = self.0.iter().position(has_key)?;
        let MapItem::Entry(_, removed) = self.0.remove(first) else { unreachable!("found as an entry above") };
        self.0.retain(|item| !has_key(item));
        Some(removed)
    }

    /// The entries in order, skipping comments.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = (&str, &Value)> {
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

impl Default for Value {
    /// [`Value::Null`], which owns nothing: what [`std::mem::take`] leaves behind.
    fn default() -> Self {
        Value::Null
    }
}

impl Zeroize for Value {
    fn zeroize(&mut self) {
        let mut pending = vec![self];
        while let Some(node) = pending.pop() {
            match node {
                Value::Str(s) | Value::Time(s) | Value::Comment(s) => s.zeroize(),
                Value::Bytes(b) => b.zeroize(),
                Value::Map(m) => {
                    for item in &mut m.0 {
                        match item {
                            MapItem::Entry(k, v) => {
                                k.zeroize();
                                pending.push(v);
                            }
                            MapItem::Comment(c) => c.zeroize(),
                        }
                    }
                }
                Value::List(items) => pending.extend(items.iter_mut()),
                Value::Int(i) => i.zeroize(),
                Value::Float(f) => f.zeroize(),
                Value::Bool(b) => *b = false,
                Value::Null => {}
            }
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

/// Moves the containers directly below `node` into `into`, leaving nulls in their place.
fn take_nested(node: &mut Value, into: &mut Vec<Value>) {
    let is_container = |v: &Value| matches!(v, Value::Map(_) | Value::List(_));
    match node {
        Value::Map(map) => {
            for item in &mut map.0 {
                if let MapItem::Entry(_, child) = item {
                    if is_container(child) {
                        into.push(std::mem::take(child));
                    }
                }
            }
        }
        Value::List(items) => into.extend(items.iter_mut().filter(|v| is_container(v)).map(std::mem::take)),
        _ => {}
    }
}

impl Drop for Value {
    /// Frees a tree level by level: each container is emptied of its nested containers before
    /// it is freed, so no drop goes deeper than one level.
    fn drop(&mut self) {
        let mut pending = Vec::new();
        take_nested(self, &mut pending);
        while let Some(mut node) = pending.pop() {
            take_nested(&mut node, &mut pending);
        }
    }
}

/// A container being copied by [`Value::clone`]: what is left to copy and what is copied.
enum Copying<'a> {
    Map(std::slice::Iter<'a, MapItem>, Vec<MapItem>),
    List(std::slice::Iter<'a, Value>, Vec<Value>),
}

impl<'a> Copying<'a> {
    fn of(value: &'a Value) -> Option<Copying<'a>> {
        match value {
            Value::Map(map) => Some(Copying::Map(map.0.iter(), Vec::with_capacity(map.0.len()))),
            Value::List(items) => Some(Copying::List(items.iter(), Vec::with_capacity(items.len()))),
            _ => None,
        }
    }

    /// The next child to copy, with its key in a mapping; comments of a mapping are copied on
    /// the way.
    fn next(&mut self) -> Option<(Option<&'a str>, &'a Value)> {
        match self {
            Copying::Map(from, to) => {
                for item in from.by_ref() {
                    match item {
                        MapItem::Entry(key, value) => return Some((Some(key), value)),
                        MapItem::Comment(text) => to.push(MapItem::Comment(text.clone())),
                    }
                }
                None
            }
            Copying::List(from, _) => from.next().map(|value| (None, value)),
        }
    }

    fn add(&mut self, key: Option<&str>, value: Value) {
        match self {
            Copying::Map(_, to) => to.push(MapItem::Entry(key.unwrap_or_default().to_owned(), value)),
            Copying::List(_, to) => to.push(value),
        }
    }

    fn finish(self) -> Value {
        match self {
            Copying::Map(_, to) => Value::Map(Map(to)),
            Copying::List(_, to) => Value::List(to),
        }
    }
}

impl Clone for Value {
    fn clone(&self) -> Self {
        let Some(root) = Copying::of(self) else {
            return match self {
                Value::Null => Value::Null,
                Value::Bool(b) => Value::Bool(*b),
                Value::Int(i) => Value::Int(*i),
                Value::Float(f) => Value::Float(*f),
                Value::Str(s) => Value::Str(s.clone()),
                Value::Bytes(b) => Value::Bytes(b.clone()),
                Value::Time(t) => Value::Time(t.clone()),
                Value::Comment(c) => Value::Comment(c.clone()),
                Value::Map(_) | Value::List(_) => unreachable!("containers are copied below"),
            };
        };
        // Each open container with the key it goes under in its parent.
        let mut stack = vec![(None, root)];
        loop {
            let Some((_, top)) = stack.last_mut() else { unreachable!("the root is popped last") };
            if let Some((key, child)) = top.next() {
                match Copying::of(child) {
                    Some(nested) => stack.push((key, nested)),
                    None => top.add(key, child.clone()),
                }
                continue;
            }
            let Some((key, done)) = stack.pop() else { unreachable!("checked above") };
            let value = done.finish();
            match stack.last_mut() {
                Some((_, parent)) => parent.add(key, value),
                None => return value,
            }
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        let mut pending = vec![(self, other)];
        while let Some(pair) = pending.pop() {
            let same = match pair {
                (Value::Map(a), Value::Map(b)) => {
                    a.0.len() == b.0.len()
                        && a.0.iter().zip(&b.0).all(|items| match items {
                            (MapItem::Entry(ka, va), MapItem::Entry(kb, vb)) => {
                                pending.push((va, vb));
                                ka == kb
                            }
                            (MapItem::Comment(a), MapItem::Comment(b)) => a == b,
                            _ => false,
                        })
                }
                (Value::List(a), Value::List(b)) => {
                    pending.extend(a.iter().zip(b));
                    a.len() == b.len()
                }
                (Value::Null, Value::Null) => true,
                (Value::Bool(a), Value::Bool(b)) => a == b,
                (Value::Int(a), Value::Int(b)) => a == b,
                // As a derived comparison would: NaN differs from itself, 0.0 equals -0.0.
                #[allow(clippy::float_cmp, reason = "the same comparison a derived `PartialEq` makes")]
                (Value::Float(a), Value::Float(b)) => a == b,
                (Value::Str(a), Value::Str(b)) | (Value::Time(a), Value::Time(b)) | (Value::Comment(a), Value::Comment(b)) => a == b,
                (Value::Bytes(a), Value::Bytes(b)) => a == b,
                _ => false,
            };
            if !same {
                return false;
            }
        }
        true
    }
}

impl Zeroize for Document {
    fn zeroize(&mut self) {
        self.branches.iter_mut().for_each(Zeroize::zeroize);
    }
}
