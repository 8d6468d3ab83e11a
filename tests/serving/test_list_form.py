"""Azure's Transformers scoring form `{"input_data": ["<base64>", ...]}` (docs/
azure-compatibility.md §15.4), accepted by every endpoint beside the columns/data form;
classifiers answer it with their top classes by rank, `response[0]["0"]["label"]`."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from _support.paths import REPO_ROOT

AUTH = {"Authorization": "Bearer secret-key"}
DAISY = REPO_ROOT / "examples" / "data" / "flowers5" / "valid" / "images" / "daisy"


def b64(path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_parser_reads_the_list_form_and_marks_it():
    from automl.engine.serving import parse_score_request

    value = b64(sorted(DAISY.glob("*.jpg"))[0])
    items = parse_score_request(json.dumps({"input_data": [value, value]}).encode())
    assert [item.value for item in items] == [value, value]
    assert all(item.list_form for item in items)
    columns = {"input_data": {"columns": ["image"], "data": [value]}}
    assert not parse_score_request(json.dumps(columns).encode())[0].list_form


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"input_data": []}, "input_data must be a non-empty list"),
        ({"input_data": [3]}, "input_data[0]"),
        ({"input_data": "abc"}, "needs an 'input_data' object or list"),
    ],
)
def test_bad_list_forms_name_the_item(body, message):
    from automl.engine.serving import RequestError, parse_score_request

    with pytest.raises(RequestError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_score_request(json.dumps(body).encode())


def test_list_form_result_ranks_classes_and_keeps_other_results():
    from automl.engine.serving._request import list_form_result

    result = {"probs": [0.1, 0.7, 0.2], "labels": ["a", "b", "c"], "visualizations": "png"}
    assert list_form_result(result) == {
        "0": {"label": "b", "score": 0.7},
        "1": {"label": "c", "score": 0.2},
        "2": {"label": "a", "score": 0.1},
        "visualizations": "png",
    }
    many = {"probs": [i / 10 for i in range(8)], "labels": list("abcdefgh")}
    assert list(list_form_result(many)) == ["0", "1", "2", "3", "4"]  # the pipeline's top 5
    boxes = {"boxes": [{"box": {}, "label": "x", "score": 0.5}]}
    assert list_form_result(boxes) == boxes  # detectors answer as in the columns form


def test_endpoint_answers_the_list_form_like_azure(endpoint):
    files = sorted(DAISY.glob("*.jpg"))[:2]
    values = [b64(f) for f in files]
    listed = httpx.post(f"{endpoint.url}/score", json={"input_data": values}, headers=AUTH)
    columns = {"input_data": {"columns": ["image"], "data": values}}
    tabled = httpx.post(f"{endpoint.url}/score", json=columns, headers=AUTH)
    assert listed.status_code == 200 and tabled.status_code == 200, listed.text
    for ranked, plain in zip(listed.json(), tabled.json(), strict=True):
        best = max(range(len(plain["probs"])), key=plain["probs"].__getitem__)
        assert ranked["0"]["label"] == plain["labels"][best]  # Azure: response[0]["0"]["label"]
        assert ranked["0"]["score"] == pytest.approx(plain["probs"][best], abs=1e-6)
        scores = [ranked[str(i)]["score"] for i in range(len(ranked))]
        assert scores == sorted(scores, reverse=True)
