//! Section citations: `bridges.md §7.7`, `config.md §1–§6`, `README §Workspace`, and the
//! headings of `docs/` they must name.
//!
//! The chapters number their sections in the headings: `## 7. Readiness and status`,
//! `### 7.7 Status transitions`, `#### 3.1.1 …`. A citation `§7.7` resolves when the cited
//! file has a heading whose number is exactly `7.7` (not `7.7.1`, not `7`). A citation by
//! word (`§Workspace`, `§Lints`) resolves when a heading's text starts with that word.
//! Headings inside fenced code blocks do not count.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::Result;

/// One file's sections.
#[derive(Debug, Default)]
struct Sections {
    numbers: BTreeSet<String>,
    titles: Vec<String>,
}

impl Sections {
    fn parse(text: &str) -> Self {
        let mut out = Self::default();
        let mut fence: Option<&str> = None;
        for line in text.lines() {
            let trimmed = line.trim_start();
            for marker in ["```", "~~~"] {
                if trimmed.starts_with(marker) {
                    fence = match fence {
                        Some(open) if open == marker => None,
                        None => Some(marker),
                        other => other,
                    };
                }
            }
            if fence.is_some() || !line.starts_with('#') {
                continue;
            }
            let title = line.trim_start_matches('#');
            if !title.starts_with(' ') {
                continue;
            }
            let title = title.trim();
            if let Some(number) = leading_number(title) {
                let rest = &title[number.len()..];
                // `7. Status` and `7.7 Transitions`: the number ends at a space, or at a dot
                // then a space.
                if rest.starts_with(' ') || rest.starts_with(". ") || rest == "." {
                    out.numbers.insert(number.to_owned());
                }
            }
            out.titles.push(title.to_owned());
        }
        out
    }
}

/// `7.7` of `7.7 Status transitions`; `None` unless the text starts with a digit.
fn leading_number(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut end = 0;
    loop {
        let start = end;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        if end == start {
            return None;
        }
        if end + 1 < bytes.len() && bytes[end] == b'.' && bytes[end + 1].is_ascii_digit() {
            end += 1;
        } else {
            return Some(&text[..end]);
        }
    }
}

/// The chapters under `docs/`, by file name.
#[derive(Debug)]
pub struct Docs {
    files: BTreeMap<String, Vec<(PathBuf, Sections)>>,
}

impl Docs {
    pub fn load(dir: &Path) -> Result<Self> {
        let mut files: BTreeMap<String, Vec<(PathBuf, Sections)>> = BTreeMap::new();
        let mut pending = vec![dir.to_path_buf()];
        while let Some(dir) = pending.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for entry in entries {
                let path = entry?.path();
                if path.is_dir() {
                    pending.push(path);
                } else if path.extension().is_some_and(|ext| ext == "md") {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    let name = path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or_default()
                        .to_owned();
                    files
                        .entry(name)
                        .or_default()
                        .push((path.clone(), Sections::parse(&text)));
                }
            }
        }
        if files.is_empty() {
            return Err(format!("no chapters under {}", dir.display()).into());
        }
        Ok(Self { files })
    }

    /// The file a citation names: `README` is the specification's index
    /// (`docs/spec/README.md`); any other name must be unique under `docs/`.
    fn chapter(&self, name: &str) -> std::result::Result<&Sections, String> {
        if name == "README" {
            return self
                .files
                .get("README.md")
                .and_then(|all| {
                    all.iter()
                        .find(|(path, _)| path.ends_with("spec/README.md"))
                })
                .map(|(_, sections)| sections)
                .ok_or_else(|| "`README §…` cites docs/spec/README.md, which is missing".into());
        }
        match self.files.get(name).map(Vec::as_slice) {
            None | Some([]) => Err(format!("{name} is not a chapter under docs/")),
            Some([(_, sections)]) => Ok(sections),
            Some(many) => Err(format!(
                "{name} is ambiguous: {}",
                many.iter()
                    .map(|(p, _)| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    pub fn resolve(&self, citation: &Citation) -> std::result::Result<(), String> {
        let sections = self.chapter(&citation.file)?;
        let found = if citation.section.as_bytes()[0].is_ascii_digit() {
            sections.numbers.contains(&citation.section)
        } else {
            sections.titles.iter().any(|title| {
                title
                    .strip_prefix(citation.section.as_str())
                    .is_some_and(|rest| {
                        !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_')
                    })
            })
        };
        if found {
            Ok(())
        } else {
            Err(format!(
                "{} §{} names no section heading of that chapter",
                citation.file, citation.section
            ))
        }
    }
}

/// One cited section.
#[derive(Debug, PartialEq, Eq)]
pub struct Citation {
    /// 1-based.
    pub line: usize,
    /// `bridges.md`, or `README` for the specification's index.
    pub file: String,
    /// `7.7`, or a heading's first word.
    pub section: String,
}

/// Every citation in a source text. After `name.md` (or `README`) comes `§X`, possibly on
/// the next comment line; `§A–§B`, `§A, §B`, `§A and §B` cite each part.
pub fn find(text: &str) -> Vec<Citation> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find('§').map(|i| i + from) {
        from = at + '§'.len_utf8();
        let Some(file) = file_before(&text[..at]) else {
            continue;
        };
        let mut rest = &text[at..];
        while let Some(after) = rest.strip_prefix('§') {
            let section = section_token(after);
            if section.is_empty() {
                break;
            }
            let offset = text.len() - rest.len();
            out.push(Citation {
                line: text[..offset].matches('\n').count() + 1,
                file: file.clone(),
                section: section.to_owned(),
            });
            // A continuation belongs to the same citation; the outer scan must not read it
            // again as a citation of its own.
            let Some(next) = continuation(&after[section.len()..]) else {
                break;
            };
            rest = next;
            from = text.len() - rest.len() + '§'.len_utf8();
        }
    }
    out
}

/// The file named right before a `§` (`bridges.md `, `README `), allowing a line break
/// with a comment marker in between.
fn file_before(before: &str) -> Option<String> {
    let mut head = before.trim_end_matches([' ', '\t']);
    if head.ends_with('\n') {
        // `… (config.md\n/// §2)`: the marker and the indentation of the next line.
        head = head.trim_end();
    } else if let Some(line_start) = head.rfind('\n') {
        let line = &head[line_start + 1..];
        let stripped = line.trim_start();
        for marker in ["///", "//!", "//", "*"] {
            if stripped
                .strip_prefix(marker)
                .is_some_and(|r| r.trim().is_empty())
            {
                head = head[..line_start].trim_end();
                break;
            }
        }
    }
    let name_start = head
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let name = &head[name_start..];
    if name == "README" {
        return Some(name.to_owned());
    }
    let stem = name.strip_suffix(".md")?;
    (!stem.is_empty() && !stem.contains('.')).then(|| name.to_owned())
}

/// `7.7` of `7.7's …`, `Workspace` of `Workspace)`.
fn section_token(text: &str) -> &str {
    if text.starts_with(|c: char| c.is_ascii_digit()) {
        return leading_number(text).unwrap_or("");
    }
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// After one section: `–§B`, `-§B`, `, §B`, ` and §B`, ` or §B`, `/§B` → the text at `§B`.
fn continuation(tail: &str) -> Option<&str> {
    let tail = tail.trim_start_matches([' ', '\t']);
    for separator in ["–", "—", "-", ",", "and ", "or ", "/"] {
        if let Some(rest) = tail.strip_prefix(separator) {
            let rest = rest.trim_start_matches([' ', '\t']);
            if rest.starts_with('§') {
                return Some(rest);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{Citation, Sections, find};

    fn cites(text: &str) -> Vec<(String, String)> {
        find(text)
            .into_iter()
            .map(|Citation { file, section, .. }| (file, section))
            .collect()
    }

    fn pair(file: &str, section: &str) -> (String, String) {
        (file.to_owned(), section.to_owned())
    }

    #[test]
    fn citations_are_found_in_their_usual_shapes() {
        assert_eq!(
            cites("/// The gate (bridges.md §6, §7.5–§7.6) and config.md §3.1.1's rule."),
            vec![
                pair("bridges.md", "6"),
                pair("bridges.md", "7.5"),
                pair("bridges.md", "7.6"),
                pair("config.md", "3.1.1"),
            ]
        );
        assert_eq!(
            cites("//! The import (bridges.md\n//! §10.5). See README §Workspace."),
            vec![pair("bridges.md", "10.5"), pair("README", "Workspace")]
        );
        assert_eq!(
            cites("ends a sentence: http-api.md §4."),
            vec![pair("http-api.md", "4")]
        );
        // A `§` without a file before it is not a citation this check can resolve.
        assert!(cites("see §7.7 above; 25 § signs").is_empty());
    }

    #[test]
    fn headings_number_sections_exactly() {
        let sections = Sections::parse(
            "# Title\n## 7. Readiness\n### 7.7 Transitions\n#### 3.1.1 Help\n\
             ```sh\n# 9. not a heading\n```\n## Lints, profiles\n",
        );
        let numbers: Vec<&str> = sections.numbers.iter().map(String::as_str).collect();
        assert_eq!(numbers, ["3.1.1", "7", "7.7"]);
        assert!(sections.titles.iter().any(|t| t.starts_with("Lints")));
    }
}
