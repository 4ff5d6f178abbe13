//! The repository through git: who a recipient is (now or at a commit), the repository as of a
//! commit, keyless summaries of sops files (for diffs), the history of each secret, and the
//! three-way merge of sops files that git asks a merge driver for.

pub mod keyindex;
pub mod log;
pub mod merge;
pub mod snapshot;
pub mod summary;

pub use keyindex::{KeyIndex, Owner};
pub use snapshot::{GitRepo, Layout, Snapshot, ThreeWay};
