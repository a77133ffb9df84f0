"""Fixtures of the Python suite. It runs from tests/python.rs (``cargo test``), which sets:

- ``VISAGE_HOME``: the model cache with the pack installed (as the CLI's tests use it);
- ``VISAGE_BIN``: the ``visage`` binary of the same build, for comparisons with the CLI;
- ``VISAGE_TEST_PHOTOS``: the folder of the six demo photos (sample1.jpg ... sample6.jpg);
- ``VISAGE_DOCS``: docs/python.md, whose example is run.

Every gallery and CLI data dir is a per-test temporary folder, never the user's.
"""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import visage


def _env_path(name: str) -> Path:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run this suite with `cargo test -p visage-py --release`")
    return Path(value)


@pytest.fixture(scope="session")
def photos():
    folder = _env_path("VISAGE_TEST_PHOTOS")
    paths = [folder / f"sample{i}.jpg" for i in range(1, 7)]
    assert all(p.is_file() for p in paths), f"demo photos missing in {folder}"
    return paths


@pytest.fixture(scope="session")
def app():
    return visage.FaceAnalysis()


class Cli:
    """The ``visage`` binary with its own data dir."""

    def __init__(self, data_dir: Path):
        self.binary = str(_env_path("VISAGE_BIN"))
        self.data_dir = data_dir

    def run(self, *args):
        env = dict(os.environ, VISAGE_DATA_DIR=str(self.data_dir))
        return subprocess.run([self.binary, *map(str, args)], capture_output=True, text=True, env=env)

    def json_lines(self, *args):
        out = self.run(*args)
        assert out.returncode in (0, 1), out.stderr
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path / "cli-data")


@pytest.fixture(scope="session")
def portraits(app, photos):
    """One-person crops of the demo photos, as (non-contiguous) array views: {(photo, face): array}."""
    cache = {}

    def portrait(photo: int, face: int) -> np.ndarray:
        if (photo, face) not in cache:
            img = visage.imread(photos[photo])
            x1, y1, x2, y2 = app.get(img)[face].bbox
            w, h = x2 - x1, y2 - y1
            x, y = int(max(x1 - 0.7 * w, 0)), int(max(y1 - 0.7 * h, 0))
            cache[(photo, face)] = img[y : int(y + 2.4 * h), x : int(x + 2.4 * w)]
        return cache[(photo, face)]

    return portrait
