"""Where the model runs: device choice, session config, mixed precision.

    device = choose_device("auto")          # '/device:GPU:0' if TensorFlow sees a GPU, else CPU
    with tf.device(device): ...build the model...
    sess = tf.Session(config=session_config())

Precision (`--precision`, float32 by default). mixed_float16 builds the model in float16 with
float32 master variables: `low_precision_getter` is a variable-scope custom getter that creates
every variable in float32 and hands the layers a cast of it (tlslim.layers.batch_norm keeps its
parameters in float32, as the fused kernel wants). The training side (tlslim.train) casts the
logits back to float32 for the loss and applies dynamic loss scaling. It is meant for GPUs; on a
CPU it is allowed (so the path can be tried and tested anywhere) but logs a warning, since
float16 kernels on a CPU are slower than float32. mixed_bfloat16 needs hardware with bfloat16
arithmetic: on a GPU of compute capability 8.0 or more the model is built in bfloat16 the same way
(bfloat16 has float32's range: no loss scaling); on a CPU with avx512_bf16 or AMX the graph stays
float32 and oneDNN's auto-mixed-precision rewrite (a session option) runs what it can in
bfloat16. Either way variables and checkpoints are float32.
"""
import contextlib
import os

from absl import logging
from tensorflow.core.protobuf import rewriter_config_pb2

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


def replica_devices(num_replicas, on_cpu=False):
    """The devices of `num_replicas` replicas: that many GPUs, or with `on_cpu` that many CPU
    devices, the CPU split into logical devices if TensorFlow has not started its devices yet
    (splitting is only possible before; call this before anything lists devices)."""
    if on_cpu:
        physical = tf.config.list_physical_devices("CPU")
        try:
            current = tf.config.get_logical_device_configuration(physical[0]) or []
            if len(current) < num_replicas:
                tf.config.set_logical_device_configuration(
                    physical[0], [tf.config.LogicalDeviceConfiguration() for _ in range(num_replicas)])
        except RuntimeError:  # devices already started: what exists is what there is
            pass
        cpus = tf.config.list_logical_devices("CPU")
        if len(cpus) < num_replicas:
            raise TlslimError(f"--num_clones {num_replicas} --clone_on_cpu needs {num_replicas} CPU devices, but "
                              f"TensorFlow started with {len(cpus)} before they could be made; start a new process.")
        return [f"/device:CPU:{i}" for i in range(num_replicas)]
    gpus = _visible_devices("GPU")
    if len(gpus) < num_replicas:
        raise TlslimError(f"--num_clones {num_replicas} needs {num_replicas} GPUs and TensorFlow sees {len(gpus)}; "
                          f"use --num_clones {max(len(gpus), 1)}, or --clone_on_cpu to run the replicas on the CPU.")
    return [f"/device:GPU:{i}" for i in range(num_replicas)]


def available_memory(device, meminfo="/proc/meminfo", cgroup="/sys/fs/cgroup/memory.max"):
    """Bytes of memory a model on `device` can still use: for the CPU, the system's available memory
    (within the container's limit, if any); None where unknown (GPUs, systems without /proc)."""
    if "GPU" in device.upper():
        return None
    available = None
    try:
        with open(meminfo, encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    try:
        with open(cgroup, encoding="utf-8") as f:
            limit = f.read().strip()
        if available is not None and limit.isdigit():
            available = min(available, int(limit))
    except OSError:
        pass
    return available


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


PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
# /proc/cpuinfo flags of x86 CPUs with bfloat16 arithmetic (AVX-512 BF16; AMX tiles).
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(path="/proc/cpuinfo"):
    """The CPU's feature flags (empty where the system does not list them)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def gpu_compute_capability(device):
    """(major, minor) of the GPU `device` ('/device:GPU:N'), or None when unknown."""
    gpus = _visible_devices("GPU")
    index = int(device.rsplit(":", 1)[-1])
    if index >= len(gpus):
        return None
    try:
        return tuple(tf.config.experimental.get_device_details(gpus[index]).get("compute_capability") or ()) or None
    except (ValueError, AttributeError):
        return None


def check_precision(precision, device, flags=None):
    """TlslimError (one line) if `device` cannot run `precision`; logs what the precision does."""
    gpu = "GPU" in device.upper()
    if precision == "mixed_float16":
        if gpu:
            logging.info("mixed precision: float16 compute, float32 master variables, dynamic loss scaling")
        else:
            logging.warning("mixed_float16 on CPU: allowed, but float16 kernels on a CPU are slower than float32; "
                            "it pays off on GPUs with tensor cores")
    elif precision == "mixed_bfloat16":
        if gpu:
            capability = gpu_compute_capability(device)
            if capability is not None and capability < (8, 0):
                raise TlslimError(f"--precision mixed_bfloat16 needs a GPU of compute capability 8.0 or more; "
                                  f"{device} has {'.'.join(map(str, capability))}; use --precision mixed_float16.")
            logging.info("mixed precision: bfloat16 compute, float32 master variables")
        else:
            have = cpu_flags() if flags is None else flags
            if not have & set(BFLOAT16_CPU_FLAGS):
                raise TlslimError("--precision mixed_bfloat16 needs a CPU with bfloat16 arithmetic (avx512_bf16 or "
                                  "AMX), and this one lists neither; use --precision float32.")
            logging.info("mixed precision: oneDNN runs the float32 graph in bfloat16 where it can (%s)",
                         ", ".join(sorted(have & set(BFLOAT16_CPU_FLAGS))))
    elif precision != "float32":
        raise TlslimError(f"--precision must be one of {', '.join(PRECISIONS)}, got '{precision}'.")


def compute_dtype(precision, device):
    """The dtype the model is built in for `precision` on `device`: float16, bfloat16 (GPUs), or
    None for a float32 graph (float32, and bfloat16 on CPUs, which the session rewrites)."""
    if precision == "mixed_float16":
        return tf.float16
    if precision == "mixed_bfloat16" and "GPU" in device.upper():
        return tf.bfloat16
    return None


def precision_session_config(config, precision, device):
    """`config` (a ConfigProto) with oneDNN's bfloat16 rewrite on for mixed_bfloat16 on a CPU."""
    if precision == "mixed_bfloat16" and "GPU" not in device.upper():
        rewrites = config.graph_options.rewrite_options
        rewrites.auto_mixed_precision_onednn_bfloat16 = rewriter_config_pb2.RewriterConfig.ON
    return config


def _low_precision_getter(compute):
    def getter(next_getter, name, *args, dtype=None, **kwargs):
        """A variable requested in `compute` dtype is stored in float32 and handed to the layer as
        a cast (gradients flow back to the float32 variable through the cast)."""
        if dtype is not None and tf.as_dtype(dtype).base_dtype == compute:
            return tf.cast(next_getter(name, *args, dtype=tf.float32, **kwargs), compute)
        return next_getter(name, *args, dtype=dtype, **kwargs)
    return getter


@contextlib.contextmanager
def precision_scope(dtype):
    """Variable scope for building the model in `dtype` (tf.float16 or tf.bfloat16) with float32
    variables; a no-op for None."""
    if dtype is None:
        yield
        return
    with tf.variable_scope(tf.get_variable_scope(), custom_getter=_low_precision_getter(dtype)):
        yield
