//! Splitting `SOPS_AGE_KEY_CMD` into a program and its arguments the way sops does (the Go
//! `google/shlex` rules), so that the same value runs the same command without a shell.
//!
//! Words are separated by space, tab, CR and LF. `'…'` is literal, `"…"` allows `\` escapes,
//! `\` outside quotes escapes the next character, and `#` at the start of a word begins a comment
//! that runs to the end of the line.

use crate::error::CommandLineError;

/// Splits a command line into words.
pub fn split(line: &str) -> Result<Vec<String>, CommandLineError> {
    #[derive(PartialEq)]
    enum State {
        Between,
        Word,
        Escape,
        DoubleQuoted,
        DoubleQuotedEscape,
        SingleQuoted,
        Comment,
    }

    let mut words = Vec::new();
    let mut word = String::new();
    let mut state = State::Between;
    for c in line.chars() {
        let space = matches!(c, ' ' | '\t' | '\r' | '\n');
        state = match state {
            State::Between => match c {
                _ if space => State::Between,
                '"' => State::DoubleQuoted,
                '\'' => State::SingleQuoted,
                '\\' => State::Escape,
                '#' => State::Comment,
                _ => {
                    word.push(c);
                    State::Word
                }
            },
            State::Word => match c {
                _ if space => {
                    words.push(std::mem::take(&mut word));
                    State::Between
                }
                '"' => State::DoubleQuoted,
                '\'' => State::SingleQuoted,
                '\\' => State::Escape,
                _ => {
                    word.push(c);
                    State::Word
                }
            },
            State::Escape => {
                word.push(c);
                State::Word
            }
            State::DoubleQuoted => match c {
                '"' => State::Word,
                '\\' => State::DoubleQuotedEscape,
                _ => {
                    word.push(c);
                    State::DoubleQuoted
                }
            },
            State::DoubleQuotedEscape => {
                word.push(c);
                State::DoubleQuoted
            }
            State::SingleQuoted => {
                if c == '\'' {
                    State::Word
                } else {
                    word.push(c);
                    State::SingleQuoted
                }
            }
            State::Comment => {
                if c == '\n' {
                    State::Between
                } else {
                    State::Comment
                }
            }
        };
    }
    match state {
        State::Between | State::Comment => {}
        State::Word => words.push(word),
        State::Escape | State::DoubleQuotedEscape => return Err(CommandLineError::UnfinishedEscape),
        State::DoubleQuoted | State::SingleQuoted => return Err(CommandLineError::UnclosedQuote),
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::split;

    fn words(line: &str) -> Vec<String> {
        split(line).unwrap()
    }

    #[test]
    fn splits_like_google_shlex() {
        assert_eq!(words("cat  /tmp/keys.txt"), ["cat", "/tmp/keys.txt"]);
        assert_eq!(words("  one\ttwo\nthree "), ["one", "two", "three"]);
        assert_eq!(words(r#"sh -c "echo \"hi\" there""#), ["sh", "-c", r#"echo "hi" there"#]);
        assert_eq!(words(r"a\ b 'c d' e'f'g"), ["a b", "c d", "efg"]);
        assert_eq!(words(r"'it\s' literal"), [r"it\s", "literal"]);
        assert_eq!(words(r#""" x"#), ["", "x"]);
        assert_eq!(words("cmd # a comment\nnext"), ["cmd", "next"]);
        assert_eq!(words("a#b"), ["a#b"]);
        assert_eq!(words(""), Vec::<String>::new());
    }

    #[test]
    fn rejects_unfinished_input() {
        assert!(split("echo 'open").is_err());
        assert!(split("echo \"open").is_err());
        assert!(split("echo \\").is_err());
        assert!(split("echo \"a\\").is_err());
    }
}
