"""The time-shift archive's cost: what it takes from the event loop, what its writer thread
spends, and what time-shifted listeners cost the station against live ones.

    .venv/bin/python -m tests.bench.archive [--blocks 18000] [--listeners 50] [--seconds 30]

1. In process: an hour of 0.2 s blocks (128 kbps, an item every 30 s) handed to
   `Archive.record` as the station does on its event loop; the time of each call (what the
   loop pays) and of each write on the writer thread (what the loop would pay per block,
   and for every disk stall, if it wrote itself).
2. A real station (`radio serve`) with N listeners on `/stream`, then N on `/stream?at=`
   (a minute ago): the web process's CPU over `--seconds` for each.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from app.core.item import Item, ItemKind
from app.stream.archive import Archive
from tests.audio import write_tone
from tests.station import start_station

BLOCK = bytes([0xFF, 0xFB, 0x90, 0x64]) + bytes(413)  # one 128 kbps frame


def in_process(blocks: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        archive = Archive(Path(folder), hours=2, max_bytes=10**9, segment_seconds=60,
                          bitrate_kbps=128, sample_rate=44100, station_name="R")  # fmt: skip
        archive.start()
        archive.loaded.wait()
        data = BLOCK * 8  # 0.21 s
        calls = []
        started = time.perf_counter()
        for number in range(blocks):
            starts = [(0, Item(ItemKind.music, f"T{number}", "A"))] if number % 150 == 0 else []
            before = time.perf_counter_ns()
            archive.record(data, starts)
            calls.append(time.perf_counter_ns() - before)
        while archive.blocks_written < blocks:
            time.sleep(0.01)
        drained = time.perf_counter() - started
        archive.stop()
    calls.sort()
    return {
        "record_us_median": calls[len(calls) // 2] / 1000,
        "record_us_p99": calls[int(len(calls) * 0.99)] / 1000,
        "record_us_max": calls[-1] / 1000,
        "writer_ms_per_block_mean": drained / blocks * 1000,
        "writer_ms_per_block_max": archive.write_seconds_max * 1000,
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def listen(port: int, path: str, stop: threading.Event) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        while not stop.is_set() and sock.recv(65536):
            pass


def station_cost(listeners: int, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        music = root / "media" / "music"
        music.mkdir(parents=True)
        for number, freq in enumerate((330, 440, 550)):
            write_tone(music / f"t{number}.mp3", 40, freq, tags={"title": f"T{number}"})
        station = start_station(root)
        try:
            time.sleep(65)  # a minute of archive
            at = datetime.fromtimestamp(time.time() - 60, UTC).isoformat().replace("+00:00", "Z")
            result = {}
            for name, path in (("live", "/stream"), ("shifted", f"/stream?at={at}")):
                stop = threading.Event()
                threads = [threading.Thread(target=listen, args=(station.port, path, stop),
                                            daemon=True) for _ in range(listeners)]  # fmt: skip
                for thread in threads:
                    thread.start()
                time.sleep(5)
                before = cpu_seconds(station.process.pid)
                time.sleep(seconds)
                result[f"{name}_cpu_percent"] = (
                    100 * (cpu_seconds(station.process.pid) - before) / seconds
                )
                stop.set()
                time.sleep(1)
            return result
        finally:
            station.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=18000)
    parser.add_argument("--listeners", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()}")
    for name, value in in_process(args.blocks).items():
        print(f"{name}: {value:.3f}")
    if args.listeners:
        for name, value in station_cost(args.listeners, args.seconds).items():
            print(f"{name} ({args.listeners} listeners): {value:.1f}")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
