"""README "How the code is laid out" names every module of the package, and no module that
is gone: the map stays true as the tree changes."""

from __future__ import annotations

import re
from pathlib import Path

import uploader

ROOT = Path(uploader.__file__).parent
README = ROOT.parent / "README.md"


def layout_section() -> str:
    text = README.read_text(encoding="utf-8")
    return text.split("## How the code is laid out", 1)[1].split("\n## ", 1)[0]


def test_the_layout_names_every_module_and_nothing_else() -> None:
    section = layout_section()
    rows = [line for line in section.splitlines() if line.startswith("| `uploader/")]
    named: set[str] = set()
    for row in rows:
        where, what = row.split("|")[1:3]
        packages = re.findall(r"`uploader/([a-z_]+)/`", where)
        if packages:  # a sub-package row: its modules are named in the second column
            (package,) = packages
            named |= {f"{package}/{m}.py" for m in re.findall(r"`(_[a-z_]+)`", what)}
        else:  # top-level files, listed in the first column
            first, *rest = re.findall(r"`([a-z_/]+\.py)`", where)
            named |= {first.removeprefix("uploader/"), *rest} - {"__init__.py"}
    actual = {
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*.py")
        if path.parent.name != "mock" and path.name not in ("__init__.py", "__main__.py")
    }
    named.add("mock/")  # the mock is one row: its own README section describes it
    assert actual - named == set(), "modules the README's map does not name"
    assert {n for n in named if n != "mock/"} - actual == set(), "named but not in the tree"


def test_the_picture_shows_every_stage() -> None:
    picture = layout_section().split("```")[1]
    for stage in ("produce/", "send/", "ledger/", "reconcile/", "auth/", "cli/", "mock/"):
        assert stage in picture
