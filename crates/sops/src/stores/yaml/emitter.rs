//! go-yaml's emitter (libyaml's, as changed by go-yaml v3.0.4) for the block layouts sops
//! writes: block mappings and sequences, empty collections as `{}`/`[]`, plain, quoted and
//! literal scalars, and head/foot/tail comments. Its indentation arithmetic, pending-comment
//! buffers and the blank line after a foot comment are reproduced state for state.

use super::quote::{self, analyze, double_quote_escape, Analysis, Style};
use crate::error::{Error, Result};
use crate::format::Format;

fn emit_error(message: &str) -> Error {
    Error::Emit { format: Format::Yaml, message: message.to_string() }
}

/// Emitter input (go-yaml events, reduced to what sops' nodes produce).
pub(super) enum Ev<'a> {
    StreamStart,
    DocStart,
    DocEnd,
    MapStart {
        head: String,
        tail: String,
    },
    MapEnd {
        tail: String,
        foot: String,
    },
    SeqStart {
        head: String,
    },
    SeqEnd {
        foot: String,
    },
    /// The value borrows from the tree being written where it can: no second copy of every string.
    Scalar {
        value: std::borrow::Cow<'a, str>,
        style: Style,
        tag: Option<&'static str>,
        head: String,
        foot: String,
        tail: String,
    },
    StreamEnd,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum St {
    StreamStart,
    FirstDocumentStart,
    DocumentStart,
    DocumentContent,
    DocumentEnd,
    FlowSequenceFirstItem,
    FlowMappingFirstKey,
    BlockSequenceFirstItem,
    BlockSequenceItem,
    BlockMappingFirstKey,
    BlockMappingKey,
    BlockMappingSimpleValue,
    BlockMappingValue,
    End,
}

/// The emitter takes its events one at a time and looks one event ahead (as libyaml does for
/// empty collections), so that no list of all events is ever held: for a file of many small
/// entries it would cost several times the file's size. Only the start of a collection waits
/// for the event after it; every other event is written as soon as it comes, so the events of
/// one part of a tree can be written, and that part dropped, before the next part exists
/// ([`Emitter::rebind`]).
pub(super) struct Emitter<'e> {
    /// The event being emitted and the one after it.
    current: Ev<'e>,
    /// A collection start waiting for the event after it.
    waiting: bool,
    next: Option<Ev<'e>>,
    pub out: String,
    best_indent: i64,
    state: St,
    states: Vec<St>,
    indent: i64,
    indents: Vec<i64>,
    flow_level: i64,
    column: i64,
    whitespace: bool,
    indention: bool,
    foot_indent: i64,
    head_comment: String,
    line_comment: String,
    foot_comment: String,
    tail_comment: String,
    simple_key_context: bool,
    analysis: Analysis,
}

impl Ev<'_> {
    /// The same event, owning its text.
    fn into_owned(self) -> Ev<'static> {
        match self {
            Ev::StreamStart => Ev::StreamStart,
            Ev::DocStart => Ev::DocStart,
            Ev::DocEnd => Ev::DocEnd,
            Ev::MapStart { head, tail } => Ev::MapStart { head, tail },
            Ev::MapEnd { tail, foot } => Ev::MapEnd { tail, foot },
            Ev::SeqStart { head } => Ev::SeqStart { head },
            Ev::SeqEnd { foot } => Ev::SeqEnd { foot },
            Ev::Scalar { value, style, tag, head, foot, tail } => {
                Ev::Scalar { value: std::borrow::Cow::Owned(value.into_owned()), style, tag, head, foot, tail }
            }
            Ev::StreamEnd => Ev::StreamEnd,
        }
    }
}

impl<'e> Emitter<'e> {
    pub fn new(indent: usize) -> Self {
        // go-yaml accepts indents from 2 to 9 and falls back to 2 otherwise.
        let best_indent = if (2..=9).contains(&indent) { i64::try_from(indent).unwrap_or(2) } else { 2 };
        Emitter {
            current: Ev::StreamStart,
            waiting: false,
            next: None,
            out: String::new(),
            best_indent,
            state: St::StreamStart,
            states: Vec::new(),
            indent: -1,
            indents: Vec::new(),
            flow_level: 0,
            column: 0,
            whitespace: true,
            indention: true,
            foot_indent: -1,
            head_comment: String::new(),
            line_comment: String::new(),
            foot_comment: String::new(),
            tail_comment: String::new(),
            simple_key_context: false,
            analysis: Analysis::default(),
        }
    }

    /// Writes every event of `events`.
    pub fn run(&mut self, events: impl Iterator<Item = Result<Ev<'e>>>) -> Result<()> {
        for ev in events {
            self.push(ev?)?;
        }
        self.finish()
    }

    /// Writes the next event, or keeps it until the one after it comes when it starts a
    /// collection (whose layout depends on whether it is empty).
    pub fn push(&mut self, ev: Ev<'e>) -> Result<()> {
        if self.waiting {
            self.next = Some(ev);
            self.analyze_event();
            self.step()?;
            self.waiting = false;
            let Some(ev) = self.next.take() else { return Err(emit_error("an event went missing")) };
            self.current = ev;
        } else {
            self.current = ev;
        }
        if matches!(self.current, Ev::MapStart { .. } | Ev::SeqStart { .. }) {
            self.waiting = true;
            return Ok(());
        }
        // No other event looks at the one after it. Once written it is let go, so that it
        // borrows nothing any more.
        self.analyze_event();
        let written = self.step();
        self.current = Ev::StreamEnd;
        written
    }

    /// Writes the event still waiting, if any.
    pub fn finish(&mut self) -> Result<()> {
        if std::mem::take(&mut self.waiting) {
            self.analyze_event();
            self.step()?;
        }
        Ok(())
    }

    /// The same emitter, ready for events that borrow from something else: the events it
    /// holds (written already, or a collection start, which borrows nothing) are made owned.
    pub fn rebind<'f>(self) -> Emitter<'f> {
        Emitter {
            current: self.current.into_owned(),
            waiting: self.waiting,
            next: self.next.map(Ev::into_owned),
            out: self.out,
            best_indent: self.best_indent,
            state: self.state,
            states: self.states,
            indent: self.indent,
            indents: self.indents,
            flow_level: self.flow_level,
            column: self.column,
            whitespace: self.whitespace,
            indention: self.indention,
            foot_indent: self.foot_indent,
            head_comment: self.head_comment,
            line_comment: self.line_comment,
            foot_comment: self.foot_comment,
            tail_comment: self.tail_comment,
            simple_key_context: self.simple_key_context,
            analysis: self.analysis,
        }
    }

    fn ev(&self) -> &Ev<'e> {
        &self.current
    }

    /// Moves the event's comments into the pending buffers (nothing reads them from the event
    /// afterwards).
    fn analyze_event(&mut self) {
        let empty = &mut String::new();
        let (head, foot, tail) = match &mut self.current {
            Ev::MapStart { head, tail } => (head, empty, tail),
            Ev::MapEnd { tail, foot } => (&mut String::new(), foot, tail),
            Ev::SeqStart { head } => (head, empty, &mut String::new()),
            Ev::SeqEnd { foot } => (&mut String::new(), foot, empty),
            Ev::Scalar { head, foot, tail, value, .. } => {
                self.analysis = analyze(value);
                (head, foot, tail)
            }
            _ => return,
        };
        if !head.is_empty() {
            self.head_comment = std::mem::take(head);
        }
        if !foot.is_empty() {
            self.foot_comment = std::mem::take(foot);
        }
        if !tail.is_empty() {
            self.tail_comment = std::mem::take(tail);
        }
    }

    fn pop_state(&mut self) -> St {
        self.states.pop().unwrap_or(St::End)
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn step(&mut self) -> Result<()> {
        match self.state {
            St::StreamStart => {
                self.state = St::FirstDocumentStart;
                Ok(())
            }
            St::FirstDocumentStart | St::DocumentStart => {
                match self.ev() {
                    Ev::DocStart => {
                        if self.state == St::DocumentStart {
                            self.write_indent();
                            self.write_indicator("---", true, false, false);
                            self.write_indent();
                        }
                        self.state = St::DocumentContent;
                    }
                    Ev::StreamEnd => self.state = St::End,
                    _ => return Err(emit_error("expected a document start")),
                }
                Ok(())
            }
            St::DocumentContent => {
                self.states.push(St::DocumentEnd);
                self.process_head_comment();
                self.emit_node(false)?;
                self.process_line_comment();
                self.process_foot_comment();
                Ok(())
            }
            St::DocumentEnd => {
                self.foot_indent = 0;
                self.process_foot_comment();
                self.foot_indent = -1;
                self.write_indent();
                self.state = St::DocumentStart;
                Ok(())
            }
            St::FlowSequenceFirstItem => self.flow_collection_end('[', ']'),
            St::FlowMappingFirstKey => self.flow_collection_end('{', '}'),
            St::BlockSequenceFirstItem => self.block_sequence_item(true),
            St::BlockSequenceItem => self.block_sequence_item(false),
            St::BlockMappingFirstKey => self.block_mapping_key(true),
            St::BlockMappingKey => self.block_mapping_key(false),
            St::BlockMappingSimpleValue => self.block_mapping_value(true),
            St::BlockMappingValue => self.block_mapping_value(false),
            St::End => Err(emit_error("expected nothing after the stream end")),
        }
    }

    /// Empty collections are the only flow collections sops writes.
    fn flow_collection_end(&mut self, open: char, close: char) -> Result<()> {
        self.write_indicator(&open.to_string(), true, true, false);
        self.increase_indent(true, false);
        self.flow_level += 1;
        if !matches!(self.ev(), Ev::MapEnd { .. } | Ev::SeqEnd { .. }) {
            return Err(emit_error("unexpected content in a flow collection"));
        }
        if open == '{' {
            self.process_head_comment();
        }
        self.flow_level -= 1;
        self.pop_indent();
        if open == '[' && self.column == 0 {
            self.write_indent();
        }
        self.write_indicator(&close.to_string(), false, false, false);
        self.process_line_comment();
        self.process_foot_comment();
        self.state = self.pop_state();
        Ok(())
    }

    fn block_sequence_item(&mut self, first: bool) -> Result<()> {
        if first {
            self.increase_indent(false, false);
        }
        if let Ev::SeqEnd { .. } = self.ev() {
            self.pop_indent();
            self.state = self.pop_state();
            return Ok(());
        }
        self.process_head_comment();
        self.write_indent();
        self.write_indicator("-", true, false, true);
        self.states.push(St::BlockSequenceItem);
        self.emit_node(false)?;
        self.process_line_comment();
        self.process_foot_comment();
        Ok(())
    }

    fn block_mapping_key(&mut self, first: bool) -> Result<()> {
        if first {
            self.increase_indent(false, false);
        }
        self.process_head_comment();
        if let Ev::MapEnd { .. } = self.ev() {
            self.pop_indent();
            self.state = self.pop_state();
            return Ok(());
        }
        self.write_indent();
        if self.check_simple_key() {
            self.states.push(St::BlockMappingSimpleValue);
            return self.emit_node(true);
        }
        self.write_indicator("?", true, false, true);
        self.states.push(St::BlockMappingValue);
        self.emit_node(false)
    }

    fn block_mapping_value(&mut self, simple: bool) -> Result<()> {
        if simple {
            self.write_indicator(":", false, false, false);
        } else {
            self.write_indent();
            self.write_indicator(":", true, false, true);
        }
        self.states.push(St::BlockMappingKey);
        self.emit_node(false)?;
        self.process_line_comment();
        self.process_foot_comment();
        Ok(())
    }

    fn check_simple_key(&self) -> bool {
        match self.ev() {
            Ev::Scalar { value, tag, .. } => !self.analysis.multiline && value.len() + tag.map_or(0, |t| 2 + t.len()) <= 128,
            Ev::MapStart { .. } | Ev::SeqStart { .. } => self.next_is_end(),
            _ => false,
        }
    }

    fn next_is_end(&self) -> bool {
        matches!(
            (self.ev(), self.next.as_ref()),
            (Ev::MapStart { .. }, Some(Ev::MapEnd { .. })) | (Ev::SeqStart { .. }, Some(Ev::SeqEnd { .. }))
        )
    }

    fn emit_node(&mut self, simple_key: bool) -> Result<()> {
        self.simple_key_context = simple_key;
        match self.ev() {
            Ev::Scalar { style, tag, .. } => {
                let (style, tag) = (self.select_style(*style, tag.is_some()), *tag);
                // Out of the emitter while it is written, back afterwards.
                let current = std::mem::replace(&mut self.current, Ev::StreamEnd);
                let Ev::Scalar { value, .. } = &current else { return Err(emit_error("expected a scalar")) };
                if let Some(t) = tag {
                    self.write_tag(t);
                }
                self.increase_indent(true, false);
                match style {
                    Style::Plain => self.write_plain(value),
                    Style::Single => self.write_single_quoted(value),
                    Style::Double => self.write_double_quoted(value),
                    Style::Literal => self.write_literal(value),
                }
                self.current = current;
                self.pop_indent();
                self.state = self.pop_state();
                Ok(())
            }
            Ev::SeqStart { .. } => {
                self.state = if self.flow_level > 0 || self.next_is_end() { St::FlowSequenceFirstItem } else { St::BlockSequenceFirstItem };
                Ok(())
            }
            Ev::MapStart { .. } => {
                self.state = if self.flow_level > 0 || self.next_is_end() { St::FlowMappingFirstKey } else { St::BlockMappingFirstKey };
                Ok(())
            }
            _ => Err(emit_error("expected a node")),
        }
    }

    /// libyaml `yaml_emitter_select_scalar_style` for an implicit (untagged) or tagged scalar.
    fn select_style(&self, requested: Style, tagged: bool) -> Style {
        let a = &self.analysis;
        let mut style = requested;
        if self.simple_key_context && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain {
            style = quote::downgrade_plain(*a, self.flow_level > 0);
            if style == Style::Plain && !tagged && self.value_is_empty() && (self.flow_level > 0 || self.simple_key_context) {
                style = if a.single_quoted_allowed { Style::Single } else { Style::Double };
            }
        }
        if style == Style::Single && !a.single_quoted_allowed {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block_allowed || self.flow_level > 0 || self.simple_key_context) {
            style = Style::Double;
        }
        style
    }

    fn value_is_empty(&self) -> bool {
        matches!(self.ev(), Ev::Scalar { value, .. } if value.is_empty())
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { self.best_indent } else { 0 };
        } else if !indentless {
            if self.states.last() == Some(&St::BlockSequenceItem) {
                // The first level inside a sequence item only skips the "- " indicator.
                self.indent += 2;
            } else {
                self.indent = self.best_indent * ((self.indent + self.best_indent) / self.best_indent);
            }
        }
    }

    // --- low-level writing (libyaml's put/write helpers) ---

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
        self.indention = true;
    }

    fn write_str(&mut self, s: &str) {
        for c in s.chars() {
            self.put(c);
        }
    }

    /// libyaml `write_break`: a newline is the configured break, other breaks are copied.
    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
            self.indention = true;
        }
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        if self.foot_indent == indent {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.foot_indent = -1;
    }

    fn write_indicator(&mut self, indicator: &str, need_whitespace: bool, is_whitespace: bool, is_indention: bool) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        self.write_str(indicator);
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    /// Writes `!!suffix` (go-yaml's secondary tag handle).
    fn write_tag(&mut self, suffix: &str) {
        if !self.whitespace {
            self.put(' ');
        }
        self.write_str("!!");
        self.write_str(suffix);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_comment(&mut self, comment: &str) {
        let mut breaks = false;
        let mut pound = false;
        for c in comment.chars() {
            if c == '\n' || c == '\r' || c == '\u{85}' || c == '\u{2028}' || c == '\u{2029}' {
                self.write_break(c);
                breaks = true;
                pound = false;
            } else {
                if breaks {
                    self.write_indent();
                }
                if !pound {
                    if c != '#' {
                        self.put('#');
                        self.put(' ');
                    }
                    pound = true;
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
        if !breaks {
            self.put_break();
        }
        self.whitespace = true;
    }

    fn process_head_comment(&mut self) {
        if !self.tail_comment.is_empty() {
            self.write_indent();
            let tail = std::mem::take(&mut self.tail_comment);
            self.write_comment(&tail);
            self.foot_indent = self.indent.max(0);
        }
        if self.head_comment.is_empty() {
            return;
        }
        self.write_indent();
        let head = std::mem::take(&mut self.head_comment);
        self.write_comment(&head);
    }

    fn process_line_comment(&mut self) {
        if self.line_comment.is_empty() {
            return;
        }
        if !self.whitespace {
            self.put(' ');
        }
        let line = std::mem::take(&mut self.line_comment);
        self.write_comment(&line);
    }

    fn process_foot_comment(&mut self) {
        if self.foot_comment.is_empty() {
            return;
        }
        self.write_indent();
        let foot = std::mem::take(&mut self.foot_comment);
        self.write_comment(&foot);
        self.foot_indent = self.indent.max(0);
    }

    fn write_plain(&mut self, value: &str) {
        if !value.is_empty() && !self.whitespace {
            self.put(' ');
        }
        let mut breaks = false;
        for c in value.chars() {
            if is_break_char(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
        if !value.is_empty() {
            self.whitespace = false;
        }
        self.indention = false;
    }

    fn write_single_quoted(&mut self, value: &str) {
        self.write_indicator("'", true, false, false);
        let mut breaks = false;
        for c in value.chars() {
            if c == ' ' {
                self.put(c);
            } else if is_break_char(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double_quoted(&mut self, value: &str) {
        self.write_indicator("\"", true, false, false);
        let v = value.as_bytes();
        for (i, c) in value.char_indices() {
            match double_quote_escape(v, i, c) {
                Some(esc) => self.write_str(&esc),
                None => self.put(c),
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, value: &str) {
        self.write_indicator("|", true, false, false);
        let v = value.as_bytes();
        if quote::is_space(v, 0) || quote::is_break(v, 0) {
            let hint = u32::try_from(self.best_indent).ok().and_then(|i| char::from_digit(i, 10)).unwrap_or('2');
            self.write_indicator(&hint.to_string(), false, false, false);
        }
        if let Some(chomp) = chomp_hint(value) {
            self.write_indicator(chomp, false, false, false);
        }
        // go-yaml v3.0.4 ends the header line here (fix for leading newlines, go-yaml#755).
        if self.line_comment.is_empty() {
            self.put_break();
        } else {
            self.process_line_comment();
        }
        self.whitespace = true;
        let mut breaks = true;
        for c in value.chars() {
            if is_break_char(c) {
                self.write_break(c);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

fn is_break_char(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// `-` without a final line break, `+` with more than one (or only one), none for exactly one.
fn chomp_hint(value: &str) -> Option<&'static str> {
    let mut chars = value.chars().rev();
    match chars.next() {
        None => Some("-"),
        Some(last) if !is_break_char(last) => Some("-"),
        Some(_) => match chars.next() {
            None => Some("+"),
            Some(prev) if is_break_char(prev) => Some("+"),
            Some(_) => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chomping() {
        assert_eq!(chomp_hint(""), Some("-"));
        assert_eq!(chomp_hint("a"), Some("-"));
        assert_eq!(chomp_hint("a\n"), None);
        assert_eq!(chomp_hint("\n"), Some("+"));
        assert_eq!(chomp_hint("a\n\n"), Some("+"));
    }
}
