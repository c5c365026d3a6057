//! The checkpoint storage as sinks see it: a write-ahead sink's writers
//! put their staged output into `chk-<n>/` ([`JobCheckpointFiles`]), and
//! the commit of a complete checkpoint reads it back from wherever that
//! checkpoint is ([`LocationFiles`]: the job's own directory, or the one a
//! `-s` restore named). Blocking: writers run on their subtask's thread,
//! commits on a blocking thread of the I/O runtime.

use crate::error::Result;
use crate::sinks::{CheckpointFiles, StagedFiles};

use super::storage::{CheckpointLocation, CheckpointStorage};

pub(crate) struct JobCheckpointFiles {
    pub(crate) storage: CheckpointStorage,
    pub(crate) job: String,
    pub(crate) runtime: tokio::runtime::Handle,
}

impl CheckpointFiles for JobCheckpointFiles {
    fn write(&self, checkpoint_id: u64, name: &str, bytes: Vec<u8>) -> Result<()> {
        let path = self.storage.checkpoint(&self.job, checkpoint_id).dir().join(name);
        self.runtime.block_on(self.storage.put_file(&path, bytes))
    }
}

pub(crate) struct LocationFiles<'a> {
    pub(crate) location: &'a CheckpointLocation,
    pub(crate) runtime: &'a tokio::runtime::Handle,
}

impl StagedFiles for LocationFiles<'_> {
    fn read(&self, name: &str) -> Result<Vec<u8>> {
        self.runtime.block_on(self.location.storage().get(&self.location.dir().join(name)))
    }

    fn describe(&self, name: &str) -> String {
        self.location.storage().show(&self.location.dir().join(name))
    }
}
