"""Helpers shared by the test folders (importable as `_support`: pytest's `pythonpath`
option in pyproject.toml puts tests/ on the path).

- `paths`: the repository's folders (bundled data, example jobs) and the installed `automl`.
- `jobs`: `write_job`, the one job-file factory (the smallest valid job on bundled data).
- `trained`: tiny models trained once per test session, shared by every xdist worker.
- `http_server`: a real uvicorn server in a thread, for endpoint tests.
"""
