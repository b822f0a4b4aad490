"""The labs reproduce the lectures' numbers.

Every expected value here is computed in the test from the formula or the architecture
description, not taken from a lab's output.
"""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from tlslim import labs
from tlslim.compat import slim, tf
from tlslim.errors import TlslimError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def results():
    """Each lab run at most once for the whole module; its numbers must survive --json as they are."""
    cache = {}

    def get(name):
        if name not in cache:
            result = labs.run(name)
            assert json.loads(json.dumps(result, allow_nan=False)) == result
            cache[name] = result
        return cache[name]
    return get


# ---------------------------------------------------------------- registry

def test_registry_lists_every_lab_module_and_rejects_unknown_names():
    assert labs.names() == ["activations", "weight_init", "batch_norm", "tensor_names", "receptive_field",
                            "params", "preprocessing", "regularization", "strategies"]
    with pytest.raises(TlslimError, match=r"^unknown lab 'nope'; known labs: activations, weight_init, "):
        labs.get("nope")


# ---------------------------------------------------------------- activations

def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


SELU_ALPHA, SELU_LAMBDA = 1.6732632423543772, 1.0507009873554805
# (value, derivative); at the kink x = 0, TF's convention: the x <= 0 slope for the ReLU family,
# the x >= 0 slope for ELU and SELU.
EXPECTED_ACTIVATIONS = {
    "sigmoid": (_sigmoid, lambda x: _sigmoid(x) * (1 - _sigmoid(x))),
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "relu": (lambda x: max(x, 0.0), lambda x: 1.0 if x > 0 else 0.0),
    "leaky_relu": (lambda x: x if x > 0 else 0.01 * x, lambda x: 1.0 if x > 0 else 0.01),
    "prelu": (lambda x: x if x > 0 else 0.25 * x, lambda x: 1.0 if x > 0 else 0.25),
    "elu": (lambda x: x if x >= 0 else math.expm1(x), lambda x: 1.0 if x >= 0 else math.exp(x)),
    "selu": (lambda x: SELU_LAMBDA * (x if x >= 0 else SELU_ALPHA * math.expm1(x)),
             lambda x: SELU_LAMBDA * (1.0 if x >= 0 else SELU_ALPHA * math.exp(x))),
    "maxout": (lambda x: max(x, 0.1 * x + 0.5), lambda x: 1.0 if x > 0.5 / 0.9 else 0.1),
    "swish": (lambda x: x * _sigmoid(x), lambda x: _sigmoid(x) + x * _sigmoid(x) * (1 - _sigmoid(x))),
}


def test_activations_values_and_gradients_match_their_formulas(results):
    r = results("activations")
    assert r["points"] == [-10.0, 0.0, 10.0]
    assert set(r["activations"]) == set(EXPECTED_ACTIVATIONS)
    # The lab computes in float64, but LeakyRelu's alpha is a float32 attribute (0.01 -> 0.0099999998).
    for name, (f, df) in EXPECTED_ACTIVATIONS.items():
        np.testing.assert_allclose(r["activations"][name]["value"], [f(x) for x in r["points"]],
                                   rtol=1e-7, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(r["activations"][name]["grad"], [df(x) for x in r["points"]],
                                   rtol=1e-7, atol=1e-12, err_msg=name)


def test_sigmoid_saturates_and_is_not_zero_centred(results):
    s = results("activations")["activations"]["sigmoid"]
    assert s["grad"][1] == pytest.approx(0.25, rel=1e-12)
    # e^-10 / (1 + e^-10)^2 = 4.5396e-5 at both ends: about 5500 times less than at 0.
    expected = math.exp(-10) / (1 + math.exp(-10)) ** 2
    assert s["grad"][0] == pytest.approx(expected, rel=1e-9)
    assert s["grad"][2] == pytest.approx(expected, rel=1e-9)
    assert 4.5e-5 < expected < 4.6e-5
    # sigma(x) + sigma(-x) = 1, so over a grid symmetric about 0 the mean is exactly 1/2; tanh is odd.
    assert s["grid_min"] > 0
    assert s["grid_mean"] == pytest.approx(0.5, abs=1e-12)
    assert results("activations")["activations"]["tanh"]["grid_mean"] == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------- weight_init

_Z, _W = np.polynomial.hermite_e.hermegauss(200)
_W = _W / _W.sum()  # expectation over z ~ N(0, 1)


def _mean_field_std(nonlinearity, weight_std, din=4096, layers=6):
    """Std of each layer's activations for an infinitely wide net (Poole et al. 2016):
    pre-activation variance q_l = Din * s^2 * E[h_{l-1}^2], with E[x^2] = 1 for the input."""
    second_moment, stds = 1.0, []
    for _ in range(layers):
        q = din * weight_std ** 2 * second_moment
        if nonlinearity == "tanh":
            h = np.tanh(np.sqrt(q) * _Z)
            second_moment, mean = float(_W @ h ** 2), float(_W @ h)
        else:  # ReLU of N(0, q): E[h^2] = q / 2, E[h] = sqrt(q / (2 pi))
            second_moment, mean = q / 2, math.sqrt(q / (2 * math.pi))
        stds.append(math.sqrt(second_moment - mean ** 2))
    return stds, q


def test_weight_init_activation_std_follows_signal_propagation_theory(results):
    configs = results("weight_init")["configs"]
    assert len(configs) == 5
    for name, c in configs.items():
        predicted, _ = _mean_field_std(c["nonlinearity"], c["weight_std"])
        # 16 x 4096 samples per layer and 4096-term sums: finite-size effects are ~1%.
        np.testing.assert_allclose(c["std"], predicted, rtol=0.05, err_msg=name)


def test_weight_init_lecture_claims(results):
    c = results("weight_init")["configs"]
    small = c["tanh, std 0.01"]["std"]
    # Gain per layer Din * s^2 = 0.41 (std x 0.64, less after tanh): collapse towards 0.
    assert all(b < 0.7 * a for a, b in zip(small, small[1:]))
    assert small[-1] < 0.64 ** 6 * 1.1
    # s = 0.05: gain 10; at the fixed point most units sit where tanh' < 0.19.
    _, q = _mean_field_std("tanh", 0.05)
    predicted_saturation = math.erfc(math.atanh(0.9) / math.sqrt(2 * q))  # P(|tanh(sqrt(q) z)| > 0.9)
    assert predicted_saturation > 0.5
    for fraction in c["tanh, std 0.05"]["saturated"]:
        assert fraction > 0.5
    assert c["tanh, std 0.05"]["saturated"][-1] == pytest.approx(predicted_saturation, abs=0.03)
    # Xavier keeps tanh's std order 1 (mean-field: 0.29 after 6 layers, decaying only slowly).
    assert 0.25 < c["tanh, Xavier 1/sqrt(Din)"]["std"][-1] < 0.35
    # ReLU with Xavier halves the second moment each layer: std x 1/sqrt(2).
    relu_xavier = c["relu, Xavier 1/sqrt(Din)"]["std"]
    np.testing.assert_allclose(np.divide(relu_xavier[1:], relu_xavier[:-1]), 1 / math.sqrt(2), rtol=0.05)
    # Kaiming keeps it: std sqrt(1 - 1/pi) = 0.826 at every layer.
    np.testing.assert_allclose(c["relu, Kaiming sqrt(2/Din)"]["std"], math.sqrt(1 - 1 / math.pi), rtol=0.05)


# ---------------------------------------------------------------- batch_norm

def _normalize(x, mean, var, beta, gamma, eps):
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def test_batch_norm_manual_method_equals_layer_in_training(results):
    r = results("batch_norm")
    x = np.array(r["inputs"], np.float64)
    expected = _normalize(x, x.mean((0, 1, 2)), x.var((0, 1, 2)), np.array(r["beta"]), np.array(r["gamma"]), 1e-3)
    # float32 outputs of magnitude < 10: 1e-5 is ~100 ulps.
    np.testing.assert_allclose(r["train_output"], expected, atol=1e-5)
    assert r["manual_vs_layer_max_abs_diff"] < 1e-5


def test_batch_norm_inference_uses_moving_statistics(results):
    r = results("batch_norm")
    x = np.array(r["inputs"], np.float64)
    n = x.shape[0] * x.shape[1] * x.shape[2]
    mean, var = x.mean((0, 1, 2)), x.var((0, 1, 2))
    var_unbiased = var * n / (n - 1)
    train = _normalize(x, mean, var, np.array(r["beta"]), np.array(r["gamma"]), 1e-3)
    d = r["decay"]
    assert [m["steps"] for m in r["moving"]] == [0, 1, 10, 50, 200]
    for m in r["moving"]:
        k = m["steps"]
        # From mean 0 / variance 1, K updates x <- x - (1 - d)(x - v) on the same batch.
        moving_mean = (1 - d ** k) * mean
        moving_var = d ** k + (1 - d ** k) * var_unbiased
        np.testing.assert_allclose(m["moving_mean"], moving_mean, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(m["moving_variance"], moving_var, rtol=1e-4)
        test = _normalize(x, moving_mean, moving_var, np.array(r["beta"]), np.array(r["gamma"]), 1e-3)
        np.testing.assert_allclose(m["test_output"], test, atol=1e-4)
        assert m["train_test_max_abs_diff"] == pytest.approx(np.abs(train - test).max(), rel=1e-2, abs=1e-4)
    # The difference shrinks but stays: the moving variance is the unbiased one.
    diffs = [m["train_test_max_abs_diff"] for m in r["moving"]]
    assert diffs == sorted(diffs, reverse=True) and diffs[-1] > 1e-3


def test_batch_norm_folds_into_the_conv_and_makes_its_bias_redundant(results):
    f, b = results("batch_norm")["fold"], results("batch_norm")["bias"]
    # slim.conv2d with a normalizer_fn has no biases variable.
    assert f["variables"] == ["conv/BatchNorm/beta", "conv/BatchNorm/gamma", "conv/BatchNorm/moving_mean",
                              "conv/BatchNorm/moving_variance", "conv/weights"]
    assert f["max_abs_output"] > 1.0
    assert f["max_abs_diff"] < 1e-5 * 10 * f["max_abs_output"]  # float32, 27-term sums, rescaled
    assert max(abs(v) for v in b["bias"]) > 1.0
    assert b["output_max_abs_diff"] < 1e-4
    assert b["grad_bias_max_abs"] < 1e-5 * b["grad_weights_max_abs"]


# ---------------------------------------------------------------- tensor_names

def test_tensor_names_lookups_and_multi_output_ops(results):
    r = results("tensor_names")
    assert r["found"] == {"c.name": "mul:0", "c.op.name": "mul", "get_tensor_by_name('mul:0') is c": True,
                          "get_operation_by_name('mul') is c.op": True, "c.op.outputs[0] is c": True}
    m = r["moments"]
    assert (m["mean.name"], m["variance.name"]) == ("moments/Squeeze:0", "moments/Squeeze_1:0")
    assert m["moments/mean:0 shape"] == [1, 2] and m["mean shape"] == [2]
    # mean and (biased) variance of the columns [1, 3] and [2, 6]
    assert m["values"] == [2.0, 4.0, 1.0, 4.0]
    t = r["multi_output"]
    assert t["outputs"] == ["TopKV2:0", "TopKV2:1"]
    assert t["values"] == [3.0, 2.0] and t["indices"] == [1, 2]


def test_tensor_names_mistakes_give_the_real_errors(results):
    mistakes = results("tensor_names")["mistakes"]
    expected = {
        "get_tensor_by_name('mul')": ("ValueError", "refers to an Operation, not a Tensor"),
        "get_tensor_by_name('mull:0')": ("KeyError", "The operation, 'mull', does not exist in the graph"),
        "get_tensor_by_name('mul:1')": ("KeyError", "exists but only has 1 outputs"),
        "get_operation_by_name('mul:0')": ("ValueError", "appears to refer to a Tensor, not a Operation"),
        "get_operation_by_name('mull')": ("KeyError", "refers to an Operation not in the graph"),
    }
    assert set(mistakes) == set(expected)
    for call, (error, phrase) in expected.items():
        assert mistakes[call][0] == error, call
        assert phrase in mistakes[call][1], call
    runs = results("tensor_names")["runs"]
    assert runs["sess.run('mul')"] == "None"
    assert "6.0" in runs["sess.run('mul:0')"]


def test_tensor_names_vgg16_fc7_and_penultimate_by_name(results):
    v = results("tensor_names")["vgg_16"]["inference"]
    assert v["fc7_ops"] == ["vgg_16/fc7/weights", "vgg_16/fc7/biases", "vgg_16/fc7/Conv2D",
                            "vgg_16/fc7/BiasAdd", "vgg_16/fc7/Relu"]
    assert v["fc7_tensor"] == "vgg_16/fc7/Relu:0"
    assert v["fc7_shape"] == [None, 1, 1, 4096]
    # The classifier reads fc7 after dropout7, which is an Identity op in inference.
    assert v["penultimate_tensor"] == "vgg_16/dropout7/Identity:0"
    assert v["penultimate_op_type"] == "Identity"
    assert v["penultimate_is_end_point"] is True and v["by_name_is_penultimate"] is True
    assert v["scope_as_tensor"][0] == "KeyError" and "does not exist" in v["scope_as_tensor"][1]
    assert v["scope_as_op"][0] == "KeyError"


@pytest.mark.parametrize("training", [False, True])
def test_tensor_names_vgg16_penultimate_names_are_the_graphs(graph, results, training):
    """The names the lab reports are those of a vgg_16 built here, looked up by name."""
    from tlslim import nets, restore
    images = tf.placeholder(tf.float32, [None, 32, 32, 3])
    _, end_points = nets.get_network_fn("vgg_16", num_classes=10, is_training=training)(images)
    v = results("tensor_names")["vgg_16"]["training" if training else "inference"]
    assert graph.get_tensor_by_name(v["fc7_tensor"]) is graph.get_tensor_by_name("vgg_16/fc7/Relu:0")
    assert graph.get_tensor_by_name(v["penultimate_tensor"]) is end_points["PreLogits"]
    assert restore.penultimate(graph, "vgg_16") is end_points["PreLogits"]
    if training:  # dropout builds its own ops after fc7: the penultimate tensor is neither of these
        assert v["penultimate_tensor"].startswith("vgg_16/dropout7/")
        assert v["penultimate_tensor"] not in ("vgg_16/fc7/Relu:0", "vgg_16/dropout7/Identity:0")


def test_tensor_names_vgg16_penultimate_is_fc7_in_inference_and_dropped_out_in_training(results):
    keep_prob = 0.5  # slim's VGG default
    inference, training = results("tensor_names")["vgg_16"]["inference"], results("tensor_names")["vgg_16"]["training"]
    assert inference["equal"] is True and inference["active_units_zeroed"] == 0
    assert inference["penultimate_sample"] == inference["fc7_sample"]
    # Training: every unit is dropped (0) or kept and scaled by 1 / keep_prob (exact: a power of two).
    assert training["equal"] is False
    fc7, penultimate = np.array(training["fc7_sample"]), np.array(training["penultimate_sample"])
    assert len(fc7) == len(penultimate) == 64 and (fc7 >= 0).all()
    kept = penultimate != 0
    np.testing.assert_array_equal(penultimate[kept], fc7[kept] / keep_prob)
    active = fc7 > 0
    assert (active & kept).any() and (active & ~kept).any()
    # About half of fc7's active units are dropped (2000 coin flips: 45%-55% is > 4 sd wide).
    assert training["active_units"] > 1000
    assert 0.45 < training["active_units_zeroed"] / training["active_units"] < 0.55


# ---------------------------------------------------------------- receptive_field

def _recurrence(layers):
    """[(kernel, stride)] -> receptive field after each layer: r += (k - 1) * j, j *= s."""
    r, j, out = 1, 1, []
    for k, s in layers:
        r, j = r + (k - 1) * j, j * s
        out.append((r, j))
    return out


def test_receptive_field_stacked_3x3_convs(results):
    s = results("receptive_field")["stacked"]
    c = s["channels"]
    assert s["stack_receptive_fields"] == [r for r, _ in _recurrence([(3, 1)] * 3)] == [3, 5, 7]
    assert s["single_receptive_field"] == 7
    assert (s["stack_weights"], s["single_weights"]) == (27 * c * c, 49 * c * c)
    assert 1 - 27 / 49 == pytest.approx(0.449, abs=1e-3)


def test_receptive_field_of_vgg16_every_layer(results):
    rows = {key: (rf, jump) for key, rf, jump in results("receptive_field")["nets"]["vgg_16"]}
    layers, names = [], []
    for block, convs in enumerate((2, 2, 3, 3, 3), start=1):
        for i in range(1, convs + 1):
            layers.append((3, 1))
            names.append(f"vgg_16/conv{block}/conv{block}_{i}")
        layers.append((2, 2))
        names.append(f"vgg_16/pool{block}")
    for name, expected in zip(names, _recurrence(layers)):
        assert rows[name] == expected, name
    assert rows["vgg_16/pool5"] == (212, 32)


def _resnet_block_fields(units):
    """conv1 7x7/2, pool 3x3/2, then bottlenecks (1x1, 3x3, 1x1), each block strided in its last
    unit's 3x3 (slim's resnet_v1), the last block not strided. The shortcut never sees more."""
    layers, ends = [(7, 2), (3, 2)], []
    for block, n in enumerate(units):
        for u in range(n):
            stride = 2 if (u == n - 1 and block < 3) else 1
            layers += [(1, 1), (3, stride), (1, 1)]
        ends.append(len(layers) - 1)
    fields = _recurrence(layers)
    return [fields[e] for e in ends]


def test_receptive_field_of_resnet_v1_50_blocks(results):
    rows = {key: (rf, jump) for key, rf, jump in results("receptive_field")["nets"]["resnet_v1_50"]}
    expected = _resnet_block_fields((3, 4, 6, 3))
    assert [rows[f"resnet_v1_50/block{i}"] for i in range(1, 5)] == expected
    assert expected[-1] == (483, 32)  # the value published for slim's resnet_v1_50
    assert rows["global_pool"][0] is None


# MobileNet v1 1.0 (Howard et al. 2017, table 1): a 3x3/2 conv, then 13 depthwise 3x3 convs with
# these strides, each followed by a 1x1 pointwise conv to these widths.
MOBILENET_DW_STRIDES = (1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)
MOBILENET_WIDTHS = (64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)


def test_labs_take_new_registry_nets():
    from tlslim import labs
    fields = labs.run("receptive_field", nets=["mobilenet_v1"])["nets"]["mobilenet_v1"]
    rows = {key: (rf, jump) for key, rf, jump in fields}
    convs = _recurrence([(3, 2)] + [(3, s) for s in MOBILENET_DW_STRIDES])  # pointwise convs add nothing
    assert rows["Conv2d_13_pointwise"] == convs[-1] == (315, 32)
    # Then slim's 7x7 VALID average pool over the 7x7 map (slim.avg_pool2d's default stride is 2).
    assert rows["AvgPool_1a"] == _recurrence([(3, 2)] + [(3, s) for s in MOBILENET_DW_STRIDES] + [(7, 2)])[-1]
    assert rows["PreLogits"] == rows["AvgPool_1a"] == (507, 64)

    counted = labs.run("params", nets=["mobilenet_v1"])["nets"]["mobilenet_v1"]
    # Trainable parameters: weights, batch norm's beta and gamma (mobilenet_v1_arg_scope scales),
    # and the 1001-way 1x1 logits conv with biases.
    total, width = 3 * 3 * 3 * 32 + 2 * 32, 32
    for out in MOBILENET_WIDTHS:
        total += 3 * 3 * width + 2 * width + width * out + 2 * out
        width = out
    total += 1024 * 1001 + 1001
    # Keras's MobileNet (1000 classes, the same layers) has 4,231,976 trainable parameters.
    assert counted["total"] == total == 4_231_976 + 1024 + 1
    with pytest.raises(TlslimError, match="does not take --nets; the labs that do: receptive_field, params"):
        labs.run("activations", nets=["mobilenet_v1"])


def test_receptive_field_calculator_on_any_graph(graph):
    from tlslim.labs.receptive_field import receptive_field
    x = tf.placeholder(tf.float32, [1, 64, 64, 3])
    dilated = tf.nn.conv2d(x, tf.zeros([3, 3, 3, 4]), strides=[1, 1, 1, 1], padding="SAME", dilations=[1, 2, 2, 1])
    assert receptive_field(x, dilated) == ((5, 5), (1, 1))  # 3x3 at rate 2 spans 5
    pooled = slim.avg_pool2d(x, [3, 3], stride=2, padding="SAME")
    conv = slim.conv2d(pooled, 4, [3, 3], scope="after_pool")
    assert receptive_field(x, conv) == ((7, 7), (2, 2))  # 3 + (3 - 1) * 2
    # Two branches meet: the larger field wins.
    branch = slim.conv2d(x, 4, [1, 1], stride=2, scope="shortcut") + slim.conv2d(
        slim.conv2d(x, 4, [5, 1], scope="tall"), 4, [3, 3], stride=2, scope="strided")
    assert receptive_field(x, branch) == ((7, 3), (2, 2))  # tall: (5, 1), then + 2 per axis
    assert receptive_field(x, tf.reduce_mean(conv, [1, 2]))[0] == (math.inf, math.inf)
    with pytest.raises(TlslimError, match="is not computed from"):
        receptive_field(x, tf.constant(1.0))


def test_receptive_field_calculator_over_another_registry_net():
    from tlslim.labs.receptive_field import net_receptive_fields
    rows = {key: (rf, jump) for key, rf, jump in net_receptive_fields("alexnet_v2")}
    # alexnet_v2: conv1 11x11/4, pool 3x3/2, conv2 5x5, pool 3x3/2, conv3-5 3x3, pool 3x3/2
    expected = _recurrence([(11, 4), (3, 2), (5, 1), (3, 2), (3, 1), (3, 1), (3, 1), (3, 2)])
    assert rows["alexnet_v2/pool5"] == expected[-1] == (195, 32)


# ---------------------------------------------------------------- params

def _conv(k, cin, cout):
    return k * k * cin * cout + cout


# The paper's table 1: per block, the conv kernel sizes (widths 64, 128, 256, 512, 512).
VGG_TABLE = {
    "A": ((3,), (3,), (3, 3), (3, 3), (3, 3)),
    "B": ((3, 3), (3, 3), (3, 3), (3, 3), (3, 3)),
    "C": ((3, 3), (3, 3), (3, 3, 1), (3, 3, 1), (3, 3, 1)),
    "D": ((3, 3), (3, 3), (3, 3, 3), (3, 3, 3), (3, 3, 3)),
    "E": ((3, 3), (3, 3), (3, 3, 3, 3), (3, 3, 3, 3), (3, 3, 3, 3)),
}


def _vgg_count(config, num_classes=1000):
    conv, cin = 0, 3
    for kernels, width in zip(VGG_TABLE[config], (64, 128, 256, 512, 512)):
        for k in kernels:
            conv += _conv(k, cin, width)
            cin = width
    fc = _conv(7, 512, 4096) + _conv(1, 4096, 4096) + _conv(1, 4096, num_classes)
    return conv, fc


def test_params_lenet5_as_in_the_lecture(results):
    r = results("params")["lenet5"]
    expected = [("LeNet5/C1", _conv(5, 1, 6)), ("LeNet5/C3", _conv(5, 6, 16)),
                ("LeNet5/C5", 5 * 5 * 16 * 120 + 120), ("LeNet5/F6", 120 * 84 + 84), ("LeNet5/output", 84 * 10 + 10)]
    assert [tuple(layer) for layer in r["layers"]] == expected
    assert [c for _, c in expected] == [156, 2416, 48120, 10164, 850]
    assert r["total"] == sum(c for _, c in expected) == 61706


def test_params_vgg16_and_its_two_class_head(results):
    r = results("params")
    conv, fc = _vgg_count("D")
    assert r["vgg_16"]["total"] == conv + fc == 138357544
    assert dict(map(tuple, r["vgg_16"]["layers"]))["vgg_16/fc6"] == _conv(7, 512, 4096)
    assert r["vgg_16_2_classes"]["total"] == sum(_vgg_count("D", num_classes=2))


def test_params_vgg_configurations_a_to_e(results):
    configs = results("params")["vgg_configs"]
    assert list(configs) == list("ABCDE")
    for name, c in configs.items():
        conv, fc = _vgg_count(name)
        assert (c["conv"], c["fc"], c["total"]) == (conv, fc, conv + fc), name
        assert c["conv_layers"] + 3 == {"A": 11, "B": 13, "C": 16, "D": 16, "E": 19}[name]
    # The paper's table 2, in millions: 133, 133, 134, 138, 144.
    assert [round(c["total"] / 1e6) for c in configs.values()] == [133, 133, 134, 138, 144]
    assert [c["source"] for c in configs.values()] == ["vgg_a", "built in this lab", "built in this lab",
                                                      "vgg_16", "vgg_19"]


# ---------------------------------------------------------------- preprocessing

def test_preprocessing_methods(results):
    from tlslim.labs.preprocessing import synthetic_images
    r = results("preprocessing")
    x = synthetic_images().astype(np.float64)
    assert x.min() >= 1  # all inputs positive: the premise of the zero-mean argument
    m = r["methods"]
    assert [m[k]["stored_numbers"] for k in m] == [32 * 32 * 3, 3, 6]
    for name in m:
        np.testing.assert_allclose(m[name]["channel_mean"], 0.0, atol=1e-9, err_msg=name)
    np.testing.assert_allclose(m["per-channel mean"]["channel_std"], x.std(axis=(0, 1, 2)), rtol=1e-9)
    np.testing.assert_allclose(m["per-channel mean and std"]["channel_std"], 1.0, rtol=1e-9)
    # Only the mean image centres every pixel position; the per-channel mean leaves the
    # top-bright / bottom-dark structure of the set.
    assert m["mean image"]["max_abs_pixel_mean"] < 1e-9
    assert m["per-channel mean"]["max_abs_pixel_mean"] == pytest.approx(
        np.abs(x.mean(axis=0) - x.mean(axis=(0, 1, 2))).max(), rel=1e-9)


def test_preprocessing_positive_inputs_give_same_sign_weight_gradients(results):
    from tlslim.labs.preprocessing import neuron_gradients
    g = results("preprocessing")["gradients"]
    # dL/dw_i = (f - 1) x_i with f - 1 < 0: every component negative when every x_i > 0.
    assert g["raw pixels (all > 0)"] == {"fraction_same_sign": 1.0, "mean_fraction_positive": 0.0}
    # Centred inputs have mixed signs in every image (3072 components).
    assert g["per-channel mean subtracted"]["fraction_same_sign"] == 0.0
    assert g["per-channel mean subtracted"]["mean_fraction_positive"] == pytest.approx(0.5, abs=0.05)
    x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]], np.float32)
    np.testing.assert_allclose(neuron_gradients(x), -0.5 * x)  # f = sigmoid(0) = 0.5 at w = 0


# ---------------------------------------------------------------- regularization

def test_regularization_l2_penalty_is_half_wd_sum_of_squares(results):
    l2 = results("regularization")["l2"]
    w = np.array(l2["weights"], np.float64)
    wd = l2["weight_decay"]
    assert l2["penalty"] == pytest.approx(0.5 * wd * np.sum(w ** 2), rel=1e-6)
    assert l2["penalty"] != pytest.approx(wd * np.sum(w ** 2), rel=0.1)
    np.testing.assert_allclose(l2["penalty_grad"], wd * w, rtol=1e-6)
    assert len(l2["collection"]) == 1


def test_regularization_dropout_expectations(results):
    d = results("regularization")["dropout"]
    p, n, x = d["keep_prob"], d["samples"], np.array(d["input"])
    # Inverted: x * Bernoulli(p) / p has mean x, std x * sqrt((1 - p) / p); 4 standard errors.
    np.testing.assert_allclose(d["inverted_train_mean"], x, atol=0, rtol=4 * math.sqrt((1 - p) / p / n))
    np.testing.assert_allclose(d["inverted_test"], x)
    # Original: x * Bernoulli(p) has mean p x, std x * sqrt(p (1 - p)); test time multiplies by p.
    np.testing.assert_allclose(d["original_train_mean"], p * x, atol=0, rtol=4 * math.sqrt((1 - p) / p / n))
    np.testing.assert_allclose(d["original_test"], p * x)
    assert d["inverted_kept_fraction"] == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / (n * len(x))))


def test_regularization_early_stopping_picks_the_best_epoch(results):
    es = results("regularization")["early_stopping"]
    val, train = np.array(es["val_loss"]), np.array(es["train_loss"])
    best = int(np.argmin(val))
    assert es["best_epoch"] == best
    assert best < es["epochs"] - 1
    # It overfits after the best epoch: training loss keeps falling while validation loss rises.
    assert train[-1] < train[best] and val[-1] > 1.2 * val[best]
    assert es["restored_val_loss"] == pytest.approx(val[best], rel=1e-6)


# ---------------------------------------------------------------- CLI

def _lab_cli(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "lab.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_cli_unknown_lab_is_a_one_line_error():
    proc = _lab_cli("nope")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: unknown lab 'nope'; known labs: {', '.join(labs.names())}")


def test_cli_list_names_every_lab():
    proc = _lab_cli("--list")
    assert proc.returncode == 0, proc.stderr
    assert [line.split()[0] for line in proc.stdout.strip().splitlines()] == labs.names()


def test_cli_runs_a_lab_and_writes_json_and_png(tmp_path):
    proc = _lab_cli("activations", "--output_dir", str(tmp_path / "png"), "--json", str(tmp_path / "a.json"))
    assert proc.returncode == 0, proc.stderr
    assert "sigmoid" in proc.stdout
    with open(tmp_path / "a.json", encoding="utf-8") as f:
        numbers = json.load(f)
    assert numbers["activations"]["sigmoid"]["grad"][1] == pytest.approx(0.25)
    png = tmp_path / "png" / "activations.png"
    assert numbers["figures"] == [str(png)]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- strategies

def test_strategies_recommendation_follows_the_course_table():
    from tlslim.labs.strategies import recommend, strategy
    # The course's table: similar+little -> linear classifier on top features; similar+much ->
    # fine-tune a few layers; different+little -> linear classifier on earlier features;
    # different+much -> fine-tune many layers.
    assert strategy(True, False) == "head" and "--strategy head" in recommend(True, False)
    assert strategy(True, True) == "top" and "--strategy top" in recommend(True, True)
    assert strategy(False, False) == "head on earlier features" and "earlier layer" in recommend(False, False)
    assert strategy(False, True) == "all" and "--strategy all" in recommend(False, True)
    from tlslim.labs import strategies
    assert {(r["similar"], r["much_data"]): r["strategy"] for r in strategies.table()} == {
        (True, False): "head", (True, True): "top", (False, False): "head on earlier features", (False, True): "all"}


@pytest.mark.slow
def test_strategies_experiment_head_wins_with_little_data_and_all_catches_up_with_more(results, tmp_path):
    """The lab's run on the SYNTHETIC target (embedded checkpoint, equal steps, one seed). The
    margins are far above what rounding differences between CPUs could move (a few of the 500
    test images)."""
    exp = results("strategies")["experiment"]
    assert exp["settings"]["strategies"] == ["head", "all"]
    few, more = exp["rows"]
    assert few["train_subset"] < more["train_subset"]
    lead_few = few["accuracy"]["head"] - few["accuracy"]["all"]
    lead_more = more["accuracy"]["head"] - more["accuracy"]["all"]
    assert lead_few >= 0.05  # head-only wins with few images per class
    assert lead_more <= lead_few - 0.05  # fine-tuning every layer catches up with more
    assert more["accuracy"]["all"] > few["accuracy"]["all"] + 0.05  # all is what gains from the data
    text = labs.get("strategies").format(results("strategies"))
    assert "images per class" in text and f"{100 * few['accuracy']['head']:.1f}" in text
