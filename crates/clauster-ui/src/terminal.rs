//! The live terminal of a pty bridge (ui.md §4.3): a read-only 120 × 40 monospace view of
//! the keeper's redacted screen, fed by `/ws/pty-screen/<id>` (http-api.md §8.3), with the
//! log panel's reconnect rules (§4.5).

use clauster_wire::PtyScreenFrame;
use leptos::prelude::*;

use crate::follow::{Follow, Stream};
use crate::live::Store;

/// What the view shows: the newest frame's text and state; frames that are not newer than
/// the last one shown are ignored (a reconnect starts with the latest frame again).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScreenView {
    pub last_seq: u64,
    /// The rows joined by newlines, trailing blanks of each row trimmed.
    pub text: String,
    /// `live`, `exited` or `error`; empty before the first frame.
    pub state: String,
    pub error: Option<String>,
}

impl ScreenView {
    /// Takes one socket message; false when it was not a newer frame.
    pub fn accept(&mut self, message: &str) -> bool {
        let Ok(frame) = serde_json::from_str::<PtyScreenFrame>(message) else {
            return false;
        };
        if frame.seq <= self.last_seq {
            return false;
        }
        self.last_seq = frame.seq;
        self.state = frame.state;
        self.error = frame.error;
        if let Some(screen) = frame.screen {
            self.text = screen
                .rows
                .iter()
                .map(|row| row.trim_end())
                .collect::<Vec<_>>()
                .join("\n");
        }
        true
    }
}

// State, socket handling and markup share every signal; see `LogPanel`.
#[allow(clippy::too_many_lines, clippy::needless_pass_by_value)]
#[component]
pub fn TerminalPanel(store: Store, id: String) -> impl IntoView {
    let view_state = RwSignal::new(ScreenView::default());
    let label = store.instance_label(&id);
    let follow = Follow::start(
        store,
        &id,
        &format!("/ws/pty-screen/{id}"),
        move |text, _| view_state.try_update(|v| v.accept(&text)) == Some(true),
    );
    let stream = follow.stream;
    let reconnect = move |_| follow.reconnect();
    let status = move || {
        match stream.get() {
        Stream::Open => view_state.with(|v| {
            v.error.clone().map(|e| {
                view! { <p class="log-note warn">{format!("The terminal view failed: {e}")}</p> }
                    .into_any()
            })
        }),
        Stream::Ended => Some(view! { <p class="log-note">"The bridge ended."</p> }.into_any()),
        Stream::Reconnecting => Some(
            view! { <p class="log-note warn">"Terminal stream interrupted — reconnecting…"</p> }
                .into_any(),
        ),
        Stream::Refused => Some(
            view! { <p class="log-note warn">"The live terminal is not available for this bridge."</p> }
                .into_any(),
        ),
        Stream::Closed => Some(crate::widgets::stream_closed("Terminal stream closed. ", reconnect)),
    }
    };
    let waiting = move || {
        view_state
            .with(|v| v.last_seq == 0 && stream.get() == Stream::Open)
            .then(|| view! { <p class="log-note">"Waiting for the screen…"</p> })
    };
    view! {
        <section
            class="terminal-panel"
            data-terminal-for=id.clone()
            aria-label=move || format!("Live terminal of {}", label.get())
        >
            <pre class="pty-screen" tabindex="0">{move || view_state.with(|v| v.text.clone())}</pre>
            {waiting}
            {status}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: u64, state: &str, rows: &[&str]) -> String {
        serde_json::json!({"seq": seq, "state": state, "error": null,
            "screen": {"rows": rows, "cursor": {"x": 0, "y": 0}, "cols": 120, "rows_count": 40}})
        .to_string()
    }

    #[test]
    fn newer_frames_replace_the_screen_and_older_ones_are_ignored() {
        let mut view = ScreenView::default();
        assert!(view.accept(&frame(
            2,
            "live",
            &["> hello   ", "", "remote-control is active"]
        )));
        assert_eq!(view.text, "> hello\n\nremote-control is active");
        assert!(!view.accept(&frame(2, "live", &["again"])), "same seq");
        assert!(!view.accept(&frame(1, "live", &["older"])));
        assert!(!view.accept("not json"));
        assert_eq!(view.last_seq, 2);
        assert!(view.accept(&frame(3, "exited", &["bye"])));
        assert_eq!((view.text.as_str(), view.state.as_str()), ("bye", "exited"));
    }

    #[test]
    fn an_error_frame_keeps_the_last_screen_and_says_why() {
        let mut view = ScreenView::default();
        view.accept(&frame(1, "live", &["kept"]));
        let error = r#"{"seq": 2, "state": "error", "error": "emulator fault", "screen": null}"#;
        assert!(view.accept(error));
        assert_eq!(view.text, "kept");
        assert_eq!(view.error.as_deref(), Some("emulator fault"));
    }
}
