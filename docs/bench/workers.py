"""Gunicorn's default worker count by measurement (issue 16 item 1), and Granian beside it.

Paired, alternating runs on one machine: each round starts `tandem serve --mode split` once per variant
(port 0, loopback, the access log on as users run it unless --no-access-log), loads GET /whoami (a JSON
view) through nginx with ``wrk -t1 -c32 -d10s``, stops it, and goes on to the next variant; rounds repeat so a neighbour's load
hits every variant alike. Prints each run's req/s and, per variant, the median and the spread (min-max).

    cd example && ../.venv/bin/python ../docs/bench/workers.py --rounds 3
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = {
    "gunicorn -w2": ("--workers", "2"),
    "gunicorn -w4 (2 x cores)": ("--workers", "4"),
    "gunicorn -w2 --threads 4": ("--workers", "2", "--threads", "4"),
    "granian -w2 (cores)": ("--http-server", "granian", "--workers", "2"),
    "granian -w4": ("--http-server", "granian", "--workers", "4"),
}
READY = re.compile(r"Ready: (http://\S+)")


def run_one(args: tuple[str, ...], duration: int, path: str, log_args: tuple[str, ...]) -> float:
    tandem = str(Path(sys.executable).with_name("tandem"))
    # tandem's output goes to a file, not a pipe: with the access log on, an undrained pipe would fill and
    # stall the server under load.
    output = tempfile.NamedTemporaryFile("w+", prefix="workers-", suffix=".log")  # noqa: SIM115
    proc = subprocess.Popen(
        [tandem, "serve", "--mode", "split", "--port", "0", *log_args, *args],
        stdout=output, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = ""
    deadline = time.monotonic() + 90
    while not url and time.monotonic() < deadline and proc.poll() is None:
        match = READY.search(Path(output.name).read_text())
        url = match.group(1) if match else ""
        if not url:
            time.sleep(0.2)  # polling tandem's output for Ready, bounded by the deadline
    try:
        if not url:
            raise SystemExit("tandem never printed Ready:\n" + Path(output.name).read_text()[-2000:])
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
        output.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--path", default="/whoami")
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument(
        "--no-access-log",
        action="store_true",
        help="turn the access log off (it is on by default, as for users)",
    )
    args = parser.parse_args()
    log_args = ("--no-access-log",) if args.no_access_log else ()
    names = [n for n in VARIANTS if not args.only or any(o in n for o in args.only)]
    results: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(args.rounds):
        order = names if round_ % 2 == 0 else list(reversed(names))
        for name in order:
            rate = run_one(VARIANTS[name], args.duration, args.path, log_args)
            results[name].append(rate)
            print(f"round {round_ + 1}: {name}: {rate:.0f} req/s", flush=True)
    log = "access log off" if args.no_access_log else "access log on"
    print(f"\nwrk -t1 -c32 -d{args.duration}s {args.path} through nginx, {log}, {args.rounds} paired rounds:")
    for name, rates in results.items():
        print(
            f"  {name:28} median {statistics.median(rates):7.0f} req/s  (min {min(rates):.0f}, max {max(rates):.0f})"
        )


if __name__ == "__main__":
    main()
