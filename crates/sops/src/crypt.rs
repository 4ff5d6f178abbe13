//! Encrypting and decrypting a whole document: the walk over every leaf in document order,
//! the per-leaf AAD, the selection rule, the MAC accumulation and sops' IV reuse for unchanged
//! values.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::cipher::{self, OpenError, Opened, ValueType, IV_LEN};
use crate::error::{Error, Result, ValueProblem};
use crate::keys::DataKey;
use crate::mac::MacHasher;
use crate::selection::Selector;
use crate::tree::{Document, Map, MapItem, Value};
use crate::warning::Warning;

/// Remembers the IV of every value a file held, so that re-encrypting an unchanged value with
/// the same key gives the same ciphertext and diffs stay minimal (spec 2.6). Keys are digests:
/// the cache holds no plaintext.
#[derive(Default, Clone)]
pub struct IvCache(HashMap<[u8; 32], [u8; IV_LEN]>);

impl IvCache {
    fn slot(aad: &str, kind: ValueType, plaintext: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update((aad.len() as u64).to_be_bytes());
        h.update(aad.as_bytes());
        h.update(kind.name().as_bytes());
        h.update([0]);
        h.update(plaintext);
        h.finalize().into()
    }

    fn remember(&mut self, aad: &str, kind: ValueType, plaintext: &[u8], iv: &[u8]) {
        if let Ok(iv) = <[u8; IV_LEN]>::try_from(iv) {
            self.0.insert(Self::slot(aad, kind, plaintext), iv);
        }
    }

    fn iv_for(&self, aad: &str, kind: ValueType, plaintext: &[u8]) -> [u8; IV_LEN] {
        self.0.get(&Self::slot(aad, kind, plaintext)).copied().unwrap_or_else(cipher::random_iv)
    }
}

/// One leaf as the walk presents it.
struct Leaf<'a> {
    path: &'a [String],
    comments: &'a [Vec<String>],
    is_comment: bool,
}

/// A container the walk is inside of, with what is left of it.
enum Open<'a> {
    Map(std::slice::IterMut<'a, MapItem>),
    List(std::slice::IterMut<'a, Value>),
}

/// Walks every leaf of a branch in document order, as sops' `walkBranch`/`walkSlice` do:
/// nulls are not visited, comments are visited with the path of their container, and a frame of
/// active comments per container is kept for the comment-regex rules.
///
/// sops recurses once per level; this walk keeps its own stack of open containers instead, so
/// that any depth a reader accepts (JSON's 10,000 levels) is walked on any thread.
fn walk_map<F>(branch: &mut Map, f: &mut F) -> Result<()>
where
    F: FnMut(Leaf<'_>, Value) -> Result<Value>,
{
    let mut path = PathStack::default();
    // One frame of comments per open container, pushed and popped with `stack`.
    let mut comments: Vec<Vec<String>> = vec![Vec::new()];
    let mut stack = vec![Open::Map(branch.0.iter_mut())];
    while let Some(top) = stack.last_mut() {
        // The next child of the innermost open container; `None` when it has no more.
        let child = match top {
            Open::Map(items) => match items.next() {
                Some(MapItem::Comment(text)) => {
                    if let Some(frame) = comments.last_mut() {
                        frame.push(text.clone());
                    }
                    let leaf = Leaf { path: path.names(), comments: &comments, is_comment: true };
                    *text = match &mut f(leaf, Value::Comment(std::mem::take(text)))? {
                        Value::Comment(t) | Value::Str(t) => std::mem::take(t),
                        _ => return Err(Error::Unsupported("a comment walked to a non-comment value".into())),
                    };
                    continue;
                }
                Some(MapItem::Entry(key, value)) => {
                    path.push(key);
                    Some(value)
                }
                None => None,
            },
            Open::List(items) => match items.next() {
                Some(item) => {
                    if let (Value::Comment(text), Some(frame)) = (&*item, comments.last_mut()) {
                        frame.push(text.clone());
                    }
                    Some(item)
                }
                None => None,
            },
        };
        match child {
            Some(Value::Map(map)) => {
                stack.push(Open::Map(map.0.iter_mut()));
                comments.push(Vec::new());
            }
            Some(Value::List(items)) => {
                stack.push(Open::List(items.iter_mut()));
                comments.push(Vec::new());
            }
            Some(value) => {
                let is_comment = matches!(value, Value::Comment(_));
                if !matches!(value, Value::Null) {
                    let taken = std::mem::take(value);
                    *value = f(Leaf { path: path.names(), comments: &comments, is_comment }, taken)?;
                }
                child_done(&stack, &mut path, &mut comments, is_comment);
            }
            None => {
                stack.pop();
                comments.pop();
                child_done(&stack, &mut path, &mut comments, false);
            }
        }
    }
    Ok(())
}

/// After a child of the innermost open container was walked: a mapping entry leaves the path,
/// and anything but a list comment ends the comments that stood before it.
fn child_done(stack: &[Open<'_>], path: &mut PathStack, comments: &mut [Vec<String>], is_comment: bool) {
    match stack.last() {
        Some(Open::Map(_)) => {
            path.pop();
        }
        Some(Open::List(_)) if is_comment => return,
        Some(Open::List(_)) => {}
        None => return,
    }
    if let Some(frame) = comments.last_mut() {
        frame.clear();
    }
}

fn walk_document<F>(doc: &mut Document, mut f: F) -> Result<()>
where
    F: FnMut(Leaf<'_>, Value) -> Result<Value>,
{
    for branch in &mut doc.branches {
        walk_map(branch, &mut f)?;
    }
    Ok(())
}

/// The keys from the root to the leaf being walked. A name's allocation is kept when the walk
/// leaves it and reused for the next name at that depth: a file of many entries is walked
/// without an allocation per entry.
#[derive(Default)]
struct PathStack {
    names: Vec<String>,
    depth: usize,
}

impl PathStack {
    fn push(&mut self, name: &str) {
        match self.names.get_mut(self.depth) {
            Some(slot) => {
                slot.clear();
                slot.push_str(name);
            }
            None => self.names.push(name.to_string()),
        }
        self.depth += 1;
    }

    fn pop(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn names(&self) -> &[String] {
        &self.names[..self.depth]
    }
}

/// Writes the AAD of the leaf at `path` (its keys, each followed by `:`) into `aad`, whose
/// allocation serves every leaf of a walk.
fn fill_aad<'a>(aad: &'a mut String, path: &[String]) -> &'a str {
    aad.clear();
    for name in path {
        aad.push_str(name);
        aad.push(':');
    }
    if path.is_empty() {
        aad.push(':');
    }
    aad
}

/// What encryption and decryption need to know from the metadata.
pub(crate) struct CryptSettings<'a> {
    pub selector: &'a Selector,
    pub mac_only_encrypted: bool,
}

/// Encrypts every selected leaf of `doc` in place and returns the MAC (uppercase hex) over the
/// plaintext. Values whose (AAD, plaintext) are in `ivs` keep their old IV.
pub(crate) fn encrypt_document(doc: &mut Document, key: &DataKey, settings: &CryptSettings<'_>, ivs: &IvCache) -> Result<String> {
    let mut mac = MacHasher::new(settings.mac_only_encrypted);
    let mut aad = String::new();
    walk_document(doc, |leaf, value| {
        let encrypted = settings.selector.should_encrypt(leaf.path, leaf.comments, leaf.is_comment);
        let Some((bytes, kind)) = cipher::canonical_bytes(&value) else {
            return Ok(value);
        };
        if (!settings.mac_only_encrypted || encrypted) && !leaf.is_comment {
            mac.update(&bytes);
        }
        if !encrypted || bytes.is_empty() {
            return Ok(value);
        }
        let aad = fill_aad(&mut aad, leaf.path);
        let iv = ivs.iv_for(aad, kind, &bytes);
        let sealed = cipher::seal(key, &iv, aad.as_bytes(), &bytes, kind).to_string();
        // Map comments stay comments (`#ENC[…]`); list comments become plain list strings, as
        // sops writes them.
        Ok(Value::Str(sealed))
    })?;
    Ok(mac.finish())
}

/// Decrypts every selected leaf of `branch` in place and adds the plaintext to `mac`, in
/// document order. A document may come in parts, each given in turn with the same `mac`, as
/// long as each part ends with an entry (the comments after it belong to the next one's walk).
/// `ivs`, when given, remembers each value's IV for writing the file back.
pub(crate) fn decrypt_branch(
    branch: &mut Map,
    key: &DataKey,
    settings: &CryptSettings<'_>,
    mut ivs: Option<&mut IvCache>,
    warnings: &mut Vec<Warning>,
    mac: &mut MacHasher,
) -> Result<()> {
    let mut aad = String::new();
    walk_map(branch, &mut |leaf, value| {
        let encrypted = settings.selector.should_encrypt(leaf.path, leaf.comments, leaf.is_comment);
        let plain = if encrypted { decrypt_leaf(&leaf, value, key, &mut aad, ivs.as_deref_mut(), warnings)? } else { value };
        if (!settings.mac_only_encrypted || encrypted) && !matches!(plain, Value::Comment(_)) {
            cipher::with_canonical_bytes(&plain, |bytes| mac.update(bytes));
        }
        Ok(plain)
    })
}

fn decrypt_leaf(
    leaf: &Leaf<'_>,
    value: Value,
    key: &DataKey,
    aad: &mut String,
    mut ivs: Option<&mut IvCache>,
    warnings: &mut Vec<Warning>,
) -> Result<Value> {
    let path = || display_path(leaf.path);
    let mut value = value;
    let text = match &mut value {
        Value::Str(s) | Value::Comment(s) if s.is_empty() => return Ok(value),
        Value::Str(s) => std::mem::take(s),
        Value::Comment(c) => {
            let c = std::mem::take(c);
            // A comment that does not decrypt was added in clear text by hand (or by an old
            // sops, or by someone who may change the file but not read it): keep it as it is,
            // and say so, as sops does.
            return Ok(if let Some(plain) = try_decrypt_comment(c.clone(), fill_aad(aad, leaf.path), key, ivs.as_deref_mut()) {
                plain
            } else {
                warnings.push(Warning::UnencryptedComment { path: display_path(leaf.path), comment: c.clone() });
                Value::Comment(c)
            });
        }
        _ => {
            return Err(Error::BadValue { path: path(), problem: ValueProblem::Cleartext });
        }
    };
    // The text's own buffer becomes the plaintext's: a large value is held once.
    let opened = match cipher::open_text_owned(key, text, fill_aad(aad, leaf.path).as_bytes()) {
        Ok(opened) => opened,
        Err(OpenError::Syntax(e)) => return Err(Error::BadValue { path: path(), problem: e.into() }),
        Err(OpenError::Auth) => return Err(Error::ValueDecrypt { path: path() }),
    };
    remember(ivs, aad, &opened);
    cipher::typed_value_owned(opened.plain, opened.kind).map_err(|e| Error::BadValue { path: path(), problem: e.into() })
}

fn try_decrypt_comment(text: String, aad: &str, key: &DataKey, ivs: Option<&mut IvCache>) -> Option<Value> {
    let opened = cipher::open_text_owned(key, text, aad.as_bytes()).ok()?;
    remember(ivs, aad, &opened);
    cipher::typed_value_owned(opened.plain, opened.kind).ok()
}

fn remember(ivs: Option<&mut IvCache>, aad: &str, opened: &Opened) {
    if let Some(ivs) = ivs {
        ivs.remember(aad, opened.kind, &opened.plain, opened.iv.as_slice());
    }
}

/// A path for messages: `a.b.c`, or `(top level)`.
pub(crate) fn display_path(path: &[String]) -> String {
    if path.is_empty() {
        "(top level)".to_string()
    } else {
        path.join(".")
    }
}
