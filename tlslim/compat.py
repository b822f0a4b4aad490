"""TensorFlow 1.x graph-mode access.

`tf` here is `tensorflow.compat.v1`. Importing tlslim changes nothing global; the entry
points (scripts, `train`, `get_network_fn`'s builder) call `graph_mode()`, which turns
eager execution off once for the process, as a TF 1.x program would have it.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's C++ INFO/WARNING lines drown a student's log

import tensorflow.compat.v1 as tf  # noqa: E402
import tf_slim as slim  # noqa: E402

__all__ = ["tf", "slim", "graph_mode"]


def graph_mode():
    """Switch the process to TF 1.x graph mode (idempotent)."""
    if tf.executing_eagerly():
        tf.disable_eager_execution()
