from collections import Counter

from automl.engine.data.split import split_records

MC, ML = "image_classification", "image_classification_multilabel"


def _records(labels):
    return [
        {"image_url": f"/x/{i}.jpg", "label": lab, "_sha1": str(i)} for i, lab in enumerate(labels)
    ]


def test_split_is_deterministic_per_seed():
    records = _records(["a", "b", "c", "d", "e"] * 10)
    first = split_records(records, MC, 0.2, seed=3)
    assert first == split_records(records, MC, 0.2, seed=3)
    assert first[1] != split_records(records, MC, 0.2, seed=4)[1]


def test_multiclass_split_is_stratified_and_exact():
    records = _records(["a"] * 30 + ["b"] * 15 + ["c"] * 5)
    train, valid = split_records(records, MC, 0.2, seed=0)
    assert len(valid) == 10 and len(train) == 40
    assert Counter(r["label"] for r in valid) == {"a": 6, "b": 3, "c": 1}
    assert [r["image_url"] for r in train] == sorted(
        (r["image_url"] for r in train), key=lambda u: int(u[3:-4])
    )


def test_a_class_with_one_image_stays_in_training():
    records = _records(["a"] * 9 + ["solo"])
    for seed in range(5):
        train, _ = split_records(records, MC, 0.5, seed=seed)
        assert "solo" in {r["label"] for r in train}


def test_identical_images_stay_on_one_side():
    records = _records(["a", "b"] * 10)
    for r in records[:4]:
        r["_sha1"] = "same"
    for seed in range(5):
        train, valid = split_records(records, MC, 0.3, seed=seed)
        sides = {"train" if r in train else "valid" for r in records[:4]}
        assert len(sides) == 1


def test_multilabel_stratifies_by_rarest_label():
    records = _records([["common", "rare"]] * 5 + [["common"]] * 45)
    _, valid = split_records(records, ML, 0.2, seed=0)
    assert sum("rare" in r["label"] for r in valid) == 1
