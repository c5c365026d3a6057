//! The `_metadata` file: what a checkpoint contains and how it is encoded.
//!
//! ```text
//! magic    8 bytes  "WEIRCKPT"
//! version  u16 LE   FORMAT_VERSION (4); versions 1 to 3 are read too; a
//!                   reader refuses any other by number
//! reserved u16      0
//! length   u64 LE   length of the body
//! body     postcard encoding of `CheckpointMetadata` (without `stats` and
//!          `lineage`), then, from version 2, the postcard encoding of
//!          `Option<CheckpointStats>`, then, from version 3, of the lineage
//!          (`Vec<(u64, u64)>`). Version 4 (job graphs) replaced the one
//!          source position and the one sink of versions 1-3 by a list of
//!          named sources (splits left per subtask) and named sinks; older
//!          bodies are read into that shape (a chain's `source` and `sink`).
//! crc32c   u32 LE   CRC-32C of everything before it
//! ```
//!
//! Every length is checked against the bytes present before anything is
//! allocated from it (postcard caps collection pre-allocation by the input
//! size), and every file name it references is checked to stay inside the
//! job's directory.

use serde::{Deserialize, Serialize};

use super::stats::CheckpointStats;
use crate::operator::StateKind;
pub use crate::sources::Split;

pub const MAGIC: &[u8; 8] = b"WEIRCKPT";
pub const FORMAT_VERSION: u16 = 4;
/// The oldest version this host still reads (no statistics).
pub const OLDEST_READABLE_VERSION: u16 = 1;
const HEADER_LEN: usize = 8 + 2 + 2 + 8;
const TRAILER_LEN: usize = 4;

/// Why a `_metadata` file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("not a Weir checkpoint metadata file (bad magic)")]
    BadMagic,
    #[error(
        "unknown metadata format version {0} (this weir reads versions {OLDEST_READABLE_VERSION} to {FORMAT_VERSION})"
    )]
    UnknownVersion(u16),
    #[error("truncated: {0}")]
    Truncated(String),
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x} (the file is damaged)")]
    Checksum { stored: u32, computed: u32 },
    #[error("malformed body: {0}")]
    Malformed(String),
    #[error("file reference {0:?} would leave the job directory or is not a valid file name")]
    BadReference(String),
}

/// Everything needed to restore a job: written last, as `chk-<n>/_metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMetadata {
    pub job_id: String,
    pub job_name: String,
    pub checkpoint_id: u64,
    /// Milliseconds since the Unix epoch.
    pub trigger_time_ms: u64,
    pub completion_time_ms: u64,
    /// Taken after all input was processed: restoring it only commits the
    /// sink's staged output, nothing runs again.
    pub end_of_input: bool,
    pub graph: GraphFingerprint,
    /// What each source subtask had left to read.
    pub sources: Vec<SourceSnapshot>,
    pub operators: Vec<OperatorSnapshot>,
    /// What each sink staged for this checkpoint.
    pub sinks: Vec<SinkSnapshot>,
    /// What taking the checkpoint cost (version 2 on; `None` in version 1).
    /// Encoded after the rest of the body, so version 1 bodies still decode.
    #[serde(skip)]
    pub stats: Option<CheckpointStats>,
    /// The ranges of checkpoint ids whose sink output is part of this
    /// checkpoint's history: its own run's, and before that the lineage of
    /// the checkpoint that run restored (see `sinks/files.rs`). The same
    /// for every sink: they commit on the same checkpoints.
    #[serde(skip)]
    pub lineage: Vec<(u64, u64)>,
}

/// The body of versions 1-3: one source position, one sink.
#[derive(Deserialize)]
struct LegacyMetadata {
    job_id: String,
    job_name: String,
    checkpoint_id: u64,
    trigger_time_ms: u64,
    completion_time_ms: u64,
    end_of_input: bool,
    graph: GraphFingerprint,
    source: u64,
    operators: Vec<OperatorSnapshot>,
    sink_staged: Vec<String>,
}

impl LegacyMetadata {
    fn upgrade(self) -> CheckpointMetadata {
        CheckpointMetadata {
            job_id: self.job_id,
            job_name: self.job_name,
            checkpoint_id: self.checkpoint_id,
            trigger_time_ms: self.trigger_time_ms,
            completion_time_ms: self.completion_time_ms,
            end_of_input: self.end_of_input,
            graph: self.graph,
            // The file's end was not recorded: the reader stops at it.
            sources: vec![SourceSnapshot {
                name: crate::job::CHAIN_SOURCE.into(),
                subtasks: vec![vec![Split { next: self.source, end: u64::MAX }]],
                max_timestamps: vec![i64::MIN],
            }],
            operators: self.operators,
            sinks: vec![SinkSnapshot { name: crate::job::CHAIN_SINK.into(), staged: self.sink_staged }],
            stats: None,
            lineage: Vec::new(),
        }
    }
}

/// What one source's subtasks had left to read when they injected the
/// barrier (`sources/mod.rs`: splits are ranges of positions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceSnapshot {
    pub name: String,
    /// Per subtask, in order; a subtask that read everything has none.
    pub subtasks: Vec<Vec<Split>>,
    /// Per subtask, the highest event timestamp it had read (`i64::MIN`:
    /// none), which its watermarks derive from.
    pub max_timestamps: Vec<i64>,
}

/// The shape of the job that took the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphFingerprint {
    pub max_parallelism: u32,
    pub operators: Vec<OperatorFingerprint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorFingerprint {
    pub name: String,
    pub component_sha256: [u8; 32],
    pub parallelism: u32,
    pub key_by: bool,
}

/// The state of every subtask of one operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorSnapshot {
    pub name: String,
    pub subtasks: Vec<SubtaskSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubtaskSnapshot {
    pub subtask: u32,
    pub chunks: Vec<ChunkRef>,
}

/// One state chunk (`wit/STATE.md`): inline, or a byte range of a data file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    pub handle: String,
    pub kind: KindTag,
    pub key_group: Option<u16>,
    pub data: ChunkData,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChunkData {
    Inline(Vec<u8>),
    File { file: StateFile, offset: u64, len: u64, crc32c: u32 },
}

impl ChunkData {
    pub fn len(&self) -> u64 {
        match self {
            ChunkData::Inline(bytes) => bytes.len() as u64,
            ChunkData::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A data file: either a file of the checkpoint's own `chk-<n>/` directory
/// or of the job's `shared/` directory. Names are 1-200 characters of
/// `A-Z a-z 0-9 . _ -`, not starting with `.`: no separator, no `..`,
/// nothing absolute, no URL. [`CheckpointMetadata::decode`] checks every
/// reference, so a crafted `_metadata` cannot point anywhere else.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StateFile {
    /// In `chk-<n>/`: exclusive to this checkpoint.
    Exclusive(String),
    /// In `shared/`: may be referenced by several checkpoints.
    Shared(String),
}

/// The only file names a checkpoint may reference.
pub fn is_valid_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl StateFile {
    pub fn name(&self) -> &str {
        match self {
            StateFile::Exclusive(name) | StateFile::Shared(name) => name,
        }
    }
}

/// `StateKind` as stored: a stable tag independent of the Rust enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KindTag {
    KeyedValue,
    KeyedMap,
    KeyedList,
    OperatorValue,
    OperatorList,
    BroadcastMap,
}

impl From<StateKind> for KindTag {
    fn from(kind: StateKind) -> Self {
        match kind {
            StateKind::KeyedValue => KindTag::KeyedValue,
            StateKind::KeyedMap => KindTag::KeyedMap,
            StateKind::KeyedList => KindTag::KeyedList,
            StateKind::OperatorValue => KindTag::OperatorValue,
            StateKind::OperatorList => KindTag::OperatorList,
            StateKind::BroadcastMap => KindTag::BroadcastMap,
        }
    }
}

impl From<KindTag> for StateKind {
    fn from(tag: KindTag) -> Self {
        match tag {
            KindTag::KeyedValue => StateKind::KeyedValue,
            KindTag::KeyedMap => StateKind::KeyedMap,
            KindTag::KeyedList => StateKind::KeyedList,
            KindTag::OperatorValue => StateKind::OperatorValue,
            KindTag::OperatorList => StateKind::OperatorList,
            KindTag::BroadcastMap => StateKind::BroadcastMap,
        }
    }
}

/// Output one sink staged for this checkpoint and had not yet committed
/// (file names): committed once the checkpoint is complete, and again,
/// idempotently, by a restore from it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkSnapshot {
    pub name: String,
    pub staged: Vec<String>,
}

/// `lineage` extended by the run of checkpoints `first..=last`.
pub fn extend_lineage(lineage: &[(u64, u64)], first: u64, last: u64) -> Vec<(u64, u64)> {
    let mut extended = lineage.to_vec();
    match extended.last_mut() {
        Some((_, end)) if end.saturating_add(1) >= first => *end = (*end).max(last),
        _ => extended.push((first, last)),
    }
    extended
}

pub use crate::sinks::in_lineage;

impl CheckpointMetadata {
    /// Total bytes of state, inline and in files.
    pub fn state_size(&self) -> u64 {
        // Lengths come from a file: saturate rather than overflow.
        self.chunks().fold(0u64, |total, c| total.saturating_add(c.data.len()))
    }

    /// Every chunk of every subtask of every operator.
    pub fn chunks(&self) -> impl Iterator<Item = &ChunkRef> {
        self.operators.iter().flat_map(|o| o.subtasks.iter()).flat_map(|s| s.chunks.iter())
    }

    /// The distinct data files this checkpoint references.
    pub fn files(&self) -> Vec<StateFile> {
        let mut files: Vec<StateFile> = self
            .chunks()
            .filter_map(|c| match &c.data {
                ChunkData::File { file, .. } => Some(file.clone()),
                ChunkData::Inline(_) => None,
            })
            .collect();
        files.sort_by(|a, b| a.name().cmp(b.name()));
        files.dedup();
        files
    }

    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain data into a Vec cannot fail.
        let body = postcard::to_allocvec(&(self, &self.stats, &self.lineage)).unwrap_or_default();
        let mut out = Vec::with_capacity(HEADER_LEN + body.len() + TRAILER_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&body);
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, MetadataError> {
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err(MetadataError::BadMagic);
        }
        if bytes.len() < HEADER_LEN + TRAILER_LEN {
            return Err(MetadataError::Truncated(format!("{} bytes, shorter than the header", bytes.len())));
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(MetadataError::UnknownVersion(version));
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&bytes[12..20]);
        let declared = u64::from_le_bytes(len);
        let actual = (bytes.len() - HEADER_LEN - TRAILER_LEN) as u64;
        if declared != actual {
            return Err(MetadataError::Truncated(format!("body declares {declared} bytes, file holds {actual}")));
        }
        let (covered, trailer) = bytes.split_at(bytes.len() - TRAILER_LEN);
        let stored = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let computed = crc32c::crc32c(covered);
        if stored != computed {
            return Err(MetadataError::Checksum { stored, computed });
        }
        let malformed = |e: postcard::Error| MetadataError::Malformed(e.to_string());
        let body = &covered[HEADER_LEN..];
        let (mut metadata, mut rest): (CheckpointMetadata, &[u8]) = if version >= 4 {
            postcard::take_from_bytes(body).map_err(malformed)?
        } else {
            let (legacy, rest): (LegacyMetadata, &[u8]) = postcard::take_from_bytes(body).map_err(malformed)?;
            (legacy.upgrade(), rest)
        };
        if version >= 2 {
            (metadata.stats, rest) = postcard::take_from_bytes(rest).map_err(malformed)?;
        }
        if version >= 3 {
            (metadata.lineage, rest) = postcard::take_from_bytes(rest).map_err(malformed)?;
        } else {
            metadata.lineage = vec![(0, metadata.checkpoint_id)];
        }
        if !rest.is_empty() {
            return Err(MetadataError::Malformed(format!("{} bytes after the body", rest.len())));
        }
        let names = metadata.files().into_iter().map(|f| f.name().to_owned());
        let staged = metadata.sinks.iter().flat_map(|s| s.staged.iter().cloned());
        if let Some(bad) = names.chain(staged).find(|n| !is_valid_file_name(n)) {
            return Err(MetadataError::BadReference(bad));
        }
        Ok(metadata)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> CheckpointMetadata {
        CheckpointMetadata {
            job_id: "wc-1".into(),
            job_name: "wordcount".into(),
            checkpoint_id: 7,
            trigger_time_ms: 1_700_000_000_000,
            completion_time_ms: 1_700_000_000_250,
            end_of_input: false,
            graph: GraphFingerprint {
                max_parallelism: 128,
                operators: vec![OperatorFingerprint {
                    name: "counter".into(),
                    component_sha256: [7; 32],
                    parallelism: 2,
                    key_by: true,
                }],
            },
            sources: vec![SourceSnapshot {
                name: "source".into(),
                subtasks: vec![vec![Split { next: 4096, end: u64::MAX }]],
                max_timestamps: vec![i64::MIN],
            }],
            operators: vec![OperatorSnapshot {
                name: "counter".into(),
                subtasks: vec![SubtaskSnapshot {
                    subtask: 0,
                    chunks: vec![
                        ChunkRef {
                            handle: "count".into(),
                            kind: KindTag::KeyedValue,
                            key_group: Some(3),
                            data: ChunkData::Inline(vec![1, 2, 3]),
                        },
                        ChunkRef {
                            handle: "count".into(),
                            kind: KindTag::KeyedValue,
                            key_group: Some(4),
                            data: ChunkData::File {
                                file: StateFile::Exclusive("op0-0.state".into()),
                                offset: 0,
                                len: 100,
                                crc32c: 42,
                            },
                        },
                    ],
                }],
            }],
            sinks: vec![SinkSnapshot { name: "sink".into(), staged: vec!["part-0000000007-00000".into()] }],
            lineage: vec![(1, 3), (5, 7)],
            stats: Some(CheckpointStats {
                status: crate::checkpoint::stats::CheckpointStatus::Completed,
                end_to_end_us: Some(250_000),
                state_bytes: 4096,
                checkpointed_bytes: 1024,
                files_written: 1,
                subtasks: vec![crate::checkpoint::stats::SubtaskStats {
                    operator: "counter".into(),
                    subtask: 0,
                    sync_us: 900,
                    ..Default::default()
                }],
                ..CheckpointStats::in_progress(7, 1_700_000_000_000)
            }),
        }
    }

    #[test]
    fn round_trip() {
        let metadata = sample();
        let bytes = metadata.encode();
        assert_eq!(CheckpointMetadata::decode(&bytes).unwrap(), metadata);
        assert_eq!(metadata.state_size(), 103);
        assert_eq!(metadata.files(), vec![StateFile::Exclusive("op0-0.state".into())]);
    }

    /// A `_metadata` file of `version` around `body`.
    fn framed(version: u16, body: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&version.to_le_bytes());
        bytes.extend_from_slice(&0u16.to_le_bytes());
        bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
        bytes.extend_from_slice(body);
        let crc = crc32c::crc32c(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// The body of versions 1-3, field for field.
    #[derive(Serialize)]
    struct OldBody<'a> {
        job_id: &'a str,
        job_name: &'a str,
        checkpoint_id: u64,
        trigger_time_ms: u64,
        completion_time_ms: u64,
        end_of_input: bool,
        graph: &'a GraphFingerprint,
        source: u64,
        operators: &'a [OperatorSnapshot],
        sink_staged: &'a [String],
    }

    fn old_body(m: &CheckpointMetadata) -> OldBody<'_> {
        OldBody {
            job_id: &m.job_id,
            job_name: &m.job_name,
            checkpoint_id: m.checkpoint_id,
            trigger_time_ms: m.trigger_time_ms,
            completion_time_ms: m.completion_time_ms,
            end_of_input: m.end_of_input,
            graph: &m.graph,
            source: 4096,
            operators: &m.operators,
            sink_staged: &m.sinks[0].staged,
        }
    }

    #[test]
    fn older_versions_still_read() {
        let mut metadata = sample();
        // Version 1: no statistics; versions 1 and 2: no lineage, so every
        // id up to theirs. The one source and sink become the chain's.
        metadata.stats = None;
        let v1 = framed(1, &postcard::to_allocvec(&old_body(&metadata)).unwrap());
        let legacy = CheckpointMetadata { lineage: vec![(0, 7)], ..metadata.clone() };
        assert_eq!(CheckpointMetadata::decode(&v1).unwrap(), legacy);
        let with_stats = sample();
        let v2 = framed(2, &postcard::to_allocvec(&(old_body(&with_stats), &with_stats.stats)).unwrap());
        assert_eq!(CheckpointMetadata::decode(&v2).unwrap().stats, with_stats.stats);
        let v3 = framed(
            3,
            &postcard::to_allocvec(&(old_body(&with_stats), &with_stats.stats, &with_stats.lineage)).unwrap(),
        );
        assert_eq!(CheckpointMetadata::decode(&v3).unwrap(), with_stats);
        // Version 4 keeps everything, several sources and sinks included.
        assert!(with_stats.stats.is_some());
        assert_eq!(CheckpointMetadata::decode(&with_stats.encode()).unwrap(), with_stats);
    }

    #[test]
    fn lineages_extend_and_merge() {
        assert_eq!(extend_lineage(&[], 1, 4), [(1, 4)]);
        assert_eq!(extend_lineage(&[(1, 4)], 5, 9), [(1, 9)]);
        assert_eq!(extend_lineage(&[(1, 4)], 8, 9), [(1, 4), (8, 9)]);
        assert!(in_lineage(&[(1, 4), (8, 9)], 8) && !in_lineage(&[(1, 4), (8, 9)], 5));
    }

    #[test]
    fn bytes_after_the_body_are_refused_and_sizes_saturate() {
        // Found by the fuzzer: extra bytes inside a valid frame and CRC.
        let metadata = sample();
        let mut body = postcard::to_allocvec(&(&metadata, &metadata.stats, &metadata.lineage)).unwrap();
        body.push(0);
        let bytes = framed(FORMAT_VERSION, &body);
        assert!(
            matches!(CheckpointMetadata::decode(&bytes), Err(MetadataError::Malformed(m)) if m.contains("after the body"))
        );

        let mut huge = sample();
        for chunk in huge.operators[0].subtasks[0].chunks.iter_mut() {
            chunk.data =
                ChunkData::File { file: StateFile::Exclusive("f".into()), offset: 0, len: u64::MAX, crc32c: 0 };
        }
        assert_eq!(huge.state_size(), u64::MAX);
    }

    #[test]
    fn unknown_version_is_refused_by_number() {
        let mut bytes = sample().encode();
        bytes[8] = 9;
        let err = CheckpointMetadata::decode(&bytes).unwrap_err();
        assert_eq!(err, MetadataError::UnknownVersion(9));
        assert!(err.to_string().contains("version 9"), "{err}");
    }

    #[test]
    fn damage_is_refused() {
        let good = sample().encode();
        assert_eq!(CheckpointMetadata::decode(b"garbage!garbage!garbage!").unwrap_err(), MetadataError::BadMagic);
        for cut in 0..good.len() {
            assert!(CheckpointMetadata::decode(&good[..cut]).is_err(), "accepted a file cut at {cut}");
        }
        for position in [HEADER_LEN, good.len() / 2, good.len() - 5] {
            let mut flipped = good.clone();
            flipped[position] ^= 0x10;
            assert!(
                matches!(CheckpointMetadata::decode(&flipped), Err(MetadataError::Checksum { .. })),
                "bit flip at {position} not detected"
            );
        }
    }

    #[test]
    fn references_outside_the_job_directory_are_refused() {
        for bad in ["../other/op0.state", "/etc/passwd", "s3://other-bucket/x", "a/b", "..", ".hidden", ""] {
            let mut metadata = sample();
            metadata.operators[0].subtasks[0].chunks[1].data =
                ChunkData::File { file: StateFile::Exclusive(bad.into()), offset: 0, len: 1, crc32c: 0 };
            let err = CheckpointMetadata::decode(&metadata.encode()).unwrap_err();
            assert_eq!(err, MetadataError::BadReference(bad.into()));
        }
    }
}
