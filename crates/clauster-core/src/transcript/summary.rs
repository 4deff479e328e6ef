//! The one-line summary of a tool call ("Edited src/lib.rs +12 −3", "Ran `cargo test` → exit
//! 0"), from the call's input and, once it arrived, its result.

use serde_json::Value;

/// A tool's output as recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolOutput {
    /// The result's text blocks, joined; redacted.
    pub text: String,
    pub is_error: bool,
    /// Images inside the result (placeholders).
    pub images: u32,
}

/// Commands and patterns are cut to this many characters in a summary.
const SHORT: usize = 80;

/// What a summary needs from a call's input and result, kept small (not the whole input).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolFacts {
    /// A file path, command, pattern, URL or description: the call's subject.
    subject: Option<String>,
    /// Lines added / removed by an edit.
    added: Option<u64>,
    removed: Option<u64>,
    /// `subagent_type` of an agent call; the line count of a written file.
    detail: Option<String>,
    /// Items of a to-do list.
    count: Option<u64>,
}

fn text(value: &Value, key: &str) -> Option<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Lines of `new` and `old` that differ once their common first and last lines are set aside.
fn line_delta(old: &str, new: &str) -> (u64, u64) {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    (
        (new.len() - prefix - suffix) as u64,
        (old.len() - prefix - suffix) as u64,
    )
}

impl ToolFacts {
    /// What the call's input says.
    pub fn from_input(name: &str, input: &Value) -> Self {
        let mut facts = Self::default();
        match name {
            "Edit" => {
                facts.subject = text(input, "file_path");
                let old = text(input, "old_string").unwrap_or_default();
                let new = text(input, "new_string").unwrap_or_default();
                let (added, removed) = line_delta(&old, &new);
                (facts.added, facts.removed) = (Some(added), Some(removed));
            }
            "MultiEdit" => {
                facts.subject = text(input, "file_path");
                let (mut added, mut removed) = (0, 0);
                for edit in input
                    .get("edits")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let (a, r) = line_delta(
                        &text(edit, "old_string").unwrap_or_default(),
                        &text(edit, "new_string").unwrap_or_default(),
                    );
                    added += a;
                    removed += r;
                }
                (facts.added, facts.removed) = (Some(added), Some(removed));
            }
            "Write" => {
                facts.subject = text(input, "file_path");
                facts.added = Some(text(input, "content").map_or(0, |c| c.lines().count() as u64));
            }
            "Read" | "NotebookEdit" | "NotebookRead" => {
                facts.subject = text(input, "file_path").or_else(|| text(input, "notebook_path"));
            }
            "Bash" => facts.subject = text(input, "command"),
            "Grep" | "Glob" => {
                facts.subject = text(input, "pattern");
                facts.detail = text(input, "path");
            }
            "Task" | "Agent" => {
                facts.subject = text(input, "description");
                facts.detail = text(input, "subagent_type");
            }
            "WebFetch" => facts.subject = text(input, "url"),
            "WebSearch" => facts.subject = text(input, "query"),
            "TodoWrite" => {
                facts.count = input
                    .get("todos")
                    .and_then(Value::as_array)
                    .map(|t| t.len() as u64);
            }
            _ => {}
        }
        facts
    }

    /// What `toolUseResult` adds: the real patch of an edit or write.
    pub fn add_result(&mut self, extra: &Value) {
        let Some(hunks) = extra.get("structuredPatch").and_then(Value::as_array) else {
            return;
        };
        let (mut added, mut removed) = (0, 0);
        for line in hunks
            .iter()
            .filter_map(|h| h.get("lines").and_then(Value::as_array))
            .flatten()
            .filter_map(Value::as_str)
        {
            if line.starts_with('+') {
                added += 1;
            } else if line.starts_with('-') {
                removed += 1;
            }
        }
        if !hunks.is_empty() {
            (self.added, self.removed) = (Some(added), Some(removed));
        }
    }
}

/// `text` on one line, at most `max` characters, `…` when cut.
fn short(text: &str, max: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut cut: String = one_line.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

/// A path relative to the session's working directory when it lies inside it.
fn relative(path: &str, cwd: Option<&str>) -> String {
    cwd.and_then(|cwd| path.strip_prefix(cwd.trim_end_matches('/')))
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|rest| !rest.is_empty())
        .unwrap_or(path)
        .to_owned()
}

/// The exit status a Bash result reports: `Exit code N` on its first line when it failed.
fn exit_status(output: &ToolOutput) -> String {
    if !output.is_error {
        return "exit 0".into();
    }
    let first = output.text.lines().next().unwrap_or("");
    let code = first
        .split("Exit code ")
        .nth(1)
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .filter(|digits| !digits.is_empty());
    match code {
        Some(code) => format!("exit {code}"),
        None if first.to_ascii_lowercase().contains("interrupt") => "interrupted".into(),
        None => "failed".into(),
    }
}

/// The summary line of a call (`output` once the result arrived).
pub fn summarize(
    name: &str,
    facts: &ToolFacts,
    output: Option<&ToolOutput>,
    cwd: Option<&str>,
) -> String {
    let subject = facts.subject.as_deref().unwrap_or("");
    let path = || relative(subject, cwd);
    let failed = output.is_some_and(|o| o.is_error);
    let delta = || match (facts.added, facts.removed) {
        (Some(a), Some(r)) => format!(" +{a} \u{2212}{r}"),
        (Some(a), None) => format!(" +{a}"),
        _ => String::new(),
    };
    let line = match name {
        "Edit" | "MultiEdit" if failed => format!("Edit of {} failed", path()),
        "Edit" | "MultiEdit" => format!("Edited {}{}", path(), delta()),
        "Write" if failed => format!("Write of {} failed", path()),
        "Write" => format!("Wrote {}{}", path(), delta()),
        "Read" => format!("Read {}", path()),
        "NotebookEdit" => format!("Edited notebook {}", path()),
        "Bash" => match output {
            Some(output) => format!(
                "Ran `{}` \u{2192} {}",
                short(subject, SHORT),
                exit_status(output)
            ),
            None => format!("Running `{}`", short(subject, SHORT)),
        },
        "Grep" => match &facts.detail {
            Some(dir) => format!(
                "Searched for `{}` in {}",
                short(subject, SHORT),
                relative(dir, cwd)
            ),
            None => format!("Searched for `{}`", short(subject, SHORT)),
        },
        "Glob" => format!("Listed `{}`", short(subject, SHORT)),
        "Task" | "Agent" => match &facts.detail {
            Some(kind) => format!("Agent ({kind}): {}", short(subject, SHORT)),
            None => format!("Agent: {}", short(subject, SHORT)),
        },
        "WebFetch" => format!("Fetched {}", short(subject, SHORT)),
        "WebSearch" => format!("Searched the web for `{}`", short(subject, SHORT)),
        "TodoWrite" => format!(
            "Updated the to-do list ({} items)",
            facts.count.unwrap_or(0)
        ),
        other => match other
            .strip_prefix("mcp__")
            .and_then(|rest| rest.split_once("__"))
        {
            Some((server, tool)) => format!("Called {server}: {tool}"),
            None => format!("Called {other}"),
        },
    };
    if failed && !matches!(name, "Bash" | "Edit" | "MultiEdit" | "Write") {
        format!("{line} (failed)")
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ok(text: &str) -> ToolOutput {
        ToolOutput {
            text: text.into(),
            is_error: false,
            images: 0,
        }
    }

    fn err(text: &str) -> ToolOutput {
        ToolOutput {
            is_error: true,
            ..ok(text)
        }
    }

    fn line(name: &str, input: &Value, output: Option<&ToolOutput>) -> String {
        summarize(
            name,
            &ToolFacts::from_input(name, input),
            output,
            Some("/srv/p/app"),
        )
    }

    #[test]
    fn summaries() {
        let edit = json!({"file_path": "/srv/p/app/src/lib.rs", "old_string": "a\nb\nc", "new_string": "a\nB\nB2\nc"});
        assert_eq!(line("Edit", &edit, None), "Edited src/lib.rs +2 −1");
        assert_eq!(
            line("Edit", &edit, Some(&err("no match"))),
            "Edit of src/lib.rs failed"
        );
        let bash = json!({"command": "cargo test\n  --workspace"});
        assert_eq!(
            line("Bash", &bash, None),
            "Running `cargo test --workspace`"
        );
        assert_eq!(
            line("Bash", &bash, Some(&ok("ok"))),
            "Ran `cargo test --workspace` → exit 0"
        );
        assert_eq!(
            line("Bash", &bash, Some(&err("Error: Exit code 101\nfailures"))),
            "Ran `cargo test --workspace` → exit 101"
        );
        assert_eq!(
            line("Bash", &bash, Some(&err("boom"))),
            "Ran `cargo test --workspace` → failed"
        );
        assert_eq!(
            line("Read", &json!({"file_path": "/etc/hosts"}), None),
            "Read /etc/hosts"
        );
        assert_eq!(
            line(
                "Write",
                &json!({"file_path": "/srv/p/app/a.md", "content": "1\n2\n"}),
                None
            ),
            "Wrote a.md +2"
        );
        assert_eq!(
            line(
                "Task",
                &json!({"description": "Review", "subagent_type": "reviewer"}),
                None
            ),
            "Agent (reviewer): Review"
        );
        assert_eq!(
            line("TodoWrite", &json!({"todos": [1, 2]}), None),
            "Updated the to-do list (2 items)"
        );
        assert_eq!(
            line("mcp__github__create_pr", &json!({}), None),
            "Called github: create_pr"
        );
        assert_eq!(
            line("Frobnicate", &json!(null), Some(&err("x"))),
            "Called Frobnicate (failed)"
        );
        assert_eq!(
            line(
                "Grep",
                &json!({"pattern": "fn main", "path": "/srv/p/app/src"}),
                None
            ),
            "Searched for `fn main` in src"
        );
        let long = "x".repeat(200);
        assert_eq!(
            line("Bash", &json!({"command": long}), None)
                .chars()
                .count(),
            "Running ``".len() + SHORT
        );
    }

    #[test]
    fn the_structured_patch_wins() {
        let mut facts = ToolFacts::from_input(
            "Edit",
            &json!({"file_path": "a", "old_string": "x", "new_string": "y"}),
        );
        facts.add_result(
            &json!({"structuredPatch": [{"lines": [" k", "-a", "-b", "+c", "+d", "+e"]}]}),
        );
        assert_eq!(
            summarize("Edit", &facts, Some(&ok("")), None),
            "Edited a +3 −2"
        );
    }
}
