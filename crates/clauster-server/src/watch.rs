//! The one rule every `notify` watcher of the server applies: react to changes, never to reads.
//!
//! inotify reports opens, reads and closes of a watched file as well as its changes
//! (`IN_OPEN`, `IN_ACCESS`, `IN_CLOSE_NOWRITE`, and `IN_ATTRIB` when a read updates the access
//! time). A handler that answers an event by reading the file would otherwise feed its own
//! trigger: the engine answered each log event by reading the log, raised another event, and
//! spun one core for as long as the server ran (issue 14, defect 12). Every watcher — the log
//! directory, the log tail and the pty screen, `projects_root` and Claude's global file, the
//! transcripts — passes its events through [`is_change`] first.

use notify::EventKind;
use notify::event::{AccessKind, AccessMode, ModifyKind};

/// Whether an event may mean new or different content: a file or directory created, removed
/// or renamed, data written, or a writer closing its file. Opens, reads, read-only closes and
/// metadata changes (permissions, times) are not changes.
pub(crate) fn is_change(kind: EventKind) -> bool {
    match kind {
        // `Any` and `Other` include the queue-overflow rescan: something may have changed.
        EventKind::Create(_) | EventKind::Remove(_) | EventKind::Any | EventKind::Other => true,
        EventKind::Modify(modify) => !matches!(modify, ModifyKind::Metadata(_)),
        EventKind::Access(access) => matches!(access, AccessKind::Close(AccessMode::Write)),
    }
}

#[cfg(test)]
mod tests {
    use notify::EventKind as K;
    use notify::event::{
        AccessKind, AccessMode, CreateKind, DataChange, MetadataKind, ModifyKind, RemoveKind,
        RenameMode,
    };

    use super::is_change;

    #[test]
    fn reads_are_not_changes() {
        for read in [
            K::Access(AccessKind::Open(AccessMode::Any)),
            K::Access(AccessKind::Read),
            K::Access(AccessKind::Close(AccessMode::Read)),
            K::Access(AccessKind::Any),
            K::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)),
            K::Modify(ModifyKind::Metadata(MetadataKind::Any)),
        ] {
            assert!(!is_change(read), "{read:?} counted as a change");
        }
    }

    #[test]
    fn writes_creations_renames_and_removals_are_changes() {
        for change in [
            K::Access(AccessKind::Close(AccessMode::Write)),
            K::Modify(ModifyKind::Data(DataChange::Any)),
            K::Modify(ModifyKind::Name(RenameMode::To)),
            K::Modify(ModifyKind::Name(RenameMode::From)),
            K::Modify(ModifyKind::Any),
            K::Create(CreateKind::File),
            K::Create(CreateKind::Folder),
            K::Remove(RemoveKind::File),
            K::Other,
        ] {
            assert!(is_change(change), "{change:?} not counted as a change");
        }
    }
}
