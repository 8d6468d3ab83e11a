"""Per-task definitions shared by training, scoring, export and explanations.

Preprocessing lives here once per task, so validation during training, batch scoring, the
endpoint and ONNX parity checks all see the same pixels.
"""
