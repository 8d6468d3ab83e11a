"""Trained tiny models (one per classification task, shared by the session):
`classification_run` and `multilabel_run` come from tests/conftest.py."""
