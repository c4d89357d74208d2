"""The docs' Python code blocks run, in order, one namespace per page.

A block fenced as ```python runs; ```python no-run is shown but not run (it needs a server or
a large model). A ```text block right after a running block is checked against what it printed.
"""

import contextlib
import io
import re
from pathlib import Path

import pytest

DOCS = sorted((Path(__file__).parent.parent / "docs").glob("*.md"))
BLOCK = re.compile(r"```(\w+)([^\n]*)\n(.*?)```", re.DOTALL)


@pytest.mark.parametrize("page", DOCS, ids=[p.name for p in DOCS])
def test_code_blocks_run(page: Path):
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    printed = None
    ran = 0
    for lang, info, code in BLOCK.findall(page.read_text()):
        if lang == "python" and "no-run" not in info:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(code, f"{page.name}", "exec"), namespace)
            printed = out.getvalue()
            ran += 1
        elif lang == "text" and printed:
            assert printed.strip() == code.strip(), f"{page.name}: output differs"
            printed = None
    assert ran or "no-run" in page.read_text() or "```python" not in page.read_text()
