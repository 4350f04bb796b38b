"""The sync's promise as a property: whatever the nights' exports, after each night's sync
Target holds exactly what uploading every night's whole file in order would have left.

Each night's export is the previous one with random edits (values changed or emptied, ids
added, dropped or repeated within the file, rows reordered); nights are a day apart and
refreshes come round every two days, so unchanged rows go again too, and one night is
``full``. The expectation is an independent fold: per id, in file order and night after
night, the last non-empty value of each attribute; an empty cell never clears a value and
no profile is ever deleted (the API cannot). Rows with no value at all, alone or with
others, are in it too: they must never be sent (``test_rows_with_no_value_are_not_sent``)."""

from __future__ import annotations

import asyncio
import csv
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from uploader.auth._secret import Secret
from uploader.auth._static import StaticToken
from uploader.mock import MockConfig, MockTarget
from uploader.produce._batcher import BatchLimits
from uploader.produce._producer import InputSpec
from uploader.send._engine import UploadConfig
from uploader.sync._run import sync

DAY = 86_400
NIGHT_1 = 1_764_374_400  # 2025-11-29 00:00 UTC
NIGHTS = 3
ATTRIBUTES = ("tier", "city")
#: ids and values that need encoding, quoting or a folded duplicate to come out right
IDS = (*(f"id-{i}" for i in range(8)), "a b", "é-1")
VALUES = ("", "", "gold", "silver", "a b", "é", "50%", "x,y", 'say "hi"')

Row = tuple[str, str, str]  # id, tier, city
Profiles = dict[str, dict[str, str]]

rows = st.tuples(st.sampled_from(IDS), st.sampled_from(VALUES), st.sampled_from(VALUES))


@st.composite
def edited(draw: st.DrawFn, export: list[Row]) -> list[Row]:
    """``export`` after a few random edits: the next night's file."""
    tonight = list(export)
    for _ in range(draw(st.integers(0, 6))):
        edit = draw(st.sampled_from(["change", "add", "drop", "repeat", "reorder"]))
        if edit == "add" or not tonight:
            tonight.insert(draw(st.integers(0, len(tonight))), draw(rows))
        elif edit == "change":  # one cell: another value, perhaps empty
            at = draw(st.integers(0, len(tonight) - 1))
            ident, *values = tonight[at]
            values[draw(st.integers(0, 1))] = draw(st.sampled_from(VALUES))
            tonight[at] = (ident, values[0], values[1])
        elif edit == "drop":  # every row of one id
            gone = draw(st.sampled_from(tonight))[0]
            tonight = [row for row in tonight if row[0] != gone]
        elif edit == "repeat":  # the id again, elsewhere in the file, with other values
            ident = draw(st.sampled_from(tonight))[0]
            again = (ident, draw(st.sampled_from(VALUES)), draw(st.sampled_from(VALUES)))
            tonight.insert(draw(st.integers(0, len(tonight))), again)
        else:
            tonight = draw(st.permutations(tonight))
    return tonight


@st.composite
def exports(draw: st.DrawFn) -> list[list[Row]]:
    """``NIGHTS`` exports, each an edit of the one before."""
    nights = [draw(st.lists(rows, min_size=1, max_size=12))]
    while len(nights) < NIGHTS:
        nights.append(draw(edited(nights[-1])))
    return nights


def fold(profiles: Profiles, export: list[Row]) -> None:
    """Apply ``export`` to ``profiles`` as Target would, row after row (a row with no value
    stores nothing: it makes no profile either)."""
    for ident, *values in export:
        given = {name: value for name, value in zip(ATTRIBUTES, values, strict=True) if value}
        if given:
            profiles.setdefault(ident, {}).update(given)


def write_export(path: Path, export: list[Row]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(("thirdPartyId", *ATTRIBUTES))
        writer.writerows(export)
    return path


def stored(mock: MockTarget) -> Profiles:
    """Every profile the mock holds: the ids it ever took, with their attributes."""
    ids = set(mock.received_frame()["thirdPartyId"].to_list())
    return {ident: mock.profiles.get(ident) or {} for ident in ids}


async def run_nights(directory: Path, nights: list[list[Row]], full_night: int) -> None:
    expected: Profiles = {}
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        for night, export in enumerate(nights):
            source = write_export(directory / f"crm-{night}.csv", export)
            summary = await sync(
                InputSpec(sources=(source,), limits=BatchLimits(rows=4), allow_empty=True),
                UploadConfig(
                    client_code="demo",
                    endpoint=mock.base_url,
                    ledger=directory / f"run-{night}" / "ledger.jsonl",
                    rate=None,
                ),
                directory / "state",
                StaticToken(Secret(mock.token), "test"),
                refresh_after_days=2,
                full=night == full_night,
                clock=lambda night=night: NIGHT_1 + night * DAY,
            )
            fold(expected, export)
            assert summary.exit_code == 0, summary.lines()
            assert summary.invariant_holds and summary.state_generation == night + 1
            assert stored(mock) == expected, f"night {night}"


@settings(max_examples=25, deadline=None, derandomize=True)
@given(nights=exports(), full_night=st.integers(1, NIGHTS - 1))
def test_target_holds_the_fold_of_every_nights_file(
    nights: list[list[Row]], full_night: int
) -> None:
    with tempfile.TemporaryDirectory(prefix="uploader-sync-property-") as directory:
        asyncio.run(run_nights(Path(directory), nights, full_night))
