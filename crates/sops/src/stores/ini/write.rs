//! Writing INI text the way go-ini v1's pretty writer does: `=` aligned per section, a blank
//! line between sections, the leading `DEFAULT` section without a header, and values quoted
//! just enough to read back (`"""` for newlines or backticks, backticks for `#`/`;`, double
//! quotes for surrounding spaces).

use super::parse::{Section, DEFAULT_SECTION};
use crate::error::{Error, Result};
use crate::format::Format;

pub(super) fn write(sections: &[Section]) -> Result<Vec<u8>> {
    let mut out = String::new();
    let last = sections.len().saturating_sub(1);
    for (i, section) in sections.iter().enumerate() {
        if !section.comment.is_empty() {
            for line in section.comment.split('\n') {
                out.push_str(&comment_line(line, &section.name, false)?);
                out.push('\n');
            }
        }
        if i > 0 || section.name.to_uppercase() != DEFAULT_SECTION {
            out.push('[');
            out.push_str(&section.name);
            out.push_str("]\n");
        } else if section.keys.is_empty() {
            // An empty leading DEFAULT section leaves nothing, not even the blank separator line.
            continue;
        }

        let names: Vec<String> = section.keys.iter().map(|k| quoted_key(&k.name)).collect();
        let width = names.iter().map(String::len).max().unwrap_or(0);
        for (key, name) in section.keys.iter().zip(&names) {
            if !key.comment.is_empty() {
                for line in key.comment.split('\n') {
                    out.push_str(&comment_line(line, &section.name, true)?);
                    out.push('\n');
                }
            }
            out.push_str(name);
            // go-ini pads by byte length, so multi-byte names get fewer columns.
            out.extend(std::iter::repeat_n(' ', width.saturating_sub(name.len())));
            out.push_str(" = ");
            out.push_str(&quoted_value(&key.value));
            out.push('\n');
        }
        if i != last {
            out.push('\n');
        }
    }
    Ok(out.into_bytes())
}

/// One line of a comment: prefixed `; ` unless it already starts with `#` or `;`, in which case
/// exactly one space follows that character. Key comment lines are also trimmed.
fn comment_line(line: &str, section: &str, trim: bool) -> Result<String> {
    match line.as_bytes().first() {
        // go-ini indexes the first byte and crashes on an empty line; sops cannot write this.
        None => Err(Error::Emit {
            format: Format::Ini,
            message: format!("a comment in section `{section}` has an empty line, which INI cannot hold"),
        }),
        Some(b'#' | b';') => Ok(format!("{} {}", &line[..1], line[1..].trim())),
        Some(_) if trim => Ok(format!("; {}", line.trim())),
        Some(_) => Ok(format!("; {line}")),
    }
}

/// Names holding a delimiter or `"` are wrapped in backticks; names holding a backtick in `"""`.
fn quoted_key(name: &str) -> String {
    if name.contains(['"', '=', ':']) {
        format!("`{name}`")
    } else if name.contains('`') {
        format!(r#""""{name}""""#)
    } else {
        name.to_string()
    }
}

fn quoted_value(value: &str) -> String {
    if value.contains(['\n', '`']) {
        format!(r#""""{value}""""#)
    } else if value.contains(['#', ';']) {
        format!("`{value}`")
    } else if value.trim().len() != value.len() {
        format!("\"{value}\"")
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::Key;
    use super::*;

    fn section(name: &str, comment: &str, keys: &[(&str, &str, &str)]) -> Section {
        Section {
            name: name.into(),
            comment: comment.into(),
            keys: keys.iter().map(|(k, v, c)| Key { name: k.to_string(), value: v.to_string(), comment: c.to_string() }).collect(),
        }
    }

    fn text(sections: &[Section]) -> String {
        String::from_utf8(write(sections).unwrap()).unwrap()
    }

    #[test]
    fn aligns_quotes_and_separates_sections() {
        let out = text(&[
            section("DEFAULT", "", &[("a", "1", "")]),
            section(
                "s",
                "top\n# two\n;three",
                &[
                    ("q k", "x", "; kc\n  plain  "),
                    ("b:k", "", ""),
                    ("h", "has # hash", ""),
                    ("ml", "x\ny", ""),
                    ("bq", "a`b", ""),
                    ("sp", "  x ", ""),
                    ("u", "Grüße", ""),
                    ("k`", "v", ""),
                ],
            ),
        ]);
        assert_eq!(
            out,
            "a = 1\n\n; top\n# two\n; three\n[s]\n; kc\n; plain\nq k      = x\n`b:k`    = \nh        = `has # hash`\n\
             ml       = \"\"\"x\ny\"\"\"\nbq       = \"\"\"a`b\"\"\"\nsp       = \"  x \"\nu        = Grüße\n\"\"\"k`\"\"\" = v\n"
        );
    }

    #[test]
    fn empty_leading_default_is_skipped_but_later_ones_get_headers() {
        let out = text(&[section("DEFAULT", "", &[]), section("s", "", &[("k", "v", "")]), section("DEFAULT", "", &[])]);
        assert_eq!(out, "[s]\nk = v\n\n[DEFAULT]\n");
        assert_eq!(text(&[section("default", "", &[("k", "v", "")])]), "k = v\n");
        assert_eq!(text(&[]), "");
    }

    #[test]
    fn section_comment_lines_keep_their_spaces() {
        let out = text(&[section("DEFAULT", "", &[]), section("s", "  two spaces", &[])]);
        assert_eq!(out, ";   two spaces\n[s]\n");
    }

    #[test]
    fn comments_with_empty_lines_cannot_be_written() {
        let err = write(&[section("s", "", &[("k", "v", "\n# b")])]).unwrap_err();
        assert!(matches!(err, Error::Emit { format: Format::Ini, .. }));
        assert!(write(&[section("s", "a\n\nb", &[])]).is_err());
    }
}
