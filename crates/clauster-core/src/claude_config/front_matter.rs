//! Subagent and skill files (config-write.md §8): Markdown with a YAML front matter block
//! between `---` lines. The editor writes the text the user typed, byte for byte; this module
//! checks it before it is written and reads the fields a list shows.

use serde_json::{Map, Value};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::{Yaml, YamlLoader};

use super::{EditError, invalid};

/// The longest subagent or skill name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// Whether `name` may name a subagent file (`<name>.md`): lower-case letters, digits and
/// `-` / `_`, starting with a letter or digit.
pub fn valid_item_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= MAX_NAME_LEN
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'))
}

/// Whether `name` may name a skill directory (1.3.2's rule): ASCII letters of either case,
/// digits and `-` / `_`, starting with a letter or digit. No separator or dot can appear, so
/// a valid name never leaves `skills/`.
pub fn valid_skill_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= MAX_NAME_LEN
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

/// Which kind of Markdown file is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `agents/<name>.md`: the front matter needs `name` (the file's) and `description`.
    Subagent,
    /// `skills/<name>/SKILL.md`: `description` is needed; `name` is optional (Claude Code
    /// takes the directory's) and, when given, must be the directory's.
    Skill,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Subagent => "subagent",
            Self::Skill => "skill",
        }
    }

    /// Whether `name` may name an item of this kind.
    pub fn valid_name(self, name: &str) -> bool {
        match self {
            Self::Subagent => valid_item_name(name),
            Self::Skill => valid_skill_name(name),
        }
    }

    fn required(self) -> &'static [&'static str] {
        match self {
            Self::Subagent => &["name", "description"],
            Self::Skill => &["description"],
        }
    }
}

/// A parsed file: the front matter as JSON and the Markdown body after it.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub fields: Map<String, Value>,
    pub body: String,
}

/// Splits and parses `text`. The first line must be `---` (trailing blanks allowed); the
/// block ends at the next such line. The block must be a YAML mapping with string keys.
pub fn parse(text: &str) -> Result<Document, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or("");
    if first.trim_end() != "---" {
        return Err("the file must start with a '---' line opening the front matter".into());
    }
    let mut yaml = String::new();
    let mut consumed = first.len();
    let mut closed = false;
    for line in lines {
        consumed += line.len();
        if line.trim_end() == "---" {
            closed = true;
            break;
        }
        yaml.push_str(line);
    }
    if !closed {
        return Err("the front matter has no closing '---' line".into());
    }
    refuse_aliases(&yaml)?;
    let docs = YamlLoader::load_from_str(&yaml)
        .map_err(|e| format!("the front matter is not valid YAML: {e}"))?;
    let fields = match docs.into_iter().next() {
        None => Map::new(),
        Some(Yaml::Hash(hash)) => {
            let mut out = Map::new();
            for (key, value) in hash {
                let Yaml::String(key) = key else {
                    return Err("every front matter key must be a string".into());
                };
                out.insert(key, to_json(value)?);
            }
            out
        }
        Some(_) => return Err("the front matter must be a mapping of keys to values".into()),
    };
    Ok(Document {
        fields,
        body: text[consumed..].to_owned(),
    })
}

/// Refuses an alias before any value is built: the loader expands each alias by copying its
/// anchored node, so a "billion laughs" block of a few hundred bytes would take gigabytes
/// (release review F1). Front matter never needs aliases.
fn refuse_aliases(yaml: &str) -> Result<(), String> {
    let mut parser = Parser::new_from_str(yaml);
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => return Ok(()),
            Ok((Event::Alias(_), _)) => {
                return Err("YAML aliases are not accepted in front matter".into());
            }
            Ok(_) => {}
            Err(e) => return Err(format!("the front matter is not valid YAML: {e}")),
        }
    }
}

fn to_json(yaml: Yaml) -> Result<Value, String> {
    Ok(match yaml {
        Yaml::String(s) | Yaml::Real(s) => Value::String(s),
        Yaml::Integer(i) => Value::from(i),
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Null => Value::Null,
        Yaml::Array(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Yaml::Hash(hash) => {
            let mut out = Map::new();
            for (key, value) in hash {
                let Yaml::String(key) = key else {
                    return Err("every front matter key must be a string".into());
                };
                out.insert(key, to_json(value)?);
            }
            Value::Object(out)
        }
        Yaml::Alias(_) => return Err("YAML aliases are not accepted in front matter".into()),
        Yaml::BadValue => return Err("the front matter holds a value YAML cannot read".into()),
    })
}

/// Checks a subagent or skill file before it is written: front matter that parses, with the
/// non-empty strings its kind needs (`name` and `description`; a skill's `name` optional).
pub fn check_document(kind: Kind, text: &str) -> Result<Document, EditError> {
    let label = kind.label();
    if kind == Kind::Skill && text.contains("CLAUDE_PLUGIN_ROOT") {
        // Only a plugin's own bundle resolves it: such a file belongs to a plugin (1.3.2).
        return Err(invalid(
            "skill: SKILL.md refers to CLAUDE_PLUGIN_ROOT: a plugin's skills are managed by \
             the plugin, not here",
        ));
    }
    let doc = parse(text).map_err(|e| invalid(format!("{label}: {e}")))?;
    for key in kind.required() {
        match doc.fields.get(*key).and_then(Value::as_str) {
            Some(v) if !v.trim().is_empty() => {}
            _ => {
                return Err(invalid(format!(
                    "{label}: the front matter needs a non-empty '{key}' string"
                )));
            }
        }
    }
    if let Some(name) = doc.fields.get("name")
        && name.as_str().is_none_or(|n| n.trim().is_empty())
    {
        return Err(invalid(format!(
            "{label}: the front matter's 'name' must be a non-empty string when given"
        )));
    }
    Ok(doc)
}

/// A new file's text from its fields (a template the editor starts from).
pub fn emit(name: &str, description: &str, body: &str) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    format!(
        "---\nname: {}\ndescription: {}\n---\n{}",
        quote(name),
        quote(description),
        body
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_parse_and_round_trip() {
        let text = "---\nname: reviewer\ndescription: \"Reviews: diffs\"\ntools: [Read, Grep]\nmodel: sonnet\n---\nYou review code.\n";
        let doc = check_document(Kind::Subagent, text).unwrap();
        insta::assert_snapshot!(format!(
            "{}\n---body---\n{}",
            Value::Object(doc.fields),
            doc.body
        ));
        let emitted = emit("new-one", "Says \"hi\": politely", "Body\n");
        let back = check_document(Kind::Skill, &emitted).unwrap();
        assert_eq!(back.fields["description"], "Says \"hi\": politely");
        assert_eq!(back.body, "Body\n");
    }

    #[test]
    fn malformed_documents_name_the_fault() {
        let cases = [
            "no front matter\n",
            "---\nname: x\n",
            "---\nname: [unclosed\n---\n",
            "---\n- a\n- b\n---\n",
            "---\nname: x\n---\n",
            "---\nname: x\ndescription: ''\n---\n",
            "---\n? [a]\n: b\n---\n",
            "---\na: &x 1\nb: *x\n---\n",
        ];
        let out: Vec<String> = cases
            .iter()
            .map(|t| check_document(Kind::Subagent, t).unwrap_err().to_string())
            .collect();
        insta::assert_snapshot!(out.join("\n"));
    }

    /// A "billion laughs" block of under 1 KiB is refused before the loader copies a node
    /// (release review F1: eight levels of nine aliases took a server to 11.7 GB).
    #[test]
    fn an_alias_bomb_is_refused_before_it_expands() {
        let mut yaml = String::from("---\nname: bomb\ndescription: d\na: &a [x,x,x,x,x,x,x,x,x]\n");
        let levels = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let nested: Vec<String> = levels
            .windows(2)
            .map(|w| {
                format!(
                    "{1}: &{1} [{0}]\n",
                    vec![format!("*{}", w[0]); 9].join(","),
                    w[1]
                )
            })
            .collect();
        yaml.push_str(&nested.concat());
        yaml.push_str("---\nBody\n");
        assert!(yaml.len() < 1024);
        let err = check_document(Kind::Subagent, &yaml)
            .unwrap_err()
            .to_string();
        assert!(err.contains("YAML aliases are not accepted"), "{err}");
    }

    #[test]
    fn item_names() {
        for ok in ["reviewer", "code-review_2", "a"] {
            assert!(valid_item_name(ok), "{ok}");
        }
        for bad in ["", "../x", "Reviewer", "-x", "a/b", "a.md", &"x".repeat(65)] {
            assert!(!valid_item_name(bad), "{bad}");
        }
        // Skills take 1.3.2's names: either case, never a separator, dot or leading '-'.
        for ok in ["greeter", "Greeter", "PDF_tools-2", &"x".repeat(64)] {
            assert!(valid_skill_name(ok), "{ok}");
        }
        for bad in [
            "",
            "..",
            "../x",
            "-x",
            "_x",
            "a/b",
            "a.md",
            "a b",
            &"x".repeat(65),
        ] {
            assert!(!valid_skill_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_skill_needs_only_a_description() {
        let text = "---\ndescription: does a thing\n---\nInstructions here.\n";
        assert!(check_document(Kind::Skill, text).is_ok());
        assert_eq!(
            check_document(Kind::Subagent, text)
                .unwrap_err()
                .to_string(),
            "subagent: the front matter needs a non-empty 'name' string"
        );
        assert_eq!(
            check_document(Kind::Skill, "---\nname: 5\ndescription: d\n---\n")
                .unwrap_err()
                .to_string(),
            "skill: the front matter's 'name' must be a non-empty string when given"
        );
        let plugin = "---\ndescription: d\n---\nRun ${CLAUDE_PLUGIN_ROOT}/x\n";
        assert!(
            check_document(Kind::Skill, plugin)
                .unwrap_err()
                .to_string()
                .starts_with("skill: SKILL.md refers to CLAUDE_PLUGIN_ROOT")
        );
    }
}
