#!/usr/bin/env python3
"""Time whole commands taking turns, and print each one's median and the
median of its per-round ratios to the first command's time.

  bench/tools/paired.py [--rounds N] [--expect TEXT] CMD...

Each CMD is one string, split on spaces, run with stdin /dev/null and
stdout captured; every round runs each command once, the order reversed
every other round, and round 0 is a warm-up. A command that exits
non-zero, or whose stdout is not TEXT (when given; a final newline
is not compared), stops the run.
Ratios of one round's times cancel what drifts between rounds (a host's
load), which a ratio of medians does not: docs/performance.md."""
import argparse
import statistics
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=61)
    ap.add_argument("--expect")
    ap.add_argument("cmds", nargs="+")
    a = ap.parse_args()
    times = {c: [] for c in a.cmds}
    for r in range(a.rounds + 1):
        for c in (a.cmds if r % 2 == 0 else a.cmds[::-1]):
            start = time.perf_counter()
            p = subprocess.run(c.split(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
            took = time.perf_counter() - start
            if p.returncode != 0 or (a.expect is not None and
                                       p.stdout.decode().rstrip("\n") != a.expect.rstrip("\n")):
                sys.exit(f"paired.py: '{c}' exited {p.returncode} with stdout {p.stdout!r}")
            if r:
                times[c].append(took)
    for c in a.cmds:
        q = statistics.quantiles(times[c], n=4)
        print(f"{c:45} median {statistics.median(times[c]) * 1e3:.1f} ms "
              f"q1 {q[0] * 1e3:.1f} q3 {q[2] * 1e3:.1f}")
    base = a.cmds[0]
    for c in a.cmds[1:]:
        ratios = [x / y for x, y in zip(times[c], times[base])]
        q = statistics.quantiles(ratios, n=4)
        print(f"{c} / {base}: median of per-round ratios {statistics.median(ratios):.3f} "
              f"(q1 {q[0]:.3f}, q3 {q[2]:.3f})")


if __name__ == "__main__":
    main()
