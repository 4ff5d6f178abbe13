"""Paired, interleaved wall-time comparison of two commands.

    python3 bench/paired.py RUNS [--setup 'SHELL'] -- A [ARG...] -- B [ARG...]

Runs A and B RUNS times each, one pair after the other, alternating which goes first (A B,
B A, A B, ...), so that a machine growing busier or quieter affects both alike. Prints one line:

    median_a_ms median_b_ms median_ratio min_ratio

where a ratio is A's time over B's within one pair (above 1: B is faster). Each run is a fresh
process started with posix_spawn, its stdout sent to /dev/null; one unmeasured pair warms the
caches first. `--setup` runs a shell command (not timed) before every run, for commands that
change what they work on. A failing run stops the comparison.
"""

import os
import statistics
import subprocess
import sys
import time


def split(argv):
    runs = int(argv[0])
    rest = argv[1:]
    setup = None
    if rest[:1] == ["--setup"]:
        setup, rest = rest[1], rest[2:]
    if rest[:1] != ["--"] or rest.count("--") != 2:
        sys.exit("usage: paired.py RUNS [--setup 'SHELL'] -- A [ARG...] -- B [ARG...]")
    second = rest.index("--", 1)
    return runs, setup, rest[1:second], rest[second + 1 :]


def main() -> None:
    runs, setup, a, b = split(sys.argv[1:])
    null = os.open(os.devnull, os.O_WRONLY)
    actions = [(os.POSIX_SPAWN_DUP2, null, 1)]

    def once(argv) -> float:
        if setup:
            subprocess.run(setup, shell=True, check=True, stdout=subprocess.DEVNULL)
        start = time.perf_counter()
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
        status = os.waitpid(pid, 0)[1]
        elapsed = time.perf_counter() - start
        if status != 0:
            sys.exit(f"{' '.join(argv)} failed")
        return elapsed * 1000

    once(a)
    once(b)
    times_a, times_b, ratios = [], [], []
    for i in range(runs):
        if i % 2 == 0:
            ta, tb = once(a), once(b)
        else:
            tb, ta = once(b), once(a)
        times_a.append(ta)
        times_b.append(tb)
        ratios.append(ta / tb)
    print(
        f"{statistics.median(times_a):.2f} {statistics.median(times_b):.2f} "
        f"{statistics.median(ratios):.2f} {min(ratios):.2f}"
    )


main()
