//! The per-project aggregate: all files of a project, de-duplicated across them (data.md
//! §1.3), priced (§1.4) and totalled (§1.7), kept up to date as files are fed.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::file::{FileState, ReadProblems, UsageEntry};
use super::prices::{PriceLookup, PriceTable};
use crate::timestamp::{day_of_ms, format_day};

/// An amount of money in nano-dollars (10⁻⁹ USD), exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Nanodollars(pub u128);

impl Nanodollars {
    /// The amount rounded half up to 4 decimals of a dollar, in units of 0.0001 USD
    /// (data.md §1.7: a multiple of 100 000 nano-dollars).
    pub fn ten_thousandths(self) -> u128 {
        (self.0 + 50_000) / 100_000
    }

    /// The rounded amount as the JSON number of the wire format. This is the one place where
    /// floating point enters; the integer is exact and the division yields the double nearest
    /// the 4-decimal value, which serialises as that decimal.
    pub fn usd_4dp(self) -> f64 {
        #[allow(
            clippy::cast_precision_loss,
            reason = "exact below 2^53 ten-thousandths (900 billion USD)"
        )]
        let units = self.ten_thousandths() as f64;
        units / 10_000.0
    }
}

/// Token totals by kind (the `token_breakdown` of §1.7): the wire type itself, so the
/// answer carries the counts as the rollup made them.
pub use clauster_wire::TokenBreakdown;

/// One model's share of a project (`by_model[*]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelUsage {
    pub messages: u64,
    pub tokens: TokenBreakdown,
    pub cost: Nanodollars,
}

/// Counts the IO layer finds while discovering files; carried into the totals as they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiscoveryCounts {
    /// Files in a shared slug directory whose first `cwd` names none of the projects.
    pub ambiguous_transcripts: u64,
    /// Files or directories below the projects directory that could not be read.
    pub unreadable_files: u64,
}

/// A project's usage, ready for the server to convert into the §1.7 answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageTotals {
    /// Files attributed to the project.
    pub transcripts: u64,
    /// Records counted after de-duplication.
    pub messages: u64,
    /// Of `messages`, the subagent (`isSidechain: true`) ones.
    pub sidechain_messages: u64,
    pub tokens: TokenBreakdown,
    pub cost: Nanodollars,
    /// Keyed by the model id as the transcripts write it.
    pub by_model: BTreeMap<String, ModelUsage>,
    /// Counted models with no price (cost 0), sorted.
    pub unpriced_models: Vec<String>,
    /// Counted models priced by their family's newest row, sorted.
    pub fallback_priced_models: Vec<String>,
    pub duplicates_skipped: u64,
    /// Earliest and latest `timestamp` of any usage record read (duplicates included: a copy
    /// keeps its original time).
    pub first_timestamp_ms: Option<i64>,
    pub last_timestamp_ms: Option<i64>,
    pub problems: ReadProblems,
    pub discovery: DiscoveryCounts,
    pub price_table_date: String,
}

/// One UTC day of a project's usage (issue 24: the per-day view, as ccusage's `daily`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayUsage {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    /// Records counted that day after de-duplication.
    pub messages: u64,
    pub tokens: TokenBreakdown,
    pub cost: Nanodollars,
    /// The models of that day's records, sorted.
    pub models: Vec<String>,
}

/// The running sums of one day: what [`DayUsage`] is made of.
#[derive(Debug, Clone, Default)]
struct DaySums {
    totals: Sums,
    /// Records of each model this day, by project model index.
    models: Vec<u64>,
}

/// Where an entry lives: file slot and index in that file's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EntryRef {
    file: u32,
    entry: u32,
}

#[derive(Debug)]
struct FileSlot {
    path: PathBuf,
    state: FileState,
    /// File-local model index → project model index.
    models: Vec<u32>,
}

#[derive(Debug)]
struct ModelSlot {
    name: Box<str>,
    price: PriceLookup,
    totals: Sums,
}

/// Running sums; `u128` so that subtracting a replaced winner is always exact.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    messages: u64,
    sidechain: u64,
    input: u128,
    output: u128,
    cache_5m: u128,
    cache_1h: u128,
    cache_read: u128,
    cost: u128,
}

impl Sums {
    fn apply(&mut self, entry: &UsageEntry, cost: u64, add: bool) {
        let t = &entry.tokens;
        let fields = [
            (&mut self.input, t.input),
            (&mut self.output, t.output),
            (&mut self.cache_5m, t.cache_write_5m),
            (&mut self.cache_1h, t.cache_write_1h),
            (&mut self.cache_read, t.cache_read),
            (&mut self.cost, cost),
        ];
        for (sum, value) in fields {
            if add {
                *sum += u128::from(value);
            } else {
                *sum -= u128::from(value);
            }
        }
        let sidechain = u64::from(entry.sidechain);
        if add {
            self.messages += 1;
            self.sidechain += sidechain;
        } else {
            self.messages -= 1;
            self.sidechain -= sidechain;
        }
    }

    fn breakdown(&self) -> TokenBreakdown {
        let clamp = |v: u128| u64::try_from(v).unwrap_or(u64::MAX);
        TokenBreakdown {
            input: clamp(self.input),
            output: clamp(self.output),
            cache_creation: clamp(self.cache_5m + self.cache_1h),
            cache_read: clamp(self.cache_read),
            cache_creation_5m: clamp(self.cache_5m),
            cache_creation_1h: clamp(self.cache_1h),
        }
    }
}

/// The keys are already hashes; hashing them again would only cost time.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

/// One file's share of the rollup ([`ProjectUsage::file_totals`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileTotals {
    pub cost: Nanodollars,
    pub messages: u64,
    pub models: Vec<String>,
}

type KeyMap = HashMap<u64, EntryRef, BuildHasherDefault<KeyHasher>>;

/// All files of one project and their de-duplicated, priced totals.
///
/// Feed each file's bytes in order with [`ProjectUsage::feed`] (any chunking); a file that
/// shrank or was replaced is [`ProjectUsage::reset_file`]d and fed again from offset 0. The
/// result does not depend on the order files or chunks arrive in.
#[derive(Debug)]
pub struct ProjectUsage {
    prices: Arc<PriceTable>,
    max_line: usize,
    files: Vec<Option<FileSlot>>,
    by_path: HashMap<PathBuf, u32>,
    models: Vec<ModelSlot>,
    model_ids: HashMap<Box<str>, u32>,
    winners: KeyMap,
    sums: Sums,
    /// Keyed records seen beyond the first of their key.
    duplicates: u64,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
    discovery: DiscoveryCounts,
    /// The counted records by UTC day of their timestamp; records without one are in the
    /// totals only.
    /// Hashed, not ordered: counting is the hot path, listing days is rare.
    days: HashMap<i64, DaySums, BuildHasherDefault<KeyHasher>>,
}

impl ProjectUsage {
    pub fn new(prices: Arc<PriceTable>) -> Self {
        Self::with_max_line(prices, super::file::DEFAULT_MAX_LINE_BYTES)
    }

    /// As [`ProjectUsage::new`], with lines longer than `max_line` bytes skipped as oversized.
    pub fn with_max_line(prices: Arc<PriceTable>, max_line: usize) -> Self {
        Self {
            prices,
            max_line,
            files: Vec::new(),
            by_path: HashMap::new(),
            models: Vec::new(),
            model_ids: HashMap::new(),
            winners: KeyMap::default(),
            sums: Sums::default(),
            duplicates: 0,
            first_ts: None,
            last_ts: None,
            discovery: DiscoveryCounts::default(),
            days: HashMap::default(),
        }
    }

    /// Feeds the next bytes of `path` (from its [`FileState::fed_len`] on); a path seen for the
    /// first time becomes one of the project's transcripts, even when `new_bytes` is empty.
    pub fn feed(&mut self, path: &Path, new_bytes: &[u8]) {
        let file = self.slot_for(path);
        let slot = self.files[file as usize]
            .as_mut()
            .expect("slot_for returns a live slot");
        let before = slot.state.entries().len();
        slot.state.feed(new_bytes);
        let after = slot.state.entries().len();
        self.map_models(file);
        for entry in before..after {
            self.count(EntryRef {
                file,
                entry: u32::try_from(entry).expect("fewer than 4 billion records in a file"),
            });
        }
    }

    /// Takes over a file state read elsewhere — typically on another thread during a cold
    /// rollup, since [`FileState`]s are independent and only the aggregate is shared. Replaces
    /// whatever was known about `path`.
    pub fn adopt_file(&mut self, path: &Path, state: FileState) {
        if let Some(&file) = self.by_path.get(path) {
            let slot = self.files[file as usize]
                .as_mut()
                .expect("mapped slots are live");
            slot.state = state;
            slot.models.clear();
            self.rebuild();
            return;
        }
        let file = self.slot_for(path);
        let slot = self.files[file as usize]
            .as_mut()
            .expect("slot_for returns a live slot");
        slot.state = state;
        let count = slot.state.entries().len();
        self.map_models(file);
        for entry in 0..count {
            self.count(EntryRef {
                file,
                entry: u32::try_from(entry).expect("fewer than 4 billion records in a file"),
            });
        }
    }

    /// Forgets what was read from `path` (it shrank, was replaced or its head changed); the
    /// next [`ProjectUsage::feed`] starts at offset 0. The file stays a transcript.
    pub fn reset_file(&mut self, path: &Path) {
        if let Some(&file) = self.by_path.get(path)
            && let Some(slot) = self.files[file as usize].as_mut()
        {
            slot.state = FileState::with_max_line(self.max_line);
            slot.models.clear();
            self.rebuild();
        }
    }

    /// Drops a deleted (or no longer attributed) file and everything it contributed.
    pub fn remove_file(&mut self, path: &Path) {
        if let Some(file) = self.by_path.remove(path) {
            self.files[file as usize] = None;
            self.rebuild();
        }
    }

    /// The read state of one file, for [`super::plan_read`] and head checks.
    pub fn file(&self, path: &Path) -> Option<&FileState> {
        let &file = self.by_path.get(path)?;
        self.files[file as usize].as_ref().map(|slot| &slot.state)
    }

    /// Paths of the project's transcripts, sorted.
    pub fn paths(&self) -> Vec<&Path> {
        let mut paths: Vec<&Path> = self.by_path.keys().map(PathBuf::as_path).collect();
        paths.sort();
        paths
    }

    /// What the rollup counted from one file: the records that won their de-duplication key
    /// (so the files of a project add up to its totals), priced, and the models that replied.
    pub fn file_totals(&self, path: &Path) -> Option<FileTotals> {
        let &file = self.by_path.get(path)?;
        let slot = self.files[file as usize].as_ref()?;
        let mut totals = FileTotals::default();
        for (entry_index, entry) in slot.state.entries().iter().enumerate() {
            let at = EntryRef {
                file,
                entry: u32::try_from(entry_index).expect("fewer than 4 billion records"),
            };
            let counted = entry
                .key
                .is_none_or(|key| self.winners.get(&key) == Some(&at));
            if !counted {
                continue;
            }
            let model = &self.models[slot.models[entry.model as usize] as usize];
            let cost = model.price.price().map_or(0, |price| {
                price.cost_nanos(entry.timestamp_ms, &entry.tokens)
            });
            totals.cost.0 += u128::from(cost);
            totals.messages += 1;
            if !totals.models.iter().any(|m| **m == *model.name) {
                totals.models.push(model.name.to_string());
            }
        }
        totals.models.sort();
        Some(totals)
    }

    /// Records what discovery found (ambiguous and unreadable files) for the totals.
    pub fn set_discovery(&mut self, discovery: DiscoveryCounts) {
        self.discovery = discovery;
    }

    /// The project's totals now.
    pub fn totals(&self) -> UsageTotals {
        let mut by_model = BTreeMap::new();
        let mut unpriced = Vec::new();
        let mut fallback = Vec::new();
        for model in self.models.iter().filter(|m| m.totals.messages > 0) {
            let name = model.name.to_string();
            match model.price {
                PriceLookup::Unpriced => unpriced.push(name.clone()),
                PriceLookup::Fallback(_) => fallback.push(name.clone()),
                PriceLookup::Exact(_) => {}
            }
            by_model.insert(
                name,
                ModelUsage {
                    messages: model.totals.messages,
                    tokens: model.totals.breakdown(),
                    cost: Nanodollars(model.totals.cost),
                },
            );
        }
        unpriced.sort();
        fallback.sort();
        let mut problems = ReadProblems::default();
        for slot in self.files.iter().flatten() {
            problems.add(slot.state.problems());
        }
        UsageTotals {
            transcripts: self.by_path.len() as u64,
            messages: self.sums.messages,
            sidechain_messages: self.sums.sidechain,
            tokens: self.sums.breakdown(),
            cost: Nanodollars(self.sums.cost),
            by_model,
            unpriced_models: unpriced,
            fallback_priced_models: fallback,
            duplicates_skipped: self.duplicates,
            first_timestamp_ms: self.first_ts,
            last_timestamp_ms: self.last_ts,
            problems,
            discovery: self.discovery,
            price_table_date: self.prices.date().to_owned(),
        }
    }

    /// The counted records by UTC day, oldest first, limited to the days from `since` to
    /// `until` inclusive (days since 1970-01-01, see [`super::parse_day`]). Days without a
    /// counted record are absent.
    pub fn daily(&self, since: Option<i64>, until: Option<i64>) -> Vec<DayUsage> {
        let range = since.unwrap_or(i64::MIN)..=until.unwrap_or(i64::MAX);
        let mut days: Vec<(i64, &DaySums)> = self
            .days
            .iter()
            .filter(|(day, _)| range.contains(day))
            .map(|(&day, sums)| (day, sums))
            .collect();
        days.sort_unstable_by_key(|&(day, _)| day);
        days.into_iter()
            .map(|(day, sums)| {
                let mut models: Vec<String> = sums
                    .models
                    .iter()
                    .enumerate()
                    .filter(|&(_, &count)| count > 0)
                    .map(|(model, _)| self.models[model].name.to_string())
                    .collect();
                models.sort();
                DayUsage {
                    date: format_day(day),
                    messages: sums.totals.messages,
                    tokens: sums.totals.breakdown(),
                    cost: Nanodollars(sums.totals.cost),
                    models,
                }
            })
            .collect()
    }

    fn slot_for(&mut self, path: &Path) -> u32 {
        if let Some(&file) = self.by_path.get(path) {
            return file;
        }
        let file = u32::try_from(self.files.len()).expect("fewer than 4 billion files");
        self.files.push(Some(FileSlot {
            path: path.to_owned(),
            state: FileState::with_max_line(self.max_line),
            models: Vec::new(),
        }));
        self.by_path.insert(path.to_owned(), file);
        file
    }

    /// Extends a file's model map with the models its last feed introduced.
    fn map_models(&mut self, file: u32) {
        let slot = self.files[file as usize].as_mut().expect("live slot");
        while slot.models.len() < slot.state.models().len() {
            let name = &slot.state.models()[slot.models.len()];
            let index = if let Some(&index) = self.model_ids.get(name) {
                index
            } else {
                let index = u32::try_from(self.models.len()).expect("few models");
                self.models.push(ModelSlot {
                    name: name.clone(),
                    price: self.prices.lookup(name),
                    totals: Sums::default(),
                });
                self.model_ids.insert(name.clone(), index);
                index
            };
            slot.models.push(index);
        }
    }

    fn entry(&self, at: EntryRef) -> (&FileSlot, &UsageEntry) {
        let slot = self.files[at.file as usize].as_ref().expect("live slot");
        (slot, &slot.state.entries()[at.entry as usize])
    }

    /// Applies the §1.3 rule to one newly read entry.
    fn count(&mut self, at: EntryRef) {
        let (_, entry) = self.entry(at);
        let (key, timestamp) = (entry.key, entry.timestamp_ms);
        if let Some(ts) = timestamp {
            self.first_ts = Some(self.first_ts.map_or(ts, |first| first.min(ts)));
            self.last_ts = Some(self.last_ts.map_or(ts, |last| last.max(ts)));
        }
        let Some(key) = key else {
            self.contribute(at, true);
            return;
        };
        match self.winners.get(&key).copied() {
            None => {
                self.winners.insert(key, at);
                self.contribute(at, true);
            }
            Some(current) => {
                self.duplicates += 1;
                if self.beats(at, current) {
                    self.contribute(current, false);
                    self.contribute(at, true);
                    self.winners.insert(key, at);
                }
            }
        }
    }

    /// Whether `challenger` replaces `holder` as its key's counted record: larger output
    /// wins; on a tie, the smaller (file path, line offset) — a total order, so the winner
    /// does not depend on the order files were read in. Paths compare as bytes (not by
    /// component), so a session file sorts before its own `<uuid>/subagents/` files.
    fn beats(&self, challenger: EntryRef, holder: EntryRef) -> bool {
        let (c_file, c) = self.entry(challenger);
        let (h_file, h) = self.entry(holder);
        c.tokens
            .output
            .cmp(&h.tokens.output)
            .then_with(|| {
                (h_file.path.as_os_str(), h.offset).cmp(&(c_file.path.as_os_str(), c.offset))
            })
            .is_gt()
    }

    fn contribute(&mut self, at: EntryRef, add: bool) {
        let slot = self.files[at.file as usize].as_ref().expect("live slot");
        let entry = &slot.state.entries()[at.entry as usize];
        let model_index = slot.models[entry.model as usize];
        let model = &mut self.models[model_index as usize];
        let cost = model.price.price().map_or(0, |price| {
            price.cost_nanos(entry.timestamp_ms, &entry.tokens)
        });
        model.totals.apply(entry, cost, add);
        self.sums.apply(entry, cost, add);
        if let Some(ms) = entry.timestamp_ms {
            let day = self.days.entry(day_of_ms(ms)).or_default();
            day.totals.apply(entry, cost, add);
            let model_index = model_index as usize;
            if day.models.len() <= model_index {
                day.models.resize(model_index + 1, 0);
            }
            let count = &mut day.models[model_index];
            if add {
                *count += 1;
            } else {
                *count -= 1;
            }
            if day.totals.messages == 0 {
                self.days.remove(&day_of_ms(ms));
            }
        }
    }

    /// Recomputes everything from the files' entries (after a file was reset or removed).
    fn rebuild(&mut self) {
        self.winners.clear();
        self.sums = Sums::default();
        self.duplicates = 0;
        self.first_ts = None;
        self.last_ts = None;
        self.days.clear();
        for model in &mut self.models {
            model.totals = Sums::default();
        }
        for file in 0..self.files.len() {
            let Some(slot) = &self.files[file] else {
                continue;
            };
            let count = slot.state.entries().len();
            let file = u32::try_from(file).expect("fewer than 4 billion files");
            self.map_models(file);
            for entry in 0..count {
                self.count(EntryRef {
                    file,
                    entry: u32::try_from(entry).expect("fewer than 4 billion records"),
                });
            }
        }
    }
}
