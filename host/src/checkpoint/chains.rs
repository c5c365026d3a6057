//! The chains of incremental checkpoints: per subtask, the chunks a restore
//! reads in order (its last full snapshot, then the deltas since, per
//! handle and key group) as of the newest complete checkpoint. Every
//! `_metadata` holds the whole chain of every subtask, so each checkpoint is
//! self-describing; the coordinator keeps the newest here and extends it
//! with each completion.

use std::collections::{BTreeMap, HashSet};

use super::metadata::SubtaskSnapshot;

/// Per (operator index, subtask): its state as of the newest complete
/// checkpoint, as the chunks a restore reads in order.
pub(crate) type Chains = BTreeMap<(usize, u32), SubtaskSnapshot>;

/// The chains once a checkpoint completes with `acks`: per subtask, its
/// snapshot and, for an incremental one, which of its chunks are deltas.
/// A full snapshot starts its chain over; an incremental one extends the
/// subtask's chain in `previous`, where a handle and key group given a full
/// chunk again starts over.
pub(crate) fn after<'a>(
    previous: &Chains,
    acks: impl Iterator<Item = ((usize, u32), Option<&'a [bool]>, &'a SubtaskSnapshot)>,
) -> Result<Chains, String> {
    let mut chains = Chains::new();
    for ((operator, subtask), deltas, snapshot) in acks {
        let Some(deltas) = deltas else {
            chains.insert((operator, subtask), snapshot.clone());
            continue;
        };
        let Some(base) = previous.get(&(operator, subtask)) else {
            // The subtask asks for incremental snapshots only after hearing
            // that its previous one completed, so this is a bug.
            return Err(format!(
                "internal error: operator {operator} subtask {subtask} sent an incremental snapshot with no \
                 complete snapshot to build on"
            ));
        };
        // A group given full chunks in this answer (there may be several,
        // e.g. restored operator-list chunks passed on) starts over.
        let replaced: HashSet<(&str, Option<u16>)> = snapshot
            .chunks
            .iter()
            .zip(deltas)
            .filter(|(_, delta)| !**delta)
            .map(|(c, _)| (c.handle.as_str(), c.key_group))
            .collect();
        let mut chain = base.clone();
        chain.chunks.retain(|c| !replaced.contains(&(c.handle.as_str(), c.key_group)));
        chain.chunks.extend(snapshot.chunks.iter().cloned());
        chains.insert((operator, subtask), chain);
    }
    Ok(chains)
}
