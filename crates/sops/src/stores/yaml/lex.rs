//! The token stream, with the positions go-yaml's scanner would give each token.
//!
//! granit-parser does the actual scanning (escapes, folding, chomping, indentation rules). Its
//! spans do not always sit where libyaml puts its marks (block scalars start at their content,
//! block entries after the dash), so real tokens are re-anchored on the source text: a token
//! starts at the first significant character after the previous token. Tokens the scanner
//! synthesizes (mapping/sequence starts, simple keys, block ends) get their marks later, when
//! the scanner is replayed in [`super::scan`].

use granit_parser::{ErrorKind, Options, ScalarStyle, Scanner, StrInput, TokenType};

use super::source::{Mark, Source};
use super::syntax_error;
use crate::error::Result;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum TokKind {
    StreamStart,
    StreamEnd,
    VersionDirective {
        major: u32,
        minor: u32,
    },
    /// Handle and prefix. Tag tokens are rare, so their text is boxed: every token of the
    /// file pays for the largest variant.
    TagDirective(Box<(String, String)>),
    DocumentStart,
    DocumentEnd,
    BlockSequenceStart,
    BlockMappingStart,
    BlockEnd,
    FlowSequenceStart,
    FlowSequenceEnd,
    FlowMappingStart,
    FlowMappingEnd,
    BlockEntry,
    FlowEntry,
    Key,
    Value,
    Alias(String),
    Anchor(String),
    /// Handle and suffix (boxed, like directives).
    Tag(Box<(String, String)>),
    /// The value is taken out (left empty) when the parser turns the token into an event, so
    /// that the text is not held twice.
    Scalar {
        style: ScalarStyle,
        value: std::cell::RefCell<String>,
    },
}

#[derive(Clone, Debug)]
pub(super) struct Tok {
    pub kind: TokKind,
    pub start: Mark,
    /// Byte offset just past the token's own text (block scalars: past their content).
    pub end: usize,
    /// Tokens without text of their own, whose marks are assigned by the scanner replay.
    pub synthetic: bool,
}

/// The most tokens a file may have. Every later stage holds something per token (about 200
/// bytes in all), and a token can cost as little as two bytes of input (`-` and a line break),
/// so memory per input byte has no useful bound without this one. Ten million tokens is
/// several times more than a 50 MB file of short keys has, and far beyond any secrets file
/// sops itself can process in reasonable time.
pub(super) const MAX_TOKENS: usize = 10_000_000;

/// go-yaml's scanner refuses more block indentation levels than this, and as many flow levels
/// (`exceeded max depth of 10000`).
pub(super) const MAX_NESTING: usize = 10_000;

/// Scans the whole input. Scanner errors become parse errors that name a position only.
#[cfg(test)]
pub(super) fn tokenize(src: &Source<'_>) -> Result<Vec<Tok>> {
    tokenize_at_most(src, MAX_TOKENS)
}

#[cfg(test)]
fn tokenize_at_most(src: &Source<'_>, max_tokens: usize) -> Result<Vec<Tok>> {
    Lexer::with_limit(src, max_tokens).collect()
}

/// The tokens of the input, one at a time, so that later stages never hold all of them (a
/// token costs many times the input bytes it stands for). Stops after the first error.
pub(super) struct Lexer<'s, 'a> {
    src: &'s Source<'a>,
    scanner: Scanner<'a, StrInput<'a>>,
    cursor: usize,
    count: usize,
    max_tokens: usize,
    done: bool,
}

impl<'s, 'a> Lexer<'s, 'a> {
    pub fn new(src: &'s Source<'a>) -> Self {
        Self::with_limit(src, MAX_TOKENS)
    }

    fn with_limit(src: &'s Source<'a>, max_tokens: usize) -> Self {
        // libyaml reads a block scalar ending at EOF without a final line feed, and a byte-order
        // mark inside a document as content.
        let mut options = Options::default();
        options.block_scalar_eof_without_line_feed = true;
        options.bom_inside_document_as_content = true;
        // go-yaml's limits: 10,000 indentation levels and 10,000 flow levels.
        options.block_nesting_limit = MAX_NESTING;
        options.flow_nesting_limit = MAX_NESTING;
        let scanner = Scanner::with_options(StrInput::new(src.text), options);
        Lexer { src, scanner, cursor: 0, count: 0, max_tokens, done: false }
    }
}

impl Iterator for Lexer<'_, '_> {
    type Item = Result<Tok>;

    fn next(&mut self) -> Option<Result<Tok>> {
        if self.done {
            return None;
        }
        let next = self.next_token();
        if !matches!(next, Some(Ok(_))) {
            self.done = true;
        }
        next
    }
}

impl Lexer<'_, '_> {
    fn next_token(&mut self) -> Option<Result<Tok>> {
        let src = self.src;
        loop {
            let item = self.scanner.next()?;
            if self.count >= self.max_tokens {
                let m = src.lexer_mark_at(self.cursor);
                let max_tokens = self.max_tokens;
                return Some(Err(syntax_error(
                    m.line,
                    m.column,
                    &format!("the document has more than {max_tokens} elements (keys, values, indicators), more than this tool reads"),
                )));
            }
            let token = match item {
                Ok(t) => t,
                Err(e) => {
                    let m = e.marker();
                    // go-yaml's words for its nesting limits, which are the scanner's here.
                    let problem = if matches!(e.kind(), ErrorKind::RecursionLimitExceeded) {
                        format!("exceeded max depth of {MAX_NESTING}")
                    } else {
                        "invalid YAML syntax".to_owned()
                    };
                    let (line, column) =
                        (i64::try_from(m.line().max(1)).unwrap_or(i64::MAX) - 1, i64::try_from(m.col()).unwrap_or(i64::MAX));
                    return Some(Err(syntax_error(line, column, &problem)));
                }
            };
            let cursor = self.cursor;
            let (span, token_type) = token.into_parts();
            let granit_end = span.end.byte_offset().unwrap_or(cursor);
            let (kind, width): (TokKind, Option<usize>) = match token_type {
                TokenType::Comment(_) => continue,
                TokenType::StreamStart => {
                    self.count += 1;
                    return Some(Ok(Tok { kind: TokKind::StreamStart, start: Mark::default(), end: 0, synthetic: true }));
                }
                TokenType::StreamEnd => {
                    self.count += 1;
                    return Some(Ok(Tok { kind: TokKind::StreamEnd, start: Mark::default(), end: src.len(), synthetic: true }));
                }
                TokenType::BlockSequenceStart => (TokKind::BlockSequenceStart, None),
                TokenType::BlockMappingStart => (TokKind::BlockMappingStart, None),
                TokenType::BlockEnd => (TokKind::BlockEnd, None),
                TokenType::Key if span.start == span.end => (TokKind::Key, None),
                TokenType::Key => (TokKind::Key, Some(1)),
                TokenType::Value => (TokKind::Value, Some(1)),
                TokenType::BlockEntry => (TokKind::BlockEntry, Some(1)),
                TokenType::FlowEntry => (TokKind::FlowEntry, Some(1)),
                TokenType::FlowSequenceStart => (TokKind::FlowSequenceStart, Some(1)),
                TokenType::FlowSequenceEnd => (TokKind::FlowSequenceEnd, Some(1)),
                // The single-pair mapping of `[k: v]` has no text: libyaml has no token for it,
                // and anchoring it on the text would move every later token past its own place.
                TokenType::FlowMappingStart if span.start == span.end => (TokKind::FlowMappingStart, None),
                TokenType::FlowMappingEnd if span.start == span.end => (TokKind::FlowMappingEnd, None),
                TokenType::FlowMappingStart => (TokKind::FlowMappingStart, Some(1)),
                TokenType::FlowMappingEnd => (TokKind::FlowMappingEnd, Some(1)),
                TokenType::DocumentStart => (TokKind::DocumentStart, Some(3)),
                TokenType::DocumentEnd => (TokKind::DocumentEnd, Some(3)),
                TokenType::VersionDirective(major, minor) => (TokKind::VersionDirective { major, minor }, Some(0)),
                TokenType::TagDirective(handle, prefix) => {
                    (TokKind::TagDirective(Box::new((handle.into_owned(), prefix.into_owned()))), Some(0))
                }
                TokenType::ReservedDirective(..) => {
                    let m = src.lexer_mark_at(span.start.byte_offset().unwrap_or(cursor));
                    return Some(Err(syntax_error(m.line, m.column, "found unknown directive name")));
                }
                TokenType::Alias(name) | TokenType::Anchor(name) if !is_go_yaml_anchor(&name) => {
                    let m = src.lexer_mark_at(span.start.byte_offset().unwrap_or(cursor));
                    return Some(Err(syntax_error(m.line, m.column, "did not find expected alphabetic or numeric character")));
                }
                TokenType::Alias(name) => (TokKind::Alias(name.into_owned()), Some(0)),
                TokenType::Anchor(name) => (TokKind::Anchor(name.into_owned()), Some(0)),
                TokenType::Tag(handle, suffix) => (TokKind::Tag(Box::new((handle.into_owned(), suffix.into_owned()))), Some(0)),
                TokenType::Scalar(style, value) => (TokKind::Scalar { style, value: value.into_owned().into() }, Some(0)),
                _ => {
                    let m = src.lexer_mark_at(span.start.byte_offset().unwrap_or(cursor));
                    return Some(Err(syntax_error(m.line, m.column, "unsupported token")));
                }
            };
            self.count += 1;
            return Some(Ok(match width {
                None => Tok { kind, start: Mark::default(), end: 0, synthetic: true },
                Some(w) => {
                    let start = src.skip_insignificant(cursor);
                    // Fixed-width indicators end `w` characters later; text tokens end where the
                    // scanner says, never before they start.
                    let end = if w > 0 { start + w } else { granit_end.max(start + 1) };
                    self.cursor = end.min(src.len()).max(cursor);
                    Tok { kind, start: src.lexer_mark_at(start), end: self.cursor, synthetic: false }
                }
            }));
        }
    }
}

/// go-yaml accepts only ASCII letters, digits, `_` and `-` in anchor and alias names.
fn is_go_yaml_anchor(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds_and_starts(text: &str) -> Vec<(String, i64, i64)> {
        let src = Source::new(text);
        tokenize(&src)
            .unwrap()
            .into_iter()
            .filter(|t| !t.synthetic)
            .map(|t| (format!("{:?}", t.kind).chars().take(12).collect(), t.start.line, t.start.column))
            .collect()
    }

    #[test]
    fn real_tokens_start_where_libyaml_puts_them() {
        let toks = kinds_and_starts("k: |\n  x\nl:\n- a # c\n");
        let starts: Vec<(i64, i64)> = toks.iter().map(|t| (t.1, t.2)).collect();
        // k, :, | (the indicator, not the content), l, :, -, a
        assert_eq!(starts, vec![(0, 0), (0, 1), (0, 3), (2, 0), (2, 1), (3, 0), (3, 2)]);
    }

    #[test]
    fn single_pair_mappings_in_flow_sequences_do_not_shift_later_tokens() {
        // Anchored one character too far, every later token of the sequence started past its
        // own text, and the comment replay ran over lines the scanner had not read yet.
        let toks = kinds_and_starts("a: [r: x, y]\n");
        let starts: Vec<(i64, i64)> = toks.iter().map(|t| (t.1, t.2)).collect();
        // a, :, [, r, :, x, ",", y, ]
        assert_eq!(starts, vec![(0, 0), (0, 1), (0, 3), (0, 4), (0, 5), (0, 7), (0, 8), (0, 10), (0, 11)]);
    }

    #[test]
    fn the_number_of_tokens_is_bounded() {
        let src = Source::new("a: 1\nb: 2\nc: 3\n");
        assert!(tokenize_at_most(&src, 100).is_ok());
        let err = tokenize_at_most(&src, 8).unwrap_err().to_string();
        assert!(err.contains("more than 8 elements"), "{err}");
    }

    #[test]
    fn syntax_errors_do_not_echo_content() {
        let src = Source::new("a: \"secret\n");
        let err = tokenize(&src).unwrap_err().to_string();
        assert!(!err.contains("secret"), "{err}");
    }
}
