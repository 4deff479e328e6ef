//! The dashboard's icons: Lucide glyphs (the `icondata_lu` crate) rendered as inline `<svg>`,
//! so the server HTML carries them and nothing is fetched from elsewhere. Every icon is
//! decorative (`aria-hidden`): the control it sits in has visible text or an `aria-label`.

use icondata_core::IconData;
use leptos::prelude::*;

/// One glyph of the set.
pub type Glyph = &'static IconData;

pub const START: Glyph = icondata_lu::LuPlay;
pub const STOP: Glyph = icondata_lu::LuSquare;
pub const RETRY: Glyph = icondata_lu::LuRotateCw;
pub const RESUME: Glyph = icondata_lu::LuHistory;
pub const NEW_SESSION: Glyph = icondata_lu::LuMessageSquarePlus;
pub const CLOSE: Glyph = icondata_lu::LuX;
pub const LOGS: Glyph = icondata_lu::LuScrollText;
pub const TERMINAL: Glyph = icondata_lu::LuSquareTerminal;
pub const QR: Glyph = icondata_lu::LuQrCode;
pub const OPEN: Glyph = icondata_lu::LuExternalLink;
pub const TRANSCRIPT: Glyph = icondata_lu::LuFileText;
pub const MORE: Glyph = icondata_lu::LuEllipsis;
pub const COPY: Glyph = icondata_lu::LuCopy;
pub const FORGET: Glyph = icondata_lu::LuTrash2;
pub const GIT: Glyph = icondata_lu::LuGitBranch;
pub const CLAUDE_MD: Glyph = icondata_lu::LuFilePen;
pub const CLAUDE_DIR: Glyph = icondata_lu::LuFolderCog;
pub const SUN: Glyph = icondata_lu::LuSun;
pub const MOON: Glyph = icondata_lu::LuMoon;
pub const HELP: Glyph = icondata_lu::LuCircleHelp;
pub const SETTINGS: Glyph = icondata_lu::LuPencil;
pub const CHECK: Glyph = icondata_lu::LuCheck;
pub const TRUST: Glyph = icondata_lu::LuShieldCheck;

/// A 16 px glyph in the current text colour.
#[component]
pub fn Icon(icon: Glyph) -> impl IntoView {
    view! {
        <svg
            class="icon"
            viewBox=icon.view_box.unwrap_or("0 0 24 24")
            width="16"
            height="16"
            fill=icon.fill.unwrap_or("none")
            stroke=icon.stroke.unwrap_or("currentColor")
            stroke-width=icon.stroke_width.unwrap_or("2")
            stroke-linecap=icon.stroke_linecap.unwrap_or("round")
            stroke-linejoin=icon.stroke_linejoin.unwrap_or("round")
            aria-hidden="true"
            focusable="false"
            // The set's markup has newlines between elements; as text nodes they would show
            // in the `textContent` of every control an icon sits in.
            inner_html=icon.data.replace('\n', "")
        ></svg>
    }
}
