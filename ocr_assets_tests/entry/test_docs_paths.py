"""Every repository path the README and docs name exists (a newcomer follows them)."""

import re

from ocr_assets_tests.helpers import REPO_ROOT

DOCUMENTS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
#: A path in backticks under one of the repository's top folders (globs allowed).
PATH = re.compile(
    r"`((?:ocr_assets|ocr_assets_tests|scripts|benchmarks|docs|tools|instance|\.ci|\.github)"
    r"/[^`\s]*)`"
)


def named_paths() -> list[tuple[str, str]]:
    named = []
    for document in DOCUMENTS:
        for number, line in enumerate(document.read_text().splitlines(), 1):
            for match in PATH.finditer(line):
                path = match.group(1).split("::")[0].rstrip(".,:")
                named.append((f"{document.name}:{number}", path))
    return named


def test_the_docs_name_paths_and_every_path_exists() -> None:
    named = named_paths()
    assert len(named) > 20
    missing = [f"{where} `{path}`" for where, path in named if not any(REPO_ROOT.glob(path))]
    assert missing == []
