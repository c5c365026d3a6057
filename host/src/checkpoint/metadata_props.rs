//! Property tests of the `_metadata` codec: bounded smoke versions of the
//! `metadata_decode` fuzz target (`host/fuzz`), cheap enough for every test
//! run. `decode` never panics, on arbitrary bytes or on damaged encodings;
//! damage outside a re-framed body is always detected; and whatever is
//! encoded decodes to itself.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;

use super::metadata::{
    CheckpointMetadata, ChunkData, ChunkRef, FORMAT_VERSION, GraphFingerprint, KindTag, MAGIC, MetadataError,
    OperatorFingerprint, OperatorSnapshot, SinkSnapshot, SourceSnapshot, Split, StateFile, SubtaskSnapshot,
    is_valid_file_name,
};

/// A fixed number of cases (`PROPTEST_CASES` does not raise it): these
/// properties take well under a second together in the release profile.
/// Failures are not persisted (no files next to the sources).
fn config(cases: u32) -> Config {
    Config { cases, failure_persistence: None, ..Config::default() }
}

const HEADER_LEN: usize = 20;

/// `body` inside a valid header and checksum, as `encode` frames it.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len() + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(body);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The postcard body of an encoding.
fn body(encoded: &[u8]) -> &[u8] {
    &encoded[HEADER_LEN..encoded.len() - 4]
}

/// What `decode` may return for any input: an error, or metadata that names
/// only valid files and encodes back to itself.
fn check_decoded(result: Result<CheckpointMetadata, MetadataError>) -> Result<(), TestCaseError> {
    if let Ok(metadata) = result {
        for file in metadata.files() {
            prop_assert!(is_valid_file_name(file.name()), "accepted file name {:?}", file.name());
        }
        for name in metadata.sinks.iter().flat_map(|s| &s.staged) {
            prop_assert!(is_valid_file_name(name), "accepted staged name {name:?}");
        }
        prop_assert_eq!(CheckpointMetadata::decode(&metadata.encode()), Ok(metadata));
    }
    Ok(())
}

fn file_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-][A-Za-z0-9._-]{0,15}"
}

fn state_file() -> impl Strategy<Value = StateFile> {
    prop_oneof![file_name().prop_map(StateFile::Exclusive), file_name().prop_map(StateFile::Shared)]
}

fn chunk() -> impl Strategy<Value = ChunkRef> {
    let kind = prop_oneof![
        Just(KindTag::KeyedValue),
        Just(KindTag::KeyedMap),
        Just(KindTag::KeyedList),
        Just(KindTag::OperatorValue),
        Just(KindTag::OperatorList),
    ];
    let data = prop_oneof![
        vec(any::<u8>(), 0..24).prop_map(ChunkData::Inline),
        (state_file(), any::<u64>(), any::<u64>(), any::<u32>())
            .prop_map(|(file, offset, len, crc32c)| ChunkData::File { file, offset, len, crc32c }),
    ];
    (".{0,8}", kind, any::<Option<u16>>(), data).prop_map(|(handle, kind, key_group, data)| ChunkRef {
        handle,
        kind,
        key_group,
        data,
    })
}

fn operator_snapshot() -> impl Strategy<Value = OperatorSnapshot> {
    let subtask = (any::<u32>(), vec(chunk(), 0..3)).prop_map(|(subtask, chunks)| SubtaskSnapshot { subtask, chunks });
    (".{0,8}", vec(subtask, 0..3)).prop_map(|(name, subtasks)| OperatorSnapshot { name, subtasks })
}

fn fingerprint() -> impl Strategy<Value = OperatorFingerprint> {
    (".{0,8}", any::<[u8; 32]>(), any::<u32>(), any::<bool>()).prop_map(
        |(name, component_sha256, parallelism, key_by)| OperatorFingerprint {
            name,
            component_sha256,
            parallelism,
            key_by,
        },
    )
}

/// Small metadata whose file names are all valid.
fn metadata() -> impl Strategy<Value = CheckpointMetadata> {
    (
        (".{0,12}", ".{0,12}", any::<u64>(), any::<u64>(), any::<u64>(), any::<bool>()),
        (any::<u32>(), vec(fingerprint(), 0..3)),
        any::<u64>(),
        vec(operator_snapshot(), 0..3),
        vec(file_name(), 0..3),
    )
        .prop_map(
            |(
                (job_id, job_name, checkpoint_id, trigger_time_ms, completion_time_ms, end_of_input),
                (max_parallelism, operators_fp),
                position,
                operators,
                staged,
            )| CheckpointMetadata {
                job_id,
                job_name,
                checkpoint_id,
                trigger_time_ms,
                completion_time_ms,
                end_of_input,
                graph: GraphFingerprint { max_parallelism, operators: operators_fp },
                sources: vec![SourceSnapshot {
                    name: "source".into(),
                    subtasks: vec![vec![Split { next: position, end: u64::MAX }]],
                    max_timestamps: vec![i64::MIN],
                }],
                operators,
                sinks: vec![SinkSnapshot { name: "sink".into(), staged }],
                stats: None,
                lineage: vec![(0, checkpoint_id)],
            },
        )
}

/// One change to a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: Index, bit: u8 },
    Truncate { at: Index },
    Splice { at: Index, remove: usize, insert: Vec<u8> },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0..8u8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        any::<Index>().prop_map(|at| Mutation::Truncate { at }),
        (any::<Index>(), 0..16usize, vec(any::<u8>(), 0..16)).prop_map(|(at, remove, insert)| Mutation::Splice {
            at,
            remove,
            insert
        }),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    if bytes.is_empty() {
        if let Mutation::Splice { insert, .. } = mutation {
            bytes.extend_from_slice(insert);
        }
        return;
    }
    match mutation {
        Mutation::Flip { at, bit } => {
            let at = at.index(bytes.len());
            bytes[at] ^= 1 << bit;
        }
        Mutation::Truncate { at } => bytes.truncate(at.index(bytes.len())),
        Mutation::Splice { at, remove, insert } => {
            let at = at.index(bytes.len());
            let end = (at + remove).min(bytes.len());
            bytes.splice(at..end, insert.iter().copied());
        }
    }
}

/// A postcard varint, as the body encodes lengths.
fn varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..256)) {
        check_decoded(CheckpointMetadata::decode(&bytes))?;
    }

    /// Past the header and checksum, straight into the body parser.
    #[test]
    fn arbitrary_framed_bodies_never_panic(body in vec(any::<u8>(), 0..256)) {
        check_decoded(CheckpointMetadata::decode(&frame(&body)))?;
    }

    #[test]
    fn generated_metadata_round_trips(metadata in metadata()) {
        prop_assert_eq!(CheckpointMetadata::decode(&metadata.encode()), Ok(metadata));
    }

    /// Damage anywhere in the file is refused (the length or the CRC-32C
    /// catches it), never a panic.
    #[test]
    fn damaged_encodings_are_refused(metadata in metadata(), mutations in vec(mutation(), 1..4)) {
        let good = metadata.encode();
        let mut bad = good.clone();
        for m in &mutations {
            mutate(&mut bad, m);
        }
        let result = CheckpointMetadata::decode(&bad);
        if bad != good {
            prop_assert!(result.is_err(), "accepted damaged bytes {:?}", mutations);
        }
        check_decoded(result)?;
    }

    /// Damage to the body under a valid frame (as a buggy or hostile writer
    /// would produce) is refused or decodes to valid metadata.
    #[test]
    fn damaged_bodies_never_panic(metadata in metadata(), mutations in vec(mutation(), 1..4)) {
        let mut bad = body(&metadata.encode()).to_vec();
        for m in &mutations {
            mutate(&mut bad, m);
        }
        check_decoded(CheckpointMetadata::decode(&frame(&bad)))?;
    }

    /// A name outside the allowed alphabet anywhere is refused by name.
    #[test]
    fn invalid_file_names_are_refused(metadata in metadata(), bad in "|\\.[a-z.]{0,6}|[a-z.]{0,4}[/:\\\\ %~*\u{e9}][a-z./]{0,4}|[a-z]{201,210}", staged in any::<bool>()) {
        prop_assert!(!is_valid_file_name(&bad));
        let mut metadata = metadata;
        if staged || metadata.chunks().next().is_none() {
            metadata.sinks[0].staged.push(bad.clone());
        } else {
            let chunk = &mut metadata.operators.iter_mut().flat_map(|o| o.subtasks.iter_mut()).flat_map(|s| s.chunks.iter_mut()).next().unwrap();
            chunk.data = ChunkData::File { file: StateFile::Shared(bad.clone()), offset: 0, len: 1, crc32c: 0 };
        }
        prop_assert_eq!(CheckpointMetadata::decode(&metadata.encode()), Err(MetadataError::BadReference(bad)));
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// A body declaring a string or collection far larger than the bytes
    /// present is refused without allocating from the declared length (an
    /// allocation of that size would abort the test process).
    #[test]
    fn huge_declared_lengths_are_refused(metadata in metadata(), field in 0..4usize, declared in (1u64 << 40)..u64::MAX) {
        let m = &metadata;
        // Postcard encodes a struct as its fields in order, so a tuple of
        // the leading fields is a prefix of the body.
        let mut bad = match field {
            // job_id, a string.
            0 => Vec::new(),
            // graph.operators, a sequence.
            1 => postcard::to_allocvec(&(&m.job_id, &m.job_name, m.checkpoint_id, m.trigger_time_ms,
                m.completion_time_ms, m.end_of_input, m.graph.max_parallelism)).unwrap(),
            // operators, a sequence.
            2 => postcard::to_allocvec(&(&m.job_id, &m.job_name, m.checkpoint_id, m.trigger_time_ms,
                m.completion_time_ms, m.end_of_input, &m.graph, &m.sources)).unwrap(),
            // sinks, a sequence.
            _ => postcard::to_allocvec(&(&m.job_id, &m.job_name, m.checkpoint_id, m.trigger_time_ms,
                m.completion_time_ms, m.end_of_input, &m.graph, &m.sources, &m.operators)).unwrap(),
        };
        varint(declared, &mut bad);
        bad.extend_from_slice(b"xyz");
        prop_assert!(CheckpointMetadata::decode(&frame(&bad)).is_err());
    }
}
