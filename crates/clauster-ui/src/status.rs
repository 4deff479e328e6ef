//! An instance's status as the page says it (ui.md §4.2): the pill and the note under a dead
//! row. Pure, and a leaf: the rows, the log panel and the cards all read it.

use clauster_wire::Instance;

/// The pill of ui.md §4.2: its text and its style class.
pub fn status_pill(instance: &Instance) -> (&'static str, &'static str) {
    if instance.stopping {
        return ("Stopping…", "pill stopping");
    }
    match instance.status.as_str() {
        "starting" => ("Starting", "pill starting"),
        "running" => ("Running", "pill running"),
        "stopped" if instance.intentional_stop => ("Stopped", "pill stopped"),
        "stopped" => ("Interrupted", "pill interrupted"),
        "crashed" => ("Crashed", "pill crashed"),
        _ => ("Failed to start", "pill failed"),
    }
}

/// The note under a dead row that ended without being asked to (ui.md §4.2).
pub fn status_note(instance: &Instance) -> Option<&'static str> {
    match instance.status.as_str() {
        "stopped" if !instance.intentional_stop => Some(
            "Ended without a Stop request (host restart, or ended outside Clauster). Resume picks it up again.",
        ),
        "crashed" => Some("The bridge ended unexpectedly. Resume starts it again."),
        _ => None,
    }
}
