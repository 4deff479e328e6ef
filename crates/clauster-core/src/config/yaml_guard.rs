//! The pre-flight pass over the YAML events: syntax errors with their position, the alias
//! expansion cap, the nesting cap, duplicate keys, one document, and the kind of the root
//! node.
//!
//! It runs before any value is built because the `config` crate's YAML loader expands every
//! alias by copying: a "billion laughs" file of a few hundred bytes would exhaust memory
//! there. Here each alias only adds the (saturating) size of its anchored node to a counter.

use std::collections::{HashMap, HashSet};

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

use super::error::ConfigError;

/// The most nodes that aliases may add to a document (config.md §1).
pub const ALIAS_EXPANSION_LIMIT: u64 = 100_000;

/// Deeper nesting than any real configuration has (the deepest key is
/// `usage.prices.<model>.input`); the value builder recurses, so depth is capped.
pub(crate) const NESTING_LIMIT: usize = 64;

/// What the document's root is, when the text is acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root {
    /// No document, or a null one: the same as `{}`.
    Empty,
    Mapping,
}

/// A collection being read: its anchor and expanded size (itself included), and for a
/// mapping the keys seen so far and whether the next node is a key.
#[derive(Default)]
struct Open {
    anchor: usize,
    size: u64,
    mapping: bool,
    expecting_key: bool,
    keys: HashSet<String>,
}

/// Checks `text` as described in the module docs.
pub(crate) fn check(text: &str, source_name: &str) -> Result<Root, ConfigError> {
    let mut parser = Parser::new_from_str(text);
    let mut open: Vec<Open> = Vec::new();
    let mut anchored: HashMap<usize, u64> = HashMap::new();
    let mut added_by_aliases: u64 = 0;
    let mut documents = 0usize;
    let mut root: Option<Result<Root, &'static str>> = None;

    loop {
        let (event, marker) = parser.next_token().map_err(|e| ConfigError::Syntax {
            source_name: source_name.to_owned(),
            line: e.marker().line(),
            column: e.marker().col() + 1,
            reason: e.info().to_owned(),
        })?;
        // A key seen twice in one mapping.
        if let (Event::Scalar(key, ..), Some(parent)) = (&event, open.last_mut())
            && parent.mapping
            && parent.expecting_key
            && !parent.keys.insert(key.clone())
        {
            return Err(ConfigError::Syntax {
                source_name: source_name.to_owned(),
                line: marker.line(),
                column: marker.col() + 1,
                reason: format!("duplicate key '{key}' in a mapping"),
            });
        }
        // The size a finished node contributes to its parent (None: not a node event).
        let finished: Option<u64> = match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                None
            }
            Event::Scalar(ref value, style, anchor, _) => {
                if open.is_empty() && root.is_none() {
                    root = Some(scalar_root(value, style));
                }
                if anchor > 0 {
                    anchored.insert(anchor, 1);
                }
                Some(1)
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if open.is_empty() && root.is_none() {
                    root = Some(if matches!(event, Event::MappingStart(..)) {
                        Ok(Root::Mapping)
                    } else {
                        Err("a list")
                    });
                }
                open.push(Open {
                    anchor,
                    size: 1,
                    mapping: matches!(event, Event::MappingStart(..)),
                    expecting_key: true,
                    keys: HashSet::new(),
                });
                if open.len() > NESTING_LIMIT {
                    return Err(ConfigError::TooDeep {
                        source_name: source_name.to_owned(),
                        limit: NESTING_LIMIT,
                    });
                }
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let closed = open.pop().unwrap_or_default();
                if closed.anchor > 0 {
                    anchored.insert(closed.anchor, closed.size.max(1));
                }
                Some(closed.size.max(1))
            }
            Event::Alias(anchor) => {
                let size = anchored.get(&anchor).copied().unwrap_or(1);
                added_by_aliases = added_by_aliases.saturating_add(size);
                if added_by_aliases > ALIAS_EXPANSION_LIMIT {
                    return Err(ConfigError::AliasExpansion {
                        source_name: source_name.to_owned(),
                        limit: ALIAS_EXPANSION_LIMIT,
                    });
                }
                Some(size)
            }
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => None,
        };
        if let (Some(size), Some(parent)) = (finished, open.last_mut()) {
            parent.size = parent.size.saturating_add(size);
            // Keys and values alternate in a mapping.
            parent.expecting_key = !parent.expecting_key;
        }
    }

    if documents > 1 {
        return Err(ConfigError::MultipleDocuments {
            source_name: source_name.to_owned(),
            count: documents,
        });
    }
    match root {
        None | Some(Ok(Root::Empty)) => Ok(Root::Empty),
        Some(Ok(Root::Mapping)) => Ok(Root::Mapping),
        Some(Err(got)) => Err(ConfigError::RootNotMapping { got }),
    }
}

/// A scalar root is fine only when it is null (an empty document); otherwise its YAML type
/// names the error.
fn scalar_root(value: &str, style: TScalarStyle) -> Result<Root, &'static str> {
    if style != TScalarStyle::Plain {
        return Err("a string");
    }
    match value {
        "" | "~" | "null" | "Null" | "NULL" => Ok(Root::Empty),
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => Err("a boolean"),
        _ if value.parse::<i64>().is_ok() => Err("an integer"),
        _ if value.parse::<f64>().is_ok() => Err("a number"),
        _ => Err("a string"),
    }
}
