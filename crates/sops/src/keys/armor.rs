//! age's ASCII armor, written byte for byte as Go age writes it and read as leniently as Go age
//! reads it.
//!
//! The Rust `age` crate's reader wants the BEGIN line at byte 0 and its writer uses CRLF on
//! Windows, so both directions are done here and only binary age files reach the crate.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

const BEGIN: &str = "-----BEGIN AGE ENCRYPTED FILE-----";
const END: &str = "-----END AGE ENCRYPTED FILE-----";
const COLUMNS: usize = 64;
/// Bytes encoded by one full line of 64 base64 characters.
const BYTES_PER_LINE: usize = 48;

/// Armors a binary age file: BEGIN line, padded base64 in 64-column lines, END line, each
/// ending with `\n`.
pub fn armor(binary: &[u8]) -> String {
    let encoded = STANDARD.encode(binary);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / COLUMNS + 80);
    out.push_str(BEGIN);
    out.push('\n');
    // base64 output is ASCII, so any byte offset is a char boundary.
    let mut rest = encoded.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(COLUMNS));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str(END);
    out.push('\n');
    out
}

/// Why an armored age file could not be read. Never holds decoded data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmorError(pub String);

impl std::fmt::Display for ArmorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid age armor: {}", self.0)
    }
}

impl std::error::Error for ArmorError {}

/// Decodes an armored age file the way Go age's `armor.NewReader` does: blank lines before
/// BEGIN, CRLF line ends, a missing final newline and whitespace after END are accepted; data
/// lines must be strict base64 of at most 64 columns, all full except the last. One blank line
/// right before END is also accepted, because age 1.0.0-rc.1 wrote one for some lengths.
pub fn dearmor(text: &str) -> Result<Vec<u8>, ArmorError> {
    let mut lines = text.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line));

    loop {
        match lines.next() {
            None => return Err(err("no BEGIN line")),
            Some(line) if line.trim().is_empty() => {}
            Some(line) if line == BEGIN => break,
            Some(_) => return Err(err("the first non-blank line is not the BEGIN line")),
        }
    }

    let mut binary = Vec::new();
    let mut line_number = 0usize;
    let mut last_was_short = false;
    let mut pending_blank = false;
    loop {
        let Some(line) = lines.next() else {
            return Err(err("no END line"));
        };
        if line == END {
            break;
        }
        line_number += 1;
        if pending_blank {
            return Err(err(&format!("empty line {} in the armored data", line_number - 1)));
        }
        if line.is_empty() {
            pending_blank = true;
            continue;
        }
        if last_was_short {
            return Err(err(&format!("line {line_number} follows a short line")));
        }
        if line.len() > COLUMNS {
            return Err(err(&format!("line {line_number} is longer than {COLUMNS} columns")));
        }
        let decoded = STANDARD.decode(line).map_err(|_| err(&format!("line {line_number} is not valid base64")))?;
        last_was_short = decoded.len() < BYTES_PER_LINE;
        binary.extend_from_slice(&decoded);
    }

    if lines.any(|line| !line.trim().is_empty()) {
        return Err(err("data after the END line"));
    }
    if binary.is_empty() {
        return Err(err("no data between BEGIN and END"));
    }
    Ok(binary)
}

fn err(message: &str) -> ArmorError {
    ArmorError(message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector_enc(file: &str) -> String {
        let path = format!("{}/../../fixtures/sops-vectors/{file}", env!("CARGO_MANIFEST_DIR"));
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        json["sops"]["age"][0]["enc"].as_str().unwrap().to_string()
    }

    #[test]
    fn armor_round_trips_sops_output_byte_for_byte() {
        // sops (Go age) wrote this; re-armoring the decoded bytes must give the same text.
        let enc = vector_enc("enc/basic.json");
        let binary = dearmor(&enc).unwrap();
        assert_eq!(armor(&binary), enc);
    }

    #[test]
    fn layout_for_every_length_class() {
        for len in [1usize, 47, 48, 49, 96, 232, 233, 240] {
            let data: Vec<u8> = (0..=u8::MAX).cycle().take(len).collect();
            let text = armor(&data);
            assert!(text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
            assert!(text.ends_with("\n-----END AGE ENCRYPTED FILE-----\n"));
            assert!(!text.contains("\n\n"), "no blank line for length {len}");
            assert!(!text.contains('\r'));
            let body: Vec<&str> = text.lines().skip(1).collect();
            let body = &body[..body.len() - 1];
            for line in &body[..body.len() - 1] {
                assert_eq!(line.len(), 64);
            }
            assert!(body[body.len() - 1].len() <= 64);
            assert_eq!(dearmor(&text).unwrap(), data);
        }
    }

    #[test]
    fn accepts_what_go_age_accepts() {
        let plain = vector_enc("enc/basic.json");
        let expected = dearmor(&plain).unwrap();
        for edge in ["edge/armor-crlf-whitespace.json", "edge/armor-no-final-newline.json"] {
            assert_eq!(dearmor(&vector_enc(edge)).unwrap().len(), expected.len(), "{edge}");
        }
        let variants =
            [format!("\n  \n\t\n{plain}"), plain.replace('\n', "\r\n"), plain.trim_end().to_string(), format!("{plain}   \n\n \t")];
        for text in &variants {
            assert_eq!(dearmor(text).unwrap(), expected, "{text:?}");
        }
    }

    #[test]
    fn strips_one_blank_line_before_end() {
        let data = [5u8; 48 * 2];
        let text = armor(&data).replace("\n-----END", "\n\n-----END");
        assert_eq!(dearmor(&text).unwrap(), data);
    }

    #[test]
    fn rejects_what_go_age_rejects() {
        let plain = vector_enc("enc/basic.json");
        let lines: Vec<&str> = plain.lines().collect();
        let rewrapped = {
            let body: String = lines[1..lines.len() - 1].concat();
            let mut text = format!("{}\n", lines[0]);
            for chunk in body.as_bytes().chunks(76) {
                text.push_str(std::str::from_utf8(chunk).unwrap());
                text.push('\n');
            }
            text + lines[lines.len() - 1] + "\n"
        };
        let short_line_first = {
            let mut l = lines.clone();
            let moved = l.remove(1);
            l.insert(l.len() - 1, moved);
            l.join("\n") + "\n"
        };
        let bad = [
            String::new(),
            "garbage".to_string(),
            plain.replace("-----BEGIN AGE ENCRYPTED FILE-----", "  -----BEGIN AGE ENCRYPTED FILE-----"),
            plain.replace("\n-----END AGE ENCRYPTED FILE-----\n", "\n"),
            format!("{plain}trailing"),
            rewrapped,
            short_line_first,
            plain.replacen('\n', "\n\n", 2),
            plain.replacen("YWdl", "YW!l", 1),
            format!("{}\n{}\n", lines[0], lines[lines.len() - 1]),
        ];
        for text in &bad {
            assert!(dearmor(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn errors_do_not_echo_the_data() {
        let plain = vector_enc("enc/basic.json");
        let broken = plain.replacen("YWdl", "YW!l", 1);
        let message = dearmor(&broken).unwrap_err().to_string();
        assert!(!message.contains("YW!l"));
    }
}
