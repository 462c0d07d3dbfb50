#!/usr/bin/env python3
"""Per-kernel time of one decode step, from Nsight Compute's raw CSV.

Usage: scripts/decode_step_kernels.py NCU.csv [--layers N]

NCU.csv is what scripts/gpu-decode-profile.sh writes (ncu --csv --page raw with
gpu__time_duration.sum). Decode steps of one shape launch the same kernels in the same order, so
the step is the shortest period with which the tail of the launch sequence repeats; the table sums
each kernel (by name and grid) over one period, largest first. With --layers N, a column gives the
microseconds a layer (the sum over the step divided by N) for reading against a layer's budget.
"""
import argparse
import collections
import csv
import re
import sys


def launches(path):
    rows = list(csv.reader(open(path, newline="")))
    try:
        header_at = next(i for i, r in enumerate(rows) if "Kernel Name" in r)
    except StopIteration:
        sys.exit(f"{path}: no 'Kernel Name' column: is it ncu --csv --page raw output?")
    header = rows[header_at]
    for column in ("Kernel Name", "gpu__time_duration.sum", "Grid Size"):
        if column not in header:
            sys.exit(f"{path}: no '{column}' column (profile with --metrics gpu__time_duration.sum)")
    name, time, grid = (header.index(c) for c in ("Kernel Name", "gpu__time_duration.sum", "Grid Size"))
    unit = rows[header_at + 1][time] if header_at + 1 < len(rows) else ""
    scale = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3}.get(unit.strip(), None)
    if scale is None:
        sys.exit(f"{path}: unknown time unit '{unit}' (expected ns, us or ms)")
    out = []
    for r in rows[header_at + 2:]:
        if len(r) <= max(name, time, grid):
            continue
        try:
            microseconds = float(r[time].replace(",", "")) * scale
        except ValueError:
            continue
        out.append((re.sub(r"\(.*", "", r[name]).strip(), r[grid], microseconds))
    return out


def step_period(keys):
    """The shortest p for which the last 2p launches are one sequence of p twice."""
    for p in range(1, len(keys) // 2 + 1):
        if keys[-p:] == keys[-2 * p:-p]:
            return p
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    parser.add_argument("--layers", type=int, default=0, help="layers a step runs, for a per-layer column")
    args = parser.parse_args()
    runs = launches(args.csv)
    keys = [(n, g) for n, g, _ in runs]
    period = step_period(keys)
    if period is None:
        sys.exit(f"{args.csv}: {len(runs)} launches and no repeating step: profile at least two decode steps")
    step = runs[-period:]
    total = sum(t for _, _, t in step)
    per_kernel = collections.OrderedDict()
    for n, g, t in step:
        count, time = per_kernel.get((n, g), (0, 0.0))
        per_kernel[(n, g)] = (count + 1, time + t)
    print(f"one step: {period} launches, {total:.1f} us of kernels one at a time")
    layer_column = f"{'us/layer':>9} " if args.layers else ""
    print(f"{'us/step':>9} {layer_column}{'launches':>8} {'us each':>8}  kernel [grid]")
    for (n, g), (count, time) in sorted(per_kernel.items(), key=lambda kv: -kv[1][1]):
        layer = f"{time / args.layers:9.2f} " if args.layers else ""
        print(f"{time:9.1f} {layer}{count:8d} {time / count:8.2f}  {n} {g}")


if __name__ == "__main__":
    main()
