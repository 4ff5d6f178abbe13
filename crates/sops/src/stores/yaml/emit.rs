//! Writes trees the way sops does: it builds `yaml.Node`s (comments before an entry become the
//! key's head comment, or the mapping's when they come first; trailing comments become the last
//! key's foot comment) and hands them to go-yaml's encoder with indent 4. The encoder's event
//! generation and the emitter state machine for block collections are reproduced here, since
//! comment placement and blank lines depend on their exact bookkeeping.

use base64::Engine;

use super::float::format_float;
use super::quote::{self, analyze, double_quote_escape, string_style, Analysis, Style};
use crate::error::{Error, Result};
use crate::format::Format;
use crate::tree::{Map, MapItem, Value};

/// A node as sops builds it for go-yaml.
struct ONode {
    kind: OKind,
    head: String,
    foot: String,
}

enum OKind {
    Map(Vec<(ONode, ONode)>),
    Seq(Vec<ONode>),
    Scalar { value: String, style: Style, tag: Option<&'static str> },
}

fn emit_error(message: &str) -> Error {
    Error::Emit { format: Format::Yaml, message: message.to_string() }
}

fn add_head(node: &mut ONode, comments: &mut Vec<String>) {
    if comments.is_empty() {
        return;
    }
    let c = format!("#{}", comments.join("\n#"));
    node.head = if node.head.is_empty() { c } else { format!("{c}\n{}", node.head) };
    comments.clear();
}

fn add_foot(node: &mut ONode, comments: &mut Vec<String>) {
    if comments.is_empty() {
        return;
    }
    let c = format!("#{}", comments.join("\n#"));
    node.foot = if node.foot.is_empty() { c } else { format!("{}\n{c}", node.foot) };
    comments.clear();
}

fn node(kind: OKind) -> ONode {
    ONode { kind, head: String::new(), foot: String::new() }
}

/// sops `appendTreeBranch`.
fn map_node(map: &Map, extra: Option<(&str, &Map)>) -> Result<ONode> {
    let mut n = node(OKind::Map(Vec::new()));
    let mut pairs = Vec::new();
    let mut comments = Vec::new();
    let mut beginning = true;
    let entries = map.0.iter().map(|i| match i {
        MapItem::Entry(k, v) => (Some((k.as_str(), Some(v), None)), None),
        MapItem::Comment(c) => (None, Some(c.as_str())),
    });
    let extra = extra.map(|(k, m)| (Some((k, None, Some(m))), None));
    for (entry, comment) in entries.chain(extra) {
        if let Some(c) = comment {
            comments.push(c.to_string());
            continue;
        }
        let Some((key, value, sub)) = entry else { continue };
        if beginning {
            add_head(&mut n, &mut comments);
            beginning = false;
        }
        let mut key_node = string_node(key);
        add_head(&mut key_node, &mut comments);
        let value_node = match (value, sub) {
            (Some(v), _) => value_node(v)?,
            (None, Some(m)) => map_node(m, None)?,
            (None, None) => return Err(emit_error("entry without a value")),
        };
        pairs.push((key_node, value_node));
    }
    if !comments.is_empty() {
        match pairs.last_mut() {
            Some((k, _)) => add_foot(k, &mut comments),
            None => add_head(&mut n, &mut comments),
        }
    }
    n.kind = OKind::Map(pairs);
    Ok(n)
}

/// sops `appendSequence`.
fn list_node(items: &[Value]) -> Result<ONode> {
    let mut n = node(OKind::Seq(Vec::new()));
    let mut out: Vec<ONode> = Vec::new();
    let mut comments = Vec::new();
    let mut beginning = true;
    for item in items {
        if let Value::Comment(c) = item {
            comments.push(c.clone());
            continue;
        }
        if beginning {
            add_head(&mut n, &mut comments);
            beginning = false;
        }
        let mut item_node = value_node(item)?;
        add_head(&mut item_node, &mut comments);
        out.push(item_node);
    }
    if !comments.is_empty() {
        match out.last_mut() {
            Some(last) => add_foot(last, &mut comments),
            None => add_head(&mut n, &mut comments),
        }
    }
    n.kind = OKind::Seq(out);
    Ok(n)
}

fn string_node(s: &str) -> ONode {
    let style = string_style(s);
    // sops builds nodes with `yaml.Node.Encode`, which re-reads go-yaml's own output; a literal
    // block whose first line starts with a tab does not read back, the error is ignored and
    // the empty node prints as `null`.
    if style == Style::Literal && s.starts_with('\t') {
        return plain("null".into());
    }
    // go-yaml reads a plain `<<` back as a merge key and then keeps that tag on output.
    let tag = (s == "<<" && style == Style::Plain).then_some("merge");
    node(OKind::Scalar { value: s.to_string(), style, tag })
}

fn plain(s: String) -> ONode {
    node(OKind::Scalar { value: s, style: Style::Plain, tag: None })
}

/// go-yaml's base64 for `!!binary`: one line, or 70-column lines each ending in a newline.
fn binary_text(bytes: &[u8]) -> String {
    let enc = base64::engine::general_purpose::STANDARD.encode(bytes);
    if enc.len() < 70 {
        return enc;
    }
    let mut out = String::new();
    for chunk in enc.as_bytes().chunks(70) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        out.push('\n');
    }
    out
}

fn value_node(v: &Value) -> Result<ONode> {
    Ok(match v {
        Value::Map(m) => map_node(m, None)?,
        Value::List(items) => list_node(items)?,
        Value::Str(s) => string_node(s),
        Value::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => string_node(s),
            Err(_) => {
                let text = binary_text(b);
                let style = if text.contains('\n') { Style::Literal } else { Style::Plain };
                node(OKind::Scalar { value: text, style, tag: Some("binary") })
            }
        },
        Value::Null => plain("null".into()),
        Value::Bool(b) => plain(b.to_string()),
        Value::Int(i) => plain(i.to_string()),
        Value::Float(f) => plain(format_float(*f)),
        Value::Time(t) => plain(t.clone()),
        Value::Comment(_) => return Err(emit_error("a comment can only stand as a list item")),
    })
}

/// Emitter input (go-yaml events, reduced to what sops' nodes produce).
enum Ev {
    StreamStart,
    DocStart,
    DocEnd,
    MapStart { head: String, tail: String },
    MapEnd { tail: String, foot: String },
    SeqStart { head: String },
    SeqEnd { foot: String },
    Scalar { value: String, style: Style, tag: Option<&'static str>, head: String, foot: String, tail: String },
    StreamEnd,
}

/// go-yaml encoder `node()`: a key's foot comment travels as the next key's (or the mapping
/// end's) tail comment, so it is written once the value before it is complete.
fn events(n: ONode, tail: String, out: &mut Vec<Ev>) {
    match n.kind {
        OKind::Map(pairs) => {
            out.push(Ev::MapStart { head: n.head, tail });
            let mut tail = String::new();
            for (mut k, v) in pairs {
                let foot = std::mem::take(&mut k.foot);
                events(k, tail, out);
                tail = foot;
                events(v, String::new(), out);
            }
            out.push(Ev::MapEnd { tail, foot: n.foot });
        }
        OKind::Seq(items) => {
            out.push(Ev::SeqStart { head: n.head });
            for item in items {
                events(item, String::new(), out);
            }
            out.push(Ev::SeqEnd { foot: n.foot });
        }
        OKind::Scalar { value, style, tag } => {
            out.push(Ev::Scalar { value, style, tag, head: n.head, foot: n.foot, tail });
        }
    }
}

/// Writes documents; `metadata` is appended to each as a last `sops` key.
pub(super) fn emit(branches: &[Map], metadata: Option<&Map>, indent: usize) -> Result<Vec<u8>> {
    let mut evs = vec![Ev::StreamStart];
    for branch in branches {
        evs.push(Ev::DocStart);
        let root = map_node(branch, metadata.map(|m| ("sops", m)))?;
        events(root, String::new(), &mut evs);
        evs.push(Ev::DocEnd);
    }
    evs.push(Ev::StreamEnd);
    let mut e = Emitter::new(&evs, indent);
    e.run()?;
    Ok(e.out.into_bytes())
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

struct Emitter<'e> {
    evs: &'e [Ev],
    pos: usize,
    out: String,
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

impl<'e> Emitter<'e> {
    fn new(evs: &'e [Ev], indent: usize) -> Self {
        // go-yaml accepts indents from 2 to 9 and falls back to 2 otherwise.
        let best_indent = if (2..=9).contains(&indent) { indent as i64 } else { 2 };
        Emitter {
            evs,
            pos: 0,
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

    fn run(&mut self) -> Result<()> {
        while self.pos < self.evs.len() {
            self.analyze_event();
            self.step()?;
            self.pos += 1;
        }
        Ok(())
    }

    fn ev(&self) -> &'e Ev {
        &self.evs[self.pos]
    }

    fn analyze_event(&mut self) {
        let (head, foot, tail) = match self.ev() {
            Ev::MapStart { head, tail } => (head.as_str(), "", tail.as_str()),
            Ev::MapEnd { tail, foot } => ("", foot.as_str(), tail.as_str()),
            Ev::SeqStart { head } => (head.as_str(), "", ""),
            Ev::SeqEnd { foot } => ("", foot.as_str(), ""),
            Ev::Scalar { head, foot, tail, value, .. } => {
                self.analysis = analyze(value);
                (head.as_str(), foot.as_str(), tail.as_str())
            }
            _ => ("", "", ""),
        };
        if !head.is_empty() {
            self.head_comment = head.to_string();
        }
        if !foot.is_empty() {
            self.foot_comment = foot.to_string();
        }
        if !tail.is_empty() {
            self.tail_comment = tail.to_string();
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
                self.emit_node(true, false)?;
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
        self.emit_node(false, false)?;
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
            return self.emit_node(false, true);
        }
        self.write_indicator("?", true, false, true);
        self.states.push(St::BlockMappingValue);
        self.emit_node(false, false)
    }

    fn block_mapping_value(&mut self, simple: bool) -> Result<()> {
        if simple {
            self.write_indicator(":", false, false, false);
        } else {
            self.write_indent();
            self.write_indicator(":", true, false, true);
        }
        self.states.push(St::BlockMappingKey);
        self.emit_node(false, false)?;
        self.process_line_comment();
        self.process_foot_comment();
        Ok(())
    }

    fn check_simple_key(&self) -> bool {
        match self.ev() {
            Ev::Scalar { value, tag, .. } => {
                !self.analysis.multiline && value.len() + tag.map_or(0, |t| 2 + t.len()) <= 128
            }
            Ev::MapStart { .. } | Ev::SeqStart { .. } => self.next_is_end(),
            _ => false,
        }
    }

    fn next_is_end(&self) -> bool {
        matches!(
            (self.ev(), self.evs.get(self.pos + 1)),
            (Ev::MapStart { .. }, Some(Ev::MapEnd { .. })) | (Ev::SeqStart { .. }, Some(Ev::SeqEnd { .. }))
        )
    }

    fn emit_node(&mut self, _root: bool, simple_key: bool) -> Result<()> {
        self.simple_key_context = simple_key;
        match self.ev() {
            Ev::Scalar { value, style, tag, .. } => {
                let style = self.select_style(*style, tag.is_some());
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
                self.pop_indent();
                self.state = self.pop_state();
                Ok(())
            }
            Ev::SeqStart { .. } => {
                self.state = if self.flow_level > 0 || self.next_is_end() {
                    St::FlowSequenceFirstItem
                } else {
                    St::BlockSequenceFirstItem
                };
                Ok(())
            }
            Ev::MapStart { .. } => {
                self.state = if self.flow_level > 0 || self.next_is_end() {
                    St::FlowMappingFirstKey
                } else {
                    St::BlockMappingFirstKey
                };
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
            style = quote::downgrade_plain(a, self.flow_level > 0);
            if style == Style::Plain
                && !tagged
                && self.value_is_empty()
                && (self.flow_level > 0 || self.simple_key_context)
            {
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
            let hint = char::from_digit(self.best_indent as u32, 10).unwrap_or('2');
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
    use crate::tree::Map;

    fn emit_one(map: Map) -> String {
        String::from_utf8(emit(&[map], None, 4).unwrap()).unwrap()
    }

    fn m(items: Vec<MapItem>) -> Map {
        Map(items)
    }

    fn e(k: &str, v: Value) -> MapItem {
        MapItem::Entry(k.into(), v)
    }

    #[test]
    fn nested_layout_uses_indent_four() {
        let doc = m(vec![
            e("a", Value::Map(m(vec![e("b", Value::Int(1))]))),
            e("l", Value::List(vec![Value::str("x"), Value::List(vec![Value::Int(1), Value::Int(2)])])),
            e("o", Value::List(vec![Value::Map(m(vec![e("k", Value::str("v")), e("j", Value::Bool(true))]))])),
            e("em", Value::Map(Map::new())),
            e("el", Value::List(vec![])),
        ]);
        assert_eq!(
            emit_one(doc),
            "a:\n    b: 1\nl:\n    - x\n    - - 1\n      - 2\no:\n    - k: v\n      j: true\nem: {}\nel: []\n"
        );
    }

    #[test]
    fn literal_blocks_carry_chomping_and_indent_hints() {
        let doc = m(vec![
            e("clip", Value::str("a\nb\n")),
            e("strip", Value::str("a\nb")),
            e("keep", Value::str("a\n\n")),
            e("lead", Value::str(" a\nb")),
            e("nl", Value::str("\na")),
        ]);
        assert_eq!(
            emit_one(doc),
            "clip: |\n    a\n    b\nstrip: |-\n    a\n    b\nkeep: |+\n    a\n\nlead: |4-\n     a\n    b\nnl: |4-\n\n    a\n"
        );
    }

    #[test]
    fn comments_go_before_keys_items_and_after_the_last_entry() {
        let doc = m(vec![
            MapItem::Comment(" top".into()),
            e(
                "a",
                Value::Map(m(vec![
                    MapItem::Comment(" first".into()),
                    e("b", Value::Int(1)),
                    MapItem::Comment(" mid".into()),
                    e("c", Value::Int(2)),
                    MapItem::Comment(" end".into()),
                ])),
            ),
            e("l", Value::List(vec![Value::str("x"), Value::Comment(" in".into()), Value::str("z")])),
        ]);
        assert_eq!(
            emit_one(doc),
            "# top\na:\n    # first\n    b: 1\n    # mid\n    c: 2\n    # end\nl:\n    - x\n    # in\n    - z\n"
        );
    }

    #[test]
    fn documents_are_separated() {
        let out = String::from_utf8(emit(&[m(vec![e("a", Value::Int(1))]), Map::new()], None, 4).unwrap()).unwrap();
        assert_eq!(out, "a: 1\n---\n{}\n");
    }

    #[test]
    fn chomping() {
        assert_eq!(chomp_hint(""), Some("-"));
        assert_eq!(chomp_hint("a"), Some("-"));
        assert_eq!(chomp_hint("a\n"), None);
        assert_eq!(chomp_hint("\n"), Some("+"));
        assert_eq!(chomp_hint("a\n\n"), Some("+"));
    }
}
