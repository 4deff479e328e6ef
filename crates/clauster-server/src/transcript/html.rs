//! A parsed turn → HTML. Markdown goes through pulldown-cmark with every raw HTML event turned
//! into text and every link rebuilt by us (`http`, `https`, `mailto` and relative targets only,
//! `rel="noopener noreferrer"`); everything else is escaped here. Tool calls and thinking are
//! `<details>` (collapsed, no script needed); long outputs are cut with a "show all" link.
//! The strings it receives are already redacted (`clauster_core::transcript`).

use std::fmt::Write as _;

use clauster_core::transcript::{Item, Role, ToolCall, ToolOutput, Turn};
use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd};

/// A tool output shows this many lines…
const PREVIEW_LINES: usize = 30;
/// …and at most this many characters before "show all".
const PREVIEW_CHARS: usize = 3000;
/// A text or thinking block longer than this is cut before "show all".
const TEXT_CHARS: usize = 20_000;

/// Where the turn is shown, for the links it carries.
#[derive(Debug, Clone)]
pub struct RenderContext {
    pub root_path: String,
    pub project: String,
    pub session: String,
    /// The subagent file shown, if any.
    pub agent: Option<String>,
}

impl RenderContext {
    /// The "show all" address of item `item` of turn `index`.
    fn full_url(&self, index: u64, item: &str) -> String {
        let mut url = format!(
            "{}/api/projects/{}/transcripts/{}/turns/{index}/items/{item}",
            self.root_path, self.project, self.session
        );
        if let Some(agent) = &self.agent {
            let _ = write!(url, "?agent={agent}");
        }
        url
    }

    fn agent_url(&self, agent: &str) -> String {
        format!(
            "{}/p/{}/s/{}/agents/{agent}",
            self.root_path, self.project, self.session
        )
    }
}

pub(crate) use crate::http::escape_html as escape;

/// Whether a link target may be followed: web, mail, or a relative address; no scheme that
/// runs code (`javascript:`, `data:`, `vbscript:` …).
fn safe_link(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    match lower.split_once(':') {
        Some((scheme, _)) if !scheme.contains(['/', '?', '#']) => {
            matches!(scheme, "http" | "https" | "mailto")
        }
        _ => true,
    }
}

/// Markdown → sanitised HTML.
pub fn markdown(source: &str) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut in_image = 0_u32;
    let events = Parser::new_ext(source, options).map(|event| match event {
        // Raw HTML is shown as the text it is.
        Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
        Event::Start(Tag::Link { dest_url, .. }) => {
            if safe_link(&dest_url) {
                Event::InlineHtml(CowStr::from(format!(
                    "<a href=\"{}\" rel=\"noopener noreferrer\" target=\"_blank\">",
                    escape(&dest_url)
                )))
            } else {
                Event::InlineHtml(CowStr::from("<span class=\"link-dropped\">"))
            }
        }
        Event::End(TagEnd::Link) => Event::InlineHtml(CowStr::from("</a>")),
        // Images are never loaded: their alt text stands in.
        Event::Start(Tag::Image { .. }) => {
            in_image += 1;
            Event::InlineHtml(CowStr::from("<span class=\"image\">[image: "))
        }
        Event::End(TagEnd::Image) => {
            in_image = in_image.saturating_sub(1);
            Event::InlineHtml(CowStr::from("]</span>"))
        }
        other => other,
    });
    let mut out = String::with_capacity(source.len() + source.len() / 4);
    pulldown_cmark::html::push_html(&mut out, events);
    // A dropped link closes with `</a>`: make it close the `<span>` it opened instead.
    if out.contains("<span class=\"link-dropped\">") {
        out = close_dropped_links(&out);
    }
    out
}

/// Rewrites the `</a>` that ends each dropped link into `</span>`. Links do not nest in
/// CommonMark, so the next `</a>` after a dropped opener is its end.
fn close_dropped_links(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find("<span class=\"link-dropped\">") {
        let (before, after) = rest.split_at(at);
        out.push_str(before);
        if let Some(end) = after.find("</a>") {
            out.push_str(&after[..end]);
            out.push_str("</span>");
            rest = &after[end + 4..];
        } else {
            out.push_str(after);
            rest = "";
        }
    }
    out.push_str(rest);
    out
}

/// `text` cut to `max_chars` characters and `max_lines` lines; the flag says whether it was cut.
fn preview(text: &str, max_chars: usize, max_lines: usize) -> (&str, bool) {
    let mut end = text.len();
    if let Some((at, _)) = text.char_indices().nth(max_chars) {
        end = at;
    }
    // The end of line `max_lines`: just before its newline.
    if let Some((at, _)) = max_lines
        .checked_sub(1)
        .and_then(|last| text[..end].match_indices('\n').nth(last))
    {
        end = at;
    } else if max_lines == 0 {
        end = 0;
    }
    (&text[..end], end < text.len())
}

fn show_all(out: &mut String, context: &RenderContext, index: u64, item: &str, text: &str) {
    let lines = text.lines().count();
    let _ = write!(
        out,
        "<a class=\"show-all\" href=\"{}\" target=\"_blank\" rel=\"noopener\">show all ({lines} lines, {} KB)</a>",
        escape(&context.full_url(index, item)),
        text.len().div_ceil(1000)
    );
}

fn time_of(timestamp: &str) -> String {
    // `YYYY-MM-DDTHH:MM:SS…`: the clock time reads best in a turn's header; the full stamp is
    // the `datetime` and the title.
    timestamp.get(11..16).unwrap_or(timestamp).to_owned()
}

fn short_model(model: &str) -> &str {
    model.strip_prefix("claude-").unwrap_or(model)
}

/// One turn as an `<article>`.
pub fn turn(turn: &Turn, context: &RenderContext) -> String {
    let mut out = String::with_capacity(1024);
    let role = match turn.role {
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    let who = match (turn.role, turn.sidechain) {
        (_, true) => "Subagent",
        (Role::User, false) => "You",
        (Role::Assistant, false) => "Claude",
    };
    let _ = write!(
        out,
        "<article class=\"turn {role}{}\" id=\"t{i}\" data-turn=\"{i}\"><header><span class=\"who\">{who}</span>",
        if turn.synthetic { " synthetic" } else { "" },
        i = turn.index,
    );
    if let Some(ts) = &turn.timestamp {
        let _ = write!(
            out,
            " <time datetime=\"{ts}\" title=\"{ts}\">{}</time>",
            escape(&time_of(ts)),
            ts = escape(ts)
        );
    }
    if let Some(model) = &turn.model {
        let _ = write!(
            out,
            " <span class=\"model\">{}</span>",
            escape(short_model(model))
        );
    }
    if turn.synthetic {
        out.push_str(" <span class=\"model\">placeholder, not a reply</span>");
    }
    let _ = write!(
        out,
        " <a class=\"line\" href=\"#t{}\">line {}</a></header>",
        turn.index, turn.line
    );
    items(&mut out, &turn.items, context, turn.index, "");
    if turn.cut_bytes > 0 {
        // Only the turn's start was read (issue 21); "show all" on an item reads it in full.
        let _ = write!(
            out,
            "<p class=\"cut\">{} more bytes of this turn were not read for this page.</p>",
            turn.cut_bytes
        );
    }
    if let Some(tokens) = &turn.tokens {
        let cost = turn.cost_nanos.map_or_else(
            || "no price for this model".to_owned(),
            |n| format!("${:.4}", super::usd_6dp(n)),
        );
        let _ = write!(
            out,
            "<details class=\"usage\"><summary>{} tokens · {cost}</summary><dl>\
             <dt>input</dt><dd>{}</dd><dt>output</dt><dd>{}</dd>\
             <dt>cache write 5m</dt><dd>{}</dd><dt>cache write 1h</dt><dd>{}</dd>\
             <dt>cache read</dt><dd>{}</dd></dl></details>",
            tokens.input
                + tokens.output
                + tokens.cache_write_5m
                + tokens.cache_write_1h
                + tokens.cache_read,
            tokens.input,
            tokens.output,
            tokens.cache_write_5m,
            tokens.cache_write_1h,
            tokens.cache_read,
        );
    }
    out.push_str("</article>");
    out
}

fn address(prefix: &str, k: usize) -> String {
    if prefix.is_empty() {
        k.to_string()
    } else {
        format!("{prefix}.{k}")
    }
}

fn items(out: &mut String, list: &[Item], context: &RenderContext, index: u64, prefix: &str) {
    for (k, item) in list.iter().enumerate() {
        let at = address(prefix, k);
        match item {
            Item::Text(text) => {
                let (shown, cut) = preview(text, TEXT_CHARS, usize::MAX);
                out.push_str("<div class=\"md\">");
                out.push_str(&markdown(shown));
                if cut {
                    show_all(out, context, index, &at, text);
                }
                out.push_str("</div>");
            }
            Item::Thinking(text) => {
                let (shown, cut) = preview(text, TEXT_CHARS, usize::MAX);
                out.push_str(
                    "<details class=\"thinking\"><summary>Thinking</summary><div class=\"md\">",
                );
                out.push_str(&markdown(shown));
                if cut {
                    show_all(out, context, index, &at, text);
                }
                out.push_str("</div></details>");
            }
            Item::Image { media_type } => {
                let _ = write!(
                    out,
                    "<div class=\"image\">[image{}]</div>",
                    media_type
                        .as_deref()
                        .map(|m| format!(": {}", escape(m)))
                        .unwrap_or_default()
                );
            }
            Item::Tool(call) => tool(out, call, context, index, &at),
            Item::Result {
                tool_use_id: _,
                output,
            } => {
                out.push_str("<details class=\"tool\"><summary><span class=\"tool-line\">Tool result</span></summary><div class=\"tool-body\">");
                output_block(out, output, context, index, &at);
                out.push_str("</div></details>");
            }
            Item::Sidechain(run) => {
                out.push_str("<details class=\"subagent\"><summary>Subagent run</summary><div class=\"nested\">");
                items(out, run, context, index, &at);
                out.push_str("</div></details>");
            }
            Item::Unreadable { line } => {
                let _ = write!(
                    out,
                    "<div class=\"unreadable\">unreadable line {line}</div>"
                );
            }
        }
    }
}

fn output_block(
    out: &mut String,
    output: &ToolOutput,
    context: &RenderContext,
    index: u64,
    at: &str,
) {
    let (shown, cut) = preview(&output.text, PREVIEW_CHARS, PREVIEW_LINES);
    if !shown.is_empty() {
        let _ = write!(
            out,
            "<pre class=\"output\" data-item=\"{at}\">{}</pre>",
            escape(shown)
        );
    }
    if cut {
        show_all(out, context, index, at, &output.text);
    }
    if output.images > 0 {
        let _ = write!(
            out,
            "<div class=\"image\">[{} image(s)]</div>",
            output.images
        );
    }
}

fn tool(out: &mut String, call: &ToolCall, context: &RenderContext, index: u64, at: &str) {
    let state = match &call.result {
        None => " pending",
        Some(result) if result.is_error => " error",
        Some(_) => "",
    };
    let _ = write!(
        out,
        "<details class=\"tool{state}\"><summary><span class=\"tool-line\">{}</span></summary><div class=\"tool-body\">",
        escape(&call.summary)
    );
    let input_at = format!("{at}.input");
    let (shown, cut) = preview(&call.input, PREVIEW_CHARS, PREVIEW_LINES);
    let _ = write!(
        out,
        "<div class=\"label\">{} input</div><pre class=\"input\" data-item=\"{input_at}\">{}</pre>",
        escape(&call.name),
        escape(shown)
    );
    if cut {
        show_all(out, context, index, &input_at, &call.input);
    }
    if let Some(result) = &call.result {
        out.push_str("<div class=\"label\">Output</div>");
        output_block(out, result, context, index, at);
    }
    if !call.nested.is_empty() {
        out.push_str("<div class=\"nested\">");
        items(out, &call.nested, context, index, at);
        out.push_str("</div>");
    }
    if let Some(agent) = &call.agent_id {
        let _ = write!(
            out,
            "<a class=\"agent-link\" href=\"{}\">Open the subagent's transcript</a>",
            escape(&context.agent_url(agent))
        );
    }
    out.push_str("</div></details>");
}

/// The full text behind a "show all" address (`3`, `3.input`, `2.1.0`).
pub fn item_text(items: &[Item], address: &str) -> Option<String> {
    let mut parts = address.split('.').peekable();
    let mut level = items;
    loop {
        let k: usize = parts.next()?.parse().ok()?;
        let item = level.get(k)?;
        match (item, parts.peek().copied()) {
            (Item::Text(t) | Item::Thinking(t), None) => return Some(t.clone()),
            (Item::Result { output, .. }, None) => return Some(output.text.clone()),
            (Item::Tool(call), None) => return call.result.as_ref().map(|r| r.text.clone()),
            (Item::Tool(call), Some("input")) => return Some(call.input.clone()),
            (Item::Tool(call), Some(_)) => level = &call.nested,
            (Item::Sidechain(run), Some(_)) => level = run,
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_keeps_no_raw_html_and_no_script_links() {
        let html = markdown(
            "**bold** <script>alert(1)</script> <b onclick=x>hi</b>\n\n[ok](https://example.com/a?b=1&c=2) [bad](javascript:alert(1)) [rel](docs/x.md) ![pic](https://evil/x.png)\n\n<div>block</div>",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<b onclick"), "{html}");
        assert!(!html.contains("<div>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("<strong>bold</strong>"));
        assert!(html.contains(
            "<a href=\"https://example.com/a?b=1&amp;c=2\" rel=\"noopener noreferrer\" target=\"_blank\">ok</a>"
        ), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(
            html.contains("<span class=\"link-dropped\">bad</span>"),
            "{html}"
        );
        assert!(html.contains("href=\"docs/x.md\""), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("[image: pic]"), "{html}");
    }

    #[test]
    fn schemes() {
        for ok in [
            "https://a",
            "http://a",
            "mailto:x@y",
            "/rel",
            "rel/x",
            "#frag",
            "a?b=c:d",
        ] {
            assert!(safe_link(ok), "{ok}");
        }
        for bad in [
            "javascript:x",
            " JavaScript:x",
            "data:text/html,x",
            "vbscript:x",
            "file:///etc",
        ] {
            assert!(!safe_link(bad), "{bad}");
        }
    }

    #[test]
    fn previews_cut_by_lines_and_characters() {
        let long = "line\n".repeat(100);
        let (shown, cut) = preview(&long, 10_000, 30);
        assert!(cut);
        assert_eq!(shown.lines().count(), 30);
        let accents = "é".repeat(10);
        let (shown, cut) = preview(&accents, 4, 30);
        assert_eq!((shown, cut), ("éééé", true));
        assert_eq!(preview("short", 10, 10), ("short", false));
    }
}
