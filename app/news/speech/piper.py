"""Piper, an optional neural engine: used only when a voice model file is configured.

Piper is not a dependency of the station and nothing is downloaded: the `piper` executable
must already be on PATH (from the piper-tts package or a release build), and the voice model
(`<name>.onnx` with its `<name>.onnx.json` beside it) must be on disk. Each synthesis runs
the executable once, with the text on stdin and raw 16-bit samples on stdout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np

from app.news.speech import SpeechError

TIMEOUT_SECONDS = 300.0


class PiperEngine:
    def __init__(self, model: Path | None, executable: str | None = None) -> None:
        if model is None:
            raise SpeechError("tts_engine is piper but RADIO_PIPER_MODEL is not set")
        self.model = Path(model).expanduser().resolve()
        if not self.model.is_file():
            raise SpeechError(f"Piper voice model not found: {self.model}")
        found = executable or shutil.which("piper")
        if found is None:
            raise SpeechError("the piper executable is not installed (pip install piper-tts)")
        self.executable = found
        self.sample_rate = _sample_rate(self.model)
        self.name = f"piper:{self.model.name}"

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        command = [self.executable, "--model", str(self.model), "--output_raw"]
        try:
            result = subprocess.run(
                command, input=text.encode(), capture_output=True, timeout=TIMEOUT_SECONDS
            )
        except subprocess.TimeoutExpired as exc:
            raise SpeechError(f"piper took longer than {TIMEOUT_SECONDS:.0f} s") from exc
        if result.returncode != 0:
            detail = result.stderr.decode(errors="replace").strip().splitlines()
            raise SpeechError(f"piper failed: {detail[-1] if detail else result.returncode}")
        samples = np.frombuffer(result.stdout, dtype="<i2").astype(np.float32) / 32768.0
        return samples, self.sample_rate


def _sample_rate(model: Path) -> int:
    config = model.with_name(model.name + ".json")
    try:
        return int(json.loads(config.read_text())["audio"]["sample_rate"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpeechError(f"Piper voice config unreadable: {config} ({exc})") from exc
