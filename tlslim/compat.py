"""TensorFlow 1.x graph-mode access.

`tf` here is `tensorflow.compat.v1`. Importing tlslim changes nothing global; the entry
points (scripts, `train`, `get_network_fn`'s builder) call `graph_mode()`, which turns
eager execution off once for the process, as a TF 1.x program would have it.
"""
import os
import re
import sys
import tempfile

# TF's C++ INFO/WARNING/ERROR lines (e.g. "failed call to cuInit" on a machine without a GPU)
# drown a student's log and break one-line error messages; Python exceptions still carry errors.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Lines TF's runtime writes straight to the stderr file descriptor while it is imported, before
# any log level applies, when it probes for CUDA.
_IMPORT_NOISE = re.compile(r"absl::InitializeLog|cudart_stub\.cc|cuda_drivers|Unable to register cu|"
                           r"TF-TRT Warning|computation placer already registered|cuda_(dnn|fft|blas)\.cc")


def _import_tensorflow():
    """Import TensorFlow with its CUDA-probe noise on fd 2 filtered out (other lines pass)."""
    if "tensorflow" in sys.modules:
        import tensorflow
        return tensorflow
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode("utf-8", "replace").splitlines(keepends=True):
                if not _IMPORT_NOISE.search(line):
                    sys.stderr.write(line)
            sys.stderr.flush()
    return tensorflow


_import_tensorflow()
import tensorflow.compat.v1 as tf  # noqa: E402
import tf_slim as slim  # noqa: E402

__all__ = ["tf", "slim", "graph_mode"]


def graph_mode():
    """Switch the process to TF 1.x graph mode (idempotent)."""
    if tf.executing_eagerly():
        tf.disable_eager_execution()
