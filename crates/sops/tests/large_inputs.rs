//! Large inputs cost time in proportion to their size, whatever their shape: a committer
//! controls the files a repository holds, and one slow file stalls every command that reads it.
//!
//! Each shape is parsed and written back at two sizes, four times apart. Linear work takes
//! about four times as long on the larger input; a step that re-scans what it already read
//! (a quadratic one) takes sixteen. The bound below (ten) is generous so that a loaded machine
//! does not fail the test, and still far below what a quadratic step would need. The shapes are
//! checked one after the other in a single test (in parallel they would slow each other down
//! unevenly), and the two sizes are timed in alternation, best of three runs each, which
//! filters out pauses caused by other processes.

use std::time::{Duration, Instant};

use secrets_sops::{stores, Format};

/// Entries in the smaller input of each shape.
const SMALL: usize = 4_000;
/// The larger input is this many times bigger.
const FACTOR: usize = 4;
/// Time ratio allowed between the two sizes (linear: FACTOR; quadratic: FACTOR²).
const MAX_RATIO: f64 = 10.0;

fn run_once(input: &str, format: Format) -> Duration {
    let start = Instant::now();
    let doc = secrets_sops::parse_plain(input.as_bytes(), format).expect("the generated input parses");
    let out = stores::store(format).emit_plain(&doc).expect("the parsed input is written back");
    assert!(!out.is_empty());
    start.elapsed()
}

fn assert_linear(shape: &str, format: Format, make: fn(usize) -> String) {
    let small = make(SMALL);
    let large = make(SMALL * FACTOR);
    let (mut t_small, mut t_large) = (Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        t_small = t_small.min(run_once(&small, format));
        t_large = t_large.min(run_once(&large, format));
    }
    // Below a millisecond the clock says little; such inputs are fast enough anyway.
    let ratio = t_large.as_secs_f64() / t_small.as_secs_f64().max(0.001);
    assert!(
        ratio < MAX_RATIO,
        "{shape}: {} bytes took {t_small:?}, {} bytes took {t_large:?} (ratio {ratio:.1}, linear is {FACTOR})",
        small.len(),
        large.len()
    );
}

#[test]
fn parsing_and_writing_take_linear_time() {
    assert_linear("many keys", Format::Yaml, |n| (0..n).map(|i| format!("key{i}: value{i}\n")).collect());
    assert_linear("many comments", Format::Yaml, |n| (0..n).map(|i| format!("# note {i}\nk{i}: v\n")).collect());
    assert_linear("nesting", Format::Yaml, |n| {
        (0..n / 8)
            .map(|i| {
                let mut block: String = (0..8).map(|d| format!("{}n{i}_{d}:\n", "    ".repeat(d))).collect();
                block.push_str(&format!("{}leaf: {i}\n", "    ".repeat(8)));
                block
            })
            .collect()
    });
    assert_linear("long list", Format::Yaml, |n| {
        let mut s = String::from("items:\n");
        s.extend((0..n).map(|i| format!("    - item{i}\n")));
        s
    });
    // A flow list on one line: positions on a line must not be counted from its start each time.
    assert_linear("one long line", Format::Yaml, |n| {
        let items: Vec<String> = (0..n).map(|i| format!("item{i}")).collect();
        format!("items: [{}]\n", items.join(", "))
    });
    assert_linear("one long value", Format::Yaml, |n| {
        let mut s = String::from("blob: |\n");
        s.extend((0..n).map(|i| format!("    line {i} of a long block of text\n")));
        s
    });
    assert_linear("json many keys", Format::Json, |n| {
        let items: Vec<String> = (0..n).map(|i| format!("\"key{i}\": \"value{i}\"")).collect();
        format!("{{{}}}", items.join(",\n"))
    });
}
