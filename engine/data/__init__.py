"""Data layer: MLTable/JSONL readers, the dataset doctor, splits, converters, torch datasets."""
