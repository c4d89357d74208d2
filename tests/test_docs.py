"""The docs' Python code blocks run, in order, one namespace per page.

A block fenced as ```python runs; ```python no-run is shown but not run (it needs a server or
a large model). A ```text block that follows a running block in the same section (no other
block and no heading between) is checked against what it printed: printing nothing, where a
text block says what should come out, fails. No page holds a line a merge conflict leaves behind.
"""

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
BLOCK = re.compile(r"```(\w+)([^\n]*)\n(.*?)```", re.DOTALL)
HEADING = re.compile(r"^#", re.MULTILINE)
CONFLICT = re.compile(r"^(<{7}|\|{7}|={7}|>{7})( |$)", re.MULTILINE)


def check_page(name: str, text: str) -> int:
    """Run `text`'s Python blocks and check each one's output; how many ran."""
    namespace: dict = {"__name__": f"docs_{Path(name).stem}"}
    printed = None  # what the block just before printed, when it was a running Python block
    ran = end = 0
    for block in BLOCK.finditer(text):
        lang, info, code = block.groups()
        same_section = not HEADING.search(text, end, block.start())
        end = block.end()
        if lang == "text" and printed is not None and same_section:
            assert printed.strip() == code.strip(), f"{name}: output differs"
        printed = None
        if lang == "python" and "no-run" not in info:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(code, name, "exec"), namespace)
            printed = out.getvalue()
            ran += 1
    return ran


@pytest.mark.parametrize("page", DOCS, ids=[p.name for p in DOCS])
def test_code_blocks_run(page: Path):
    text = page.read_text()
    ran = check_page(page.name, text)
    assert ran or "no-run" in text or "```python" not in text


def test_an_expected_output_that_was_not_printed_fails():
    page = "```python\nx = 1\n```\n\n```text\n1\n```\n"
    with pytest.raises(AssertionError, match="output differs"):
        check_page("page.md", page)
    assert check_page("page.md", page.replace("x = 1", "print(1)")) == 1
    with pytest.raises(AssertionError, match="output differs"):
        check_page("page.md", "```python\nprint(2)\n```\n```text\n1\n```\n")
    # a text block after anything but a running Python block is an example, not checked
    assert check_page("page.md", "```python\nprint(2)\n```\n```bash\nls\n```\n```text\n1\n```\n") == 1
    assert check_page("page.md", "```python\nprint(2)\n```\n\n## Format\n\n```text\n1\n```\n") == 1
    with pytest.raises(AssertionError, match="output differs"):  # a line of prose between is the same section
        check_page("page.md", "```python\nx = 2\n```\n\nprints\n\n```text\n2\n```\n")


@pytest.mark.parametrize("page", [*DOCS, ROOT / "README.md"], ids=[p.name for p in [*DOCS, ROOT / "README.md"]])
def test_no_merge_conflict_markers(page: Path):
    found = [m.group(0) for m in CONFLICT.finditer(page.read_text())]
    assert found == [], f"{page.name} holds merge-conflict lines: {found}"


def test_the_conflict_pattern_sees_each_marker():
    text = "a\n<<<<<<< HEAD\nb\n||||||| base\nc\n=======\nd\n>>>>>>> issue-16\n"
    assert [m.group(0) for m in CONFLICT.finditer(text)] == ["<<<<<<< ", "||||||| ", "=======", ">>>>>>> "]
    assert CONFLICT.findall("Title\n========\n`<<<<<<<` in a sentence\n==\n") == []
