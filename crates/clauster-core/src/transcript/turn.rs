//! One turn's lines → what the viewer shows: text, thinking, images, tool calls paired with
//! their results, nested subagent runs, the reply's tokens and cost. Every string that leaves
//! here has been redacted (bridges.md §14.3), so the renderer cannot forget to.

use std::borrow::Cow;
use std::collections::HashSet;

use serde_json::Value;

use super::classify::{Role, fnv};
use super::index::TurnSpan;
use super::prefix::close_prefix;
use super::summary::{ToolFacts, ToolOutput, summarize};
use crate::sanitize::sanitize_text;
use crate::usage::{PriceTable, Tokens, UsageLine, parse_usage_line, too_deep};

/// A tool call and, once it arrived, its result.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The call's input as pretty JSON; redacted.
    pub input: String,
    /// The one-line summary ("Edited src/lib.rs +12 −3").
    pub summary: String,
    pub result: Option<ToolOutput>,
    /// A subagent transcript this call started (`toolUseResult.agentId`).
    pub agent_id: Option<String>,
    /// The subagent's lines written into this file (older Claude Code versions).
    pub nested: Vec<Item>,
    facts: ToolFacts,
}

/// One thing shown inside a turn, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// Markdown source; redacted.
    Text(String),
    Thinking(String),
    Image {
        media_type: Option<String>,
    },
    Tool(Box<ToolCall>),
    /// A result whose call is not in this turn.
    Result {
        tool_use_id: String,
        output: ToolOutput,
    },
    /// A subagent run written into this file with no call to nest under.
    Sidechain(Vec<Item>),
    /// A line of the turn that is not JSON.
    Unreadable {
        line: u64,
    },
}

/// A turn ready to render.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// 0-based position in the file's turn list.
    pub index: u64,
    pub role: Role,
    /// 1-based number of the first line.
    pub line: u64,
    pub timestamp: Option<String>,
    pub model: Option<String>,
    /// Claude Code's own placeholder reply (`<synthetic>`), not an API call.
    pub synthetic: bool,
    pub sidechain: bool,
    pub items: Vec<Item>,
    /// The reply's token counts (the streamed line with the most output, as the rollup reads).
    pub tokens: Option<Tokens>,
    /// The reply's cost in nano-dollars; `None` when the model has no price.
    pub cost_nanos: Option<u64>,
    /// Bytes of the turn's lines left unread: only a prefix of a huge turn is parsed
    /// ([`parse_turn_prefix`]); 0 when the whole turn was read.
    pub cut_bytes: u64,
}

impl Turn {
    /// The flattened text of 1.3.2's `content`: text blocks and tool summaries, one per line.
    pub fn plain_text(&self) -> String {
        let mut out = String::new();
        flatten(&self.items, &mut out);
        out
    }
}

fn flatten(items: &[Item], out: &mut String) {
    let push = |s: &str, out: &mut String| {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(s);
    };
    for item in items {
        match item {
            Item::Text(text) => push(text, out),
            Item::Tool(call) => push(&format!("[{}]", call.summary), out),
            Item::Image { .. } => push("[image]", out),
            Item::Result { output, .. } => push(&output.text, out),
            Item::Thinking(_) | Item::Sidechain(_) | Item::Unreadable { .. } => {}
        }
    }
}

/// Parses the lines of `span` (`bytes` is exactly the file's `start..end`).
pub fn parse_turn(bytes: &[u8], span: &TurnSpan, index: u64, prices: &PriceTable) -> Turn {
    parse_turn_prefix(bytes, 0, span, index, prices)
}

/// [`parse_turn`] over the first bytes of a turn whose other `left_out` bytes were not read
/// (issue 21: a page never parses a huge turn in full). Whole lines parse as usual; the line
/// the cut went through is completed by [`close_prefix`], so what it starts with still shows.
pub fn parse_turn_prefix(
    bytes: &[u8],
    left_out: u64,
    span: &TurnSpan,
    index: u64,
    prices: &PriceTable,
) -> Turn {
    let mut builder = Builder {
        turn: Turn {
            index,
            role: span.role,
            line: span.first_line,
            timestamp: None,
            model: None,
            synthetic: false,
            sidechain: span.sidechain,
            items: Vec::new(),
            tokens: None,
            cost_nanos: None,
            cut_bytes: left_out,
        },
        seen: HashSet::new(),
        usage: None,
        cwd: None,
    };
    let (whole, partial) = match bytes.iter().rposition(|&b| b == b'\n') {
        _ if left_out == 0 => (bytes, &[][..]),
        Some(at) => (&bytes[..=at], &bytes[at + 1..]),
        None => (&[][..], bytes),
    };
    let mut line_no = span.first_line;
    for line in whole.split(|&b| b == b'\n') {
        if !line.iter().all(u8::is_ascii_whitespace) {
            builder.line(line, line_no);
        }
        line_no += 1;
    }
    // `split` yields one piece after the last `\n` (or one for no bytes at all): that piece
    // is where the cut line's number was counted.
    let cut_line = line_no - 1;
    if let Some(closed) = close_prefix(partial) {
        builder.line(&closed, cut_line);
    }
    builder.finish(prices)
}

struct Builder {
    turn: Turn,
    /// Hashes of reply pieces already taken (streamed duplicates).
    seen: HashSet<u64>,
    /// The usage record with the most output so far: model, tokens, timestamp.
    usage: Option<(String, Tokens, Option<i64>)>,
    cwd: Option<String>,
}

fn parse_value(line: &[u8]) -> Option<Value> {
    if too_deep(line) {
        return None;
    }
    match serde_json::from_slice::<Value>(line) {
        Ok(value) => Some(value),
        Err(_) if std::str::from_utf8(line).is_err() => {
            serde_json::from_str(&String::from_utf8_lossy(line)).ok()
        }
        Err(_) => None,
    }
}

fn redact(text: &str) -> String {
    sanitize_text(text).into_owned()
}

fn str_of<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

impl Builder {
    fn line(&mut self, line: &[u8], line_no: u64) {
        let Some(record) = parse_value(line) else {
            self.turn.items.push(Item::Unreadable { line: line_no });
            return;
        };
        let Some(message) = record.get("message").filter(|m| m.is_object()) else {
            return;
        };
        let role = match str_of(message, "role") {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            _ => return,
        };
        if self.cwd.is_none() {
            self.cwd = str_of(&record, "cwd").map(str::to_owned);
        }
        let sidechain = record.get("isSidechain") == Some(&Value::Bool(true));
        let nested = sidechain && !self.turn.sidechain;
        if !nested && self.turn.timestamp.is_none() {
            self.turn.timestamp = str_of(&record, "timestamp").map(redact);
        }
        if role == Role::Assistant && !nested {
            if let Some(model) = str_of(message, "model") {
                if model == "<synthetic>" {
                    self.turn.synthetic = true;
                } else if self.turn.model.is_none() {
                    self.turn.model = Some(redact(model));
                }
            }
            if let UsageLine::Record(record) = parse_usage_line(line) {
                let better = self
                    .usage
                    .as_ref()
                    .is_none_or(|(_, tokens, _)| record.tokens.output > tokens.output);
                if better {
                    self.usage = Some((
                        record.model.into_owned(),
                        record.tokens,
                        record.timestamp_ms,
                    ));
                }
            }
        }
        let pieces = self.message_items(&record, message, role, nested);
        let mut items = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Item(item) => items.push(item),
                Piece::Result { id, output, extra } => {
                    // A subagent's result answers a nested call; the main chain's a top one.
                    let call = if nested {
                        find_call_in(&id, &mut self.turn.items)
                            .or_else(|| find_call_in(&id, &mut items))
                    } else {
                        find_call(&mut self.turn.items, &id)
                    };
                    if let Some(call) = call {
                        complete_call(call, output, extra.as_ref(), self.cwd.as_deref());
                    } else {
                        items.push(Item::Result {
                            tool_use_id: redact(&id),
                            output,
                        });
                    }
                }
            }
        }
        if nested {
            self.nest(items);
        } else {
            self.turn.items.extend(items);
        }
    }

    /// Appends a subagent's items under the last call that can hold them (a `Task`/`Agent`
    /// call first), else as a run of its own.
    fn nest(&mut self, items: Vec<Item>) {
        if items.is_empty() {
            return;
        }
        let agent_call = self.turn.items.iter().rposition(|item| {
            matches!(item, Item::Tool(call) if matches!(call.name.as_str(), "Task" | "Agent"))
        });
        match (agent_call, self.turn.items.last_mut()) {
            (Some(at), _) => {
                if let Item::Tool(call) = &mut self.turn.items[at] {
                    call.nested.extend(items);
                }
            }
            (None, Some(Item::Sidechain(run))) => run.extend(items),
            (None, _) => self.turn.items.push(Item::Sidechain(items)),
        }
    }

    fn message_items(
        &mut self,
        record: &Value,
        message: &Value,
        role: Role,
        nested: bool,
    ) -> Vec<Piece> {
        let mut pieces = Vec::new();
        let content = message.get("content");
        if role == Role::Assistant {
            // Streamed pieces repeat; a piece already taken is a duplicate.
            let piece = content.map(Value::to_string).unwrap_or_default();
            let id = str_of(message, "id").unwrap_or("");
            if !self
                .seen
                .insert(fnv(format!("{nested}:{id}:{piece}").as_bytes()))
            {
                return pieces;
            }
        }
        match content {
            Some(Value::String(text)) if !text.trim().is_empty() => {
                pieces.push(Piece::Item(Item::Text(redact(text))));
            }
            Some(Value::Array(blocks)) => {
                let results = blocks
                    .iter()
                    .filter(|b| str_of(b, "type") == Some("tool_result"))
                    .count();
                for block in blocks {
                    if let Some(piece) = self.block(record, block, results == 1) {
                        pieces.push(piece);
                    }
                }
            }
            _ => {}
        }
        pieces
    }

    fn block(&self, record: &Value, block: &Value, sole_result: bool) -> Option<Piece> {
        let item = match str_of(block, "type") {
            Some("text") => Item::Text(redact(
                str_of(block, "text").filter(|t| !t.trim().is_empty())?,
            )),
            Some("thinking") => Item::Thinking(redact(
                str_of(block, "thinking").filter(|t| !t.trim().is_empty())?,
            )),
            Some("redacted_thinking") => Item::Thinking("(redacted)".into()),
            Some("image") => Item::Image {
                media_type: block
                    .get("source")
                    .and_then(|s| str_of(s, "media_type"))
                    .map(redact),
            },
            Some("tool_use" | "server_tool_use") => {
                let name = str_of(block, "name").unwrap_or("tool").to_owned();
                let input = block.get("input").cloned().unwrap_or(Value::Null);
                let facts = ToolFacts::from_input(&name, &input);
                Item::Tool(Box::new(ToolCall {
                    id: str_of(block, "id").unwrap_or("").to_owned(),
                    summary: redact(&summarize(&name, &facts, None, self.cwd.as_deref())),
                    input: redact(&serde_json::to_string_pretty(&input).unwrap_or_default()),
                    name: redact(&name),
                    result: None,
                    agent_id: None,
                    nested: Vec::new(),
                    facts,
                }))
            }
            Some("tool_result" | "web_search_tool_result") => {
                return Some(Piece::Result {
                    id: str_of(block, "tool_use_id").unwrap_or("").to_owned(),
                    output: tool_output(block),
                    // `toolUseResult` describes the line's result when it carries exactly one.
                    extra: sole_result
                        .then(|| record.get("toolUseResult").cloned())
                        .flatten(),
                });
            }
            _ => return None,
        };
        Some(Piece::Item(item))
    }

    fn finish(mut self, prices: &PriceTable) -> Turn {
        if let Some((model, tokens, timestamp_ms)) = self.usage.take() {
            self.turn.cost_nanos = prices
                .lookup(&model)
                .price()
                .map(|price| price.cost_nanos(timestamp_ms, &tokens));
            self.turn.tokens = Some(tokens);
            if self.turn.model.is_none() {
                self.turn.model = Some(redact(&model));
            }
        }
        self.turn
    }
}

/// What a content block became, before results find their calls.
enum Piece {
    Item(Item),
    Result {
        id: String,
        output: ToolOutput,
        extra: Option<Value>,
    },
}

fn complete_call(
    call: &mut ToolCall,
    output: ToolOutput,
    extra: Option<&Value>,
    cwd: Option<&str>,
) {
    if let Some(extra) = extra {
        call.facts.add_result(extra);
        call.agent_id = str_of(extra, "agentId")
            .filter(|id| is_agent_id(id))
            .map(str::to_owned);
    }
    call.summary = redact(&summarize(&call.name, &call.facts, Some(&output), cwd));
    call.result = Some(output);
}

/// An agent id names a file (`agent-<id>.jsonl`): letters, digits, `-` and `_` only.
pub fn is_agent_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The call with `id` among `items` (not nested).
fn find_call<'a>(items: &'a mut [Item], id: &str) -> Option<&'a mut ToolCall> {
    if id.is_empty() {
        return None;
    }
    items.iter_mut().rev().find_map(|item| match item {
        Item::Tool(call) if call.id == id && call.result.is_none() => Some(&mut **call),
        _ => None,
    })
}

/// The nested items of a call or a run.
fn nested_of(item: &Item) -> Option<&Vec<Item>> {
    match item {
        Item::Tool(call) => Some(&call.nested),
        Item::Sidechain(run) => Some(run),
        _ => None,
    }
}

fn nested_of_mut(item: &mut Item) -> Option<&mut Vec<Item>> {
    match item {
        Item::Tool(call) => Some(&mut call.nested),
        Item::Sidechain(run) => Some(run),
        _ => None,
    }
}

fn has_open_call(items: &[Item], id: &str) -> bool {
    items
        .iter()
        .any(|item| matches!(item, Item::Tool(call) if call.id == id && call.result.is_none()))
}

/// Whether the nested runs below `items` hold an open call `id`.
fn holds(items: &[Item], id: &str) -> bool {
    items
        .iter()
        .filter_map(nested_of)
        .any(|nested| has_open_call(nested, id) || holds(nested, id))
}

/// The open call with `id` inside nested runs (a subagent's result to its own call).
fn find_call_in<'a>(id: &str, items: &'a mut [Item]) -> Option<&'a mut ToolCall> {
    if id.is_empty() {
        return None;
    }
    let at = items.iter().rposition(|item| {
        nested_of(item).is_some_and(|nested| has_open_call(nested, id) || holds(nested, id))
    })?;
    let nested = nested_of_mut(&mut items[at])?;
    if has_open_call(nested, id) {
        find_call(nested, id)
    } else {
        find_call_in(id, nested)
    }
}

fn tool_output(block: &Value) -> ToolOutput {
    let is_error = block.get("is_error") == Some(&Value::Bool(true));
    let mut text = String::new();
    let mut images = 0;
    match block.get("content") {
        Some(Value::String(s)) => text.push_str(s),
        Some(Value::Array(parts)) => {
            for part in parts {
                match str_of(part, "type") {
                    Some("text") => {
                        if !text.is_empty() {
                            text.push('\n');
                        }
                        text.push_str(str_of(part, "text").unwrap_or(""));
                    }
                    Some("image") => images += 1,
                    _ => {}
                }
            }
        }
        _ => {}
    }
    ToolOutput {
        text: redact(&text),
        is_error,
        images,
    }
}

/// The first user prompt of a file's head, for labels: redacted, whitespace collapsed.
pub fn collapse(text: &str, max_chars: usize) -> String {
    let clean: Cow<'_, str> = sanitize_text(text);
    let collapsed = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(max_chars).collect()
}
