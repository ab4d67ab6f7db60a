"""eSpeak NG in process, through the library shipped in the espeakng-loader wheel.

The C library keeps global state (one voice, one output callback), so it is initialised once
per process and every synthesis holds a module-wide lock.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from app.news.speech import SpeechError

AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_Synth returns when done, handing samples to the callback
INITIALIZE_DONT_EXIT = 0x8000  # report errors instead of calling exit()
ESPEAK_RATE = 1
ESPEAK_PITCH = 3
POS_CHARACTER = 1
CHARS_UTF8 = 1
ENDPAUSE = 0x1000  # a short pause at the end: bulletins run stories back to back
EE_OK = 0

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

_lock = threading.Lock()
_library: _Library | None = None


class _Library:
    """The loaded library, its sample rate and the buffer the callback fills."""

    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_Initialize.argtypes = [
            ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
        ]  # fmt: skip
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        data = espeakng_loader.get_data_path().encode()
        rate = self.lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data, INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise SpeechError(f"eSpeak NG could not start (data in {data.decode()})")
        self.sample_rate = int(rate)
        self.chunks: list[np.ndarray] = []
        # Kept on the instance: ctypes must not collect the callback while C holds it.
        self._callback = _SynthCallback(self._collect)
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: ctypes._Pointer, count: int, _events: int | None) -> int:
        if wav and count > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0  # 0: go on

    def set_voice(self, voice: str) -> None:
        if self.lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
            raise SpeechError(f"eSpeak NG has no voice {voice!r}")

    def set_parameter(self, parameter: int, value: int) -> None:
        self.lib.espeak_SetParameter(parameter, value, 0)

    def synth(self, text: str) -> np.ndarray:
        data = text.encode("utf-8") + b"\0"
        buffer = ctypes.create_string_buffer(data, len(data))
        self.chunks = []
        flags = CHARS_UTF8 | ENDPAUSE  # espeakSSML off: article text is never markup
        status = self.lib.espeak_Synth(buffer, len(data), 0, POS_CHARACTER, 0, flags, None, None)
        if status != EE_OK:
            raise SpeechError(f"eSpeak NG could not synthesize (error {status})")
        samples = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)
        self.chunks = []
        return samples.astype(np.float32) / 32768.0


def _loaded() -> _Library:
    global _library
    if _library is None:
        _library = _Library()
    return _library


class EspeakEngine:
    """eSpeak NG with one voice, rate (words a minute) and pitch (0-99)."""

    def __init__(self, voice: str = "en-us", rate_wpm: int = 175, pitch: int = 50) -> None:
        self.voice = voice
        self.rate_wpm = rate_wpm
        self.pitch = pitch
        self.name = f"espeak-ng:{voice}:{rate_wpm}wpm:pitch{pitch}"
        with _lock:
            _loaded().set_voice(voice)  # an unknown voice is a configuration error, found now

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        with _lock:
            library = _loaded()
            # Set every time: another engine in this process may have changed them.
            library.set_voice(self.voice)
            library.set_parameter(ESPEAK_RATE, self.rate_wpm)
            library.set_parameter(ESPEAK_PITCH, self.pitch)
            return library.synth(text), library.sample_rate
