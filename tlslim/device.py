"""Where the model runs: device choice, session config, mixed precision.

    device = choose_device("auto")          # '/device:GPU:0' if TensorFlow sees a GPU, else CPU
    with tf.device(device): ...build the model...
    sess = tf.Session(config=session_config())

Mixed precision (`--mixed_precision`, off by default) builds the model in float16 with float32
master variables: `float16_getter` is a variable-scope custom getter that creates every
variable in float32 and hands the layers a float16 cast of it (tlslim.layers.batch_norm keeps its
parameters in float32 for float16 inputs, as the fused kernel wants). The training side
(tlslim.train) casts the logits back to float32 for the loss and applies dynamic loss scaling.
It is meant for GPUs; on a CPU it is allowed (so the path can be tried and tested anywhere) but
logs a warning, since float16 kernels on a CPU are slower than float32.
"""
import contextlib
import os

from absl import logging

from tlslim.compat import tf
from tlslim.errors import TlslimError

PREFERENCES = ("auto", "cpu", "gpu")


def _visible_devices(kind):
    """Physical devices of `kind` ('CPU' or 'GPU') TensorFlow can see."""
    return tf.config.list_physical_devices(kind)


def choose_device(pref="auto"):
    """'auto' | 'cpu' | 'gpu' (optionally ':N', e.g. 'gpu:1') -> a device string such as '/device:GPU:0'.

    'auto' picks the first GPU if TensorFlow sees one, else the CPU. Asking for a GPU (or a device
    index) that is not there raises TlslimError.
    """
    text = str(pref or "auto").strip().lower()
    kind, _, index = text.partition(":")
    if kind not in PREFERENCES or (index and (kind == "auto" or not index.isdigit())):
        raise TlslimError(f"unknown device '{pref}'; use auto, cpu or gpu (optionally with an index, e.g. gpu:1).")
    if kind == "auto":
        kind = "gpu" if _visible_devices("GPU") else "cpu"
    index = int(index or 0)
    if kind == "gpu":
        gpus = _visible_devices("GPU")
        if not gpus:
            raise TlslimError("--device gpu was requested but TensorFlow sees no GPU (no CUDA build or driver); "
                              "use --device cpu or --device auto.")
        if index >= len(gpus):
            raise TlslimError(f"--device gpu:{index} was requested but TensorFlow sees {len(gpus)} GPU(s); "
                              f"use an index below {len(gpus)}.")
        return f"/device:GPU:{index}"
    # Logical CPUs (tf.config.set_logical_device_configuration) can outnumber physical ones.
    cpus = tf.config.list_logical_devices("CPU") or _visible_devices("CPU")
    if index >= max(1, len(cpus)):
        raise TlslimError(f"--device cpu:{index} was requested but TensorFlow has {len(cpus)} CPU device(s); "
                          f"use --device cpu.")
    return f"/device:CPU:{index}"


def describe(device):
    """A human-readable line saying where `device` is, for the training log."""
    if "GPU" in device.upper():
        index = int(device.rsplit(":", 1)[-1])
        gpus = _visible_devices("GPU")
        name = ""
        if index < len(gpus):
            try:
                name = tf.config.experimental.get_device_details(gpus[index]).get("device_name", "")
            except (ValueError, AttributeError):
                name = ""
        return f"{device}" + (f" ({name})" if name else "")
    return f"{device} ({os.cpu_count()} CPU cores visible)"


def session_config(log_device_placement=False):
    """A ConfigProto with soft placement (ops without a kernel on the chosen device fall back
    to the CPU) and GPU memory allocated as needed instead of all at once."""
    config = tf.ConfigProto(allow_soft_placement=True, log_device_placement=log_device_placement)
    config.gpu_options.allow_growth = True
    # A tf.Session creates one CPU device unless told otherwise, even when the CPU was split into
    # logical devices; give it as many as there are, so '/device:CPU:1' is not silently CPU:0.
    cpus = len(tf.config.list_logical_devices("CPU"))
    if cpus > 1:
        config.device_count["CPU"] = cpus
    return config


def check_mixed_precision(device):
    """Log what --mixed_precision will do on `device` (a warning on CPU)."""
    if "GPU" in device.upper():
        logging.info("mixed precision: float16 compute, float32 master variables, dynamic loss scaling")
    else:
        logging.warning("mixed precision on CPU: allowed, but float16 kernels on a CPU are slower than float32; "
                        "it pays off on GPUs with tensor cores")


def float16_getter(getter, name, *args, dtype=None, **kwargs):
    """Custom getter: a variable requested in float16 is stored in float32 and handed to the
    layer as a float16 cast (gradients flow back to the float32 variable through the cast)."""
    if dtype is not None and tf.as_dtype(dtype).base_dtype == tf.float16:
        return tf.cast(getter(name, *args, dtype=tf.float32, **kwargs), tf.float16)
    return getter(name, *args, dtype=dtype, **kwargs)


@contextlib.contextmanager
def precision_scope(mixed_precision):
    """Variable scope for building the model: float16 compute if `mixed_precision`, else a no-op."""
    if not mixed_precision:
        yield
        return
    with tf.variable_scope(tf.get_variable_scope(), custom_getter=float16_getter):
        yield
