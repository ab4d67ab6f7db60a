"""A reader of the Prometheus text format (0.0.4) for tests, written from the format's
description, not from the station's writer: it refuses what a Prometheus server would."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{(.*)\}})?\s+(\S+)(?:\s+(-?\d+))?$")
_LABEL_PAIR = re.compile(rf'\s*({_LABEL})="((?:[^"\\]|\\[\\"n])*)"\s*(,|$)')
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


@dataclass
class Metric:
    name: str
    kind: str = "untyped"
    help: str = ""
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)


def parse(text: str) -> dict[str, Metric]:
    """{family name: Metric}; raises AssertionError on anything malformed."""
    assert text.endswith("\n"), "the exposition must end with a line feed"
    metrics: dict[str, Metric] = {}
    for number, line in enumerate(text.splitlines(), 1):
        where = f"line {number}: {line!r}"
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                assert re.fullmatch(_NAME, name), where
                metric = metrics.setdefault(name, Metric(name))
                if parts[1] == "TYPE":
                    kind = parts[3] if len(parts) > 3 else ""
                    assert kind in _TYPES, where
                    assert not metric.samples, f"TYPE after samples, {where}"
                    metric.kind = kind
                else:
                    metric.help = parts[3] if len(parts) > 3 else ""
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample, {where}"
        name, label_text, value_text = match.group(1), match.group(2) or "", match.group(3)
        labels = _labels(label_text, where)
        value = _value(value_text, where)
        family = _family(name, metrics)
        assert family is not None, f"sample of an undeclared metric, {where}"
        family.samples.append((name, labels, value))
    for metric in metrics.values():
        if metric.kind == "histogram":
            _check_histogram(metric)
        if metric.kind == "counter":
            for _, labels, value in metric.samples:
                assert value >= 0, f"negative counter {metric.name}{labels}"
    return metrics


def value(metrics: dict[str, Metric], name: str, **labels: str) -> float:
    """The sample of `name` (a sample name, e.g. with _bucket) whose labels include these;
    fails when there is none."""
    family = _family(name, metrics)
    assert family is not None, f"no metric {name}"
    for sample, have, number in family.samples:
        if sample == name and all(have.get(k) == v for k, v in labels.items()):
            return number
    raise AssertionError(f"no sample {name}{labels}: {family.samples}")


def _family(name: str, metrics: dict[str, Metric]) -> Metric | None:
    if name in metrics:
        return metrics[name]
    for suffix in ("_bucket", "_sum", "_count"):
        base = name.removesuffix(suffix)
        if base != name and base in metrics and metrics[base].kind in ("histogram", "summary"):
            return metrics[base]
    return None


def _labels(text: str, where: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        match = _LABEL_PAIR.match(text, pos)
        assert match, f"bad labels, {where}"
        assert match.end() > pos, f"bad labels, {where}"
        name, raw = match.group(1), match.group(2)
        assert name not in labels, f"label {name} twice, {where}"
        labels[name] = raw.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        pos = match.end()
    return labels


def _value(text: str, where: str) -> float:
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise AssertionError(f"bad value, {where}") from None


def _check_histogram(metric: Metric) -> None:
    """Buckets rise with `le`, end at +Inf, and +Inf equals _count, per label set."""
    series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    counts: dict[tuple[tuple[str, str], ...], float] = {}
    for sample, labels, number in metric.samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        if sample.endswith("_bucket"):
            assert "le" in labels, f"{metric.name} bucket without le"
            series.setdefault(rest, []).append((_value(labels["le"], metric.name), number))
        elif sample.endswith("_count"):
            counts[rest] = number
    for rest, buckets in series.items():
        bounds = [bound for bound, _ in buckets]
        assert bounds == sorted(bounds), f"{metric.name}{rest}: bounds out of order"
        assert bounds[-1] == math.inf, f"{metric.name}{rest}: no +Inf bucket"
        numbers = [count for _, count in buckets]
        assert numbers == sorted(numbers), f"{metric.name}{rest}: buckets fall"
        assert counts.get(rest) == numbers[-1], f"{metric.name}{rest}: +Inf != _count"
