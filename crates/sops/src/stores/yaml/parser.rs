//! The event parser, replaying go-yaml v3's parser state machine over the token stream.
//!
//! Comments reach events the way they do in go-yaml: whenever the parser looks at a token, the
//! comments whose token mark lies at or before it are moved into pending head/line/foot buffers
//! ("no heads on block ends"), and only some events take the pending buffers (scalars, aliases,
//! flow collection starts and ends, block mapping ends, document ends). Block collections under
//! a sequence entry take the entry's head comment as a "stem". Reproducing the exact order of
//! token inspections is what makes comment placement match.

use granit_parser::ScalarStyle;

use std::rc::Rc;

use super::lex::{Tok, TokKind};
use super::scan::{CommentKind, Tokens};
use super::source::Mark;
use super::syntax_error;
use crate::error::Result;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum EventKind {
    StreamStart,
    StreamEnd,
    DocumentStart,
    DocumentEnd,
    Alias { anchor: String },
    Scalar { anchor: String, tag: String, value: String, style: ScalarStyle },
    SequenceStart { anchor: String, tag: String, flow: bool },
    SequenceEnd,
    MappingStart { anchor: String, tag: String, flow: bool },
    MappingEnd,
}

#[derive(Clone, Debug)]
pub(super) struct Event {
    pub kind: EventKind,
    pub start: Mark,
    pub head: String,
    pub line: String,
    pub foot: String,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    StreamStart,
    ImplicitDocumentStart,
    DocumentStart,
    DocumentContent,
    DocumentEnd,
    BlockNode,
    BlockSequenceFirstEntry,
    BlockSequenceEntry,
    IndentlessSequenceEntry,
    BlockMappingFirstKey,
    BlockMappingKey,
    BlockMappingValue,
    FlowSequenceFirstEntry,
    FlowSequenceEntry,
    FlowSequenceEntryMappingKey,
    FlowSequenceEntryMappingValue,
    FlowSequenceEntryMappingEnd,
    FlowMappingFirstKey,
    FlowMappingKey,
    FlowMappingValue,
    FlowMappingEmptyValue,
    End,
}

struct Parser<'s, 'a> {
    tokens: Tokens<'s, 'a>,
    head: usize,
    head_comment: String,
    line_comment: String,
    foot_comment: String,
    stem_comment: String,
    state: State,
    states: Vec<State>,
    tag_directives: Vec<(String, String)>,
}

/// The events of the stream, with their comments, one at a time: the composer pulls them, so
/// that no list of all events is ever held (it would cost more than the input many times over).
pub(super) struct Events<'s, 'a> {
    parser: Parser<'s, 'a>,
    failed: bool,
}

impl<'s, 'a> Events<'s, 'a> {
    pub fn new(tokens: Tokens<'s, 'a>) -> Self {
        let parser = Parser {
            tokens,
            head: 0,
            head_comment: String::new(),
            line_comment: String::new(),
            foot_comment: String::new(),
            stem_comment: String::new(),
            state: State::StreamStart,
            states: Vec::new(),
            tag_directives: Vec::new(),
        };
        Events { failed: false, parser }
    }
}

impl Iterator for Events<'_, '_> {
    type Item = Result<Event>;

    /// The next event; after the stream end or an error, nothing.
    fn next(&mut self) -> Option<Result<Event>> {
        if self.failed || self.parser.state == State::End {
            return None;
        }
        match self.parser.next_event() {
            Ok(ev) => Some(Ok(ev)),
            Err(e) => {
                self.failed = true;
                Some(Err(self.parser.tokens.first_error(e)))
            }
        }
    }
}

fn append(buf: &mut String, text: &str) {
    if !buf.is_empty() {
        buf.push('\n');
    }
    buf.push_str(text);
}

impl Parser<'_, '_> {
    fn token(&mut self) -> Result<Rc<Tok>> {
        self.tokens.get(self.head)
    }

    /// Looks at the current token, absorbing the comments that precede it.
    fn peek(&mut self) -> Result<Rc<Tok>> {
        let tok = self.token()?;
        while let Some(c) = self.tokens.comment() {
            if tok.start.index < c.token_mark.index {
                break;
            }
            match c.kind {
                CommentKind::Head => {
                    if tok.kind == TokKind::BlockEnd {
                        break;
                    }
                    append(&mut self.head_comment, &c.text);
                }
                CommentKind::Foot => append(&mut self.foot_comment, &c.text),
                CommentKind::Line => append(&mut self.line_comment, &c.text),
            }
            self.tokens.take_comment();
        }
        Ok(tok)
    }

    /// Moves past the current token; the stream end is never passed.
    fn skip(&mut self) {
        if self.tokens.get(self.head).is_ok_and(|t| t.kind != TokKind::StreamEnd) {
            self.head += 1;
            self.tokens.release_before(self.head);
        }
    }

    fn pop_state(&mut self) -> State {
        self.states.pop().unwrap_or(State::End)
    }

    fn event(kind: EventKind, start: Mark) -> Event {
        Event { kind, start, head: String::new(), line: String::new(), foot: String::new() }
    }

    fn with_comments(&mut self, mut ev: Event) -> Event {
        ev.head = std::mem::take(&mut self.head_comment);
        ev.line = std::mem::take(&mut self.line_comment);
        ev.foot = std::mem::take(&mut self.foot_comment);
        self.stem_comment.clear();
        ev
    }

    fn empty_scalar(mark: Mark) -> Event {
        Self::event(EventKind::Scalar { anchor: String::new(), tag: String::new(), value: String::new(), style: ScalarStyle::Plain }, mark)
    }

    fn error(tok: &Tok, problem: &str) -> crate::error::Error {
        syntax_error(tok.start.line, tok.start.column, problem)
    }

    fn next_event(&mut self) -> Result<Event> {
        match self.state {
            State::StreamStart => {
                let tok = self.peek()?;
                if tok.kind != TokKind::StreamStart {
                    return Err(Self::error(&tok, "did not find expected <stream-start>"));
                }
                self.state = State::ImplicitDocumentStart;
                let ev = Self::event(EventKind::StreamStart, tok.start);
                self.skip();
                Ok(ev)
            }
            State::ImplicitDocumentStart => self.document_start(true),
            State::DocumentStart => self.document_start(false),
            State::DocumentContent => {
                let tok = self.peek()?;
                if matches!(
                    tok.kind,
                    TokKind::VersionDirective { .. }
                        | TokKind::TagDirective(_)
                        | TokKind::DocumentStart
                        | TokKind::DocumentEnd
                        | TokKind::StreamEnd
                ) {
                    self.state = self.pop_state();
                    return Ok(Self::empty_scalar(tok.start));
                }
                self.node(true, false)
            }
            State::DocumentEnd => {
                let tok = self.peek()?;
                let start = tok.start;
                if tok.kind == TokKind::DocumentEnd {
                    self.skip();
                }
                self.tag_directives.clear();
                self.state = State::DocumentStart;
                let mut ev = self.with_comments(Self::event(EventKind::DocumentEnd, start));
                if !ev.head.is_empty() && ev.foot.is_empty() {
                    ev.foot = std::mem::take(&mut ev.head);
                }
                Ok(ev)
            }
            State::BlockNode => self.node(true, false),
            State::BlockSequenceFirstEntry => self.block_sequence_entry(true),
            State::BlockSequenceEntry => self.block_sequence_entry(false),
            State::IndentlessSequenceEntry => self.indentless_sequence_entry(),
            State::BlockMappingFirstKey => self.block_mapping_key(true),
            State::BlockMappingKey => self.block_mapping_key(false),
            State::BlockMappingValue => self.block_mapping_value(),
            State::FlowSequenceFirstEntry => self.flow_sequence_entry(true),
            State::FlowSequenceEntry => self.flow_sequence_entry(false),
            State::FlowSequenceEntryMappingKey => {
                let tok = self.peek()?;
                if !matches!(tok.kind, TokKind::Value | TokKind::FlowEntry | TokKind::FlowSequenceEnd) {
                    self.states.push(State::FlowSequenceEntryMappingValue);
                    return self.node(false, false);
                }
                self.skip();
                self.state = State::FlowSequenceEntryMappingValue;
                Ok(Self::empty_scalar(tok.start))
            }
            State::FlowSequenceEntryMappingValue => {
                let mut tok = self.peek()?;
                if tok.kind == TokKind::Value {
                    self.skip();
                    tok = self.peek()?;
                    if !matches!(tok.kind, TokKind::FlowEntry | TokKind::FlowSequenceEnd) {
                        self.states.push(State::FlowSequenceEntryMappingEnd);
                        return self.node(false, false);
                    }
                }
                self.state = State::FlowSequenceEntryMappingEnd;
                Ok(Self::empty_scalar(tok.start))
            }
            State::FlowSequenceEntryMappingEnd => {
                let tok = self.peek()?;
                self.state = State::FlowSequenceEntry;
                Ok(Self::event(EventKind::MappingEnd, tok.start))
            }
            State::FlowMappingFirstKey => self.flow_mapping_key(true),
            State::FlowMappingKey => self.flow_mapping_key(false),
            State::FlowMappingValue => self.flow_mapping_value(false),
            State::FlowMappingEmptyValue => self.flow_mapping_value(true),
            State::End => {
                let start = self.token()?.start;
                Ok(Self::event(EventKind::StreamEnd, start))
            }
        }
    }

    fn document_start(&mut self, implicit: bool) -> Result<Event> {
        let mut tok = self.peek()?;
        if !implicit {
            while tok.kind == TokKind::DocumentEnd {
                self.skip();
                tok = self.peek()?;
            }
        }
        let directive_or_start = matches!(tok.kind, TokKind::VersionDirective { .. } | TokKind::TagDirective(_) | TokKind::DocumentStart);
        if implicit && !directive_or_start && tok.kind != TokKind::StreamEnd {
            self.process_directives()?;
            self.states.push(State::DocumentEnd);
            self.state = State::BlockNode;
            // The part of the leading comment before its last blank line is the document's.
            let mut doc_head = String::new();
            let bytes = self.head_comment.as_bytes();
            let mut i = bytes.len().saturating_sub(1);
            while i > 0 {
                if bytes[i] == b'\n' {
                    if i == bytes.len() - 1 {
                        doc_head = self.head_comment[..i].to_string();
                        self.head_comment = self.head_comment[i + 1..].to_string();
                        break;
                    } else if bytes[i - 1] == b'\n' {
                        doc_head = self.head_comment[..i - 1].to_string();
                        self.head_comment = self.head_comment[i + 1..].to_string();
                        break;
                    }
                }
                i -= 1;
            }
            let mut ev = Self::event(EventKind::DocumentStart, tok.start);
            ev.head = doc_head;
            return Ok(ev);
        }
        if tok.kind != TokKind::StreamEnd {
            let start = tok.start;
            self.process_directives()?;
            let tok = self.peek()?;
            if tok.kind != TokKind::DocumentStart {
                return Err(Self::error(&tok, "did not find expected <document start>"));
            }
            self.states.push(State::DocumentEnd);
            self.state = State::DocumentContent;
            let ev = Self::event(EventKind::DocumentStart, start);
            self.skip();
            return Ok(ev);
        }
        self.state = State::End;
        let ev = Self::event(EventKind::StreamEnd, tok.start);
        self.skip();
        Ok(ev)
    }

    fn process_directives(&mut self) -> Result<()> {
        let mut seen_version = false;
        let mut tok = self.peek()?;
        loop {
            match &tok.kind {
                TokKind::VersionDirective { major, minor } => {
                    if seen_version {
                        return Err(Self::error(&tok, "found duplicate %YAML directive"));
                    }
                    if *major != 1 || *minor != 1 {
                        return Err(Self::error(&tok, "found incompatible YAML document"));
                    }
                    seen_version = true;
                }
                TokKind::TagDirective(directive) => {
                    let (handle, prefix) = &**directive;
                    if self.tag_directives.iter().any(|(h, _)| h == handle) {
                        return Err(Self::error(&tok, "found duplicate %TAG directive"));
                    }
                    self.tag_directives.push((handle.clone(), prefix.clone()));
                }
                _ => break,
            }
            self.skip();
            tok = self.peek()?;
        }
        for (h, p) in [("!", "!"), ("!!", "tag:yaml.org,2002:")] {
            if !self.tag_directives.iter().any(|(dh, _)| dh == h) {
                self.tag_directives.push((h.to_string(), p.to_string()));
            }
        }
        Ok(())
    }

    fn node(&mut self, block: bool, indentless_sequence: bool) -> Result<Event> {
        let mut tok = self.peek()?;
        if let TokKind::Alias(name) = &tok.kind {
            self.state = self.pop_state();
            let ev = Self::event(EventKind::Alias { anchor: name.clone() }, tok.start);
            let ev = self.with_comments(ev);
            self.skip();
            return Ok(ev);
        }

        let start = tok.start;
        let mut anchor = String::new();
        let mut tag_parts: Option<(String, String, Rc<Tok>)> = None;
        if let TokKind::Anchor(name) = &tok.kind {
            anchor.clone_from(name);
            self.skip();
            tok = self.peek()?;
            if let TokKind::Tag(parts) = &tok.kind {
                tag_parts = Some((parts.0.clone(), parts.1.clone(), tok));
                self.skip();
                tok = self.peek()?;
            }
        } else if let TokKind::Tag(parts) = &tok.kind {
            tag_parts = Some((parts.0.clone(), parts.1.clone(), tok));
            self.skip();
            tok = self.peek()?;
            if let TokKind::Anchor(name) = &tok.kind {
                anchor.clone_from(name);
                self.skip();
                tok = self.peek()?;
            }
        }

        let mut tag = String::new();
        if let Some((handle, suffix, tag_tok)) = tag_parts {
            if handle.is_empty() {
                tag = suffix;
            } else {
                match self.tag_directives.iter().find(|(h, _)| *h == handle) {
                    Some((_, prefix)) => tag = format!("{prefix}{suffix}"),
                    None => return Err(Self::error(&tag_tok, "found undefined tag handle")),
                }
            }
        }

        if indentless_sequence && tok.kind == TokKind::BlockEntry {
            self.state = State::IndentlessSequenceEntry;
            return Ok(Self::event(EventKind::SequenceStart { anchor, tag, flow: false }, start));
        }
        match &tok.kind {
            TokKind::Scalar { style, value } => {
                self.state = self.pop_state();
                let ev = Self::event(EventKind::Scalar { anchor, tag, value: value.take(), style: *style }, start);
                let ev = self.with_comments(ev);
                self.skip();
                Ok(ev)
            }
            TokKind::FlowSequenceStart => {
                self.state = State::FlowSequenceFirstEntry;
                let ev = Self::event(EventKind::SequenceStart { anchor, tag, flow: true }, start);
                Ok(self.with_comments(ev))
            }
            TokKind::FlowMappingStart => {
                self.state = State::FlowMappingFirstKey;
                let ev = Self::event(EventKind::MappingStart { anchor, tag, flow: true }, start);
                Ok(self.with_comments(ev))
            }
            TokKind::BlockSequenceStart if block => {
                self.state = State::BlockSequenceFirstEntry;
                let mut ev = Self::event(EventKind::SequenceStart { anchor, tag, flow: false }, start);
                ev.head = std::mem::take(&mut self.stem_comment);
                Ok(ev)
            }
            TokKind::BlockMappingStart if block => {
                self.state = State::BlockMappingFirstKey;
                let mut ev = Self::event(EventKind::MappingStart { anchor, tag, flow: false }, start);
                ev.head = std::mem::take(&mut self.stem_comment);
                Ok(ev)
            }
            _ if !anchor.is_empty() || !tag.is_empty() => {
                self.state = self.pop_state();
                let style = ScalarStyle::Plain;
                Ok(Self::event(EventKind::Scalar { anchor, tag, value: String::new(), style }, start))
            }
            _ => Err(Self::error(&tok, "did not find expected node content")),
        }
    }

    /// Moves the head comment gathered before a sequence entry aside when the entry holds a
    /// block collection: it then belongs to the collection, not to its first item.
    fn split_stem_comment(&mut self, stem_len: usize) -> Result<()> {
        if stem_len == 0 {
            return Ok(());
        }
        let tok = self.peek()?;
        if !matches!(tok.kind, TokKind::BlockSequenceStart | TokKind::BlockMappingStart) {
            return Ok(());
        }
        let head = std::mem::take(&mut self.head_comment);
        self.stem_comment = head.get(..stem_len).unwrap_or(&head).to_string();
        self.head_comment = head.get(stem_len + 1..).unwrap_or("").to_string();
        Ok(())
    }

    fn block_sequence_entry(&mut self, first: bool) -> Result<Event> {
        if first {
            self.peek()?;
            self.skip();
        }
        let tok = self.peek()?;
        match tok.kind {
            TokKind::BlockEntry => {
                let prior_head_len = self.head_comment.len();
                self.skip();
                self.split_stem_comment(prior_head_len)?;
                let next = self.peek()?;
                if matches!(next.kind, TokKind::BlockEntry | TokKind::BlockEnd) {
                    self.state = State::BlockSequenceEntry;
                    Ok(Self::empty_scalar(tok.start))
                } else {
                    self.states.push(State::BlockSequenceEntry);
                    self.node(true, false)
                }
            }
            TokKind::BlockEnd => {
                self.state = self.pop_state();
                let ev = Self::event(EventKind::SequenceEnd, tok.start);
                self.skip();
                Ok(ev)
            }
            _ => Err(Self::error(&tok, "did not find expected '-' indicator")),
        }
    }

    fn indentless_sequence_entry(&mut self) -> Result<Event> {
        let tok = self.peek()?;
        if tok.kind == TokKind::BlockEntry {
            let prior_head_len = self.head_comment.len();
            self.skip();
            self.split_stem_comment(prior_head_len)?;
            let next = self.peek()?;
            if !matches!(next.kind, TokKind::BlockEntry | TokKind::Key | TokKind::Value | TokKind::BlockEnd) {
                self.states.push(State::IndentlessSequenceEntry);
                return self.node(true, false);
            }
            self.state = State::IndentlessSequenceEntry;
            return Ok(Self::empty_scalar(tok.start));
        }
        self.state = self.pop_state();
        Ok(Self::event(EventKind::SequenceEnd, tok.start))
    }

    fn block_mapping_key(&mut self, first: bool) -> Result<Event> {
        if first {
            self.peek()?;
            self.skip();
        }
        let tok = self.peek()?;
        match tok.kind {
            TokKind::Key => {
                self.skip();
                let next = self.peek()?;
                if matches!(next.kind, TokKind::Key | TokKind::Value | TokKind::BlockEnd) {
                    self.state = State::BlockMappingValue;
                    Ok(Self::empty_scalar(tok.start))
                } else {
                    self.states.push(State::BlockMappingValue);
                    self.node(true, true)
                }
            }
            TokKind::BlockEnd => {
                self.state = self.pop_state();
                let ev = Self::event(EventKind::MappingEnd, tok.start);
                let ev = self.with_comments(ev);
                self.skip();
                Ok(ev)
            }
            _ => Err(Self::error(&tok, "did not find expected key")),
        }
    }

    fn block_mapping_value(&mut self) -> Result<Event> {
        let tok = self.peek()?;
        if tok.kind == TokKind::Value {
            self.skip();
            let next = self.peek()?;
            if !matches!(next.kind, TokKind::Key | TokKind::Value | TokKind::BlockEnd) {
                self.states.push(State::BlockMappingKey);
                return self.node(true, true);
            }
            self.state = State::BlockMappingKey;
            return Ok(Self::empty_scalar(tok.start));
        }
        self.state = State::BlockMappingKey;
        Ok(Self::empty_scalar(tok.start))
    }

    fn flow_sequence_entry(&mut self, first: bool) -> Result<Event> {
        if first {
            self.peek()?;
            self.skip();
        }
        let mut tok = self.peek()?;
        if tok.kind != TokKind::FlowSequenceEnd {
            if !first {
                if tok.kind == TokKind::FlowEntry {
                    self.skip();
                    tok = self.peek()?;
                } else {
                    return Err(Self::error(&tok, "did not find expected ',' or ']'"));
                }
            }
            if tok.kind == TokKind::Key {
                self.state = State::FlowSequenceEntryMappingKey;
                let ev = Self::event(EventKind::MappingStart { anchor: String::new(), tag: String::new(), flow: true }, tok.start);
                self.skip();
                return Ok(ev);
            } else if tok.kind != TokKind::FlowSequenceEnd {
                self.states.push(State::FlowSequenceEntry);
                return self.node(false, false);
            }
        }
        self.state = self.pop_state();
        let ev = Self::event(EventKind::SequenceEnd, tok.start);
        let ev = self.with_comments(ev);
        self.skip();
        Ok(ev)
    }

    fn flow_mapping_key(&mut self, first: bool) -> Result<Event> {
        if first {
            self.peek()?;
            self.skip();
        }
        let mut tok = self.peek()?;
        if tok.kind != TokKind::FlowMappingEnd {
            if !first {
                if tok.kind == TokKind::FlowEntry {
                    self.skip();
                    tok = self.peek()?;
                } else {
                    return Err(Self::error(&tok, "did not find expected ',' or '}'"));
                }
            }
            if tok.kind == TokKind::Key {
                self.skip();
                let next = self.peek()?;
                if !matches!(next.kind, TokKind::Value | TokKind::FlowEntry | TokKind::FlowMappingEnd) {
                    self.states.push(State::FlowMappingValue);
                    return self.node(false, false);
                }
                self.state = State::FlowMappingValue;
                return Ok(Self::empty_scalar(next.start));
            } else if tok.kind != TokKind::FlowMappingEnd {
                self.states.push(State::FlowMappingEmptyValue);
                return self.node(false, false);
            }
        }
        self.state = self.pop_state();
        let ev = Self::event(EventKind::MappingEnd, tok.start);
        let ev = self.with_comments(ev);
        self.skip();
        Ok(ev)
    }

    fn flow_mapping_value(&mut self, empty: bool) -> Result<Event> {
        let mut tok = self.peek()?;
        if empty {
            self.state = State::FlowMappingKey;
            return Ok(Self::empty_scalar(tok.start));
        }
        if tok.kind == TokKind::Value {
            self.skip();
            tok = self.peek()?;
            if !matches!(tok.kind, TokKind::FlowEntry | TokKind::FlowMappingEnd) {
                self.states.push(State::FlowMappingKey);
                return self.node(false, false);
            }
        }
        self.state = State::FlowMappingKey;
        Ok(Self::empty_scalar(tok.start))
    }
}
