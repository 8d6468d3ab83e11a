from automl.engine.data.labels import parse_image_details, parse_label, parse_size

MC, ML = "image_classification", "image_classification_multilabel"
OD, IS = "image_object_detection", "image_instance_segmentation"


def test_multiclass_accepts_a_string_and_rejects_a_list():
    assert parse_label(MC, "cat") == ("cat", [])
    label, problems = parse_label(MC, ["cat"])
    assert label is None and "multilabel" in problems[0]


def test_multilabel_takes_lists_including_empty_and_dedupes():
    assert parse_label(ML, ["a", "b", "a"]) == (["a", "b"], [])
    assert parse_label(ML, []) == ([], [])
    assert parse_label(ML, "a")[1]


def test_detection_lenient_forms_are_normalised():
    raw = {
        "label": "can",
        "topX": "0.1",
        "topY": 0.2,
        "bottomX": "0.5",
        "bottomY": 1,
        "isCrowd": "true",
    }
    label, problems = parse_label(OD, raw)  # a single object, numbers as strings
    assert problems == []
    assert label == [
        {"label": "can", "topX": 0.1, "topY": 0.2, "bottomX": 0.5, "bottomY": 1.0, "isCrowd": True}
    ]


def test_detection_box_outside_and_inverted_are_problems():
    _, outside = parse_label(
        OD, [{"label": "a", "topX": 0.1, "topY": 0.1, "bottomX": 1.2, "bottomY": 0.5}]
    )
    assert "outside [0, 1]" in outside[0] and "bottomX=1.2" in outside[0]
    _, inverted = parse_label(
        OD, [{"label": "a", "topX": 0.6, "topY": 0.1, "bottomX": 0.4, "bottomY": 0.5}]
    )
    assert "inverted" in inverted[0]
    _, missing = parse_label(OD, [{"label": "a", "topX": 0.1}])
    assert any("topY" in p for p in missing)


def test_segmentation_flat_polygon_is_wrapped_and_short_polygons_rejected():
    label, problems = parse_label(IS, [{"label": "a", "polygon": [0.1, 0.1, 0.5, 0.1, 0.5, 0.5]}])
    assert problems == [] and label[0]["polygon"] == [[0.1, 0.1, 0.5, 0.1, 0.5, 0.5]]
    assert label[0]["isCrowd"] is False
    _, short = parse_label(IS, [{"label": "a", "polygon": [[0.1, 0.1, 0.5, 0.1]]}])
    assert "at least 3" in short[0]
    _, odd = parse_label(IS, [{"label": "a", "polygon": [[0.1, 0.1, 0.5, 0.1, 0.5]]}])
    assert "pairs" in odd[0]


def test_sizes_accept_px_strings():
    assert parse_size("400px") == 400 and parse_size(" 12 ") == 12
    assert parse_size("-3") is None and parse_size(True) is None
    details, problems = parse_image_details({"width": "400px", "height": "abc"})
    assert details == {"width": 400} and "image_details.height" in problems[0]
