//! Clauster's wire types: every JSON body, WebSocket frame and the page context.
//!
//! Produced by the server, consumed by the UI (also in wasm) and the CLI. Depends on serde
//! (and serde_json for [`decode`]); no logic beyond (de)serialisation and plain constructors. Field names are the JSON
//! names of `http-api.md`, which scripts written for the Python Clauster rely on.
#![forbid(unsafe_code)]
// The shapes are fixed by the JSON that scripts already read; flags stay flags.
#![allow(clippy::struct_excessive_bools)]

mod checks;
mod clone;
mod config_editor;
mod context;
pub mod decode;
mod health;
mod instance;
mod metrics;
mod policy;
mod project;
mod readiness;
mod reaper;
mod screen;
mod sessions;
mod status;
mod transcript;
mod usage;

pub use checks::{Check, CheckReport, CheckStatus, ProjectPreflight};
pub use clone::{
    CloneAccepted, CloneCancelling, CloneJobList, CloneJobState, CloneJobSummary,
    CloneProgressFrame,
};
pub use config_editor::{ConfigSaved, ConfigView, FieldSpec, MapKey};
pub use context::{
    CloneContext, ConfigWriteContext, InstanceDefaults, MetricsContext, PageContext, UsageContext,
};
pub use health::{Health, HealthDetail};
pub use instance::{Forgotten, Frame, HealthFacts, Instance, Sequenced, Snapshot, SpawnOutcome};
pub use metrics::{Metrics, ProjectMetrics};
pub use policy::{PolicyUpdate, ProjectPolicy};
pub use project::{BadgeData, Bootstrap, ErrorBody, ListView, Project, SortMeta, TrustState};
pub use readiness::{LoginFlowFrame, Readiness, ReadinessCheck, ReadinessLevel};
pub use reaper::{Ghost, GhostsView, ReapAction, ReapRequest, ReapResult};
pub use screen::{PtyCursor, PtyScreen, PtyScreenFrame};
pub use sessions::{BackgroundJob, SessionsView, WorkingSession};
pub use status::{LoginStatus, Widget, WidgetBridges};
pub use transcript::{
    TranscriptFrame, TranscriptPage, TranscriptProblems, TranscriptTail, TranscriptTurn, TurnTokens,
};
pub use usage::{
    ClaudeMdConflict, ClaudeMdDoc, ModelUsage, TokenBreakdown, TranscriptSession, Transcripts,
    Usage, UsageDaily, UsageDay, UsageDayTotals,
};
