"""Process plumbing for ``uploader bench`` and ``benchmarks/``: datasets, the mock as a
subprocess, measured children.

Every measured program runs as a child of this process (one process tree, one session) with
its peak RSS read from ``/proc/PID/status`` (``VmHWM``) while it runs: ``ru_maxrss`` of a
child can inherit the parent's high-water mark across fork/exec, VmHWM cannot. Everything
listens on 127.0.0.1; every child is stopped in ``finally``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MB = 1_000_000
POLL = 0.01  # seconds between two VmHWM reads of a running child
TIMEOUT = 1800.0  # seconds a measured child may run before it is killed


# -- datasets ---------------------------------------------------------------------------------


def _short(rows: int) -> str:
    for unit, size in (("m", 1_000_000), ("k", 1_000)):
        if rows >= size and rows % size == 0:
            return f"{rows // size}{unit}"
    return str(rows)


def dataset(rows: int, fmt: str, data: Path) -> Path:
    """``data/crm-<rows>.<fmt>`` (or ``crm-2m.csv`` style), generated in a child if missing."""
    for name in (f"crm-{_short(rows)}.{fmt}", f"crm-{rows}.{fmt}"):
        if (data / name).exists():
            return data / name
    path = data / f"crm-{rows}.{fmt}"
    data.mkdir(parents=True, exist_ok=True)
    csv_path = path.with_suffix(".csv")
    command = [
        sys.executable,
        "-m",
        "uploader.bench._gen",
        "--rows",
        str(rows),
        "--out",
        str(csv_path),
    ]
    if fmt == "parquet" or not path.with_suffix(".parquet").exists():
        command.append("--parquet")
    # A child, so that a 10M-row frame never inflates this process (and its children's rusage).
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, timeout=1800)
    return path


def night_two(night_one: Path) -> Path:
    """``<night_one>-night2.csv`` beside a CSV dataset: its next night for a sync (``_gen``
    ``--night-two-of``: 1 % of rows changed, 0.5 % new), generated in a child if missing."""
    path = night_one.with_name(f"{night_one.stem}-night2.csv")
    if not path.exists():
        command = [sys.executable, "-m", "uploader.bench._gen", "--night-two-of", str(night_one)]
        command += ["--out", str(path)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, timeout=1800)
    return path


# -- measured children -----------------------------------------------------------------------


def vm_hwm(pid: int) -> int:
    """Peak resident set size of a live process in bytes (0 once it has exited)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmHWM:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Child:
    """How one measured child process ended."""

    returncode: int
    stdout: str
    stderr: str
    wall: float  # seconds from spawn to exit (interpreter start-up included)
    peak_rss: int  # bytes (VmHWM)
    cpu: float  # user + system seconds

    def json(self) -> dict[str, Any]:
        """The last line of stdout, parsed (the children print one JSON object)."""
        if self.returncode != 0:
            raise RuntimeError(f"child exited {self.returncode}: {self.stderr[-2000:]}")
        text = self.stdout.strip()
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = json.loads(text.splitlines()[-1])
        assert isinstance(value, dict)
        return value


def run_child(
    command: Sequence[str], *, timeout: float, env: dict[str, str] | None = None
) -> Child:
    """Run ``command`` to the end (killed after ``timeout`` s), sampling its peak RSS."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        peak = pid = status = 0
        usage = None
        try:
            deadline = started + timeout
            while time.perf_counter() < deadline:
                peak = max(peak, vm_hwm(process.pid))
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    break
                time.sleep(POLL)
            else:
                raise TimeoutError(f"{command[:4]} did not finish in {timeout:.0f} s")
        finally:
            if not pid:
                process.kill()
                process.wait()
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        assert usage is not None
        if not peak:  # exited before the first sample: fall back to rusage
            peak = usage.ru_maxrss * 1024
        return Child(
            returncode=process.returncode,
            stdout=out.read(),
            stderr=err.read(),
            wall=wall,
            peak_rss=peak,
            cpu=usage.ru_utime + usage.ru_stime,
        )


# -- the mock --------------------------------------------------------------------------------


class MockServer:
    """``python -m uploader mock-server`` in a child process on 127.0.0.1, auth off.

    Receipts and the profile store are off: the mock still parses, checks and counts every
    row, but holds none, so a 10M-row run measures the client, not the mock's memory.
    """

    def __init__(self, *, rate_limit: str = "none", faults: Sequence[str] = ()) -> None:
        self.command = [
            sys.executable, "-m", "uploader", "mock-server", "--host", "127.0.0.1",
            "--port", "0", "--client-code", "demo", "--no-require-auth",
            "--rate-limit", rate_limit, "--no-keep-receipts", "--no-store-profiles",
        ]  # fmt: skip
        for fault in faults:
            self.command += ["--fault", fault]
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> MockServer:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        try:
            assert self.process.stdout is not None
            first = self.process.stdout.readline()  # EOF if it died: then no match
            match = re.search(r"(http://127\.0\.0\.1:\d+)", first)
            if not match:
                raise RuntimeError(f"mock did not start: {first!r}")
            self.url = match.group(1)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/__mock/stats", timeout=30) as response:
            stats: dict[str, Any] = json.loads(response.read())
        assert self.process is not None
        stats["peak_rss_bytes"] = vm_hwm(self.process.pid) or stats.get("peak_rss_bytes", 0)
        stats["cpu_seconds"] = cpu_seconds(self.process.pid)
        return stats


# -- Redis (the shared rate limit) --------------------------------------------------------------


class RedisServer:
    """``redis-server`` in a child process on a free 127.0.0.1 port, persistence off (its
    working files in ``directory``, default the current one): the benchmarks' and the tests'
    (``tests/conftest.py``: ``redis_server``). ``RuntimeError`` when it is not installed or
    does not answer PING within 10 s."""

    def __init__(self, directory: Path | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.command = [binary, "--port", str(self.port), "--bind", "127.0.0.1",
                        "--save", "", "--appendonly", "no"]  # fmt: skip
        if directory is not None:
            self.command += ["--dir", str(directory)]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def start(self) -> None:
        """Start the server (again, after ``kill``: a new, empty one on the same port, as
        after a crash and a restart by its supervisor) and wait until it answers."""
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.02)

    restart = start

    def kill(self) -> None:
        """Gone at once, as a crashed server (SIGKILL)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def stats_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What one run did on a shared mock (counters subtracted; gauges as they are after)."""
    gauges = {"max_concurrent", "in_flight", "peak_rss_bytes"}
    return {
        key: value
        if key in gauges or not isinstance(value, int | float)
        else value - before.get(key, 0)
        for key, value in after.items()
    }


# -- the uploader ----------------------------------------------------------------------------


def upload_command(
    sources: Sequence[Path],
    url: str,
    ledger: Path,
    options: Sequence[str] = (),
    *,
    command: str = "upload",
) -> list[str]:
    """``uploader upload`` (or ``command``: ``sync``, which takes the same options) of
    ``sources`` against the mock at ``url``, JSON summary on stdout."""
    return [
        sys.executable, "-m", "uploader", command, *map(str, sources),
        "--client-code", "demo", "--endpoint", url, "--ledger", str(ledger),
        "--json", "--quiet", *options,
    ]  # fmt: skip


def upload_env() -> dict[str, str]:
    """This environment without a profile token (the mock runs with auth off) and without
    any ``UPLOADER_*`` setting: a user's shard, daily budget or shared rate store is their
    production's, and must neither shape a measured run nor draw on that budget."""
    return {
        name: value
        for name, value in os.environ.items()
        if name != "TARGET_PROFILE_TOKEN" and not name.startswith("UPLOADER_")
    }


# -- what a run's ledger says ------------------------------------------------------------------


def call_starts(ledger: Path) -> list[float]:
    """Epoch seconds at which every call of the run started, from the ledger's attempt records
    (schema 3: each call's own start, retries included). A schema-2 ledger has none: then each
    acknowledged batch's last call, estimated as its record's time less the call's duration
    (which drifts when the machine is loaded)."""
    attempts, batches = [], []
    for line in ledger.read_text().splitlines() if ledger.exists() else []:
        record = json.loads(line)
        kind = record.get("type")
        if kind == "attempt":
            attempts.append(dt.datetime.fromisoformat(record["at"]).timestamp())
        elif kind == "batch" and "at" in record:
            at = dt.datetime.fromisoformat(record["at"]).timestamp()
            batches.append(at - record.get("timings", {}).get("last_call", 0.0))
    return sorted(attempts or batches)


def max_in_window(starts: list[float], window: float) -> int:
    """The most call starts (sorted) in any window of ``window`` seconds."""
    best, low = 0, 0
    for high, start in enumerate(starts):
        while start - starts[low] >= window:
            low += 1
        best = max(best, high - low + 1)
    return best


def window_gaps(starts: list[float], calls: int) -> list[float]:
    """``start[k + calls] - start[k]`` for every k of the sorted call starts.

    A sliding window of N calls per W seconds lets call k+N start W seconds after call k, no
    sooner. So the sustained rate is N / mean(these gaps), whatever the shape of the first
    burst, and W / that mean is the fraction of the limit used.
    """
    return [later - earlier for earlier, later in zip(starts, starts[calls:], strict=False)]


# -- the machine -----------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    import aiohttp
    import polars

    memory = 0
    try:
        text = Path("/proc/meminfo").read_text()
        match = re.search(r"^MemTotal:\s+(\d+) kB", text, re.MULTILINE)
        memory = int(match.group(1)) * 1024 if match else 0
    except OSError:
        pass
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(memory / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "polars": polars.__version__,
        "aiohttp": aiohttp.__version__,
    }
