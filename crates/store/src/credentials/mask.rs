//! Masking: credentials are shown as a short prefix and `***`, and text bound for errors or
//! logs has anything that looks like a credential replaced.

use std::sync::OnceLock;

use regex::Regex;

/// At most 4 characters of a secret value, then `***` (less for short values, nothing for very
/// short ones), so a listing proves which credential is stored without revealing it.
pub fn mask(value: &str) -> String {
    let count = value.chars().count();
    let shown = match count {
        0..=5 => 0,
        6..=11 => 2,
        _ => 4,
    };
    format!("{}***", value.chars().take(shown).collect::<String>())
}

fn patterns() -> &'static [Regex] {
    static PATTERNS: OnceLock<Vec<Regex>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        [
            // Private keys of any kind, armored.
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)",
            // age private keys, in any case: Bech32 is case-insensitive, so a lower-cased key
            // is the same key.
            r"(?i)AGE-SECRET-KEY-1[0-9A-Z]+",
            r"(?i)AGE-PLUGIN-[0-9A-Z-]+1[0-9A-Z]+",
            // AWS access key ids.
            r"\b(AKIA|ASIA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b",
            // Common token shapes: GitHub, Slack, GitLab, JWTs, Google API keys.
            r"\bgh[pousr]_[0-9A-Za-z]{36,}\b",
            r"\bxox[abprs]-[0-9A-Za-z-]{10,}\b",
            r"\bglpat-[0-9A-Za-z_-]{20,}\b",
            r"\beyJ[0-9A-Za-z_-]{10,}\.[0-9A-Za-z_-]{10,}\.[0-9A-Za-z_-]{10,}\b",
            r"\bAIza[0-9A-Za-z_-]{35}\b",
            // `secret = value` style assignments; not the last part of a path such as
            // `sops/secrets/db/secret: …`, which an error names as a file.
            r#"(?i)(^|[^/\w])((?:secret|token|password|passwd|api[_-]?key|client[_-]?secret|secret[_-]?access[_-]?key)["']?\s*[:=]\s*["']?)[^\s"',;]{4,}"#,
        ]
        .iter()
        .map(|p| Regex::new(p).expect("a valid built-in pattern"))
        .collect()
    })
}

/// `text` with everything that looks like a credential replaced by `***`.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    for (i, pattern) in patterns().iter().enumerate() {
        let last = i + 1 == patterns().len();
        out = if last { pattern.replace_all(&out, "${1}${2}***").into_owned() } else { pattern.replace_all(&out, "***").into_owned() };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_never_show_more_than_four_characters() {
        assert_eq!(mask("AKIAIOSFODNN7EXAMPLE"), "AKIA***");
        assert_eq!(mask("short1"), "sh***");
        assert_eq!(mask("abc"), "***");
        assert_eq!(mask(""), "***");
        for len in 0..40 {
            let v = "x".repeat(len);
            assert!(mask(&v).trim_end_matches('*').len() <= 4);
        }
    }

    #[test]
    fn redacts_credential_shapes() {
        let text = "failed with AKIAIOSFODNN7EXAMPLE and token=abcd1234efgh and AGE-SECRET-KEY-1QQQQQQQQQQ";
        let out = redact(text);
        assert!(!out.contains("AKIAIOSFODNN7EXAMPLE"));
        assert!(!out.contains("abcd1234efgh"));
        assert!(!out.contains("AGE-SECRET-KEY-1QQQ"));
        let lower = redact("invalid age recipient `age-secret-key-1qqqqqqqqqqqqqqq`, type `Age-Secret-Key-1QqQq`");
        assert!(!lower.to_ascii_uppercase().contains("AGE-SECRET-KEY-1Q"), "{lower}");
        assert!(out.contains("token=***"));
        let pem = "x -----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY----- y";
        assert_eq!(redact(pem), "x *** y");
        assert_eq!(redact("nothing to hide here"), "nothing to hide here");
        assert_eq!(redact("password: hunter22"), "password: ***");
        assert_eq!(redact("(api_key=\"abcdef\")"), "(api_key=\"***\")");
    }

    #[test]
    fn a_file_named_like_a_credential_is_not_a_credential() {
        let text = "sops/secrets/db/secret: permission denied; /run/keys/token: missing";
        assert_eq!(redact(text), text);
        let about_a_file = "sops/secrets/db/secret: cannot decrypt the data key";
        assert_eq!(redact(about_a_file), about_a_file);
    }
}
