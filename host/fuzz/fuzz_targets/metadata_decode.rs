//! `CheckpointMetadata::decode` on untrusted bytes: it never panics, never
//! allocates from a length it has not checked (libFuzzer's
//! `-malloc_limit_mb`), and whatever it accepts round-trips and names only
//! valid files.
//!
//! The first input byte picks a mode, so that the fuzzer also gets past the
//! CRC-32C (which it cannot forge by mutation):
//! - 0: the rest is a whole `_metadata` file;
//! - 1: the rest is a postcard body, framed here with a valid header and
//!   checksum;
//! - 2: the rest drives a generator of metadata, which must round-trip.

#![no_main]

use libfuzzer_sys::arbitrary::{Result as ArbitraryResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use weir_host::checkpoint::metadata::{
    CheckpointMetadata, ChunkData, ChunkRef, FORMAT_VERSION, GraphFingerprint, KindTag, MAGIC, MetadataError,
    OperatorFingerprint, OperatorSnapshot, SinkSnapshot, SourcePosition, StateFile, SubtaskSnapshot,
    is_valid_file_name,
};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 3 {
        0 => check_decode(rest),
        1 => check_decode(&frame(rest)),
        _ => {
            if let Ok(metadata) = generate(&mut Unstructured::new(rest)) {
                check_round_trip(metadata);
            }
        }
    }
});

fn check_decode(bytes: &[u8]) {
    if let Ok(metadata) = CheckpointMetadata::decode(bytes) {
        for file in metadata.files() {
            assert!(is_valid_file_name(file.name()), "accepted file name {:?}", file.name());
        }
        for name in &metadata.sink.staged {
            assert!(is_valid_file_name(name), "accepted staged name {name:?}");
        }
        // Sums untrusted lengths: must saturate, never overflow.
        let _ = metadata.state_size();
        assert_eq!(CheckpointMetadata::decode(&metadata.encode()).as_ref(), Ok(&metadata));
    }
}

/// `body` inside a valid header and trailer.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(body);
    let crc = crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Bitwise CRC-32C (Castagnoli, reflected), as the `crc32c` crate computes
/// it; slow but dependency-free.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

fn check_round_trip(metadata: CheckpointMetadata) {
    let names_valid = metadata.files().iter().all(|f| is_valid_file_name(f.name()))
        && metadata.sink.staged.iter().all(|n| is_valid_file_name(n));
    match CheckpointMetadata::decode(&metadata.encode()) {
        Ok(decoded) => {
            assert!(names_valid, "accepted an invalid file name");
            assert_eq!(decoded, metadata);
        }
        Err(MetadataError::BadReference(name)) => {
            assert!(!names_valid, "refused the valid name {name:?}");
            assert!(!is_valid_file_name(&name));
        }
        Err(e) => panic!("decode(encode(m)) failed: {e}"),
    }
}

/// Mostly valid file names, sometimes anything.
fn file_name(u: &mut Unstructured<'_>) -> ArbitraryResult<String> {
    if u.ratio(1, 8)? {
        return u.arbitrary();
    }
    const CHARS: &[u8] = b"abcxyzAZ09._-";
    let len = u.int_in_range(1..=12)?;
    (0..len).map(|_| Ok(char::from(*u.choose(CHARS)?))).collect()
}

fn generate(u: &mut Unstructured<'_>) -> ArbitraryResult<CheckpointMetadata> {
    let operators = (0..u.int_in_range(0..=3)?)
        .map(|_| {
            Ok(OperatorSnapshot {
                name: u.arbitrary()?,
                subtasks: (0..u.int_in_range(0..=3)?)
                    .map(|_| {
                        Ok(SubtaskSnapshot {
                            subtask: u.arbitrary()?,
                            chunks: (0..u.int_in_range(0..=3)?).map(|_| chunk(u)).collect::<ArbitraryResult<_>>()?,
                        })
                    })
                    .collect::<ArbitraryResult<_>>()?,
            })
        })
        .collect::<ArbitraryResult<_>>()?;
    let fingerprints = (0..u.int_in_range(0..=3)?)
        .map(|_| {
            Ok(OperatorFingerprint {
                name: u.arbitrary()?,
                component_sha256: u.arbitrary()?,
                parallelism: u.arbitrary()?,
                key_by: u.arbitrary()?,
            })
        })
        .collect::<ArbitraryResult<_>>()?;
    Ok(CheckpointMetadata {
        job_id: u.arbitrary()?,
        job_name: u.arbitrary()?,
        checkpoint_id: u.arbitrary()?,
        trigger_time_ms: u.arbitrary()?,
        completion_time_ms: u.arbitrary()?,
        end_of_input: u.arbitrary()?,
        graph: GraphFingerprint { max_parallelism: u.arbitrary()?, operators: fingerprints },
        source: SourcePosition { position: u.arbitrary()? },
        operators,
        sink: SinkSnapshot {
            staged: (0..u.int_in_range(0..=3)?).map(|_| file_name(u)).collect::<ArbitraryResult<_>>()?,
        },
        stats: None,
    })
}

fn chunk(u: &mut Unstructured<'_>) -> ArbitraryResult<ChunkRef> {
    let kind = *u.choose(&[
        KindTag::KeyedValue,
        KindTag::KeyedMap,
        KindTag::KeyedList,
        KindTag::OperatorValue,
        KindTag::OperatorList,
    ])?;
    let data = if u.arbitrary()? {
        ChunkData::Inline(u.arbitrary()?)
    } else {
        let name = file_name(u)?;
        ChunkData::File {
            file: if u.arbitrary()? { StateFile::Exclusive(name) } else { StateFile::Shared(name) },
            offset: u.arbitrary()?,
            len: u.arbitrary()?,
            crc32c: u.arbitrary()?,
        }
    };
    Ok(ChunkRef { handle: u.arbitrary()?, kind, key_group: u.arbitrary()?, data })
}
