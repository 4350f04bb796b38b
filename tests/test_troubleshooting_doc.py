"""README's troubleshooting table lists the messages the code really says: each start quoted
there (its fixed words) appears in the source, so the table cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_every_troubleshooting_message_is_said_by_the_code() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    code = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "uploader").rglob("*.py"))
    code = code.replace("\n", " ")
    # a library message names a setting `$batch_rows`; the CLI (what README shows) says the flag
    code = re.sub(r"\$([a-z_]+)", lambda setting: f"--{setting[1].replace('_', '-')}", code)
    missing = []
    for cell in re.findall(r"^\| `([^`]+)`", table, flags=re.MULTILINE):
        # the fixed words between placeholders (<file>, N, …, a value in quotes) must each be
        # in the code's messages
        parts = re.split(r"<[^>]+>|\bN\b|…|[(),:/]|'[^']*'", cell)
        words = [part.strip() for part in parts if len(part.strip()) > 6]
        if not words or not all(word in code for word in words):
            missing.append(cell)
    assert not missing, missing
