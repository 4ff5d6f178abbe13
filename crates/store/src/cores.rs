//! Work spread over every core only when there is more than one piece of it.
//!
//! The first parallel call of a process starts rayon's thread pool: a thread per core, and the
//! reading of the cgroup files that say how many cores there are (a few hundred microseconds).
//! A change of one file (`secrets set`) pays that for nothing, so a single item is handled on
//! the calling thread.

use rayon::prelude::*;

/// `f(0)`, …, `f(n - 1)` in order, computed on every core when `n` is 2 or more.
pub(crate) fn map_each<R: Send>(n: usize, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    if n < 2 {
        (0..n).map(f).collect()
    } else {
        (0..n).into_par_iter().map(f).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_order_whatever_the_count() {
        for n in [0, 1, 2, 100] {
            assert_eq!(map_each(n, |i| i * 2), (0..n).map(|i| i * 2).collect::<Vec<_>>());
        }
    }
}
