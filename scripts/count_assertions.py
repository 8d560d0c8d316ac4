"""Count the assertions of the test suite, to check that a refactoring weakens none.

Counted statically (nothing is imported or run), per file and in total:

- ``assert``: ``assert`` statements (``ast.Assert``) in ``tests/**/*.py``;
- ``raises``: ``pytest.raises`` / ``pytest.warns`` calls (as context managers or called);
- ``assert_*``: calls of functions named ``assert_*`` (``np.testing.assert_allclose``,
  ``pd.testing.assert_frame_equal``, a test module's own ``_assert_right``, ...);
- ``doctest``: doctest examples with an expected output in the docstrings of the package
  (``crm_analysis/**/*.py``), the ones ``--doctest-modules`` compares.

A count is of assertions written, not run: an assertion in a loop or a parametrized test
counts once. Usage: ``python scripts/count_assertions.py [REPO_ROOT] [--files]``.
"""

from __future__ import annotations

import ast
import doctest
import sys
from collections import Counter
from pathlib import Path


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def count_tests(source: str) -> Counter:
    c: Counter = Counter()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assert):
            c["assert"] += 1
        elif isinstance(node, ast.Call):
            name = _name(node.func)
            if name in ("pytest.raises", "pytest.warns"):
                c["raises"] += 1
            elif name.rsplit(".", 1)[-1].lstrip("_").startswith("assert_"):
                c["assert_*"] += 1
    return c


def count_doctests(source: str) -> int:
    parser = doctest.DocTestParser()
    n = 0
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                n += sum(1 for ex in parser.get_examples(doc) if ex.want.strip())
    return n


def main(argv: list[str]) -> None:
    root = Path(next((a for a in argv if not a.startswith("-")), ".")).resolve()
    total: Counter = Counter()
    for path in sorted((root / "tests").rglob("*.py")):
        c = count_tests(path.read_text(encoding="utf-8"))
        total += c
        if "--files" in argv and c:
            counts = ", ".join(f"{k} {v}" for k, v in sorted(c.items()))
            print(f"{path.relative_to(root)}: {counts}")
    total["doctest"] = sum(count_doctests(p.read_text(encoding="utf-8"))
                           for p in sorted((root / "crm_analysis").rglob("*.py")))
    print(" ".join(f"{k}={total[k]}" for k in ("assert", "raises", "assert_*", "doctest")),
          f"total={sum(total.values())}")


if __name__ == "__main__":
    main(sys.argv[1:])
