"""What every sweep sampler shares: the registry and the thin ask wrapper over Optuna.

The sampler names, the default one and each sampler's options with their defaults are
the schema's (`sweep.sampling_algorithm` in job.schema.json): a sampler registers under a
name of the schema's enum (`register_sampler`), and its builder gets the job's settings
with the schema's defaults filled in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from automl import schemas
from automl.engine.errors import ConfigError
from automl.engine.sweep.attrs import PARAMS_ATTR
from automl.engine.utils.registry import Registry

if TYPE_CHECKING:
    import optuna

    from automl.engine.sweep.space import SearchSpace

__all__ = ["PARAMS_ATTR", "SAMPLERS", "SweepSampler", "build_sampler", "normalize_sampling"]

SamplerBuilder = Callable[[Mapping[str, Any], "SearchSpace"], "optuna.samplers.BaseSampler"]
SAMPLERS: Registry[SamplerBuilder] = Registry("sampling algorithm")


def register_sampler(name: str) -> Callable[[SamplerBuilder], SamplerBuilder]:
    """Decorator: register a sampler builder under `name`, one of the schema's names."""
    if name not in schemas.sampler_names():
        raise ValueError(
            f"sampler {name!r} is not in job.schema.json's sweep.sampling_algorithm enum "
            f"({', '.join(schemas.sampler_names())}): add it there first"
        )
    return SAMPLERS.register(name)


def normalize_sampling(sampling_algorithm: str | Mapping | None) -> dict:
    """`random` or `{type: random, seed: 1}` (any case) -> {"type": "random", "seed": 1, ...};
    None: the schema's default sampler."""
    if sampling_algorithm is None:
        return {"type": schemas.default_sampler()}
    if isinstance(sampling_algorithm, str):
        return {"type": sampling_algorithm.lower()}
    if isinstance(sampling_algorithm, Mapping) and "type" in sampling_algorithm:
        return {**sampling_algorithm, "type": str(sampling_algorithm["type"]).lower()}
    raise ConfigError(
        f"$.sweep.sampling_algorithm: expected a name or {{type: ...}}, got {sampling_algorithm!r}",
        hint="write e.g. 'sampling_algorithm: random'",
    )


def build_sampler(
    sampling_algorithm: str | Mapping | None, space: SearchSpace
) -> optuna.samplers.BaseSampler:
    """The Optuna sampler for a job's `sweep.sampling_algorithm` over `space`."""
    settings = normalize_sampling(sampling_algorithm)
    builder = SAMPLERS.get(settings["type"])
    return builder({**schemas.sampler_options(settings["type"]), **settings}, space)


class SweepSampler:
    """Asks the study for a trial and samples its hyperparameters from the search space.

    Kept deliberately thin (one `ask`, one define-by-run pass, one user attribute), so a
    sweep costs what bare Optuna costs; `bench/sweep_overhead.py` measures it.
    """

    def __init__(self, study: optuna.Study, space: SearchSpace) -> None:
        self.study = study
        self.space = space

    def ask(self) -> tuple[optuna.trial.Trial, dict]:
        """A new (or enqueued) trial and the hyperparameters it runs with."""
        trial = self.study.ask()
        params = self.space.suggest(trial)
        trial.set_user_attr(PARAMS_ATTR, params)
        return trial, params

    def is_exhausted(self) -> bool:
        """True when the sampler has nothing new to propose (a finished grid)."""
        exhausted = getattr(self.study.sampler, "is_exhausted", None)
        return bool(exhausted and exhausted(self.study))
