//! The targeted writer of `clauster.yml` (config.md §8.3): text in, text out.
//!
//! No well-kept Rust crate round-trips YAML comments, so this does not re-serialise the
//! document. It finds the line of each edited key in the block structure and replaces only
//! that key's value — the bytes before it, the spacing and a trailing comment stay — or,
//! for a key the file does not have, inserts it at the end of its section (the section is
//! appended when missing). Everything else keeps its bytes: comments, blank lines, key
//! order, keys this version does not know.
//!
//! What it will not change is refused with the reason: a key (or a section above it) in
//! flow style (`usage: {fx_rate: 1}`), behind an anchor or alias, or in a mapping with a
//! merge key (`<<:`). After the edits the old and new documents are parsed and compared:
//! the new one must equal the old one with exactly the edited keys set, else the edit is
//! refused rather than written.

use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlLoader};

/// A new value, already rendered as YAML scalars by the caller.
#[derive(Clone, Debug, PartialEq)]
pub enum NewValue {
    /// One scalar, written on the key's line (`true`, `4.5`, `"EUR"`, `null`).
    Scalar(String),
    /// A block sequence of scalars (`- https`).
    List(Vec<String>),
    /// A block mapping of plain keys to scalars (`crash: false`).
    Map(Vec<(String, String)>),
}

/// Why an edit was not made; the text is the reason a 409 gives.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error(
        "{key} is written in YAML flow style ({{…}} or […]) in clauster.yml; rewrite that part \
         in block style (one key per line) to edit it here, or edit the file by hand"
    )]
    FlowStyle { key: String },
    #[error(
        "{key} is behind a YAML anchor, alias or merge key (&, *, <<) in clauster.yml; changing \
         it here would change other keys too, so edit the file by hand"
    )]
    Anchor { key: String },
    #[error("{key} cannot be edited here: {reason}; edit clauster.yml by hand")]
    Unsupported { key: String, reason: String },
    #[error("clauster.yml does not parse as YAML ({reason}); fix the file by hand first")]
    Syntax { reason: String },
}

/// Applies `edits` (dotted key → value) to `text` in order.
///
/// # Errors
/// [`EditError`] for a key this writer does not change safely; nothing is returned then.
pub fn apply(text: &str, edits: &[(String, NewValue)]) -> Result<String, EditError> {
    let before = parse(text)?;
    let mut out = text.to_owned();
    for (key, value) in edits {
        out = apply_one(&out, key, value)?;
    }
    let after = parse(&out)?;
    let mut expected = before;
    for (key, value) in edits {
        set_path(&mut expected, key, to_yaml(value)?);
    }
    if !same(&after, &expected) {
        return Err(EditError::Unsupported {
            key: edits
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            reason: "the edited file would not read back as exactly this change".to_owned(),
        });
    }
    Ok(out)
}

/// The document as a `Yaml` value (`Null` for an empty file).
fn parse(text: &str) -> Result<Yaml, EditError> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| EditError::Syntax {
        reason: e.to_string(),
    })?;
    Ok(docs.into_iter().next().unwrap_or(Yaml::Null))
}

fn scalar(text: &str) -> Result<Yaml, EditError> {
    let doc = parse(&format!("v: {text}\n"))?;
    Ok(doc["v"].clone())
}

fn to_yaml(value: &NewValue) -> Result<Yaml, EditError> {
    Ok(match value {
        NewValue::Scalar(s) => scalar(s)?,
        NewValue::List(items) => {
            Yaml::Array(items.iter().map(|s| scalar(s)).collect::<Result<_, _>>()?)
        }
        NewValue::Map(pairs) => {
            let mut hash = Hash::new();
            for (k, v) in pairs {
                hash.insert(Yaml::String(k.clone()), scalar(v)?);
            }
            Yaml::Hash(hash)
        }
    })
}

/// Equal documents, whatever the order of mapping keys.
fn same(a: &Yaml, b: &Yaml) -> bool {
    match (a, b) {
        (Yaml::Hash(a), Yaml::Hash(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
        }
        (Yaml::Array(a), Yaml::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(v, w)| same(v, w))
        }
        _ => a == b,
    }
}

/// Sets `dotted` in `doc`, creating mappings on the way (what the line edit does).
fn set_path(doc: &mut Yaml, dotted: &str, value: Yaml) {
    let mut node = doc;
    for part in dotted.split('.') {
        if !matches!(node, Yaml::Hash(_)) {
            *node = Yaml::Hash(Hash::new());
        }
        let Yaml::Hash(hash) = node else { return };
        node = hash
            .entry(Yaml::String(part.to_owned()))
            .or_insert(Yaml::Null);
    }
    *node = value;
}

/// One `key:` line of the block structure.
#[derive(Debug)]
struct Entry {
    /// The line's index.
    line: usize,
    indent: usize,
    path: Vec<String>,
    /// The value's byte span on the line (empty when the value is below the key).
    value: (usize, usize),
    /// The lines after `line` that belong to the value (children, list items, block scalar
    /// text), as `line + 1 .. end`; trailing blank and comment lines are not included.
    end: usize,
    /// The value starts with `&` (anchored), `*` (an alias), `{`/`[` (flow) or is a merge.
    anchored: bool,
    flow: bool,
    merge: bool,
}

/// Where the key of a line ends: `Some((key, index after the colon))`.
fn key_of(rest: &str) -> Option<(String, usize)> {
    let bytes = rest.as_bytes();
    let (key, after) = match bytes.first()? {
        q @ (b'"' | b'\'') => {
            let close = rest[1..].find(char::from(*q))? + 1;
            (rest[1..close].to_owned(), close + 1)
        }
        b'-' if bytes.get(1).is_none_or(|b| *b == b' ') => return None,
        b'#' | b'{' | b'[' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%' => return None,
        _ => {
            let colon = find_colon(rest)?;
            (rest[..colon].trim_end().to_owned(), colon)
        }
    };
    let tail = &rest[after..];
    let tail = tail.trim_start_matches(' ');
    let colon_at = rest.len() - tail.len();
    if !tail.starts_with(':') {
        return None;
    }
    let next = tail.as_bytes().get(1);
    if next.is_some_and(|b| *b != b' ' && *b != b'\t') {
        return None;
    }
    Some((key, colon_at + 1))
}

/// The first `:` followed by a space or the end of the line, outside a comment.
fn find_colon(rest: &str) -> Option<usize> {
    let bytes = rest.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && (i == 0 || bytes[i - 1] == b' ') {
            return None;
        }
        if *b == b':' && bytes.get(i + 1).is_none_or(|n| *n == b' ' || *n == b'\t') {
            return Some(i);
        }
    }
    None
}

/// The span of the scalar that starts at `start` (after the spaces), up to a comment.
fn value_span(line: &str, start: usize) -> (usize, usize) {
    let rest = &line[start..];
    let skipped = rest.len() - rest.trim_start().len();
    let begin = start + skipped;
    let body = &line[begin..];
    let end = match body.as_bytes().first() {
        None | Some(b'#') => begin,
        Some(b'"') => {
            let mut i = 1;
            let b = body.as_bytes();
            while i < b.len() {
                match b[i] {
                    b'\\' => i += 2,
                    b'"' => break,
                    _ => i += 1,
                }
            }
            begin + (i + 1).min(b.len())
        }
        Some(b'\'') => {
            let b = body.as_bytes();
            let mut i = 1;
            while i < b.len() {
                if b[i] == b'\'' {
                    if b.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            begin + (i + 1).min(b.len())
        }
        Some(_) => {
            let cut = body
                .find(" #")
                .or_else(|| body.find("\t#"))
                .unwrap_or(body.len());
            begin + body[..cut].trim_end().len()
        }
    };
    (begin, end)
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_filler(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// Every `key:` line of the block structure, with its dotted path. The insides of block
/// scalars, lists and multi-line flow values are skipped, so text in them is never taken
/// for a key.
fn scan(lines: &[&str]) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if is_filler(line) || line.starts_with("---") || line.starts_with("...") {
            i += 1;
            continue;
        }
        let indent = indent_of(line);
        let Some((key, after)) = key_of(&line[indent..]) else {
            i += 1;
            continue;
        };
        let after = indent + after;
        while stack.last().is_some_and(|(at, _)| *at >= indent) {
            stack.pop();
        }
        let mut path: Vec<String> = stack.iter().map(|(_, k)| k.clone()).collect();
        path.push(key.clone());
        let value = value_span(line, after);
        let first = line[value.0..].chars().next();
        let anchored = matches!(first, Some('&' | '*'));
        // `[]` and `{}` are whole values on one line, replaced like a scalar.
        let flow =
            matches!(first, Some('{' | '[')) && !matches!(&line[value.0..value.1], "[]" | "{}");
        let merge = key == "<<";
        // The value's lines: deeper ones, and list items at the key's own indent.
        let mut end = i + 1;
        let mut last_content = i;
        while end < lines.len() {
            let next = lines[end];
            if is_filler(next) {
                end += 1;
                continue;
            }
            let next_indent = indent_of(next);
            let item_here = next_indent == indent
                && value.0 == value.1
                && (next[indent..].starts_with("- ") || &next[indent..] == "-");
            if next_indent > indent || item_here {
                last_content = end;
                end += 1;
            } else {
                break;
            }
        }
        let end = last_content + 1;
        // A scalar (maybe a block scalar or a multi-line flow value) or a list: nothing
        // inside is a key of the block structure.
        let opaque = value.0 != value.1 || first_content_is_item(&lines[i + 1..end]);
        entries.push(Entry {
            line: i,
            indent,
            path,
            value,
            end,
            anchored,
            flow,
            merge,
        });
        if opaque {
            i = end;
        } else {
            stack.push((indent, key));
            i += 1;
        }
    }
    entries
}

fn first_content_is_item(lines: &[&str]) -> bool {
    lines.iter().find(|l| !is_filler(l)).is_some_and(|l| {
        let t = l.trim_start();
        t.starts_with("- ") || t == "-"
    })
}

fn apply_one(text: &str, dotted: &str, value: &NewValue) -> Result<String, EditError> {
    let key = dotted.to_owned();
    let lines: Vec<&str> = text.lines().collect();
    if let Some(first) = lines
        .iter()
        .find(|l| !is_filler(l) && !l.starts_with("---"))
    {
        let t = first.trim_start();
        if t.starts_with('{') || t.starts_with('[') {
            return Err(EditError::FlowStyle { key });
        }
    }
    let entries = scan(&lines);
    let path: Vec<&str> = dotted.split('.').collect();
    // The deepest entry along the path, and the refusals of the ones above it.
    let mut found: Option<&Entry> = None;
    for depth in 1..=path.len() {
        // A merge key among the mapping's entries can supply or override this one.
        let parent = &path[..depth - 1];
        if entries.iter().any(|e| {
            e.merge
                && e.path.len() == depth
                && e.path[..depth - 1]
                    .iter()
                    .map(String::as_str)
                    .eq(parent.iter().copied())
        }) {
            return Err(EditError::Anchor { key });
        }
        let Some(entry) = entries.iter().find(|e| {
            e.path
                .iter()
                .map(String::as_str)
                .eq(path[..depth].iter().copied())
        }) else {
            break;
        };
        if entry.flow {
            return Err(EditError::FlowStyle { key });
        }
        if entry.anchored {
            return Err(EditError::Anchor { key });
        }
        found = Some(entry);
        if depth == path.len() {
            break;
        }
    }
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    match found {
        Some(entry) if entry.path.len() == path.len() => replace(&mut out, entry, value),
        Some(parent) => {
            let parent_line = lines[parent.line];
            let scalar = &parent_line[parent.value.0..parent.value.1];
            if !matches!(scalar, "" | "~" | "null" | "Null" | "NULL") {
                return Err(EditError::Unsupported {
                    key,
                    reason: format!("{} holds a value, not a mapping", parent.path.join(".")),
                });
            }
            let child_indent = lines[parent.line + 1..parent.end]
                .iter()
                .find(|l| !is_filler(l))
                .map_or(parent.indent + 2, |l| indent_of(l));
            if !scalar.is_empty() {
                let mut line = parent_line.to_owned();
                let head = line[..parent.value.0].trim_end().to_owned();
                let tail = line[parent.value.1..].trim();
                line = if tail.is_empty() {
                    head
                } else {
                    format!("{head}  {tail}")
                };
                out[parent.line] = line;
            }
            let block = nested(&path[parent.path.len()..], child_indent, value);
            out.splice(parent.end..parent.end, block);
        }
        None => {
            // Drop trailing blank lines so the section follows the last content.
            while out.last().is_some_and(|l| l.trim().is_empty()) {
                out.pop();
            }
            out.extend(nested(&path, 0, value));
        }
    }
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut joined = out.join(newline);
    joined.push_str(newline);
    Ok(joined)
}

/// Replaces the value of `entry` in `out` (its line and the lines of its old value).
fn replace(out: &mut Vec<String>, entry: &Entry, value: &NewValue) {
    let line = out[entry.line].clone();
    let (start, end) = entry.value;
    let child_indent = entry.indent + 2;
    let (inline, block) = match value {
        NewValue::Scalar(s) => (s.clone(), Vec::new()),
        NewValue::List(items) if items.is_empty() => ("[]".to_owned(), Vec::new()),
        NewValue::Map(pairs) if pairs.is_empty() => ("{}".to_owned(), Vec::new()),
        NewValue::List(_) | NewValue::Map(_) => (String::new(), children(child_indent, value)),
    };
    let mut new_line = String::with_capacity(line.len() + inline.len());
    if start == end && !inline.is_empty() {
        // `key:` or `key:  # note` with the old value below: the value joins the key.
        let colon_end = start.min(line.len());
        let head = line[..colon_end].trim_end();
        new_line.push_str(head);
        new_line.push(' ');
        new_line.push_str(&inline);
        let tail = &line[colon_end..];
        if !tail.trim().is_empty() {
            new_line.push_str("  ");
            new_line.push_str(tail.trim_start());
        }
    } else if inline.is_empty() {
        new_line.push_str(line[..start].trim_end());
        let tail = &line[end..];
        if !tail.trim().is_empty() {
            new_line.push_str("  ");
            new_line.push_str(tail.trim_start());
        }
    } else {
        new_line.push_str(&line[..start]);
        new_line.push_str(&inline);
        new_line.push_str(&line[end..]);
    }
    out[entry.line] = new_line;
    out.splice(entry.line + 1..entry.end, block);
}

/// `a:\n  b: value` for the path segments still missing, at `indent`.
fn nested(path: &[&str], indent: usize, value: &NewValue) -> Vec<String> {
    let mut lines = Vec::new();
    let mut at = indent;
    for (i, part) in path.iter().enumerate() {
        let pad = " ".repeat(at);
        if i + 1 < path.len() {
            lines.push(format!("{pad}{part}:"));
            at += 2;
        } else {
            match value {
                NewValue::Scalar(s) => lines.push(format!("{pad}{part}: {s}")),
                NewValue::List(items) if items.is_empty() => lines.push(format!("{pad}{part}: []")),
                NewValue::Map(pairs) if pairs.is_empty() => {
                    lines.push(format!("{pad}{part}: {{}}"));
                }
                NewValue::List(_) | NewValue::Map(_) => {
                    lines.push(format!("{pad}{part}:"));
                    lines.extend(children(at + 2, value));
                }
            }
        }
    }
    lines
}

fn children(indent: usize, value: &NewValue) -> Vec<String> {
    let pad = " ".repeat(indent);
    match value {
        NewValue::Scalar(_) => Vec::new(),
        NewValue::List(items) if items.is_empty() => Vec::new(),
        NewValue::List(items) => items.iter().map(|s| format!("{pad}- {s}")).collect(),
        NewValue::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| format!("{pad}{k}: {v}"))
            .collect(),
    }
}
