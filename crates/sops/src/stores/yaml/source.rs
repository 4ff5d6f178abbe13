//! Positions in the input text, counted the way go-yaml's scanner counts them.
//!
//! go-yaml's comment attribution compares byte positions, 0-based lines and columns, so every
//! later stage works on [`Mark`]s computed here from the raw text. Indices are byte offsets
//! (only their order and small differences matter); columns count characters.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "positions are go-yaml's signed ints (a negative one means none), converted at each use as go-yaml's arithmetic needs; they are bounded by the input's length, far below the limits of either type"
)]

/// A position in the input (go-yaml `yaml_mark_t`). Signed because go-yaml computes
/// `index - 1` and `column - 1` freely.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Mark {
    pub index: i64,
    pub line: i64,
    pub column: i64,
}

pub(super) struct Source<'a> {
    pub text: &'a str,
    bytes: &'a [u8],
    /// Byte offset of the first character of every line.
    line_starts: Vec<usize>,
    /// The last mark computed, so that walking forward along a long line stays linear: one
    /// for the comment replay and the lexer each, which walk the same lines at once.
    last: std::cell::Cell<Mark>,
    last_lexed: std::cell::Cell<Mark>,
}

impl<'a> Source<'a> {
    pub fn new(text: &'a str) -> Self {
        let bytes = text.as_bytes();
        let mut line_starts = vec![0];
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                    i += 2;
                    line_starts.push(i);
                }
                b'\r' | b'\n' => {
                    i += 1;
                    line_starts.push(i);
                }
                _ => i += 1,
            }
        }
        Source { text, bytes, line_starts, last: std::cell::Cell::default(), last_lexed: std::cell::Cell::default() }
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// The byte at `i`, or NUL past the end (go-yaml pads its buffer with NULs at EOF).
    pub fn byte(&self, i: i64) -> u8 {
        if i < 0 {
            return 0;
        }
        self.bytes.get(i as usize).copied().unwrap_or(0)
    }

    pub fn mark_at(&self, offset: usize) -> Mark {
        self.mark_with(offset, &self.last)
    }

    /// [`Self::mark_at`] for the lexer.
    pub fn lexer_mark_at(&self, offset: usize) -> Mark {
        self.mark_with(offset, &self.last_lexed)
    }

    fn mark_with(&self, offset: usize, cache: &std::cell::Cell<Mark>) -> Mark {
        let offset = offset.min(self.bytes.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(l) => l,
            Err(l) => l.saturating_sub(1),
        };
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        let last = cache.get();
        let (from, base) = if last.line == line as i64 && last.index as usize >= start && last.index as usize <= offset {
            (last.index as usize, last.column)
        } else {
            (start, 0)
        };
        let column = base + self.text.get(from..offset).map_or(offset - from, |s| s.chars().count()) as i64;
        let mark = Mark { index: offset as i64, line: line as i64, column };
        cache.set(mark);
        mark
    }

    /// Skips what can separate two tokens: blanks, line breaks, comments and byte-order marks.
    pub fn skip_insignificant(&self, mut i: usize) -> usize {
        loop {
            match self.bytes.get(i) {
                Some(b' ' | b'\t' | b'\r' | b'\n') => i += 1,
                Some(b'#') => {
                    while let Some(&b) = self.bytes.get(i) {
                        if b == b'\r' || b == b'\n' {
                            break;
                        }
                        i += 1;
                    }
                }
                Some(0xEF) if self.bytes.get(i + 1..i + 3) == Some(&[0xBB, 0xBF]) => i += 3,
                _ => return i,
            }
        }
    }

    /// Skips blanks and line breaks only.
    pub fn skip_blanks_and_breaks(&self, mut i: usize) -> usize {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.bytes.get(i) {
            i += 1;
        }
        i
    }

    /// The number of line breaks between the last non-blank character before `i` and `i`
    /// (go-yaml's `parser.newlines` when the scanner stands at `i`).
    pub fn newlines_before(&self, i: usize) -> i64 {
        let mut n = 0;
        let mut j = i.min(self.bytes.len());
        while j > 0 {
            match self.bytes[j - 1] {
                b'\n' => {
                    n += 1;
                    j -= 1;
                    if j > 0 && self.bytes[j - 1] == b'\r' {
                        j -= 1;
                    }
                }
                b'\r' => {
                    n += 1;
                    j -= 1;
                }
                b' ' | b'\t' => j -= 1,
                _ => break,
            }
        }
        n
    }

    /// Byte length of the character starting at `i` (1 for bytes outside the text).
    pub fn char_len(&self, i: usize) -> usize {
        self.text.get(i..).and_then(|s| s.chars().next()).map_or(1, char::len_utf8)
    }
}

pub(super) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

pub(super) fn is_break(b: u8) -> bool {
    b == b'\r' || b == b'\n'
}

pub(super) fn is_breakz(b: u8) -> bool {
    is_break(b) || b == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_count_lines_and_characters() {
        let src = Source::new("a: é\r\n  b\rc\n");
        assert_eq!(src.mark_at(3), Mark { index: 3, line: 0, column: 3 });
        assert_eq!(src.mark_at(9), Mark { index: 9, line: 1, column: 2 });
        assert_eq!(src.mark_at(11), Mark { index: 11, line: 2, column: 0 });
        assert_eq!(src.mark_at(13), Mark { index: 13, line: 3, column: 0 });
    }

    #[test]
    fn newlines_count_breaks_since_last_content() {
        let src = Source::new("a\n\n  \r\nb");
        assert_eq!(src.newlines_before(7), 3);
        assert_eq!(src.newlines_before(1), 0);
    }

    #[test]
    fn skipping_stops_at_the_next_token() {
        let src = Source::new("a  # c\n\n  - b");
        assert_eq!(src.skip_insignificant(1), 10);
        assert_eq!(src.skip_blanks_and_breaks(1), 3);
    }
}
