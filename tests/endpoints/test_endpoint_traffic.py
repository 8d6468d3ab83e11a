"""Azure's traffic rules: `--traffic "blue=90 green=10"`, sums of 100 or 0, one mirror at
most 50 %, never on a deployment with live traffic; the weighted choice per request."""

from __future__ import annotations

import random

import pytest

from automl.engine.endpoints._traffic import (
    TrafficError,
    TrafficSplit,
    check_mirror,
    check_names,
    check_traffic,
    full_traffic,
    parse_traffic,
)


def test_parse_traffic_as_azure_writes_it():
    assert parse_traffic("blue=90 green=10", "--traffic") == {"blue": 90, "green": 10}
    assert parse_traffic("blue=90,green=10", "--traffic") == {"blue": 90, "green": 10}
    assert parse_traffic("", "--traffic") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("blue", "'blue' is not NAME=PERCENT"),
        ("blue=ninety", "is not NAME=PERCENT"),
        ("blue=-5", "is not NAME=PERCENT"),
        ("blue=50 blue=50", "'blue' is given twice"),
    ],
)
def test_parse_traffic_errors(text, message):
    with pytest.raises(TrafficError, match=message):
        parse_traffic(text, "--traffic")


@pytest.mark.parametrize("traffic", [{"blue": 100}, {"blue": 90, "green": 10}, {"blue": 0}, {}])
def test_weights_sum_to_100_or_0(traffic):
    check_traffic(traffic, "--traffic")


@pytest.mark.parametrize("traffic", [{"blue": 90}, {"blue": 90, "green": 20}, {"blue": 101}])
def test_other_sums_are_refused(traffic):
    with pytest.raises(TrafficError, match="--traffic: "):
        check_traffic(traffic, "--traffic")


def test_unknown_names_are_refused_with_did_you_mean():
    with pytest.raises(TrafficError, match="no deployment 'gren'; did you mean 'green'"):
        check_names({"gren": 10}, ["blue", "green"], "--traffic", "ep1")


def test_mirror_rules():
    check_mirror({"green": 50}, {"blue": 100, "green": 0}, "--mirror-traffic")
    check_mirror({"green": 0}, {"green": 100}, "--mirror-traffic")  # 0 clears
    with pytest.raises(TrafficError, match="at most 50 %"):
        check_mirror({"green": 51}, {"blue": 100}, "--mirror-traffic")
    with pytest.raises(TrafficError, match="one deployment at most"):
        check_mirror({"green": 10, "red": 10}, {"blue": 100}, "--mirror-traffic")
    with pytest.raises(TrafficError, match="live or mirrored traffic, not both"):
        check_mirror({"green": 10}, {"blue": 90, "green": 10}, "--mirror-traffic")


def test_full_traffic_gives_unnamed_deployments_zero():
    assert full_traffic({"green": 100}, ["blue", "green"]) == {"blue": 0, "green": 100}


def test_choice_follows_the_weights():
    split = TrafficSplit.of({"blue": 90, "green": 10, "red": 0})
    assert split.choose(0.0) == "blue" and split.choose(0.899) == "blue"
    assert split.choose(0.9) == "green" and split.choose(0.9999) == "green"
    assert TrafficSplit.of({"blue": 0}).choose() is None
    random.seed(7)
    n = 10_000
    green = sum(split.choose() == "green" for _ in range(n))
    assert abs(green - 1000) < 5 * (n * 0.1 * 0.9) ** 0.5  # binomial: 5 standard deviations
