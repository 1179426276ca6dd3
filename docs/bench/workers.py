"""Gunicorn's default worker count by measurement (issue 16 item 1), and Granian beside it.

Paired, alternating runs on one machine: each round starts `tandem serve --mode split` once per variant
(port 0, loopback, access log off), loads GET /whoami (a JSON view) through nginx with
``wrk -t1 -c32 -d10s``, stops it, and goes on to the next variant; rounds repeat so a neighbour's load
hits every variant alike. Prints each run's req/s and, per variant, the median and the spread (min-max).

    cd example && ../.venv/bin/python ../docs/bench/workers.py --rounds 3
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = {
    "gunicorn -w2": ("--workers", "2"),
    "gunicorn -w4 (2 x cores)": ("--workers", "4"),
    "gunicorn -w2 --threads 4": ("--workers", "2", "--threads", "4"),
    "granian -w2": ("--http-server", "granian", "--workers", "2"),
}
READY = re.compile(r"Ready: (http://\S+)")


def run_one(args: tuple[str, ...], duration: int, path: str) -> float:
    tandem = str(Path(sys.executable).with_name("tandem"))
    proc = subprocess.Popen(
        [tandem, "serve", "--mode", "split", "--port", "0", "--no-access-log", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = ""
    deadline = time.monotonic() + 90
    assert proc.stdout is not None
    for line in proc.stdout:
        match = READY.search(line)
        if match:
            url = match.group(1)
            break
        if time.monotonic() > deadline:
            break
    try:
        if not url:
            raise SystemExit("tandem never printed Ready")
        subprocess.run(
            ["wrk", "-t1", "-c32", "-d2s", url + path.lstrip("/")], capture_output=True, check=False
        )
        out = subprocess.run(
            ["wrk", "-t1", "-c32", f"-d{duration}s", url + path.lstrip("/")],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        found = re.search(r"Requests/sec:\s+([\d.]+)", out)
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if errors:
            print(f"  ({errors.group(1)} non-2xx)", file=sys.stderr)
        return float(found.group(1)) if found else 0.0
    finally:
        proc.terminate()
        proc.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--path", default="/whoami")
    parser.add_argument("--only", action="append", default=[])
    args = parser.parse_args()
    names = [n for n in VARIANTS if not args.only or any(o in n for o in args.only)]
    results: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(args.rounds):
        order = names if round_ % 2 == 0 else list(reversed(names))
        for name in order:
            rate = run_one(VARIANTS[name], args.duration, args.path)
            results[name].append(rate)
            print(f"round {round_ + 1}: {name}: {rate:.0f} req/s", flush=True)
    print(f"\nwrk -t1 -c32 -d{args.duration}s {args.path} through nginx, {args.rounds} paired rounds:")
    for name, rates in results.items():
        print(
            f"  {name:28} median {statistics.median(rates):7.0f} req/s  (min {min(rates):.0f}, max {max(rates):.0f})"
        )


if __name__ == "__main__":
    main()
