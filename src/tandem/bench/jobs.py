"""Runs load jobs in the worker process (``python -m tandem.bench.worker``), bounded and always reaped."""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import sys
import threading
import time
from typing import IO, Any

WORKER = [sys.executable, "-m", "tandem.bench.worker"]


class JobFailed(Exception):
    """The load job could not produce its figure; the message says why in one line."""


def _result(line: str) -> dict[str, Any]:
    try:
        payload = json.loads(line)
    except ValueError:
        raise JobFailed(f"the load generator printed something unexpected: {line[:200]!r}") from None
    if not payload.get("ok"):
        raise JobFailed(str(payload.get("error") or "the load generator failed"))
    result: dict[str, Any] = payload["result"]
    return result


def run_job(job: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One job to completion; killed after ``timeout`` seconds (subprocess.run kills on any exception)."""
    try:
        done = subprocess.run(
            WORKER, input=json.dumps(job) + "\n", capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise JobFailed(f"the {job['kind']} load did not finish within {timeout:.0f} s") from None
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if not lines:
        tail = " ".join(done.stderr.strip().splitlines()[-1:])
        raise JobFailed(f"the load generator exited with code {done.returncode}: {tail or 'no output'}")
    return _result(lines[-1])


class HeldJob:
    """A job that reports a first line, holds its connections, and finishes when released."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(
            WORKER,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            if line.strip():
                self.lines.put(line.strip())
        self.lines.put(None)

    def next_line(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        try:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise JobFailed(f"the load generator said nothing within {timeout:.0f} s") from None
        if line is None:
            raise JobFailed(f"the load generator exited with code {self.proc.wait(timeout=5)}")
        payload: dict[str, Any] = json.loads(line)
        if payload.get("ok") is False:
            raise JobFailed(str(payload.get("error")))
        return payload

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()

    def release(self, timeout: float) -> dict[str, Any]:
        """Tell the job to finish; its result."""
        self.send("release")
        return _result(json.dumps(self.next_line(timeout)))

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            if self.proc.stdin:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
