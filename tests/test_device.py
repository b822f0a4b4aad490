"""Device choice, session config and the float16 variable getter (tlslim.device)."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tlslim import device, layers
from tlslim.compat import slim, tf
from tlslim.errors import TlslimError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fake_devices(monkeypatch, gpus):
    real = device._visible_devices

    def visible(kind):
        return [f"fake-gpu-{i}" for i in range(gpus)] if kind == "GPU" else real(kind)
    monkeypatch.setattr(device, "_visible_devices", visible)


def test_auto_picks_gpu_when_one_is_visible(monkeypatch):
    _fake_devices(monkeypatch, gpus=2)
    assert device.choose_device("auto") == "/device:GPU:0"
    assert device.choose_device("gpu") == "/device:GPU:0"
    assert device.choose_device("gpu:1") == "/device:GPU:1"
    assert device.choose_device("cpu") == "/device:CPU:0"


def test_auto_falls_back_to_cpu_without_gpu(monkeypatch):
    _fake_devices(monkeypatch, gpus=0)
    assert device.choose_device("auto") == "/device:CPU:0"
    assert device.choose_device(None) == "/device:CPU:0"


def test_gpu_without_gpu_is_a_one_line_error(monkeypatch):
    _fake_devices(monkeypatch, gpus=0)
    with pytest.raises(TlslimError) as err:
        device.choose_device("gpu")
    message = str(err.value)
    assert "--device gpu" in message and "no GPU" in message and "--device cpu" in message
    assert "\n" not in message


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="this machine has a GPU")
def test_gpu_on_this_gpu_less_machine_is_refused():
    with pytest.raises(TlslimError, match="sees no GPU"):
        device.choose_device("gpu")


@pytest.mark.parametrize("pref, match", [("gpu:3", "sees 2 GPU"), ("tpu", "unknown device"),
                                         ("auto:1", "unknown device"), ("gpu:x", "unknown device")])
def test_bad_preferences(monkeypatch, pref, match):
    _fake_devices(monkeypatch, gpus=2)
    with pytest.raises(TlslimError, match=match):
        device.choose_device(pref)


def test_session_config():
    config = device.session_config()
    assert config.allow_soft_placement is True
    assert config.gpu_options.allow_growth is True
    assert config.log_device_placement is False
    assert device.session_config(log_device_placement=True).log_device_placement is True


# Run in a fresh process: logical devices must be configured before TensorFlow initializes.
_PLACEMENT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    import tensorflow as tf2
    cpu = tf2.config.list_physical_devices("CPU")[0]
    tf2.config.set_logical_device_configuration(cpu, [tf2.config.LogicalDeviceConfiguration()] * 2)
    from tlslim.compat import graph_mode, tf
    from tlslim import device, nets
    from tlslim.errors import TlslimError
    graph_mode()
    chosen = device.choose_device("cpu:1")
    try:
        device.choose_device("cpu:2")
        print("NO ERROR")
    except TlslimError as err:
        print("ERROR", err)
    images = tf.random.uniform([2, 32, 32, 3])
    with tf.device(chosen):
        logits, _ = nets.get_network_fn("cifarnet", 10)(images)
    options = tf.RunOptions(output_partition_graphs=True)
    meta = tf.RunMetadata()
    with tf.Session(config=device.session_config()) as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(logits, options=options, run_metadata=meta)
    print("CHOSEN", chosen)
    print("OPDEVICES", sorted({{op.device for op in tf.get_default_graph().get_operations()
                                if op.type in ("Conv2D", "MatMul", "MaxPool", "LRN", "BiasAdd", "Relu")}}))
    for g in meta.partition_graphs:
        for node in g.node:
            if node.name.startswith("CifarNet/") and node.op not in ("_Send", "_Recv"):
                print("PLACED", node.op, node.device)
""")


def test_model_ops_are_placed_on_the_chosen_device():
    out = subprocess.run([sys.executable, "-c", _PLACEMENT.format(repo=REPO)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert "CHOSEN /device:CPU:1" in lines
    assert any(l.startswith("ERROR") and "cpu:2" in l and "2 CPU device" in l for l in lines), lines
    assert "OPDEVICES ['/device:CPU:1']" in lines
    placed = [l.split()[1:] for l in lines if l.startswith("PLACED")]
    ops = {op for op, _ in placed}
    # Grappler may fuse Conv2D+BiasAdd+Relu into _FusedConv2D, and oneDNN builds rename it again
    # (_MklNativeFusedConv2D); whatever the kernel is called, it runs on CPU:1.
    assert any(op.endswith("Conv2D") for op in ops) and any(op.endswith("MatMul") for op in ops), ops
    assert "LRN" in ops, ops
    assert {dev.rsplit("/", 1)[-1] for _, dev in placed} == {"device:CPU:1"}, placed


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_low_precision_getter_keeps_float32_variables(graph, dtype):
    images = tf.constant(np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 3)), dtype)
    with device.precision_scope(dtype):
        net = slim.conv2d(images, 4, [3, 3], normalizer_fn=layers.batch_norm, scope="conv")
        net = slim.fully_connected(slim.flatten(net), 5, activation_fn=None, scope="fc")
    assert net.dtype == dtype
    variables = {v.op.name: v.dtype.base_dtype for v in tf.global_variables()}
    assert variables == {name: tf.float32 for name in (
        "conv/weights", "conv/BatchNorm/beta", "conv/BatchNorm/moving_mean", "conv/BatchNorm/moving_variance",
        "fc/weights", "fc/biases")}
    grads = tf.gradients(tf.reduce_sum(tf.cast(net, tf.float32)), tf.trainable_variables())
    assert all(g is not None and g.dtype == tf.float32 for g in grads)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        out, g = sess.run([net, grads])
    assert np.all(np.isfinite(out)) and all(np.all(np.isfinite(x)) for x in g)


def test_precision_scope_off_is_plain_float32(graph):
    with device.precision_scope(None):
        net = slim.fully_connected(tf.zeros([1, 3]), 2, scope="fc")
    assert net.dtype == tf.float32
    assert [v.dtype.base_dtype for v in tf.global_variables()] == [tf.float32, tf.float32]


def test_cpu_flags_and_precision_checks(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: X\nflags\t\t: fpu avx2 avx512f avx512_bf16\n\n"
                       "processor\t: 1\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")
    assert device.cpu_flags(str(cpuinfo)) == {"fpu", "avx2", "avx512f", "avx512_bf16"}
    assert device.cpu_flags(str(tmp_path / "missing")) == set()
    cpu = "/device:CPU:0"
    device.check_precision("mixed_bfloat16", cpu, flags={"avx512_bf16"})
    device.check_precision("mixed_bfloat16", cpu, flags={"amx_bf16", "amx_tile"})
    with pytest.raises(TlslimError, match="needs a CPU with bfloat16 arithmetic .* use --precision float32") as err:
        device.check_precision("mixed_bfloat16", cpu, flags={"avx2"})
    assert "\n" not in str(err.value)
    with pytest.raises(TlslimError, match="--precision must be one of float32, mixed_float16, mixed_bfloat16"):
        device.check_precision("float8", cpu)
    assert device.compute_dtype("float32", cpu) is None and device.compute_dtype("mixed_bfloat16", cpu) is None
    assert device.compute_dtype("mixed_float16", cpu) == tf.float16
    assert device.compute_dtype("mixed_bfloat16", "/device:GPU:0") == tf.bfloat16
    on = device.precision_session_config(device.session_config(), "mixed_bfloat16", cpu)
    assert on.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 == 1  # RewriterConfig.ON
    off = device.precision_session_config(device.session_config(), "float32", cpu)
    assert off.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 == 0  # DEFAULT (off)


def test_mixed_precision_is_an_alias_of_mixed_float16():
    from tlslim import train
    assert train.check_config(train.TrainConfig(mixed_precision=True)).precision == "mixed_float16"
    checked = train.check_config(train.TrainConfig(precision="mixed_float16"))
    assert checked.mixed_precision is True
    with pytest.raises(TlslimError, match="--mixed_precision is --precision mixed_float16, but --precision "
                                          "mixed_bfloat16 was given too"):
        train.check_config(train.TrainConfig(mixed_precision=True, precision="mixed_bfloat16"))
