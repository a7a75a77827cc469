"""docs/hooks.md documents every hook of ``meshkit.core.hookspecs`` with its exact signature.

When a hook is added or changed, print the reference with
``python tests/docs/test_hooks_doc.py [HOOK ...]`` and paste the sections into docs/hooks.md.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import pytest

from meshkit.core import hookspecs

DOC = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"
_BANNER = re.compile(r"^# -{10,} (?P<title>.+)$")
_DEF = re.compile(r"^def (?P<name>\w+)\(")
_HEADING = re.compile(r"^### `(?P<name>\w+)\((?P<params>[^)]*)\)`", re.M)


def hooks() -> list[tuple[str, str]]:
    """``(section, name)`` of every hookspec, in source order."""
    found, section = [], ""
    for line in Path(inspect.getsourcefile(hookspecs)).read_text().splitlines():
        if m := _BANNER.match(line):
            section = m.group("title")
        elif (m := _DEF.match(line)) and hasattr(getattr(hookspecs, m.group("name")), "meshkit_spec"):
            found.append((section, m.group("name")))
    return found


def signature(name: str) -> str:
    return f"{name}({', '.join(inspect.signature(getattr(hookspecs, name)).parameters)})"


def markdown(docstring: str) -> str:
    """A hookspec docstring (reST fields and roles) as markdown."""
    text = re.sub(r":(?:class|mod|func|meth|attr):`~?([^`]+)`", r"`\1`", inspect.cleandoc(docstring))
    text = text.replace("``", "`")
    lines, out = text.splitlines(), []
    for line in lines:
        field = re.match(r"^:param (\w+):\s*(.*)$", line)
        returns = re.match(r"^:returns?:\s*(.*)$", line)
        if field:
            out.append(f"- `{field.group(1)}`: {field.group(2)}")
        elif returns:
            out.append(f"- returns: {returns.group(1)}")
        elif line.startswith("    ") and out and out[-1].startswith("- "):
            out[-1] += " " + line.strip()
        else:
            out.append(line)
    return "\n".join(out).strip()


def render(name: str) -> str:
    """The docs/hooks.md section of hook ``name``."""
    func = getattr(hookspecs, name)
    spec = func.meshkit_spec
    options = [opt for opt in ("firstresult", "historic") if spec.get(opt)]
    note = f"\n\n*{', '.join(options)}*: " + (
        "the first non-`None` result is returned and the remaining implementations are not called."
        if "firstresult" in options
        else "called for plugins registered later too."
    )
    return f"### `{signature(name)}`{note if options else ''}\n\n{markdown(func.__doc__ or '')}\n"


def sections(text: str) -> dict[str, str]:
    """Each documented hook's section text, by hook name."""
    found = list(_HEADING.finditer(text))
    ends = [m.start() for m in found[1:]] + [len(text)]
    return {m.group("name"): text[m.start() : end] for m, end in zip(found, ends, strict=True)}


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text()


@pytest.mark.parametrize("name", [name for _, name in hooks()])
def test_hook_is_documented_with_its_signature(doc, name):
    documented = {m.group("name"): m.group(0) for m in _HEADING.finditer(doc)}
    expected = f"### `{signature(name)}`"
    assert name in documented, f"docs/hooks.md lacks hook `{name}`; add:\n\n{render(name)}"
    assert documented[name] == expected, f"docs/hooks.md has `{documented[name]}`, the code has `{expected}`"


@pytest.mark.parametrize("name", [name for _, name in hooks()])
def test_hook_doc_keeps_the_docstring_summary(doc, name):
    summary = markdown(getattr(hookspecs, name).__doc__ or "").splitlines()[0]
    assert summary in sections(doc).get(name, ""), f"the section of `{name}` should say: {summary}"


def test_no_documented_hook_is_missing_from_the_code(doc):
    known = {name for _, name in hooks()}
    assert sorted(set(sections(doc)) - known) == []


def test_hooks_are_found():
    names = [name for _, name in hooks()]
    assert {"register_commands", "run_job", "ingest_payload", "dataset_written"} <= set(names)
    assert (
        len(names)
        == len(set(names))
        == len([n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), "meshkit_spec")])
    )


if __name__ == "__main__":
    wanted = set(sys.argv[1:])
    current = None
    for section, name in hooks():
        if wanted and name not in wanted:
            continue
        if section != current and not wanted:
            print(f"## {section[0].upper()}{section[1:]}\n")
            current = section
        print(render(name))
