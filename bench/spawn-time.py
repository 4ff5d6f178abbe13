"""Mean wall time, in milliseconds, of starting a command and waiting for it, over RUNS runs.

    python3 bench/spawn-time.py RUNS COMMAND [ARG...]

Each run is a fresh process started with posix_spawn (the cheapest way to start one), its
stdout sent to /dev/null; a first run warms the caches and is not counted. A failing run
stops the measurement.
"""

import os
import sys
import time


def main() -> None:
    runs = int(sys.argv[1])
    argv = sys.argv[2:]
    null = os.open(os.devnull, os.O_WRONLY)
    actions = [(os.POSIX_SPAWN_DUP2, null, 1)]

    def once() -> None:
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
        if os.waitpid(pid, 0)[1] != 0:
            sys.exit(f"{argv[0]} failed")

    once()
    start = time.perf_counter()
    for _ in range(runs):
        once()
    print(f"{(time.perf_counter() - start) / runs * 1000:.2f}")


main()
