"""Access to ../shared (corpus, labelled requests): present in CI, maybe not elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def shared_dir(name: str) -> Path:
    path = SHARED / name
    if not path.is_dir():
        message = f"{path} is missing: these tests read the shared material beside the project"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must have it)", pytrace=False)
        pytest.skip(message)
    return path


def corpus_files() -> list[Path]:
    root = shared_dir("corpus")
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.name not in ("MANIFEST.tsv", "SOURCES.md")
    )
