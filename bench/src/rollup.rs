//! The cost rollup measured through `clauster_core::usage`, doing the IO the server does
//! (data.md §1.6): list each slug directory's transcripts, read them on two threads into
//! [`FileState`]s, adopt them into one [`ProjectUsage`] per project; after an append, stat the
//! file, [`plan_read`], read only the new bytes and feed them.
//!
//! Once the server's usage route is on main, the HTTP figure is one more function beside
//! [`cold`] (time `GET /api/projects/{name}/usage` for every project against a fresh server).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clauster_core::usage::location::transcript_kind;
use clauster_core::usage::{FileStamp, FileState, PriceTable, ProjectUsage, ReadPlan, plan_read};

use crate::corpus::Expected;

/// At most this many files are read at once (data.md §1.6: two blocking threads).
const READ_THREADS: usize = 2;
const CHUNK: usize = 256 << 10;

#[derive(Debug)]
struct Project {
    usage: ProjectUsage,
    stamps: BTreeMap<PathBuf, FileStamp>,
}

/// Every project's rollup state after a cold read.
#[derive(Debug)]
pub struct Rollup {
    projects: BTreeMap<String, Project>,
}

fn stamp(meta: &std::fs::Metadata) -> FileStamp {
    FileStamp {
        dev: meta.dev(),
        ino: meta.ino(),
        len: meta.len(),
        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
    }
}

/// The transcripts of one slug directory (data.md §1.1: nested up to 3 levels).
fn transcripts(slug_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![slug_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let Ok(relative) = path.strip_prefix(slug_dir) else {
                continue;
            };
            if entry.file_type()?.is_dir() {
                if relative.components().count() < 3 {
                    stack.push(path);
                }
            } else if transcript_kind(relative).is_some() {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn read_file(path: &Path) -> std::io::Result<(FileState, FileStamp)> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    let mut state = FileState::new();
    let mut buf = vec![0_u8; CHUNK];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        state.feed(&buf[..n]);
    }
    let mut stamp = stamp(&meta);
    stamp.len = state.fed_len();
    Ok((state, stamp))
}

/// A cold rollup of every slug directory below `projects_dir`, and how long it took.
pub fn cold(projects_dir: &Path) -> std::io::Result<(Rollup, Duration)> {
    let started = Instant::now();
    let prices = Arc::new(PriceTable::builtin());
    let mut work = Vec::new();
    let mut projects = BTreeMap::new();
    for entry in std::fs::read_dir(projects_dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        for path in transcripts(&entry.path())? {
            work.push((name.clone(), path));
        }
        projects.insert(
            name,
            Project {
                usage: ProjectUsage::new(Arc::clone(&prices)),
                stamps: BTreeMap::new(),
            },
        );
    }
    let queue = Mutex::new(work);
    let done = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..READ_THREADS {
            scope.spawn(|| {
                loop {
                    let Some((name, path)) = queue.lock().expect("queue lock").pop() else {
                        break;
                    };
                    let read = read_file(&path);
                    done.lock().expect("result lock").push((name, path, read));
                }
            });
        }
    });
    for (name, path, read) in done.into_inner().expect("result lock") {
        let (state, stamp) = read?;
        let project = projects.get_mut(&name).expect("listed above");
        project.usage.adopt_file(&path, state);
        project.stamps.insert(path, stamp);
    }
    // The server converts each project's totals into its answer; computing them is part of
    // the cold cost.
    for project in projects.values() {
        std::hint::black_box(project.usage.totals());
    }
    Ok((Rollup { projects }, started.elapsed()))
}

impl Rollup {
    /// The totals over every project, in the generator's terms.
    pub fn totals(&self) -> Expected {
        let mut out = Expected::default();
        for project in self.projects.values() {
            let t = project.usage.totals();
            out.add(&Expected {
                files: t.transcripts,
                messages: t.messages,
                duplicates: t.duplicates_skipped,
                input: t.tokens.input,
                output: t.tokens.output,
                cache_5m: t.tokens.cache_creation_5m,
                cache_1h: t.tokens.cache_creation_1h,
                cache_read: t.tokens.cache_read,
                cost_nanos: t.cost.0,
            });
        }
        out
    }

    /// Brings `path` (a transcript of project `slug`) up to date after it changed, as the
    /// server does on a change notification, and returns the time taken (stat, plan, read of
    /// the new bytes, feed, and the project's new totals).
    pub fn refresh(&mut self, slug: &str, path: &Path) -> std::io::Result<Duration> {
        let started = Instant::now();
        let project = self
            .projects
            .get_mut(slug)
            .ok_or_else(|| std::io::Error::other(format!("no project {slug}")))?;
        let mut file = File::open(path)?;
        let current = stamp(&file.metadata()?);
        let previous = project
            .stamps
            .get(path)
            .copied()
            .ok_or_else(|| std::io::Error::other(format!("{} was not read", path.display())))?;
        let state = project.usage.file(path).expect("stamped files are known");
        let mut head = vec![0_u8; state.head_len()];
        file.read_exact(&mut head)?;
        let head_unchanged = state.head_matches(&head);
        let from = match plan_read(&previous, &current, head_unchanged) {
            ReadPlan::Unchanged => return Ok(started.elapsed()),
            ReadPlan::Append { from } => from,
            ReadPlan::Reread => {
                project.usage.reset_file(path);
                0
            }
        };
        file.seek(SeekFrom::Start(from))?;
        let mut new_bytes = Vec::new();
        file.read_to_end(&mut new_bytes)?;
        project.usage.feed(path, &new_bytes);
        let mut stamp = current;
        stamp.len = from + new_bytes.len() as u64;
        project.stamps.insert(path.to_path_buf(), stamp);
        std::hint::black_box(project.usage.totals());
        Ok(started.elapsed())
    }
}

/// VmRSS and VmHWM of this process, in bytes.
pub fn own_memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    (
        crate::server::status_kib(&status, "VmRSS:") * 1024,
        crate::server::status_kib(&status, "VmHWM:") * 1024,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus;

    #[test]
    fn cold_and_incremental_totals_equal_the_generators() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let corpus = corpus::generate(tmp.path(), 2 << 20, 3, 11).expect("generate");
        let (mut rollup, _) = cold(&corpus.projects_dir()).expect("cold rollup");
        assert_eq!(rollup.totals(), corpus.total());

        let (line, added) = corpus::append_line(5, "/srv/bench/p0000");
        {
            use std::io::Write;
            std::fs::OpenOptions::new()
                .append(true)
                .open(&corpus.append_target)
                .expect("open")
                .write_all(line.as_bytes())
                .expect("append");
        }
        let slug = corpus::slug("/srv/bench/p0000");
        rollup
            .refresh(&slug, &corpus.append_target)
            .expect("refresh");
        let mut expected = corpus.total();
        expected.add(&added);
        assert_eq!(rollup.totals(), expected);
        // Nothing new: the refresh changes nothing.
        rollup
            .refresh(&slug, &corpus.append_target)
            .expect("refresh");
        assert_eq!(rollup.totals(), expected);
    }

    #[test]
    fn refreshing_an_unknown_project_or_file_fails_and_changes_nothing() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let corpus = corpus::generate(tmp.path(), 1 << 20, 1, 3).expect("generate");
        let (mut rollup, _) = cold(&corpus.projects_dir()).expect("cold rollup");
        let before = rollup.totals();
        let err = rollup
            .refresh("-no-such-project", &corpus.append_target)
            .expect_err("unknown project");
        assert!(
            err.to_string().contains("no project -no-such-project"),
            "{err}"
        );
        let stray = tmp.path().join("stray.jsonl");
        std::fs::write(&stray, "{}\n").expect("write");
        let slug = corpus::slug("/srv/bench/p0000");
        let err = rollup.refresh(&slug, &stray).expect_err("unread file");
        assert!(err.to_string().contains("was not read"), "{err}");
        assert_eq!(rollup.totals(), before);
    }
}
