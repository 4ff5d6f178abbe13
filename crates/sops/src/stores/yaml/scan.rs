//! Replays go-yaml v3's scanner over the token stream to capture comments exactly as it does.
//!
//! sops places comments where go-yaml's `yaml.Node` puts them (head, line and foot comments),
//! and go-yaml decides that inside its scanner: while skipping the whitespace before each token
//! it splits comment blocks into "foot of the previous token" and "head of the next one" using
//! the current block indentation, blank lines and the line the previous token ended on; it
//! attaches same-line comments to the token before them; and it moves the marks of block-end
//! tokens onto comments that sit at the closing block's indentation. Those marks later decide
//! which parser event receives each comment ([`super::parser`]).
//!
//! The scanner state this needs (indentation stack, flow level, the last token, where the
//! previous token's scan stopped) is reconstructed from the token stream; the comment logic
//! itself mirrors go-yaml's `yaml_parser_scan_comments`, `yaml_parser_scan_line_comment` and
//! `yaml_parser_unroll_indent`, including their arithmetic quirks.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "positions are go-yaml's signed ints (a negative one means none), converted at each use as go-yaml's arithmetic needs; they are bounded by the input's length, far below the limits of either type"
)]

use std::collections::VecDeque;
use std::rc::Rc;

use granit_parser::ScalarStyle;

use super::lex::{Lexer, Tok, TokKind};
use super::source::{is_blank, is_break, is_breakz, Mark, Source};
use super::syntax_error;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CommentKind {
    Head,
    Line,
    Foot,
}

/// One captured comment block (go-yaml `yaml_comment_t`). `text` keeps the `#` of every line.
#[derive(Clone, Debug)]
pub(super) struct CommentRec {
    pub kind: CommentKind,
    pub text: String,
    /// Comments are handed to the parser once it looks at a token starting at or after this.
    pub token_mark: Mark,
    pub start_mark: Mark,
    pub end_mark: Mark,
    pub scan_mark: Mark,
}

/// How far go-yaml looks ahead over whitespace while classifying comments.
const PEEK_LIMIT: i64 = 512;

struct Replay<'s, 'a> {
    src: &'s Source<'a>,
    /// Comments found and not yet handed to the parser, in scan order.
    comments: VecDeque<CommentRec>,
    indent: i64,
    indents: Vec<i64>,
    flow_level: i64,
    /// go-yaml's `simple_key_allowed`: where it is set, block context refuses tabs as separation.
    simple_key_allowed: bool,
    /// Flow levels of simple keys waiting for their `:`.
    pending_simple_keys: Vec<i64>,
}

/// The tokens a replay still looks at and the parser has not yet read, by their index in the
/// whole stream. Tokens are shared with the parser (which keeps one while it builds an event).
pub(super) struct Window {
    toks: VecDeque<Rc<Tok>>,
    /// Stream index of `toks[0]`.
    base: usize,
    /// Stands in for a token outside the window (never asked for: the window keeps what the
    /// replay and the parser need).
    fallback: Rc<Tok>,
}

impl Window {
    fn new() -> Self {
        let fallback = Rc::new(Tok { kind: TokKind::StreamEnd, start: Mark::default(), end: 0, synthetic: true });
        Window { toks: VecDeque::new(), base: 0, fallback }
    }

    /// The stream index after the last token held.
    fn end(&self) -> usize {
        self.base + self.toks.len()
    }

    fn get(&self, i: usize) -> &Rc<Tok> {
        i.checked_sub(self.base).and_then(|at| self.toks.get(at)).unwrap_or(&self.fallback)
    }

    /// Drops the tokens before stream index `i`.
    fn release_before(&mut self, i: usize) {
        while self.base < i && !self.toks.is_empty() {
            self.toks.pop_front();
            self.base += 1;
        }
    }
}

impl std::ops::Index<usize> for Window {
    type Output = Tok;

    fn index(&self, i: usize) -> &Tok {
        self.get(i)
    }
}

impl std::ops::IndexMut<usize> for Window {
    /// Only tokens the parser has not been given yet are changed, so this does not copy.
    fn index_mut(&mut self, i: usize) -> &mut Tok {
        let slot = match i.checked_sub(self.base).and_then(|at| self.toks.get_mut(at)) {
            Some(slot) => slot,
            None => &mut self.fallback,
        };
        Rc::make_mut(slot)
    }
}

/// How many real tokens the replay runs ahead of the token the parser reads. A comment found
/// while replaying a token is attached to a mark no earlier than the real token two before
/// it, and the parser takes comments whose mark is at or before the token it reads: with this
/// lead, every comment it would take has been found.
const LEAD: usize = 4;

/// Why the token stream stopped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stopped {
    Lexer,
    Replay,
}

/// The token stream with its marks and comments, produced as the parser reads it: lexer →
/// comment replay → parser, holding a few tokens at a time instead of all of them.
pub(super) struct Tokens<'s, 'a> {
    lexer: Lexer<'s, 'a>,
    r: Replay<'s, 'a>,
    window: Window,
    /// Stream index of the next token to replay.
    next: usize,
    /// Where the previous fetch left the scanner (go-yaml `parser.mark` between fetches).
    scan_mark: Mark,
    last_real: usize,
    pending: Vec<usize>,
    /// Stream indices of the last [`LEAD`] real tokens replayed.
    recent: VecDeque<usize>,
    eof: Mark,
    /// The stream end has been replayed: every token and comment is known.
    finished: bool,
    stopped: Option<Stopped>,
}

impl<'s, 'a> Tokens<'s, 'a> {
    pub fn new(src: &'s Source<'a>) -> Self {
        let r = Replay {
            src,
            comments: VecDeque::new(),
            indent: -1,
            indents: Vec::new(),
            flow_level: 0,
            simple_key_allowed: true,
            pending_simple_keys: Vec::new(),
        };
        Tokens {
            lexer: Lexer::new(src),
            r,
            window: Window::new(),
            next: 0,
            scan_mark: Mark::default(),
            last_real: 0,
            pending: Vec::new(),
            recent: VecDeque::new(),
            eof: src.mark_at(src.len()),
            finished: false,
            stopped: None,
        }
    }

    /// Token `i` of the stream, once its marks and the comments before it are final; past the
    /// stream end, the stream end.
    pub fn get(&mut self, i: usize) -> Result<Rc<Tok>> {
        while !self.is_final(i) {
            self.step()?;
        }
        if i >= self.window.end() {
            return Ok(self.window.get(self.window.end().saturating_sub(1)).clone());
        }
        Ok(self.window.get(i).clone())
    }

    /// Whether token `i` and the comments before it are complete: the stream is replayed to
    /// its end, or [`LEAD`] real tokens after it.
    fn is_final(&self, i: usize) -> bool {
        self.finished || (self.recent.len() == LEAD && self.recent.front().is_some_and(|&r| r > i))
    }

    /// The parser will not ask for tokens before `i` again.
    pub fn release_before(&mut self, i: usize) {
        self.window.release_before(i.min(self.last_real.saturating_sub(1)).min(self.next));
    }

    /// The next comment not yet handed out.
    pub fn comment(&self) -> Option<&CommentRec> {
        self.r.comments.front()
    }

    pub fn take_comment(&mut self) {
        self.r.comments.pop_front();
    }

    /// The error to report when parsing stopped with `err`: as when the whole stream was
    /// scanned and replayed before parsing, a scanner error anywhere comes first, then a replay
    /// error, then `err`.
    pub fn first_error(&mut self, err: Error) -> Error {
        if self.stopped == Some(Stopped::Lexer) {
            return err;
        }
        let mut best = err;
        while self.stopped.is_none() && !self.finished {
            if let Err(e) = self.step() {
                if self.stopped == Some(Stopped::Lexer) {
                    return e;
                }
                best = e;
            }
            self.window.release_before(self.last_real.saturating_sub(1).min(self.next));
            self.r.comments.clear();
        }
        if self.stopped == Some(Stopped::Replay) {
            for tok in self.lexer.by_ref() {
                if let Err(e) = tok {
                    return e;
                }
            }
        }
        best
    }

    /// Replays up to and including the next real token (or the stream end).
    fn step(&mut self) -> Result<()> {
        match self.step_inner() {
            Ok(()) => Ok(()),
            Err(e) => {
                self.stopped.get_or_insert(Stopped::Replay);
                Err(e)
            }
        }
    }

    fn step_inner(&mut self) -> Result<()> {
        if self.stopped.is_some() {
            return Err(syntax_error(0, 0, "the token stream stopped"));
        }
        loop {
            let i = self.next;
            if i >= self.window.end() {
                match self.lexer.next() {
                    Some(Ok(t)) => self.window.toks.push_back(Rc::new(t)),
                    Some(Err(e)) => {
                        self.stopped = Some(Stopped::Lexer);
                        return Err(e);
                    }
                    None => {
                        self.finished = true;
                        return Ok(());
                    }
                }
                continue;
            }
            self.next += 1;
            if i == 0 {
                continue;
            }
            let toks = &mut self.window;
            let r = &mut self.r;
            let is_end = matches!(toks[i].kind, TokKind::StreamEnd);
            if toks[i].synthetic && !is_end {
                self.pending.push(i);
                continue;
            }
            let t_start = if is_end { self.eof } else { toks[i].start };

            r.scan_to_next_token(self.scan_mark, t_start.index, toks, self.last_real)?;

            // Block ends produced by this fetch; stream end and document markers unroll twice.
            let ends: Vec<usize> = self.pending.iter().copied().filter(|&p| toks[p].kind == TokKind::BlockEnd).collect();
            let second_phase = match toks[i].kind {
                TokKind::StreamEnd => {
                    let mut m = self.eof;
                    if m.column != 0 {
                        m.column = 0;
                        m.line += 1;
                    }
                    Some(m)
                }
                TokKind::DocumentStart | TokKind::DocumentEnd | TokKind::VersionDirective { .. } | TokKind::TagDirective(_) => {
                    Some(t_start)
                }
                _ => None,
            };
            r.unroll(toks, &ends, t_start.column, self.scan_mark, second_phase);
            if let Some(m) = second_phase.filter(|_| is_end) {
                toks[i].start = m;
            }
            for &p in &self.pending {
                if toks[p].kind == TokKind::BlockEnd {
                    continue;
                }
                toks[p].start = t_start;
                if toks[p].kind == TokKind::Key {
                    r.pending_simple_keys.push(r.flow_level);
                }
                if matches!(toks[p].kind, TokKind::BlockMappingStart | TokKind::BlockSequenceStart) {
                    r.indents.push(r.indent);
                    r.indent = t_start.column;
                }
            }
            self.pending.clear();
            if self.recent.len() == LEAD {
                self.recent.pop_front();
            }
            self.recent.push_back(i);
            if is_end {
                self.finished = true;
                return Ok(());
            }
            self.scan_mark = r.finish_token(toks, i)?;
            self.last_real = i;
            return Ok(());
        }
    }
}

/// go-yaml's error for a tab where it expects indentation or a token.
fn tab_error(m: Mark) -> crate::error::Error {
    syntax_error(m.line, m.column, "found character that cannot start any token")
}

impl Replay<'_, '_> {
    /// go-yaml `yaml_parser_scan_to_next_token`, limited to what concerns comments.
    fn scan_to_next_token(&mut self, scan_mark: Mark, token_start: i64, toks: &Window, last: usize) -> Result<()> {
        let mut pos = scan_mark.index;
        let mut newlines = self.src.newlines_before(pos.max(0) as usize);
        while pos < token_start {
            let b = self.src.byte(pos);
            if b == b'\t' && self.flow_level == 0 && self.simple_key_allowed {
                return Err(tab_error(self.src.mark_at(pos as usize)));
            }
            if is_blank(b) {
                pos += 1;
            } else if b == b'#' {
                pos = self.scan_comments(pos, scan_mark, newlines, toks, last);
                newlines = 0;
            } else if is_break(b) {
                pos += if b == b'\r' && self.src.byte(pos + 1) == b'\n' { 2 } else { 1 };
                newlines += 1;
                if self.flow_level == 0 {
                    self.simple_key_allowed = true;
                }
            } else {
                // A byte-order mark or similar filler the scanner skips silently.
                pos += self.src.char_len(pos as usize) as i64;
            }
        }
        Ok(())
    }

    /// go-yaml `yaml_parser_scan_comments`: splits the comment lines starting at `at` into
    /// foot comments of the previous token and a head comment of the next one. Returns the
    /// position after the last consumed comment line.
    fn scan_comments(&mut self, at: i64, scan_mark: Mark, newlines: i64, toks: &Window, last: usize) -> i64 {
        let mut token = &toks[last];
        if token.kind == TokKind::FlowEntry && last > 0 {
            token = &toks[last - 1];
        }
        let token_is_value = token.kind == TokKind::Value;
        let mut token_mark = token.start;
        let mut start_mark = Mark::default();
        let mut next_indent = self.indent.max(0);
        let mut recent_empty = false;
        let mut first_empty = newlines <= 1;

        let mut pmark = self.src.mark_at(at as usize);
        let mut line = pmark.line;
        let mut column = pmark.column;
        let mut text = String::new();
        let mut scan_mark = scan_mark;

        let mut foot_line = -1;
        if scan_mark.line > 0 {
            foot_line = pmark.line - newlines + 1;
            if newlines == 0 && pmark.column > 1 {
                foot_line += 1;
            }
        }

        let mut peek: i64 = 0;
        while peek < PEEK_LIMIT {
            column += 1;
            let c = self.src.byte(pmark.index + peek);
            if is_blank(c) {
                peek += 1;
                continue;
            }
            let close_flow = self.flow_level > 0 && (c == b']' || c == b'}');
            if close_flow || is_breakz(c) {
                if close_flow || !recent_empty {
                    let is_foot = close_flow
                        || first_empty && (start_mark.line == foot_line && !token_is_value || start_mark.column - 1 < next_indent);
                    if is_foot {
                        if !text.is_empty() {
                            if start_mark.column - 1 < next_indent {
                                token_mark = start_mark;
                            }
                            let end = Mark { index: pmark.index + peek, line, column };
                            self.push(CommentKind::Foot, &mut text, token_mark, start_mark, end, scan_mark);
                            scan_mark = end;
                            token_mark = end;
                        }
                    } else if !text.is_empty() && c != 0 {
                        text.push('\n');
                    }
                }
                if !is_break(c) {
                    break;
                }
                first_empty = false;
                recent_empty = true;
                column = 0;
                line += 1;
                peek += 1;
                continue;
            }

            if !text.is_empty() && (close_flow || column - 1 < next_indent && column != start_mark.column) {
                let end = Mark { index: pmark.index + peek, line, column };
                self.push(CommentKind::Foot, &mut text, token_mark, start_mark, end, scan_mark);
                scan_mark = end;
                token_mark = end;
            }

            if c != b'#' {
                break;
            }

            if text.is_empty() {
                start_mark = Mark { index: pmark.index + peek, line, column };
            } else {
                text.push('\n');
            }
            recent_empty = false;

            // Consume up to the comment, then the comment itself up to its line break. go-yaml
            // meets a NUL only at the end of its buffer (its reader refuses one inside the
            // stream), so it never stands between here and `seen`; the lexer lets one through
            // inside a comment, and stopping on it there would find the same `#` again forever.
            // Before `seen` a NUL is skipped like any other character; after it, it ends the
            // comment as the end of the input does.
            let seen = pmark.index + peek;
            loop {
                let b = self.src.byte(pmark.index);
                if is_break(b) && pmark.index < seen {
                    pmark.index += if b == b'\r' && self.src.byte(pmark.index + 1) == b'\n' { 2 } else { 1 };
                    pmark.line += 1;
                    pmark.column = 0;
                } else if is_breakz(b) && pmark.index >= seen {
                    break;
                } else {
                    let len = self.src.char_len(pmark.index as usize) as i64;
                    if pmark.index >= seen {
                        if let Some(s) = self.src.text.get(pmark.index as usize..(pmark.index + len) as usize) {
                            text.push_str(s);
                        }
                    }
                    pmark.index += len;
                    pmark.column += 1;
                }
            }

            peek = 0;
            column = 0;
            line = pmark.line;
            next_indent = self.indent.max(0);
            peek += 1;
        }

        if !text.is_empty() {
            let end = Mark { index: pmark.index + peek - 1, line, column };
            self.push(CommentKind::Head, &mut text, start_mark, start_mark, end, scan_mark);
        }
        pmark.index
    }

    fn push(&mut self, kind: CommentKind, text: &mut String, token_mark: Mark, start: Mark, end: Mark, scan: Mark) {
        self.comments.push_back(CommentRec {
            kind,
            text: std::mem::take(text),
            token_mark,
            start_mark: start,
            end_mark: end,
            scan_mark: scan,
        });
    }

    /// go-yaml `yaml_parser_scan_line_comment`: a comment on the same line after a token.
    /// Returns the position after it, or `at` when there is none.
    fn scan_line_comment(&mut self, at: i64, token_mark: Mark) -> i64 {
        if self.src.newlines_before(at.max(0) as usize) > 0 {
            return at;
        }
        let mut peek = 0;
        while peek < PEEK_LIMIT {
            let c = self.src.byte(at + peek);
            if is_blank(c) {
                peek += 1;
                continue;
            }
            if c == b'#' {
                let start = (at + peek) as usize;
                let mut end = start;
                while !is_breakz(self.src.byte(end as i64)) {
                    end += self.src.char_len(end);
                }
                let text = self.src.text.get(start..end).unwrap_or("").to_string();
                self.comments.push_back(CommentRec {
                    kind: CommentKind::Line,
                    text,
                    token_mark,
                    start_mark: self.src.mark_at(start),
                    end_mark: Mark::default(),
                    scan_mark: Mark::default(),
                });
                return end as i64;
            }
            break;
        }
        at
    }

    /// go-yaml `yaml_parser_unroll_indent`: gives each closing block-end token its mark, moving
    /// it onto a following comment that sits at the closing block's indentation.
    fn unroll(&mut self, toks: &mut Window, ends: &[usize], column: i64, scan_mark: Mark, second: Option<Mark>) {
        if self.flow_level > 0 {
            return;
        }
        let mut block_mark = scan_mark;
        block_mark.index -= 1;
        let mut in_second = false;
        for &ti in ends {
            if !in_second && self.indent <= column {
                if let Some(m) = second {
                    in_second = true;
                    block_mark = m;
                    block_mark.index -= 1;
                }
            }
            let mut stop_index = block_mark.index;
            for c in self.comments.iter().rev() {
                if c.end_mark.index < stop_index {
                    break;
                }
                if c.start_mark.column == self.indent + 1 {
                    block_mark = c.start_mark;
                }
                stop_index = c.scan_mark.index;
            }
            toks[ti].start = block_mark;
            self.indent = self.indents.pop().unwrap_or(-1);
        }
    }

    /// Where the scanner stands after fetching token `i`, capturing its same-line comment.
    fn finish_token(&mut self, toks: &Window, i: usize) -> Result<Mark> {
        let t = &toks[i];
        let end = t.end as i64;
        self.simple_key_allowed = match &t.kind {
            TokKind::Scalar { style: ScalarStyle::Literal | ScalarStyle::Folded, .. }
            | TokKind::BlockEntry
            | TokKind::FlowSequenceStart
            | TokKind::FlowMappingStart
            | TokKind::FlowEntry => true,
            TokKind::Key => self.flow_level == 0,
            TokKind::Value => {
                if self.pending_simple_keys.last() == Some(&self.flow_level) {
                    self.pending_simple_keys.pop();
                    false
                } else {
                    self.flow_level == 0
                }
            }
            _ => false,
        };
        let consumed = match &t.kind {
            TokKind::Scalar { style: ScalarStyle::Literal | ScalarStyle::Folded, .. } => {
                self.block_scalar_header_comment(t);
                self.src.skip_blanks_and_breaks(t.end) as i64
            }
            TokKind::Scalar { style: ScalarStyle::Plain, .. } => {
                let consumed = self.src.skip_blanks_and_breaks(t.end);
                self.plain_scalar_trailer(t.end, consumed)?;
                consumed as i64
            }
            TokKind::VersionDirective { .. } | TokKind::TagDirective(_) => {
                // The rest of a directive line, comment included, is discarded.
                let mut p = end;
                while is_blank(self.src.byte(p)) {
                    p += 1;
                }
                if self.src.byte(p) == b'#' {
                    while !is_breakz(self.src.byte(p)) {
                        p += 1;
                    }
                }
                return Ok(self.src.mark_at(p as usize));
            }
            TokKind::DocumentStart | TokKind::DocumentEnd | TokKind::BlockEntry => {
                return Ok(self.src.mark_at(t.end));
            }
            _ => end,
        };
        match t.kind {
            TokKind::FlowSequenceStart | TokKind::FlowMappingStart => self.flow_level += 1,
            TokKind::FlowSequenceEnd | TokKind::FlowMappingEnd => self.flow_level = (self.flow_level - 1).max(0),
            _ => {}
        }
        let uses_previous = (self.flow_level == 0 && t.kind == TokKind::Value) || (self.flow_level > 0 && t.kind == TokKind::FlowEntry);
        let comment_mark = if uses_previous && i > 0 { toks[i - 1].start } else { t.start };
        let after = self.scan_line_comment(consumed, comment_mark);
        Ok(self.src.mark_at(after.max(0) as usize))
    }

    /// The whitespace a plain scalar consumes after itself: a line break there allows a simple
    /// key again, and a tab before the block's indentation is an error.
    fn plain_scalar_trailer(&mut self, from: usize, to: usize) -> Result<()> {
        let mut after_break = false;
        let mut p = from;
        while p < to {
            let b = self.src.byte(p as i64);
            if is_break(b) {
                after_break = true;
            } else if b == b'\t' && after_break && self.flow_level == 0 {
                let m = self.src.mark_at(p);
                if m.column < self.indent + 1 {
                    return Err(syntax_error(m.line, m.column, "found a tab character that violates indentation"));
                }
            }
            p += 1;
        }
        if after_break {
            self.simple_key_allowed = true;
        }
        Ok(())
    }

    /// The comment after a block scalar's `|`/`>` indicators belongs to the scalar.
    fn block_scalar_header_comment(&mut self, t: &Tok) {
        let mut p = t.start.index + 1;
        while matches!(self.src.byte(p), b'+' | b'-' | b'0'..=b'9') {
            p += 1;
        }
        while is_blank(self.src.byte(p)) {
            p += 1;
        }
        if self.src.byte(p) == b'#' && p < t.end as i64 {
            self.scan_line_comment(p, t.start);
        }
    }
}
