//! The log panel (ui.md §4.5): a console fed by `/ws/bridge-log/<id>` with a 1 000-line cap,
//! pause with a buffer, jump to latest, and reconnects with a banner.

use std::collections::VecDeque;

use leptos::prelude::*;

use crate::instances::is_live;
use crate::live::Store;

/// Lines kept on screen, and lines buffered while paused.
pub const MAX_LINES: usize = 1_000;
/// Reconnect attempts in a row before the panel gives up (a received line resets the count).
const MAX_ATTEMPTS: u32 = 5;

/// What the console shows: the kept lines and, while paused, the lines held back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogBuffer {
    pub lines: VecDeque<String>,
    pub held: VecDeque<String>,
    pub paused: bool,
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

    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Shows the held lines and follows again.
    pub fn resume(&mut self) {
        self.paused = false;
        let held = std::mem::take(&mut self.held);
        for line in held {
            self.push(line);
        }
    }
}

/// Where the stream stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stream {
    Open,
    /// Closed with 1000 `bridge ended`.
    Ended,
    Reconnecting,
    /// Gave up after [`MAX_ATTEMPTS`], or the instance is no longer live.
    Closed,
}

// State, socket handling and markup share every signal; see `LaunchPopover`.
#[allow(clippy::too_many_lines, clippy::needless_pass_by_value)]
#[component]
pub fn LogPanel(store: Store, id: String) -> impl IntoView {
    let buffer = RwSignal::new(LogBuffer::default());
    let stream = RwSignal::new(Stream::Open);
    let at_bottom = RwSignal::new(true);
    let attempts = StoredValue::new(0_u32);
    let console = NodeRef::<leptos::html::Div>::new();
    let socket = StoredValue::new_local(None::<crate::dom::LogSocket>);
    // Set when the panel closes, so no handler reconnects a socket nobody reads.
    let gone = StoredValue::new(false);
    let label = {
        let id = id.clone();
        Memo::new(move |_| {
            store.instances.with(|list| {
                list.iter()
                    .find(|i| i.instance_id == id)
                    .map_or_else(|| id.clone(), |i| i.label.clone())
            })
        })
    };
    let instance_live = {
        let id = id.clone();
        move || {
            store
                .instances
                .with_untracked(|list| list.iter().any(|i| i.instance_id == id && is_live(i)))
        }
    };
    let url = store.url(&format!("/ws/bridge-log/{id}"));
    let connect = StoredValue::new_local(None::<std::rc::Rc<dyn Fn()>>);
    let open = {
        let instance_live = instance_live.clone();
        move || {
            let Some(ws) = crate::dom::ws_url(&url) else {
                return;
            };
            stream.set(Stream::Open);
            let on_line = move |line: String| {
                attempts.set_value(0);
                stream.set(Stream::Open);
                buffer.update(|b| b.push(line));
            };
            let instance_live = instance_live.clone();
            let on_close = move |code: u16| {
                if gone.get_value() {
                    return;
                }
                if code == 1000 {
                    stream.set(Stream::Ended);
                } else if instance_live() && attempts.get_value() < MAX_ATTEMPTS {
                    attempts.update_value(|a| *a += 1);
                    stream.set(Stream::Reconnecting);
                    #[cfg(feature = "hydrate")]
                    set_timeout(
                        move || {
                            if !gone.get_value()
                                && let Some(again) = connect.get_value()
                            {
                                again();
                            }
                        },
                        std::time::Duration::from_millis(1_500),
                    );
                } else {
                    stream.set(Stream::Closed);
                }
            };
            let opened = crate::dom::LogSocket::open(&ws, on_line, on_close);
            socket.set_value(opened);
        }
    };
    connect.set_value(Some(std::rc::Rc::new(open)));
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(open) = connect.get_value() {
            open();
        }
    });
    on_cleanup(move || {
        gone.set_value(true);
        socket.with_value(|s| {
            if let Some(s) = s {
                s.close();
            }
        });
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
    let reconnect = move |_| {
        attempts.set_value(0);
        if let Some(open) = connect.get_value() {
            open();
        }
    };
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
        Stream::Closed => Some(
            view! {
                <p class="log-note warn">
                    "Log stream closed. "
                    <button type="button" class="reconnect" on:click=reconnect>
                        "Reconnect"
                    </button>
                </p>
            }
            .into_any(),
        ),
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
                <span class="log-paused">{paused_note}</span>
                <span class="log-tools">
                    <button type="button" class="pause" on:click=toggle_pause>
                        {pause_label}
                    </button>
                    <button type="button" class="copy" on:click=copy>
                        "Copy"
                    </button>
                    <button type="button" class="close-logs" on:click=close>
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
