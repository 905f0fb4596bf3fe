"""The Python examples in docs/ run as written."""

import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
BLOCKS = [(p.name, i, block) for p in sorted(DOCS.glob("*.md"))
          for i, block in enumerate(re.findall(r"```python\n(.*?)```", p.read_text(), re.S))]


@pytest.mark.parametrize("name,index,code", BLOCKS, ids=[f"{n}#{i}" for n, i, _ in BLOCKS])
def test_doc_example_runs(name, index, code):
    exec(compile(code, f"{name}#{index}", "exec"), {"__name__": f"docs_{index}"})


def test_docs_have_examples():
    assert BLOCKS
