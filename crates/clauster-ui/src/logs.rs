//! The log panel (ui.md §4.5): a console fed by `/ws/bridge-log/<id>` with a 1 000-line cap,
//! pause with a buffer, jump to latest, and reconnects with a banner.

use std::collections::VecDeque;

use leptos::prelude::*;

use crate::follow::{Follow, Stream};
use crate::live::Store;

/// Lines kept on screen, and lines buffered while paused.
pub const MAX_LINES: usize = 1_000;

/// How the line that starts a new run of the instance begins.
const RUN_MARKER: &str = "── run ";

/// The line shown where a relaunch of the instance (its run `count`) begins.
#[cfg(any(feature = "hydrate", test))]
fn run_marker(count: i64) -> String {
    format!("{RUN_MARKER}{count} ──")
}

/// What the console shows: the kept lines and, while paused, the lines held back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogBuffer {
    pub lines: VecDeque<String>,
    pub held: VecDeque<String>,
    pub paused: bool,
    /// A window came again while paused: the run's shown lines give way to it on resume.
    replace_on_resume: bool,
}

impl LogBuffer {
    /// Takes one line: shown at once, or held while paused; the oldest is dropped past the cap.
    pub fn push(&mut self, line: String) {
        let target = if self.paused {
            &mut self.held
        } else {
            &mut self.lines
        };
        target.push_back(line);
        if target.len() > MAX_LINES {
            target.pop_front();
        }
    }

    /// A reopened socket sends its window of the run's log again: the lines of this run go,
    /// so they are not shown twice (earlier runs, up to the last run marker, stay). While
    /// paused the view stays as it is until Resume.
    pub fn window_again(&mut self) {
        self.held.clear();
        if self.paused {
            self.replace_on_resume = true;
        } else {
            self.drop_current_run();
        }
    }

    fn drop_current_run(&mut self) {
        let keep = self
            .lines
            .iter()
            .rposition(|line| line.starts_with(RUN_MARKER))
            .map_or(0, |at| at + 1);
        self.lines.truncate(keep);
    }

    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Shows the held lines and follows again.
    pub fn resume(&mut self) {
        self.paused = false;
        if std::mem::take(&mut self.replace_on_resume) {
            self.drop_current_run();
        }
        let held = std::mem::take(&mut self.held);
        for line in held {
            self.push(line);
        }
    }
}

// The buffer, the console's scroll state and the markup share every signal; see `LaunchPopover`.
#[allow(clippy::too_many_lines, clippy::needless_pass_by_value)]
#[component]
pub fn LogPanel(store: Store, id: String) -> impl IntoView {
    let buffer = RwSignal::new(LogBuffer::default());
    let at_bottom = RwSignal::new(true);
    let console = NodeRef::<leptos::html::Div>::new();
    let label = store.instance_label(&id);
    let follow = Follow::start(
        store,
        &id,
        &format!("/ws/bridge-log/{id}"),
        move |line, reopened| {
            buffer.update(|b| {
                if reopened {
                    b.window_again();
                }
                b.push(line);
            });
            true
        },
    );
    let stream = follow.stream;
    // Resume and Start new session relaunch the same instance (its `launch_count` grows):
    // the panel follows the new run's log set instead of staying on the ended one.
    #[cfg(feature = "hydrate")]
    let run = {
        let id = id.clone();
        Memo::new(move |_| {
            store.instances.with(|list| {
                list.iter()
                    .find(|i| i.instance_id == id)
                    .map(|i| (i.launch_count, crate::live::is_live(i)))
            })
        })
    };
    #[cfg(feature = "hydrate")]
    Effect::new(move |previous: Option<Option<(i64, bool)>>| {
        let now = run.get();
        if let (Some(Some((before, _))), Some((count, true))) = (previous, now)
            && count != before
        {
            buffer.update(|b| b.push(run_marker(count)));
            follow.reconnect();
        }
        now
    });

    // Follows the newest line while the view sits at the bottom.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        buffer.track();
        if at_bottom.get_untracked()
            && let Some(div) = console.get_untracked()
        {
            div.set_scroll_top(div.scroll_height());
        }
    });
    let on_scroll = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(div) = console.get_untracked() {
            at_bottom.set(div.scroll_top() + div.client_height() >= div.scroll_height() - 4);
        }
    };
    let jump = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(div) = console.get_untracked() {
            div.set_scroll_top(div.scroll_height());
        }
        at_bottom.set(true);
    };
    let toggle_pause = move |_| {
        buffer.update(|b| {
            if b.paused {
                b.resume();
            } else {
                b.pause();
            }
        });
    };
    let copy = move |_| {
        let text =
            buffer.with_untracked(|b| b.lines.iter().cloned().collect::<Vec<_>>().join("\n"));
        crate::dom::copy_text(&text);
    };
    let reconnect = move |_| follow.reconnect();
    let close = {
        let id = id.clone();
        move |_| store.open_logs.update(|list| list.retain(|x| *x != id))
    };
    let status = move || match stream.get() {
        Stream::Open => None,
        Stream::Ended => Some(view! { <p class="log-note">"The bridge ended."</p> }.into_any()),
        Stream::Reconnecting => Some(
            view! { <p class="log-note warn">"Log stream interrupted — reconnecting…"</p> }
                .into_any(),
        ),
        Stream::Refused | Stream::Closed => Some(crate::widgets::stream_closed(
            "Log stream closed. ",
            reconnect,
        )),
    };
    // The row this panel belongs to may sit in another list (Recent): its state is here too.
    let status_pill = {
        let id = id.clone();
        move || {
            store.instances.with(|list| {
                list.iter().find(|i| i.instance_id == id).map(|i| {
                    let (text, class) = crate::status::status_pill(i);
                    view! { <span class=class>{text}</span> }
                })
            })
        }
    };
    let pause_label = move || buffer.with(|b| if b.paused { "Resume" } else { "Pause" });
    let paused_note = move || {
        buffer.with(|b| {
            b.paused
                .then(|| format!("paused · {} new lines", b.held.len()))
        })
    };
    let lines = move || {
        buffer.with(|b| {
            b.lines
                .iter()
                .map(|line| view! { <div class="log-line">{line.clone()}</div> })
                .collect_view()
        })
    };
    view! {
        <section class="log-panel" data-log-for=id.clone() aria-label=move || format!("Logs of {}", label.get())>
            <div class="log-head">
                <strong>{move || format!("Logs · {}", label.get())}</strong>
                {status_pill}
                <span class="log-paused">{paused_note}</span>
                <span class="log-tools">
                    <button type="button" class="pause" on:click=toggle_pause>
                        {pause_label}
                    </button>
                    <button type="button" class="copy" on:click=copy>
                        "Copy"
                    </button>
                    <button type="button" class="close-logs" on:click=close>
                        <crate::icons::Icon icon=crate::icons::CLOSE />
                        "Hide logs"
                    </button>
                </span>
            </div>
            <div class="log-console" role="log" tabindex="0" node_ref=console on:scroll=on_scroll>
                {lines}
            </div>
            <Show when=move || !at_bottom.get()>
                <button type="button" class="jump" on:click=jump>
                    "Jump to latest"
                </button>
            </Show>
            {status}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_keeps_the_newest_thousand_lines() {
        let mut buffer = LogBuffer::default();
        for n in 0..1_005 {
            buffer.push(format!("line {n}"));
        }
        assert_eq!(buffer.lines.len(), MAX_LINES);
        assert_eq!(buffer.lines.front().map(String::as_str), Some("line 5"));
        assert_eq!(buffer.lines.back().map(String::as_str), Some("line 1004"));
    }

    #[test]
    fn a_window_sent_again_replaces_the_runs_lines_and_keeps_earlier_runs() {
        let mut buffer = LogBuffer::default();
        for line in ["a", "b"] {
            buffer.push(line.to_owned());
        }
        buffer.window_again();
        assert!(buffer.lines.is_empty(), "one run: all of it comes again");
        for line in ["a", "b", "c"] {
            buffer.push(line.to_owned());
        }
        buffer.push(run_marker(2));
        buffer.push("d".to_owned());
        buffer.pause();
        buffer.push("e".to_owned());
        buffer.window_again();
        // Paused: the view stays; the window is held and replaces the run on resume.
        assert_eq!(buffer.lines, ["a", "b", "c", "── run 2 ──", "d"]);
        assert!(buffer.held.is_empty());
        for line in ["d", "e"] {
            buffer.push(line.to_owned());
        }
        buffer.resume();
        assert_eq!(buffer.lines, ["a", "b", "c", "── run 2 ──", "d", "e"]);
        buffer.window_again();
        assert_eq!(buffer.lines, ["a", "b", "c", "── run 2 ──"]);
    }

    #[test]
    fn pausing_holds_lines_and_resuming_shows_them_in_order() {
        let mut buffer = LogBuffer::default();
        buffer.push("before".into());
        buffer.pause();
        for n in 0..1_200 {
            buffer.push(format!("held {n}"));
        }
        assert_eq!(buffer.lines.len(), 1, "nothing moves while paused");
        assert_eq!(buffer.held.len(), MAX_LINES, "at most 1 000 lines are held");
        assert_eq!(buffer.held.front().map(String::as_str), Some("held 200"));
        buffer.resume();
        assert!(!buffer.paused);
        assert!(buffer.held.is_empty());
        assert_eq!(buffer.lines.len(), MAX_LINES);
        assert_eq!(buffer.lines.back().map(String::as_str), Some("held 1199"));
    }
}
