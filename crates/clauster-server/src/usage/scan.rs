//! Finding a project's transcript files below the projects directory (data.md §1.1) and
//! bringing its [`ProjectUsage`] up to date from them, reading only new bytes (§1.6).
//! Blocking: the service runs it on `spawn_blocking`.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use clauster_core::usage::location::{
    self, DirClaim, MAX_TRANSCRIPT_DEPTH, ProjectLocation, TranscriptKind, TranscriptRoots,
};
use clauster_core::usage::{DiscoveryCounts, FileStamp, ProjectUsage, ReadPlan, plan_read};

use crate::projects::Discovered;

/// How much of a file's beginning is searched for the first `cwd` (200 lines are far less).
const CWD_HEAD_BYTES: u64 = 1 << 20;

/// Read size while feeding a file.
const CHUNK: usize = 256 << 10;

/// The projects directory `P` itself could not be read: the 503 of §1.1.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the transcripts directory {}: {source}", path.display())]
pub struct RootError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// One transcript file attributed to the project.
#[derive(Debug, Clone)]
pub struct Found {
    pub path: PathBuf,
    pub kind: TranscriptKind,
}

/// What discovery found for one project.
#[derive(Debug, Default)]
pub struct Discovery {
    pub files: Vec<Found>,
    pub counts: DiscoveryCounts,
}

/// The first `cwd` of files that needed the ownership proof, cached by path + size + mtime.
#[derive(Debug, Default)]
pub struct ProofCache {
    entries: HashMap<PathBuf, (u64, i128, Option<String>)>,
    /// Paths asked about since the last [`ProofCache::forget_unasked`].
    asked: HashSet<PathBuf>,
}

impl ProofCache {
    /// Drops the entries of files no longer found (kept: owned and foreign ones alike, so a
    /// foreign worktree file is not re-read on every sweep).
    fn forget_unasked(&mut self) {
        let asked = std::mem::take(&mut self.asked);
        self.entries.retain(|path, _| asked.contains(path));
    }

    fn first_cwd(&mut self, path: &Path, meta: &fs::Metadata) -> io::Result<Option<String>> {
        self.asked.insert(path.to_owned());
        let key = (meta.len(), mtime_ns(meta));
        if let Some((len, mtime, cwd)) = self.entries.get(path)
            && (*len, *mtime) == key
        {
            return Ok(cwd.clone());
        }
        let mut head = Vec::new();
        open_transcript(path)?
            .take(CWD_HEAD_BYTES)
            .read_to_end(&mut head)?;
        let cwd = location::first_cwd(&head);
        self.entries
            .insert(path.to_owned(), (key.0, key.1, cwd.clone()));
        Ok(cwd)
    }
}

/// A transcript, opened without following a symlink and only when it is a regular file
/// (issue 16 §2); the rollup itself caps each line at 16 MiB.
fn open_transcript(path: &Path) -> io::Result<File> {
    use crate::bounded_read::{Refused, open_regular};
    match open_regular(path) {
        Ok((file, _)) => Ok(file),
        Err(Refused::Io(err)) => Err(err),
        Err(Refused::Missing) => Err(io::ErrorKind::NotFound.into()),
        Err(refused) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            refused.to_string(),
        )),
    }
}

fn mtime_ns(meta: &fs::Metadata) -> i128 {
    i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec())
}

fn stamp(meta: &fs::Metadata) -> FileStamp {
    FileStamp {
        dev: meta.dev(),
        ino: meta.ino(),
        len: meta.len(),
        mtime_ns: mtime_ns(meta),
    }
}

/// The sub-directory names of `dir`; `Ok(None)` when it does not exist.
fn dir_names(dir: &Path) -> io::Result<Option<Vec<String>>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir())
            && let Ok(name) = entry.file_name().into_string()
        {
            names.push(name);
        }
    }
    names.sort();
    Ok(Some(names))
}

/// Collects the `.jsonl` files below `dir` (at most [`MAX_TRANSCRIPT_DEPTH`] levels), without
/// following links; unreadable directories are counted.
fn walk(
    dir: &Path,
    relative: &Path,
    out: &mut Vec<(PathBuf, TranscriptKind)>,
    unreadable: &mut u64,
) {
    let Ok(entries) = fs::read_dir(dir) else {
        *unreadable += 1;
        return;
    };
    let depth = relative.components().count();
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let rel = relative.join(entry.file_name());
        if kind.is_dir() {
            if depth + 1 < MAX_TRANSCRIPT_DEPTH {
                walk(&entry.path(), &rel, out, unreadable);
            }
        } else if kind.is_file()
            && let Some(kind) = location::transcript_kind(&rel)
        {
            out.push((entry.path(), kind));
        }
    }
}

fn location_of(project: &Discovered) -> ProjectLocation {
    ProjectLocation {
        canonical: project.canonical.clone(),
        configured: project.path.clone(),
    }
}

/// The transcript files of `project` (one of `all`, the discovered projects, which decide
/// slug collisions).
pub fn discover(
    roots: &TranscriptRoots,
    project: &Discovered,
    all: &[Discovered],
    proofs: &mut ProofCache,
) -> Result<Discovery, RootError> {
    let mut found = Discovery::default();
    let here = location_of(project);
    let own_slug = clauster_core::slug::slug(&project.canonical.to_string_lossy());
    // Projects sharing the canonical slug: their files are attributed by first `cwd`.
    let sharing: Vec<&Path> = all
        .iter()
        .filter(|p| clauster_core::slug::slug(&p.canonical.to_string_lossy()) == own_slug)
        .map(|p| p.canonical.as_path())
        .collect();
    let me = sharing.iter().position(|p| *p == project.canonical);
    let collision = sharing.len() > 1;

    let mut seen = HashSet::new();
    let legacy = roots.legacy.iter().map(|p| (p, false));
    for (root, required) in std::iter::once((&roots.projects, true)).chain(legacy) {
        let names = match dir_names(root) {
            Ok(Some(names)) => names,
            Ok(None) => continue,
            Err(source) if required => {
                return Err(RootError {
                    path: root.clone(),
                    source,
                });
            }
            Err(_) => {
                found.counts.unreadable_files += 1;
                continue;
            }
        };
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        for (name, claim) in here.claim_dirs(&refs) {
            let mut files = Vec::new();
            walk(
                &root.join(name),
                Path::new(""),
                &mut files,
                &mut found.counts.unreadable_files,
            );
            files.sort_by(|a, b| a.0.cmp(&b.0));
            for (path, kind) in files {
                let shared_slug = collision && claim == DirClaim::Slug && name == own_slug;
                if claim.needs_cwd_proof() || shared_slug {
                    let Ok(cwd) = fs::metadata(&path).and_then(|m| proofs.first_cwd(&path, &m))
                    else {
                        found.counts.unreadable_files += 1;
                        continue;
                    };
                    let cwd = cwd.map(PathBuf::from);
                    if shared_slug {
                        match location::attribute_by_cwd(cwd.as_deref(), &sharing) {
                            None => {
                                found.counts.ambiguous_transcripts += 1;
                                continue;
                            }
                            Some(owner) if Some(owner) != me => continue,
                            Some(_) => {}
                        }
                    } else if !here.owns(claim, cwd.as_deref()) {
                        continue;
                    }
                }
                if seen.insert(path.clone()) {
                    found.files.push(Found { path, kind });
                }
            }
        }
    }
    Ok(found)
}

/// What the service keeps per project between refreshes.
#[derive(Debug)]
pub struct ProjectFiles {
    pub usage: ProjectUsage,
    stamps: HashMap<PathBuf, FileStamp>,
    proofs: ProofCache,
}

impl ProjectFiles {
    pub fn new(usage: ProjectUsage) -> Self {
        Self {
            usage,
            stamps: HashMap::new(),
            proofs: ProofCache::default(),
        }
    }

    /// Discovers the project's files and reads what changed: appended bytes only for a file
    /// that grew in place, the whole file when it shrank, was replaced or its head changed.
    pub fn refresh(
        &mut self,
        roots: &TranscriptRoots,
        project: &Discovered,
        all: &[Discovered],
    ) -> Result<(), RootError> {
        let mut discovery = discover(roots, project, all, &mut self.proofs)?;
        let mut current = HashSet::new();
        for file in &discovery.files {
            match self.bring_up_to_date(&file.path) {
                Ok(()) => {
                    current.insert(file.path.clone());
                }
                Err(_) => discovery.counts.unreadable_files += 1,
            }
        }
        let gone: Vec<PathBuf> = self
            .usage
            .paths()
            .into_iter()
            .filter(|p| !current.contains(*p))
            .map(Path::to_path_buf)
            .collect();
        for path in gone {
            self.usage.remove_file(&path);
            self.stamps.remove(&path);
        }
        self.proofs.forget_unasked();
        self.usage.set_discovery(discovery.counts);
        Ok(())
    }

    fn bring_up_to_date(&mut self, path: &Path) -> io::Result<()> {
        let result = self.read_changes(path);
        if result.is_err() {
            // Whatever it contributed is no longer known to be true.
            self.usage.remove_file(path);
            self.stamps.remove(path);
        }
        result
    }

    /// Where to continue reading `path`: `None` when nothing changed.
    fn resume_offset(
        &mut self,
        path: &Path,
        file: &mut File,
        now: &FileStamp,
    ) -> io::Result<Option<u64>> {
        let (Some(previous), Some(state)) = (self.stamps.get(path), self.usage.file(path)) else {
            self.usage.remove_file(path);
            return Ok(Some(0));
        };
        if previous == now {
            return Ok(None);
        }
        let head_unchanged = if now.len >= previous.len {
            let mut head = vec![0; state.head_len()];
            file.read_exact(&mut head)?;
            state.head_matches(&head)
        } else {
            false
        };
        Ok(match plan_read(previous, now, head_unchanged) {
            ReadPlan::Unchanged => None,
            ReadPlan::Append { from } => Some(from),
            ReadPlan::Reread => {
                self.usage.reset_file(path);
                Some(0)
            }
        })
    }

    fn read_changes(&mut self, path: &Path) -> io::Result<()> {
        let mut file = open_transcript(path)?;
        let now = stamp(&file.metadata()?);
        let Some(from) = self.resume_offset(path, &mut file, &now)? else {
            return Ok(());
        };
        file.seek(SeekFrom::Start(from))?;
        // A path seen for the first time counts as a transcript even when empty.
        self.usage.feed(path, &[]);
        let mut buffer = vec![0; CHUNK];
        loop {
            let read = file.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            self.usage.feed(path, &buffer[..read]);
        }
        let fed = self
            .usage
            .file(path)
            .map_or(0, clauster_core::usage::FileState::fed_len);
        self.stamps
            .insert(path.to_owned(), FileStamp { len: fed, ..now });
        Ok(())
    }
}
