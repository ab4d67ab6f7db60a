"""The floors of the data flow hold: import-linter's contracts in pyproject.toml, run as
`make test` runs them (its `layers` phase), so a broken floor fails the suite too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports on the `app` package under `root`, with root's pyproject.toml."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_of_the_code(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "app", tmp_path / "app",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_every_package_imports_only_from_the_floors_below_it() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_planner_that_imports_the_news_desk_breaks_both_contracts(tmp_path: Path) -> None:
    """The contracts see the scheduler at all: the cycle issue 13 removed, put back."""
    root = copy_of_the_code(tmp_path)
    planner = root / "app" / "scheduler" / "planner.py"
    planner.write_text(planner.read_text() + "\nfrom app.news import bulletins  # noqa\n")
    result = lint_imports(root)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "0 kept, 2 broken" in result.stdout
    assert "app.scheduler.planner -> app.news.bulletins" in result.stdout
