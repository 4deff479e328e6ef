//! The words of a failed launch (issue 19 bug 1): its title, claude's own words and the
//! toast. Pure, and a leaf: the store announces failures with it, the card shows them.

use clauster_wire::Instance;

/// The heading of a failure for its `error_kind` (bridges.md §7.6), or for a crash.
pub fn failure_title(instance: &Instance) -> &'static str {
    if instance.status == "crashed" {
        return "Crashed";
    }
    match instance.error_kind.as_deref() {
        Some("launch_failed") => "Could not start claude",
        Some("not_trusted") => "Failed to start: directory not trusted",
        Some("not_logged_in") => "Failed to start: claude is not logged in",
        Some("not_eligible") => "Failed to start: Remote Control not available to this login",
        Some("offline") => "Failed to start: Anthropic's API unreachable",
        Some("rc_not_acknowledged") => "Failed to start: Remote Control not enabled",
        Some("poisoned_session") => "Failed to start: the previous session is gone",
        Some("startup_timeout") => "Failed to start: never registered with claude.ai",
        _ => "Failed to start",
    }
}

/// Claude's own words: the last non-empty line of the detail (where claude prints its
/// error), at most 300 characters.
pub fn claude_words(instance: &Instance) -> Option<String> {
    let line = instance
        .error_detail
        .as_deref()?
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())?;
    let mut words: String = line.chars().take(300).collect();
    if line.chars().count() > 300 {
        words.push('…');
    }
    Some(words)
}

/// Whether an instance is a failure worth showing on its card.
pub fn is_failure(instance: &Instance) -> bool {
    matches!(instance.status.as_str(), "error" | "crashed") && !instance.alive
}

/// The toast for an instance that just turned into a failure, or `None`.
pub fn failure_toast(before: Option<&str>, instance: &Instance) -> Option<String> {
    if !is_failure(instance) || before == Some(instance.status.as_str()) {
        return None;
    }
    let why = instance
        .error_hint
        .clone()
        .or_else(|| claude_words(instance))
        .unwrap_or_else(|| failure_title(instance).to_owned());
    Some(if instance.status == "crashed" {
        format!("{} crashed: {why}", instance.label)
    } else {
        format!("{} could not start: {why}", instance.label)
    })
}
