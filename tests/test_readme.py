"""The README's commands work as written on a fresh clone: `make run` puts `radio` in
.venv/bin, not on PATH, so a shell example that types a bare `radio` fails for a new user
unless the venv was activated first. Each command is run with `--help` (argparse stops
there), so a misspelt subcommand fails too."""

from __future__ import annotations

import re
import subprocess
import tomllib

import pytest

from app.config import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()
VENV_RADIO = PROJECT_ROOT / ".venv" / "bin" / "radio"


def _example_lines() -> list[str]:
    """Shell lines of the README: fenced blocks and 4-space indented ones. Lines after a
    `source .venv/bin/activate` in the same block may use the bare command."""
    lines: list[str] = []
    for block in re.findall(r"```(?:sh|bash)?\n(.*?)```", README, re.S):
        activated = False
        for line in block.splitlines():
            activated = activated or "source .venv/bin/activate" in line
            lines.append("" if activated else line)
    lines += [line[4:] for line in README.splitlines() if line.startswith("    ")]
    return [line.split("#", 1)[0] for line in lines]


COMMAND = re.compile(r"(?<![\w/.-])((?:\.venv/bin/)?radio)((?: [a-z][a-z-]*)*)")
EXAMPLES = sorted(
    {(m[1], m[2].strip()) for line in _example_lines() for m in COMMAND.finditer(line)}
)


def test_the_readme_shows_radio_commands() -> None:
    assert len(EXAMPLES) >= 5, EXAMPLES  # the parser above still finds them


@pytest.mark.parametrize(("program", "words"), EXAMPLES)
def test_each_radio_example_runs_as_written(program: str, words: str) -> None:
    assert program == ".venv/bin/radio", (
        f"`{program} {words}`: on a fresh clone `radio` is not on PATH; write "
        "`.venv/bin/radio` or activate the venv first in the same block"
    )
    assert VENV_RADIO.is_file(), "make test runs from the repo's .venv"
    done = subprocess.run(
        [str(VENV_RADIO), *words.split(), "--help"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, f"`radio {words} --help`: {done.stderr.strip()}"


def test_the_readme_says_why_not_pydub_and_the_station_does_not_use_it() -> None:
    deps = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    assert not any("pydub" in dep.lower() for dep in deps["dependencies"])
    why = re.search(r"Why ffmpeg, numpy and LAME, and not pydub\.(.*?)\n- ", README, re.S)
    assert why, "the README's How it works explains the audio path's choice"
    for point in ("audioop", "3.13", "memory"):
        assert point in why[1]
