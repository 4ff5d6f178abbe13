//! Which leaves a file encrypts: sops' six mutually exclusive selection rules, compiled once.

use regex::Regex;

use crate::error::{Error, Result};
use crate::metadata::SelectionRule;

/// A compiled selection rule.
pub(crate) enum Selector {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(Regex),
    EncryptedRegex(Regex),
    UnencryptedCommentRegex(Regex),
    EncryptedCommentRegex(Regex),
}

impl Selector {
    /// Compiles the file's rule; a file without one behaves as `unencrypted_suffix: _unencrypted`.
    pub(crate) fn new(rule: Option<&SelectionRule>) -> Result<Selector> {
        let compile = |regex: &str| Regex::new(regex).map_err(|source| Error::Regex { regex: regex.to_string(), source });
        Ok(match rule.cloned().unwrap_or_else(SelectionRule::default_rule) {
            SelectionRule::UnencryptedSuffix(s) => Selector::UnencryptedSuffix(s),
            SelectionRule::EncryptedSuffix(s) => Selector::EncryptedSuffix(s),
            SelectionRule::UnencryptedRegex(r) => Selector::UnencryptedRegex(compile(&r)?),
            SelectionRule::EncryptedRegex(r) => Selector::EncryptedRegex(compile(&r)?),
            SelectionRule::UnencryptedCommentRegex(r) => Selector::UnencryptedCommentRegex(compile(&r)?),
            SelectionRule::EncryptedCommentRegex(r) => Selector::EncryptedCommentRegex(compile(&r)?),
        })
    }

    /// Whether the leaf at `path` (mapping keys only) is encrypted. `comments` holds the active
    /// comments, one frame per enclosing mapping or list; `is_comment` says the leaf itself is a
    /// comment, which `encrypted_comment_regex` never encrypts because of its own match.
    pub(crate) fn should_encrypt(&self, path: &[String], comments: &[Vec<String>], is_comment: bool) -> bool {
        match self {
            Selector::UnencryptedSuffix(s) => s.is_empty() || !path.iter().any(|k| k.ends_with(s.as_str())),
            Selector::EncryptedSuffix(s) => s.is_empty() || path.iter().any(|k| k.ends_with(s.as_str())),
            Selector::UnencryptedRegex(r) => !path.iter().any(|k| r.is_match(k)),
            Selector::EncryptedRegex(r) => path.iter().any(|k| r.is_match(k)),
            Selector::UnencryptedCommentRegex(r) => !comments.iter().flatten().any(|c| r.is_match(c)),
            Selector::EncryptedCommentRegex(r) => {
                let last_frame = comments.len().saturating_sub(1);
                comments.iter().enumerate().any(|(i, frame)| {
                    frame.iter().enumerate().any(|(j, c)| {
                        let is_own_line = is_comment && i == last_frame && j + 1 == frame.len();
                        !is_own_line && r.is_match(c)
                    })
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(keys: &[&str]) -> Vec<String> {
        keys.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn default_rule_leaves_unencrypted_subtrees_clear() {
        let s = Selector::new(None).unwrap();
        assert!(s.should_encrypt(&path(&["a", "b"]), &[], false));
        assert!(!s.should_encrypt(&path(&["a_unencrypted", "b"]), &[], false));
        assert!(!s.should_encrypt(&path(&["a", "b_unencrypted"]), &[], false));
    }

    #[test]
    fn encrypted_regex_encrypts_only_matching_subtrees() {
        let s = Selector::new(Some(&SelectionRule::EncryptedRegex("^(data|stringData)$".into()))).unwrap();
        assert!(s.should_encrypt(&path(&["data", "x"]), &[], false));
        assert!(!s.should_encrypt(&path(&["metadata", "name"]), &[], false));
        assert!(!s.should_encrypt(&path(&[]), &[], true));
    }

    #[test]
    fn encrypted_suffix_and_unencrypted_regex() {
        let s = Selector::new(Some(&SelectionRule::EncryptedSuffix("_enc".into()))).unwrap();
        assert!(s.should_encrypt(&path(&["password_enc"]), &[], false));
        assert!(!s.should_encrypt(&path(&["user"]), &[], false));
        let s = Selector::new(Some(&SelectionRule::UnencryptedRegex("^public$".into()))).unwrap();
        assert!(!s.should_encrypt(&path(&["public", "x"]), &[], false));
        assert!(s.should_encrypt(&path(&["publicity"]), &[], false));
    }

    #[test]
    fn encrypted_comment_regex_skips_the_matching_comment_itself() {
        let s = Selector::new(Some(&SelectionRule::EncryptedCommentRegex("sops:enc".into()))).unwrap();
        let frames = vec![vec!["sops:enc".to_string()]];
        assert!(!s.should_encrypt(&path(&[]), &frames, true));
        assert!(s.should_encrypt(&path(&["k"]), &frames, false));
        let frames = vec![vec!["sops:enc".to_string(), "more".to_string()]];
        assert!(s.should_encrypt(&path(&[]), &frames, true));
    }

    #[test]
    fn bad_regex_is_a_clear_error() {
        assert!(matches!(Selector::new(Some(&SelectionRule::EncryptedRegex("(".into()))), Err(Error::Regex { .. })));
    }
}
