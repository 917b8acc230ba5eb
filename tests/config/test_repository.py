"""What installing and running the project leaves in a checkout stays out of git."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", ["sdk/python/build/lib/flagstream/__init__.py",
                                  "sdk/python/flagstream.egg-info/PKG-INFO",
                                  "var/flagstream.sqlite3", "build/x"])
def test_generated_files__ignored_by_git(path):
    # issue 15, defect 6: `pip install ./sdk/python` left an untracked sdk/python/build/
    result = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT)
    assert result.returncode == 0, f"{path} is not ignored"
