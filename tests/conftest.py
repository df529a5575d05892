"""Shared fixtures: where the repository and the real CoNLL-2003 files are."""

from pathlib import Path

import pytest

_REPO_ROOT = Path(__file__).resolve().parent.parent
_SPLITS = ("train", "dev", "test")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (the folder holding `ner/` and `tests/`)."""
    return _REPO_ROOT


@pytest.fixture(scope="session")
def conll_dir(repo_root: Path) -> Path:
    """Folder with the real CoNLL-2003 `train.txt`, `dev.txt` and `test.txt`.

    Looks in `data/conll2003/` (where `make` and the CI link them) and then in
    `../shared/data/conll2003/`. The licence forbids committing the files, so
    the tests skip only when neither place has all three.
    """
    candidates = (repo_root / "data" / "conll2003", repo_root.parent / "shared" / "data" / "conll2003")
    for folder in candidates:
        if all((folder / f"{split}.txt").is_file() for split in _SPLITS):
            return folder
    pytest.skip(f"CoNLL-2003 train/dev/test.txt not found in {' or '.join(map(str, candidates))}")
