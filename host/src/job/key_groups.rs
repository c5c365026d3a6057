//! Key groups: keys are hashed into `max_parallelism` key groups by the
//! host alone (guests only receive the result), and each subtask of a keyed
//! operator owns a contiguous range of key groups. The formulas are Flink's
//! (`KeyGroupRangeAssignment`), so rescaling a job is a re-assignment of
//! ranges. They must never change: checkpointed state is tagged by key group.

use std::ops::Range;

/// The key group of `key`: XXH3-64 (seed 0) of the key bytes, modulo
/// `max_parallelism`.
#[inline]
pub fn key_group_of(key: &[u8], max_parallelism: u32) -> u16 {
    (xxhash_rust::xxh3::xxh3_64(key) % u64::from(max_parallelism)) as u16
}

/// The subtask (of `parallelism`) that owns `key_group`.
#[inline]
pub fn subtask_for_key_group(key_group: u16, parallelism: u32, max_parallelism: u32) -> u32 {
    // At most 32767 * 32768: no overflow.
    u32::from(key_group) * parallelism / max_parallelism
}

/// The key groups owned by `subtask` (of `parallelism`): a contiguous,
/// possibly empty range; the ranges of all subtasks partition
/// `0..max_parallelism`.
pub fn key_group_range(subtask: u32, parallelism: u32, max_parallelism: u32) -> Range<u16> {
    let (subtask, parallelism, max) = (u64::from(subtask), u64::from(parallelism), u64::from(max_parallelism));
    let start = (subtask * max).div_ceil(parallelism);
    let end = ((subtask + 1) * max - 1) / parallelism + 1;
    start as u16..end.max(start) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_partition_the_key_groups_and_agree_with_the_owner() {
        for max in [1u32, 7, 128, 1000] {
            for parallelism in 1..=max.min(40) {
                let mut next = 0u16;
                for subtask in 0..parallelism {
                    let range = key_group_range(subtask, parallelism, max);
                    assert_eq!(range.start, next, "max {max} p {parallelism} subtask {subtask}");
                    for kg in range.clone() {
                        assert_eq!(subtask_for_key_group(kg, parallelism, max), subtask);
                    }
                    next = range.end;
                }
                assert_eq!(u32::from(next), max);
            }
        }
    }

    #[test]
    fn key_groups_are_stable() {
        // Checkpoints depend on these never changing.
        assert_eq!(key_group_of(b"", 128), (0x2D06800538D394C2u64 % 128) as u16);
        assert_eq!(key_group_of(b"hello", 128), key_group_of(b"hello", 128));
        let spread: std::collections::HashSet<u16> =
            (0..1000).map(|i| key_group_of(format!("key-{i}").as_bytes(), 128)).collect();
        assert!(spread.len() > 100, "keys cluster in {} key groups", spread.len());
    }
}
