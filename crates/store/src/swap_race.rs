//! The race the folder-descriptor tests run: a thread that keeps swapping a real folder with a
//! symlink to a folder elsewhere (as a local user racing a command would), so that a write or
//! delete done by path would sometimes land outside the repository.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use rustix::fs::{renameat_with, RenameFlags, CWD};

/// Swaps `real` and `spare` (atomically, `RENAME_EXCHANGE`) over and over until the returned
/// flag is set; the thread returns how many swaps it made.
pub(crate) fn swapping(real: PathBuf, spare: PathBuf) -> (Arc<AtomicBool>, JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut swaps = 0u64;
        while !flag.load(Ordering::Relaxed) {
            swaps += u64::from(renameat_with(CWD, &real, CWD, &spare, RenameFlags::EXCHANGE).is_ok());
        }
        swaps
    });
    (stop, thread)
}
