"""Data layer: MLTable/JSONL readers, the dataset doctor, splits, converters, torch datasets.

Public entry points are below; torch datasets live in `automl.engine.data.datasets` and
converters in `automl.engine.data.converters`, so importing this package stays light.
"""

from automl.engine.data.doctor import DataReport
from automl.engine.data.prepare import (
    PreparedData,
    check_dataset,
    check_job_data,
    load_prepared_data,
    prepare_job_data,
)
from automl.engine.data.reader import read_dataset

__all__ = [
    "DataReport",
    "PreparedData",
    "check_dataset",
    "check_job_data",
    "load_prepared_data",
    "prepare_job_data",
    "read_dataset",
]
