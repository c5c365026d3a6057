//! [`OperatorInfo`]: who this operator instance is (name, subtask, key
//! groups) and its configuration from the job file.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::ops::Range;
use std::str::FromStr;

use crate::{Error, Result};

/// The number of key groups when a job file does not set `max_parallelism`:
/// the host's default, and what [`OperatorInfo::new`] assumes.
pub const DEFAULT_MAX_PARALLELISM: u32 = 128;

/// Who this instance is, as the host described it to `init`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorInfo {
    name: String,
    subtask_index: u32,
    parallelism: u32,
    max_parallelism: u32,
    key_groups: Option<Range<u16>>,
    config: BTreeMap<String, String>,
}

impl OperatorInfo {
    /// Subtask 0 of 1, owning every key group of [`DEFAULT_MAX_PARALLELISM`],
    /// with no configuration. Change it with the `with_*` methods (useful
    /// with [`testing::Harness`](crate::testing::Harness)).
    pub fn new(name: impl Into<String>) -> Self {
        OperatorInfo {
            name: name.into(),
            subtask_index: 0,
            parallelism: 1,
            max_parallelism: DEFAULT_MAX_PARALLELISM,
            key_groups: Some(0..DEFAULT_MAX_PARALLELISM as u16),
            config: BTreeMap::new(),
        }
    }

    /// Sets the subtask index and the operator's parallelism.
    pub fn with_subtask(mut self, subtask_index: u32, parallelism: u32) -> Self {
        self.subtask_index = subtask_index;
        self.parallelism = parallelism;
        self
    }

    /// Sets the number of key groups (does not change [`Self::key_groups`]).
    pub fn with_max_parallelism(mut self, max_parallelism: u32) -> Self {
        self.max_parallelism = max_parallelism;
        self
    }

    /// Sets the key groups this subtask owns; `None` for an unkeyed input.
    pub fn with_key_groups(mut self, key_groups: Option<Range<u16>>) -> Self {
        self.key_groups = key_groups;
        self
    }

    /// Adds one entry of the `[operators.config]` table.
    pub fn with_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.insert(key.into(), value.into());
        self
    }

    /// The operator's name in the job file.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This subtask's index, from 0 to `parallelism() - 1`.
    pub fn subtask_index(&self) -> u32 {
        self.subtask_index
    }

    /// The number of parallel subtasks of this operator.
    pub fn parallelism(&self) -> u32 {
        self.parallelism
    }

    /// The number of key groups keys are hashed into.
    pub fn max_parallelism(&self) -> u32 {
        self.max_parallelism
    }

    /// The key groups this subtask owns (`start` inclusive, `end` exclusive);
    /// `None` when the operator's input is not keyed.
    pub fn key_groups(&self) -> Option<Range<u16>> {
        self.key_groups.clone()
    }

    /// One entry of the operator's `[operators.config]` table.
    pub fn config(&self, key: &str) -> Option<&str> {
        self.config.get(key).map(String::as_str)
    }

    /// One config entry parsed with `FromStr`: `Ok(None)` when absent, an
    /// error naming the key and the text when it does not parse.
    ///
    /// ```
    /// # use weir_guest::OperatorInfo;
    /// let info = OperatorInfo::new("op").with_config("window", "10").with_config("bad", "x");
    /// assert_eq!(info.parse_config::<u32>("window")?, Some(10));
    /// assert_eq!(info.parse_config::<u32>("missing")?, None);
    /// assert!(info.parse_config::<u32>("bad").unwrap_err().to_string().contains("config `bad`"));
    /// # Ok::<(), weir_guest::Error>(())
    /// ```
    pub fn parse_config<T>(&self, key: &str) -> Result<Option<T>>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.config(key)
            .map(|text| text.parse().map_err(|e| Error::msg(format!("config `{key}` = {text:?} is not valid: {e}"))))
            .transpose()
    }

    /// Every config entry, sorted by key.
    pub fn config_entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.config.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}
