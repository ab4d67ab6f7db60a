"""The soak benchmark (tests/bench/soak.py) for two minutes: a real station under listeners
joining and leaving by the hundred, slow listeners, skips, votes, comments, uploads,
stories and bulletins, and nothing a listener would notice."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.soak import Plan, report, run_soak

pytestmark = [pytest.mark.realtime, pytest.mark.long, pytest.mark.timeout(900)]

PLAN = Plan(
    minutes=2,
    warmup_minutes=0.75,
    wave_size=60,
    wave_every=12,
    wave_life=45,  # about 225 listeners at once
    slow=3,
    buffer_seconds=8,
    skip_every=40,
    vote_every=5,
    comment_every=10,
    upload_every=45,
    article_every=40,
    memory_every=3,
    metrics_every=10,
    tracks=6,
    track_seconds=(25, 35),
    bulletin_every_songs=2,
)


def test_two_minutes_of_everything_at_once(tmp_path: Path) -> None:
    results = run_soak(PLAN, tmp_path)
    print(report(results))
    listeners, stream = results["listeners"], results["stream"]
    assert results["failures"] == []
    assert listeners["normal"] >= 300
    assert listeners["normal_dropped"] == 0, listeners
    assert listeners["normal_failed"] == 0, listeners
    assert listeners["slow_dropped"] == listeners["slow"] == PLAN.slow, listeners
    # The stream keeps real time: what arrived after the join burst, against the clock
    # (one 0.4 s write at each end, and a busy machine's backlog still in flight).
    assert abs(stream["drift_s"]) < 1.0, stream
    assert stream["decode_error_count"] == 0, stream["decode_errors"]
    assert stream["silences_in_music"] == 0, stream["silences"]
    assert not stream["closed_by_station"]
    assert results["plays"]["by_kind"].get("news", 0) >= 1, results["plays"]["by_kind"]
    # Memory after warm-up: the web and playout processes do not grow (a leak of a few KB per
    # listener would show as MB here with hundreds coming and going).
    memory = results["memory"]["after_warmup"]["web_playout_pss"]
    assert memory["last"] - memory["first"] < 10, memory
    assert results["log"]["by_level"].get("error", 0) == 0, results["log"]
    assert results["log"]["by_level"].get("critical", 0) == 0, results["log"]
    assert results["log"]["not_json_count"] == 0, results["log"]["not_json"]
    assert results["metrics"]["radio_playout_skipped_audio_total"] == 0
