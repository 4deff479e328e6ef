//! The socket of a panel that follows one bridge — the log panel and the live terminal
//! (ui.md §4.3, §4.5): opened once hydrated, reopened after an unexpected close while the bridge
//! is live, at most [`MAX_ATTEMPTS`] times in a row (a useful message resets the count), once
//! more when the page's event socket comes back after that, and closed without a word when the
//! panel goes away.

use std::rc::Rc;
#[cfg(feature = "hydrate")]
use std::time::Duration;

use leptos::prelude::*;

use crate::dom::LogSocket;
use crate::live::{Store, is_live};

/// Reconnect attempts in a row before the panel gives up.
const MAX_ATTEMPTS: u32 = 5;
/// The pause before each reconnect.
#[cfg(feature = "hydrate")]
const RETRY_AFTER: Duration = Duration::from_millis(1_500);
/// The server's close codes: the bridge ended; the stream is refused (the feature is off, or
/// the instance is not one this socket serves).
const CLOSE_ENDED: u16 = 1000;
const CLOSE_REFUSED: u16 = 1008;

/// Where the stream stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Open,
    /// Closed with 1000: the bridge ended.
    Ended,
    Reconnecting,
    /// Closed with 1008: nothing to follow here.
    Refused,
    /// Gave up after [`MAX_ATTEMPTS`], or the instance is no longer live.
    Closed,
}

/// A followed socket: its state for the panel's status line, and a manual reconnect.
#[derive(Clone, Copy)]
pub struct Follow {
    pub stream: RwSignal<Stream>,
    attempts: StoredValue<u32>,
    connect: StoredValue<Option<Rc<dyn Fn()>>, LocalStorage>,
}

impl Follow {
    /// Follows `path` (a `/ws/…` route) for instance `id`. `on_message` takes each text
    /// message, with whether it is the first of a socket that replaced an earlier one (the
    /// server sends its window again then), and says whether it counted as progress (which
    /// resets the attempt count).
    pub fn start(
        store: Store,
        id: &str,
        path: &str,
        on_message: impl Fn(String, bool) -> bool + Clone + 'static,
    ) -> Self {
        let stream = RwSignal::new(Stream::Open);
        let attempts = StoredValue::new(0_u32);
        let socket = StoredValue::new_local(None::<LogSocket>);
        // Set when the panel closes, so no handler reconnects a socket nobody reads.
        let gone = StoredValue::new(false);
        let connect = StoredValue::new_local(None::<Rc<dyn Fn()>>);
        let live = {
            let id = id.to_owned();
            move || {
                store
                    .instances
                    .with_untracked(|list| list.iter().any(|i| i.instance_id == id && is_live(i)))
            }
        };
        let url = store.url(path);
        #[cfg(feature = "hydrate")]
        let live_now = live.clone();
        // Bumped by each open: a replaced socket's late messages and close are ignored.
        let generation = StoredValue::new(0_u64);
        let open = move || {
            let Some(ws) = crate::dom::ws_url(&url) else {
                return;
            };
            generation.update_value(|g| *g += 1);
            let mine = generation.get_value();
            socket.with_value(|s| {
                if let Some(s) = s {
                    s.close();
                }
            });
            stream.set(Stream::Open);
            let on_message = on_message.clone();
            let first = std::cell::Cell::new(mine > 1);
            let on_text = move |text: String| {
                if generation.get_value() != mine {
                    return;
                }
                if on_message(text, first.replace(false)) {
                    attempts.set_value(0);
                    stream.set(Stream::Open);
                }
            };
            let live = live.clone();
            let on_close = move |code: u16| {
                if gone.get_value() || generation.get_value() != mine {
                    return;
                }
                match code {
                    CLOSE_ENDED => stream.set(Stream::Ended),
                    CLOSE_REFUSED => stream.set(Stream::Refused),
                    _ if live() && attempts.get_value() < MAX_ATTEMPTS => {
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
                            RETRY_AFTER,
                        );
                    }
                    _ => stream.set(Stream::Closed),
                }
            };
            socket.set_value(LogSocket::open(&ws, on_text, on_close));
        };
        connect.set_value(Some(Rc::new(open)));
        let follow = Self {
            stream,
            attempts,
            connect,
        };
        #[cfg(feature = "hydrate")]
        Effect::new(move |_| follow.open());
        // A panel that gave up while the server was away follows again once the page's own
        // socket is back (the server restarted), if its bridge is still live.
        #[cfg(feature = "hydrate")]
        Effect::new(move |before: Option<crate::live::Conn>| {
            let now = store.conn.get();
            let back =
                before.is_some_and(|b| b != crate::live::Conn::Up) && now == crate::live::Conn::Up;
            if back && stream.get_untracked() == Stream::Closed && live_now() {
                follow.reconnect();
            }
            now
        });
        on_cleanup(move || {
            gone.set_value(true);
            socket.with_value(|s| {
                if let Some(s) = s {
                    s.close();
                }
            });
        });
        follow
    }

    /// The Reconnect button: a fresh run of attempts.
    pub fn reconnect(self) {
        self.attempts.set_value(0);
        self.open();
    }

    fn open(self) {
        if let Some(open) = self.connect.get_value() {
            open();
        }
    }
}
