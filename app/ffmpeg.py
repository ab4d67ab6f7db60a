"""Finding the ffmpeg binary: the configured one, else the one bundled in the imageio-ffmpeg wheel.

The bundled build is the default so that every machine decodes, analyses and encodes alike.
"""

from __future__ import annotations

import functools


@functools.cache
def ffmpeg_path(configured: str = "") -> str:
    if configured:
        return configured
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()
