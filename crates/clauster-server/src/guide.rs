//! The user guide, served by the binary that it describes (ui.md §2, the help drawer's
//! links): `GET /guide` lists the pages, `GET /guide/{page}` renders one. The pages are
//! `docs/guide/*.md` and the generated references in `docs/reference/`, compiled in, so the
//! guide a user reads is the one of the version they run, with no network and no book build.
//! Links between served pages are rewritten to their `/guide/…` URLs; links into the
//! developers' behaviour chapters (`docs/spec/`) are kept as text.

use std::fmt::Write as _;
use std::sync::OnceLock;

use axum::Extension;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd};

use crate::assets::BUNDLE_VERSION;
use crate::http::CspNonce;
use crate::http::escape_html;
use crate::state::AppState;

/// One served page: its URL name, its title (as in `docs/SUMMARY.md`), its Markdown.
struct Page {
    slug: &'static str,
    title: &'static str,
    source: &'static str,
}

macro_rules! pages {
    ($($dir:literal / $slug:literal : $title:literal),* $(,)?) => {
        &[$(Page {
            slug: $slug,
            title: $title,
            source: include_str!(concat!("../../../docs/", $dir, "/", $slug, ".md")),
        }),*]
    };
}

/// The guide, then the references, in `docs/SUMMARY.md`'s order (a test keeps them equal).
const PAGES: &[Page] = pages![
    "guide" / "install": "Install",
    "guide" / "first-run": "First run",
    "guide" / "bridges-and-modes": "Bridges and modes",
    "guide" / "phone": "From your phone",
    "guide" / "costs": "Costs and tokens",
    "guide" / "settings": "Changing settings from the dashboard",
    "guide" / "claude-config": "Claude Code's configuration",
    "guide" / "securing": "Securing it",
    "guide" / "operations": "Operations",
    "guide" / "webhooks": "Webhooks",
    "guide" / "notify-people": "Notifications to your phone and chat",
    "guide" / "web-push": "Push to your devices (Web Push)",
    "guide" / "troubleshooting": "Troubleshooting",
    "guide" / "compat": "Differences from the Python Clauster",
    "reference" / "config-keys": "Configuration keys",
    "reference" / "commands": "Command line",
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/guide", get(index))
        .route("/guide/", get(index))
        .route("/guide/{page}", get(page))
}

async fn index(State(state): State<AppState>, Extension(nonce): Extension<CspNonce>) -> Response {
    let root = state.root_path();
    let mut items = String::new();
    for page in PAGES {
        let _ = write!(
            items,
            "<li><a href=\"{root}/guide/{}\">{}</a></li>",
            page.slug,
            escape_html(page.title)
        );
    }
    let body = format!(
        "<h1>Clauster's guide</h1><p>For Clauster {}, the version this server runs.</p>\
         <ul class=\"guide-pages\">{items}</ul>",
        env!("CARGO_PKG_VERSION")
    );
    Html(document(root, &nonce.0, "Guide", &body)).into_response()
}

async fn page(
    State(state): State<AppState>,
    Extension(nonce): Extension<CspNonce>,
    Path(slug): Path<String>,
) -> Response {
    let root = state.root_path();
    let Some(found) = PAGES.iter().position(|page| page.slug == slug) else {
        let body = format!(
            "<h1>No such page</h1><p><a href=\"{root}/guide\">All pages of the guide</a></p>"
        );
        return (
            StatusCode::NOT_FOUND,
            Html(document(root, &nonce.0, "Guide", &body)),
        )
            .into_response();
    };
    let rendered = rendered();
    let mut body = rendered[found].replace(ROOT_MARK, root);
    let _ = write!(
        body,
        "<p class=\"guide-next\"><a href=\"{root}/guide\">All pages of the guide</a></p>"
    );
    Html(document(root, &nonce.0, PAGES[found].title, &body)).into_response()
}

/// Where the root path goes in a rendered page: the pages are rendered once, for any root.
const ROOT_MARK: &str = "CLAUSTER_ROOT_MARK";

/// Every page rendered once, on first use.
fn rendered() -> &'static [String] {
    static RENDERED: OnceLock<Vec<String>> = OnceLock::new();
    RENDERED.get_or_init(|| PAGES.iter().map(|page| render(page.source)).collect())
}

/// The document around `body`: the dashboard's style sheet and theme, no script of ours.
fn document(root: &str, nonce: &str, title: &str, body: &str) -> String {
    let v = BUNDLE_VERSION;
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Clauster</title>\
         <script nonce=\"{nonce}\" src=\"{root}/pkg/theme.js?v={v}\"></script>\
         <link rel=\"stylesheet\" href=\"{root}/pkg/style.css?v={v}\">\
         <link rel=\"stylesheet\" href=\"{root}/pkg/transcript.css?v={v}\">\
         <link rel=\"icon\" href=\"{root}/favicon.svg\" type=\"image/svg+xml\">\
         </head><body class=\"tx guide\"><nav class=\"tx-bar\"><a href=\"{root}/\">\u{2190} \
         Clauster</a><span>/</span><a href=\"{root}/guide\">Guide</a></nav>\
         <main class=\"tx-main\">{body}</main></body></html>",
        title = escape_html(title),
    )
}

/// Markdown to HTML: headings get ids (so `page.md#section` links land), links to served
/// pages point at `/guide/…`, links into `docs/spec/` become their text, raw HTML is shown
/// as text, images as their alt text.
fn render(source: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let mut events: Vec<Event<'_>> = Parser::new_ext(source, options).collect();
    name_headings(&mut events);
    let mut dropped = 0usize;
    let events = events.into_iter().map(|event| match event {
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            if let Some(url) = target(&dest_url) {
                Event::Start(Tag::Link {
                    link_type,
                    dest_url: CowStr::from(url),
                    title,
                    id,
                })
            } else {
                dropped += 1;
                Event::InlineHtml(CowStr::from("<span class=\"link-text\">"))
            }
        }
        Event::End(TagEnd::Link) if dropped > 0 => {
            dropped -= 1;
            Event::InlineHtml(CowStr::from("</span>"))
        }
        // Comments (the generated pages' "do not edit" note) are for editors, not readers.
        Event::Html(html) | Event::InlineHtml(html) if html.trim_start().starts_with("<!--") => {
            Event::Text(CowStr::from(""))
        }
        Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
        Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => {
            Event::Text(CowStr::from(""))
        }
        other => other,
    });
    let mut out = String::with_capacity(source.len() * 5 / 4);
    pulldown_cmark::html::push_html(&mut out, events);
    out
}

/// Where a link in a page goes: absolute links as they are, served pages by their
/// `/guide/…` URL (the anchor kept), `#section` in place; `None` for anything else.
fn target(dest: &str) -> Option<String> {
    if dest.starts_with("https://") || dest.starts_with("http://") || dest.starts_with('#') {
        return Some(dest.to_owned());
    }
    let (path, anchor) = dest
        .split_once('#')
        .map_or((dest, None), |(p, a)| (p, Some(a)));
    let file = path
        .strip_prefix("../guide/")
        .or_else(|| path.strip_prefix("../reference/"))
        .unwrap_or(path);
    let slug = file.strip_suffix(".md")?;
    if slug.contains('/') {
        return None;
    }
    let page = PAGES.iter().find(|page| page.slug == slug)?;
    Some(match anchor {
        Some(anchor) => format!("{ROOT_MARK}/guide/{}#{anchor}", page.slug),
        None => format!("{ROOT_MARK}/guide/{}", page.slug),
    })
}

/// Gives every heading the id mdBook would: its text, lower case, spaces to `-`, other
/// punctuation dropped.
fn name_headings(events: &mut [Event<'_>]) {
    let mut at = 0;
    while at < events.len() {
        if let Event::Start(Tag::Heading { .. }) = &events[at] {
            let mut text = String::new();
            for event in &events[at + 1..] {
                match event {
                    Event::End(TagEnd::Heading(_)) => break,
                    Event::Text(t) | Event::Code(t) => text.push_str(t),
                    _ => {}
                }
            }
            if let Event::Start(Tag::Heading { id, .. }) = &mut events[at] {
                *id = Some(CowStr::from(heading_id(&text)));
            }
        }
        at += 1;
    }
}

fn heading_id(text: &str) -> String {
    text.chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                Some(c.to_ascii_lowercase())
            } else if c == ' ' {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// The level of the first heading, for tests.
#[cfg(test)]
fn first_heading(source: &str) -> Option<pulldown_cmark::HeadingLevel> {
    Parser::new(source).find_map(|event| match event {
        Event::Start(Tag::Heading { level, .. }) => Some(level),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The served pages are the guide and reference entries of the book's SUMMARY.md, in
    /// its order and with its titles, so a page added to the book is served too.
    #[test]
    fn the_pages_are_the_books_guide_and_references() {
        let summary = include_str!("../../../docs/SUMMARY.md");
        let listed: Vec<(String, String)> = summary
            .lines()
            .filter_map(|line| {
                let entry = line.strip_prefix("- [")?;
                let (title, rest) = entry.split_once("](")?;
                let path = rest.strip_suffix(')')?;
                let slug = path
                    .strip_prefix("guide/")
                    .or_else(|| path.strip_prefix("reference/"))?
                    .strip_suffix(".md")?;
                Some((slug.to_owned(), title.to_owned()))
            })
            .collect();
        let served: Vec<(String, String)> = PAGES
            .iter()
            .map(|p| (p.slug.to_owned(), p.title.to_owned()))
            .collect();
        assert_eq!(served, listed);
    }

    /// Every page starts with its title as a level-1 heading and renders with no link left
    /// pointing at a `.md` file.
    #[test]
    fn every_page_renders_without_a_dangling_link() {
        for (page, html) in PAGES.iter().zip(rendered()) {
            assert_eq!(
                first_heading(page.source),
                Some(pulldown_cmark::HeadingLevel::H1),
                "{}",
                page.slug
            );
            assert!(
                !html.contains(".md\""),
                "{}: a link to a .md file",
                page.slug
            );
            assert!(
                !html.contains(".md#"),
                "{}: a link to a .md file",
                page.slug
            );
        }
    }

    #[test]
    fn links_headings_and_raw_html_are_rewritten() {
        let html = render(
            "# Say `hi`, there!\n\nSee [securing](securing.md#tokens), \
             [keys](../reference/config-keys.md), [the engine](../spec/bridges.md), \
             [docs](https://example.com/x) and [here](#say-hi-there).\n\n\
             <script>alert(1)</script>\n\n<!-- generated; do not edit -->\n\n![a cat](cat.png)\n",
        )
        .replace(ROOT_MARK, "/root");
        insta::assert_snapshot!(html);
    }
}
