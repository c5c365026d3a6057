//! Retention: which checkpoints survive the end of a job. The host enforces
//! it; a guest has no say.
//!
//! | retention                   | subsumed | job finishes | job cancelled | job fails |
//! |-----------------------------|----------|--------------|---------------|-----------|
//! | `no-externalized` (default) | deleted  | deleted      | deleted       | deleted   |
//! | `delete-on-cancellation`    | deleted  | deleted      | deleted       | kept      |
//! | `retain-on-cancellation`    | deleted  | deleted      | kept          | kept      |
//!
//! "Subsumed" means older than the newest `num_retained` complete
//! checkpoints while the job runs. A process that dies (kill -9, power loss)
//! deletes nothing.

/// The retention policy of a job (`retention` in `[checkpoint]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Retention {
    #[default]
    NoExternalized,
    DeleteOnCancellation,
    RetainOnCancellation,
}

/// How a job ended, as far as retention is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEnd {
    Finished,
    Cancelled,
    Failed,
    /// Not an end: an attempt failed and the job restarts from its
    /// checkpoints, so every one of them is kept.
    Restarting,
}

impl Retention {
    pub const NAMES: [&'static str; 3] = ["no-externalized", "delete-on-cancellation", "retain-on-cancellation"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "no-externalized" => Some(Retention::NoExternalized),
            "delete-on-cancellation" => Some(Retention::DeleteOnCancellation),
            "retain-on-cancellation" => Some(Retention::RetainOnCancellation),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Retention::NoExternalized => Self::NAMES[0],
            Retention::DeleteOnCancellation => Self::NAMES[1],
            Retention::RetainOnCancellation => Self::NAMES[2],
        }
    }

    /// Whether the job's checkpoints are kept when it ends this way.
    pub fn keeps_checkpoints(self, end: JobEnd) -> bool {
        match (self, end) {
            (_, JobEnd::Restarting) => true,
            (_, JobEnd::Finished) => false,
            (Retention::NoExternalized, _) => false,
            (Retention::DeleteOnCancellation, JobEnd::Cancelled) => false,
            (Retention::DeleteOnCancellation, JobEnd::Failed) => true,
            (Retention::RetainOnCancellation, _) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_of_the_design() {
        use JobEnd::*;
        let table = [
            (Retention::NoExternalized, [false, false, false]),
            (Retention::DeleteOnCancellation, [false, false, true]),
            (Retention::RetainOnCancellation, [false, true, true]),
        ];
        for (retention, kept) in table {
            let got = [Finished, Cancelled, Failed].map(|end| retention.keeps_checkpoints(end));
            assert_eq!(got, kept, "{}", retention.name());
            assert_eq!(Retention::parse(retention.name()), Some(retention));
        }
        assert_eq!(Retention::parse("retain"), None);
    }
}
