"""Train/validation split when the job gives no `validation_data`.

Seeded and stratified: multi-class by class; multi-label, detection and segmentation by
the rarest class the image holds (so rare classes reach both sides; images without any
label form their own group). Identical images (same content hash) always land on the same
side, so a split never leaks. Per group the validation share is allotted by largest
remainder, so the total is exactly round(n * validation_size).
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Sequence

from automl.engine.data.doctor import HASH_KEY
from automl.engine.data.labels import label_names
from automl.engine.data.tasks import MULTICLASS
from automl.engine.errors import DataError


def split_records(
    records: Sequence[dict], task: str, validation_size: float, seed: int
) -> tuple[list[dict], list[dict]]:
    """Split records into (train, valid), both in their original order."""
    if not 0 < validation_size < 1:
        raise DataError(
            f"validation_data_size {validation_size} must be between 0 and 1 (exclusive)"
        )
    units = _units(records)
    if len(units) < 2:
        raise DataError(
            f"cannot split {len(records)} distinct images into training and validation; "
            "add images or give validation_data"
        )
    strata = _strata(units, records, task)
    n_valid = min(len(units) - 1, max(1, round(len(units) * validation_size)))
    chosen = _choose(strata, n_valid, random.Random(seed))
    valid_idx = {i for u in chosen for i in units[u]}
    train = [r for i, r in enumerate(records) if i not in valid_idx]
    valid = [r for i, r in enumerate(records) if i in valid_idx]
    return train, valid


def _units(records: Sequence[dict]) -> list[list[int]]:
    """Groups of record indices that must stay together (same content hash)."""
    groups: dict[object, list[int]] = {}
    for i, record in enumerate(records):
        groups.setdefault(record.get(HASH_KEY) or ("line", i), []).append(i)
    return list(groups.values())


def _strata(units: list[list[int]], records: Sequence[dict], task: str) -> dict[str, list[int]]:
    frequency = Counter(n for r in records for n in set(label_names(task, r["label"])))
    strata: dict[str, list[int]] = defaultdict(list)
    for u, members in enumerate(units):
        names = set(label_names(task, records[members[0]]["label"]))
        if task == MULTICLASS or not names:
            key = next(iter(names), "")
        else:
            key = min(names, key=lambda n: (frequency[n], n))
        strata[key].append(u)
    return dict(sorted(strata.items()))


def _choose(strata: dict[str, list[int]], n_valid: int, rng: random.Random) -> list[int]:
    total = sum(len(units) for units in strata.values())
    quotas = {key: n_valid * len(units) / total for key, units in strata.items()}
    counts = {key: math.floor(q) for key, q in quotas.items()}
    by_remainder = sorted(quotas, key=lambda k: (-(quotas[k] - counts[k]), rng.random()))
    # Strata that keep at least one training example go first: a class seen only in
    # validation could never be predicted.
    keeps_one = [k for k in by_remainder if counts[k] < len(strata[k]) - 1]
    rest = [k for k in by_remainder if k not in keeps_one and counts[k] < len(strata[k])]
    for key in (keeps_one + rest)[: n_valid - sum(counts.values())]:
        counts[key] += 1
    chosen = []
    for key, units in strata.items():
        shuffled = list(units)
        rng.shuffle(shuffled)
        chosen.extend(shuffled[: counts[key]])
    return chosen
