"""Test doubles: a clock that never waits, a scripted transport, tiny inputs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from uploader.produce._batcher import BatchLimits
from uploader.produce._producer import InputSpec, Producer
from uploader.send._transport import HttpAnswer

OK_XML = (
    b"<response><success>true</success><batchStatus>https://edge.example/m2/demo/profile/"
    b"batchStatus?batchId=demo-1-%d</batchStatus><message>Batch submitted for processing"
    b"</message></response>"
)


class FakeClock:
    """``clock()`` and ``sleep()`` sharing a virtual time; ``sleep`` records and advances."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


Script = Callable[[int, bytes, dict[str, str]], HttpAnswer | Exception]


class ScriptedTransport:
    """Answers each call with ``script(call_number, body, headers)``; records every call."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.calls: list[tuple[bytes, dict[str, str]]] = []
        self.urls: list[str] = []

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str],
        limit: int = 0,
    ) -> HttpAnswer:
        self.calls.append((body or b"", headers))
        self.urls.append(url)
        answer = self.script(len(self.calls), body or b"", headers)
        await asyncio.sleep(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def close(self) -> None:
        pass


def ok(call: int, body: bytes, headers: dict[str, str]) -> HttpAnswer:
    return HttpAnswer(200, OK_XML % call)


def small_producer(tmp_path: Path, rows: int = 50, batch_rows: int = 10) -> Producer:
    src = tmp_path / f"in-{rows}.csv"
    if not src.exists():  # rewriting would change its mtime, which --resume checks
        src.write_text("thirdPartyId,v\n" + "".join(f"id{i},value{i}\n" for i in range(rows)))
    return Producer(InputSpec(sources=(src,), limits=BatchLimits(rows=batch_rows)))


def relabel_ledger(path: Path, schema: int | None) -> None:
    """Make the ledger at ``path`` look written by another uploader: ``schema`` in its run
    records, or none at all (uploader 0.1.x, which called the ``compact`` mode "default")."""
    import orjson

    records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    for record in records:
        if record["type"] != "run":
            continue
        del record["schema"]
        if schema is not None:
            record["schema"] = schema
        elif record["fingerprint"]["settings"]["encode"] == "compact":
            record["fingerprint"]["settings"]["encode"] = "default"
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
