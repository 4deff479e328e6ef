//! The same read views as resources, for clients that attach context rather than call
//! tools: `clauster://sessions`, `clauster://projects`, `clauster://doctor`, and the templates
//! `clauster://projects/{project}/usage` and `clauster://instances/{id}/logs`.

use rmcp::ErrorData;
use rmcp::model::{ReadResourceResult, Resource, ResourceContents, ResourceTemplate};
use serde_json::{Map, Value, json};

use crate::api::Api;
use crate::tools::Tools;

const JSON: &str = "application/json";

pub fn listed() -> Vec<Resource> {
    [
        (
            "clauster://sessions",
            "sessions",
            "Every bridge, background agent and live Claude Code session (list_sessions).",
        ),
        (
            "clauster://projects",
            "projects",
            "The projects with their trust, git and preflight badges (list_projects).",
        ),
        (
            "clauster://doctor",
            "doctor",
            "Clauster's health checks (doctor).",
        ),
    ]
    .into_iter()
    .map(|(uri, name, description)| {
        Resource::new(uri, name)
            .with_description(description)
            .with_mime_type(JSON)
    })
    .collect()
}

pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new("clauster://projects/{project}/usage", "project-usage")
            .with_description("A project's token use and cost, all-time and per UTC day.")
            .with_mime_type(JSON),
        ResourceTemplate::new("clauster://instances/{id}/logs", "instance-logs")
            .with_description("The last 100 redacted lines of a bridge's debug log.")
            .with_mime_type(JSON),
    ]
}

/// The tool and arguments a resource URI stands for.
fn route(uri: &str) -> Option<(&'static str, Map<String, Value>)> {
    let rest = uri.strip_prefix("clauster://")?;
    let decoded = |text: &str| percent_decode(text).filter(|t| !t.is_empty() && !t.contains('/'));
    let args = |key: &str, value: String| {
        let mut map = Map::new();
        map.insert(key.to_owned(), json!(value));
        map
    };
    match rest {
        "sessions" => Some(("list_sessions", Map::new())),
        "projects" => Some(("list_projects", Map::new())),
        "doctor" => Some(("doctor", Map::new())),
        _ => {
            if let Some(name) = rest
                .strip_prefix("projects/")
                .and_then(|r| r.strip_suffix("/usage"))
            {
                return Some(("project_usage", args("project", decoded(name)?)));
            }
            let id = rest
                .strip_prefix("instances/")
                .and_then(|r| r.strip_suffix("/logs"))?;
            Some(("instance_logs", args("id", decoded(id)?)))
        }
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

pub async fn read<A: Api>(tools: &Tools<A>, uri: &str) -> Result<ReadResourceResult, ErrorData> {
    let Some((tool, args)) = route(uri) else {
        return Err(ErrorData::resource_not_found(
            format!("no resource {uri}; resources/list and resources/templates/list name them"),
            None,
        ));
    };
    let value = tools
        .call(tool, Some(&args))
        .await
        .map_err(|message| ErrorData::resource_not_found(message, None))?;
    let text = serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string());
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(text, uri).with_mime_type(JSON),
    ]))
}

#[cfg(test)]
mod tests {
    use super::route;

    #[test]
    fn uris_name_their_tools() {
        assert_eq!(route("clauster://sessions").unwrap().0, "list_sessions");
        let (tool, args) = route("clauster://projects/my%20app/usage").unwrap();
        assert_eq!(
            (tool, args["project"].as_str()),
            ("project_usage", Some("my app"))
        );
        let (tool, args) = route("clauster://instances/abc123/logs").unwrap();
        assert_eq!(
            (tool, args["id"].as_str()),
            ("instance_logs", Some("abc123"))
        );
        for bad in [
            "clauster://nothing",
            "http://sessions",
            "clauster://projects//usage",
            "clauster://projects/a%2Fb/usage",
            "clauster://instances/%zz/logs",
        ] {
            assert!(route(bad).is_none(), "{bad}");
        }
    }
}
