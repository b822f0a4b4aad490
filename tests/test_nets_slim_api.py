"""slim's API: tf_slim's own nets tests pass against tlslim with only their imports changed, the
builders take tf_slim's arguments in tf_slim's order with its defaults, and the calls slim code
makes (the course's VGG, ResNet features, a fully-convolutional VGG, batch-norm arg scopes) work
as in slim, with the registry's additions on top."""
import collections
import importlib
import inspect
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from tlslim import nets
from tlslim.compat import slim, tf
from tlslim.errors import TlslimError
from tlslim.layers import batch_norm
from tlslim.nets import alexnet, cifarnet, inception_v1, lenet, resnet_utils, resnet_v1, resnet_v2, vgg

from _subprocess_runs import start

# tf_slim 1.1.0 ships a test file for each of these nets; tlslim has them all.
TF_SLIM_TESTS = ("alexnet", "inception_v1", "inception_v2", "inception_v3", "overfeat", "resnet_v1", "resnet_v2",
                 "vgg")

Case = collections.namedtuple("Case", "name outcome message")


def _tf_slim_source(module):
    import tf_slim
    with open(os.path.join(os.path.dirname(tf_slim.__file__), "nets", f"{module}_test.py"), encoding="utf-8") as f:
        return f.read()


# Two groups of about equal run time, one pytest process each, run side by side.
GROUPS = (("inception_v3", "resnet_v1", "alexnet", "overfeat"), ("inception_v2", "inception_v1", "resnet_v2", "vgg"))


def _run_group(folder, modules):
    report = folder / "results.xml"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
                         + [f"tf_slim_{module}_test.py" for module in modules],
                         cwd=folder, capture_output=True, text=True, timeout=1800)
    output = run.stdout[-4000:] + run.stderr[-2000:]
    assert report.exists(), output
    return ElementTree.parse(report).getroot(), output


@pytest.fixture(scope="module")
def tf_slim_results(tmp_path_factory):
    """Every file of TF_SLIM_TESTS, read from the installed tf_slim with only the lines importing the
    modules under test changed to tlslim's, run by pytest in subprocesses -> ({file stem: [Case]},
    the runs' output)."""
    assert sorted(sum(GROUPS, ())) == sorted(TF_SLIM_TESTS)
    runs = []
    for modules in GROUPS:
        folder = tmp_path_factory.mktemp("tf_slim_tests")
        for module in modules:
            source = _tf_slim_source(module)
            # The ResNet tests also build blocks with resnet_utils, which is under test with them.
            for under_test in (module, "resnet_utils") if module.startswith("resnet") else (module,):
                line = f"from tf_slim.nets import {under_test}\n"
                assert source.count(line) == 1, (module, line)
                source = source.replace(line, f"from tlslim.nets import {under_test}\n")
            (folder / f"tf_slim_{module}_test.py").write_text(source, encoding="utf-8")
        runs.append(start(_run_group, folder, modules))
    results, outputs = collections.defaultdict(list), []
    for future in runs:
        root, output = future.result()
        outputs.append(output)
        for case in root.iter("testcase"):
            outcome = [child for child in case if child.tag in ("failure", "error", "skipped")]
            results[case.get("classname").split(".")[0]].append(Case(
                case.get("name"), outcome[0].tag if outcome else "passed",
                outcome[0].get("message", "") if outcome else ""))
    return results, "\n".join(outputs)


@pytest.mark.parametrize("module", TF_SLIM_TESTS)
def test_tf_slim_test_file_passes(tf_slim_results, module):
    """Each test method the file defines passes; the only skip allowed is TF's own
    TestCase.test_session, which TF skips as 'Not a test.'."""
    results, output = tf_slim_results
    cases = results[f"tf_slim_{module}_test"]
    defined = re.findall(r"^  def (test\w+)\(", _tf_slim_source(module), re.M)
    assert defined, module
    failed = [c for c in cases if c.outcome != "passed" and c.name != "test_session"]
    assert not failed, f"{failed}\n{output}"
    assert sorted(c.name for c in cases if c.outcome == "passed") == sorted(defined), output


# Functions whose positional order is research/slim's, not tf_slim 1.1.0's (the two disagree):
# the model zoo's nets take research/slim's tests as the reference of their API.
RESEARCH_SLIM_ORDER = {"inception_v2.inception_v2_base"}


@pytest.mark.parametrize("module", TF_SLIM_TESTS + ("resnet_utils",))
def test_signatures_are_tf_slims(module):
    """Every public function of tf_slim.nets.<module> exists in tlslim.nets.<module> and takes
    tf_slim's arguments first, in tf_slim's order, with tf_slim's defaults (tlslim's and
    research/slim's additional arguments come after); every default_image_size is tf_slim's."""
    ref, ours = importlib.import_module(f"tf_slim.nets.{module}"), importlib.import_module(f"tlslim.nets.{module}")
    functions = [name for name, obj in vars(ref).items()
                 if not name.startswith("_") and callable(obj) and getattr(obj, "__module__", None) == ref.__name__]
    assert functions
    for name in functions:
        assert hasattr(ours, name), f"tlslim.nets.{module} has no {name}"
        theirs = inspect.signature(getattr(ref, name)).parameters
        mine = inspect.signature(getattr(ours, name)).parameters
        if f"{module}.{name}" in RESEARCH_SLIM_ORDER:
            assert set(theirs) <= set(mine), name
        else:
            assert list(mine)[:len(theirs)] == list(theirs), name
        for arg, param in theirs.items():
            assert mine[arg].default == param.default, f"{module}.{name}({arg}=...)"
        if hasattr(getattr(ref, name), "default_image_size"):
            assert getattr(ours, name).default_image_size == getattr(ref, name).default_image_size, name


# ---------------------------------------------------------------- the course's calls

VGG_16_END_POINTS = ["vgg_16/conv1/conv1_1", "vgg_16/conv1/conv1_2", "vgg_16/pool1",
                     "vgg_16/conv2/conv2_1", "vgg_16/conv2/conv2_2", "vgg_16/pool2",
                     "vgg_16/conv3/conv3_1", "vgg_16/conv3/conv3_2", "vgg_16/conv3/conv3_3", "vgg_16/pool3",
                     "vgg_16/conv4/conv4_1", "vgg_16/conv4/conv4_2", "vgg_16/conv4/conv4_3", "vgg_16/pool4",
                     "vgg_16/conv5/conv5_1", "vgg_16/conv5/conv5_2", "vgg_16/conv5/conv5_3", "vgg_16/pool5",
                     "vgg_16/fc6", "vgg_16/fc7", "vgg_16/fc8"]


def test_course_vgg_snippet_trains_with_dropout_by_default(graph):
    """`vgg.vgg_16(images, num_classes=10, is_training=True)` at CIFAR size: [B, 10] logits,
    slim's end points and nothing else; left out, is_training defaults to True as in slim, so
    dropout is on (two runs on one batch differ), and is_training=False turns it off."""
    images = tf.placeholder(tf.float32, [4, 32, 32, 3])
    with slim.arg_scope(vgg.vgg_arg_scope()):
        logits, end_points = vgg.vgg_16(images, num_classes=10, is_training=True)
        default, _ = vgg.vgg_16(images, 10, scope="Default")
        inference, _ = vgg.vgg_16(images, 10, is_training=False, scope="Inference")
    assert logits.op.name == "vgg_16/fc8/squeezed" and logits.shape.as_list() == [4, 10]
    assert sorted(end_points) == sorted(VGG_16_END_POINTS)
    x = np.random.RandomState(0).uniform(-100, 100, [4, 32, 32, 3])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        a, b = sess.run(default, {images: x}), sess.run(default, {images: x})
        c, d = sess.run(inference, {images: x}), sess.run(inference, {images: x})
    assert np.abs(a - b).max() > 0
    np.testing.assert_array_equal(c, d)


def test_fully_convolutional_vgg_16_equals_tf_slim_at_300x400(graph):
    """slim's dense classification map: `vgg_16(x, 10, False, 0.5, False)` (positional, as slim's
    signature orders them: is_training, dropout_keep_prob, spatial_squeeze) on a 300x400 image
    gives [1, 3, 6, 10] (pool5 is 9x12, fc6 a 7x7 VALID conv), equal to tf_slim's on the same
    weights (same kernels in the same order: 1e-5 of the scale is ~100 float32 epsilons)."""
    from tf_slim.nets import vgg as slim_vgg
    tf.set_random_seed(0)
    images = tf.placeholder(tf.float32, [1, 300, 400, 3])
    with slim.arg_scope(slim_vgg.vgg_arg_scope()):
        ref, _ = slim_vgg.vgg_16(images, 10, False, 0.5, False)
    created = tf.global_variables()
    with slim.arg_scope(vgg.vgg_arg_scope()), tf.variable_scope(tf.get_variable_scope(), reuse=True):
        ours, end_points = vgg.vgg_16(images, 10, False, 0.5, False)
    assert tf.global_variables() == created  # the same names and shapes, nothing more
    assert ours.op.name.endswith("fc8/BiasAdd") and ours.shape.as_list() == [1, 3, 6, 10]
    assert "global_pool" not in end_points
    x = np.random.RandomState(1).uniform(-120, 120, [1, 300, 400, 3])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run([tf.assign(v, tf.random.normal(v.shape, stddev=0.1)) for v in created if "biases" in v.op.name])
        a, b = sess.run([ours, ref], {images: x})
    assert np.abs(b).max() > 0
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * np.abs(b).max())


def test_resnet_v1_50_features_are_the_registrys_prelogits(graph):
    """The classic feature extractor `resnet_v1_50(images, num_classes=None, is_training=False,
    global_pool=True)`: [B, 1, 1, 2048], slim's end points (no logits, no PreLogits), no
    batch-norm updates; the same tensor as get_network_fn's PreLogits on the same weights."""
    images = tf.placeholder(tf.float32, [2, 64, 64, 3])
    with slim.arg_scope(resnet_v1.resnet_arg_scope()):
        features, end_points = resnet_v1.resnet_v1_50(images, num_classes=None, is_training=False, global_pool=True)
    assert features.shape.as_list() == [2, 1, 1, 2048] and end_points["global_pool"] is features
    units = [3, 4, 6, 3]
    expected = ["resnet_v1_50/conv1", "global_pool"]
    for b, n in enumerate(units, start=1):
        expected += [f"resnet_v1_50/block{b}", f"resnet_v1_50/block{b}/unit_1/bottleneck_v1/shortcut"]
        for u in range(1, n + 1):
            expected += [f"resnet_v1_50/block{b}/unit_{u}/bottleneck_v1"]
            expected += [f"resnet_v1_50/block{b}/unit_{u}/bottleneck_v1/conv{c}" for c in (1, 2, 3)]
    assert sorted(end_points) == sorted(expected)
    assert not tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    # The base's variables are reused; only the new logits layer is created.
    with tf.variable_scope(tf.get_variable_scope(), reuse=tf.AUTO_REUSE):
        logits, points = nets.get_network_fn("resnet_v1_50", 1000)(images)
    assert logits.shape.as_list() == [2, 1000]
    assert set(points) - {nets.PENULTIMATE} == set(expected) | {
        "resnet_v1_50/logits", "resnet_v1_50/spatial_squeeze", "predictions"}
    x = np.random.RandomState(0).uniform(-1, 1, [2, 64, 64, 3])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        a, b = sess.run([features, points[nets.PENULTIMATE]], {images: x})
    assert np.abs(a).max() > 0
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- research/slim's later arguments

def _small_blocks(block):
    return [block("block1", base_depth=1, num_units=2, stride=2), block("block2", base_depth=2, num_units=2, stride=2),
            block("block3", base_depth=4, num_units=2, stride=2), block("block4", base_depth=8, num_units=2, stride=1)]


@pytest.mark.parametrize("output_stride", [None, 4])
def test_store_non_strided_activations(graph, output_stride):
    """Moving each block's stride from its last unit to a subsampling after it gives the same
    output (a strided conv equals a stride-1 conv subsampled; 1e-5 of the scale allows the other
    summation order), while the blocks' end points keep the denser map."""
    inputs = tf.constant(np.random.RandomState(0).uniform(0, 1, [1, 30, 31, 3]), tf.float32)
    blocks = _small_blocks(resnet_v1.resnet_v1_block)
    with slim.arg_scope(resnet_utils.resnet_arg_scope()), slim.arg_scope([batch_norm], is_training=False):
        strided = resnet_utils.stack_blocks_dense(inputs, blocks, output_stride, outputs_collections="strided")
        tf.get_variable_scope().reuse_variables()
        stored = resnet_utils.stack_blocks_dense(inputs, blocks, output_stride, outputs_collections="stored",
                                                 store_non_strided_activations=True)
    a_points = slim.utils.convert_collection_to_dict("strided")
    b_points = slim.utils.convert_collection_to_dict("stored")
    # block1 ends with a stride of 2 either way: stored before it, its map is the input's 30x31.
    assert b_points["block1"].shape.as_list()[1:3] == [30, 31]
    assert a_points["block1"].shape.as_list()[1:3] == [15, 16]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        a, b = sess.run([strided, stored])
    assert a.shape == b.shape and np.abs(a).max() > 0
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * np.abs(a).max())


def test_generic_and_named_resnets_squeeze_as_slims(graph):
    """The generic builders return tf_slim's [B, 1, 1, C] unless spatial_squeeze=True; the named
    ones squeeze by default, as research/slim's. depth_multiplier and min_base_depth scale the
    bottleneck depths as research/slim's; output_stride must be a multiple of 4."""
    images = tf.placeholder(tf.float32, [2, 64, 64, 3])
    with slim.arg_scope(resnet_utils.resnet_arg_scope()):
        generic, _ = resnet_v2.resnet_v2(images, _small_blocks(resnet_v2.resnet_v2_block), 5, scope="G")
        squeezed, points = resnet_v2.resnet_v2(images, _small_blocks(resnet_v2.resnet_v2_block), 5, scope="S",
                                               spatial_squeeze=True)
        named, _ = resnet_v1.resnet_v1_50(images, 5, depth_multiplier=0.25, min_base_depth=20)
        with pytest.raises(ValueError, match="multiple of 4"):
            resnet_v1.resnet_v1_101(images, 5, output_stride=6)
    assert generic.shape.as_list() == [2, 1, 1, 5] and generic.op.name.startswith("G/logits")
    assert squeezed.shape.as_list() == [2, 5] and points["S/spatial_squeeze"] is squeezed
    assert named.shape.as_list() == [2, 5]
    shapes = {v.op.name: v.shape.as_list() for v in tf.global_variables()}
    # 64 * 0.25 = 16 -> 20 (min_base_depth); 128 * 0.25 = 32; unit outputs are 4x the bottleneck.
    assert shapes["resnet_v1_50/block1/unit_1/bottleneck_v1/conv1/weights"] == [1, 1, 64, 20]
    assert shapes["resnet_v1_50/block2/unit_1/bottleneck_v1/conv2/weights"] == [3, 3, 32, 32]
    assert shapes["resnet_v1_50/block4/unit_3/bottleneck_v1/conv3/weights"] == [1, 1, 128, 512]


# ---------------------------------------------------------------- batch norm under slim's arg scopes

def test_batch_norm_takes_slims_arg_scope(graph):
    """Arguments given to slim.batch_norm in an arg scope reach tlslim's batch norm; those given to
    tlslim's, then those passed, take precedence; an option tlslim lacks is named in one line."""
    x = tf.zeros([2, 4, 4, 3])
    with slim.arg_scope([slim.batch_norm], is_training=False, decay=0.5, scale=True):
        batch_norm(x, scope="slims")
        assert not tf.get_collection(tf.GraphKeys.UPDATE_OPS)  # inference: no moving-average updates
        with slim.arg_scope([batch_norm], is_training=True):
            batch_norm(x, scope="ours")
        batch_norm(x, is_training=True, scope="passed")
        with pytest.raises(TlslimError, match="renorm") as err:
            with slim.arg_scope([slim.batch_norm], renorm=True):
                batch_norm(x, scope="bad")
    assert "\n" not in str(err.value)
    assert {op.name.split("/")[0] for op in tf.get_collection(tf.GraphKeys.UPDATE_OPS)} == {"ours", "passed"}
    # scale=True from slim's scope: a gamma.
    assert {v.op.name for v in tf.global_variables() if v.op.name.startswith("slims/")} == {
        "slims/beta", "slims/gamma", "slims/moving_mean", "slims/moving_variance"}


def test_resnet_is_training_none_leaves_batch_norm_to_the_arg_scope(graph):
    images = tf.placeholder(tf.float32, [2, 32, 32, 3])
    blocks = _small_blocks(resnet_v1.resnet_v1_block)
    with slim.arg_scope(resnet_utils.resnet_arg_scope()), slim.arg_scope([slim.batch_norm], is_training=False):
        resnet_v1.resnet_v1(images, blocks, 3, is_training=None, scope="A")
        assert not tf.get_collection(tf.GraphKeys.UPDATE_OPS)
        resnet_v1.resnet_v1(images, blocks, 3, is_training=True, scope="B")
    assert tf.get_collection(tf.GraphKeys.UPDATE_OPS)


# ---------------------------------------------------------------- the registry on top

@pytest.mark.parametrize("module,builder,size,prelogits", [
    (inception_v1, "inception_v1", 32, "global_pool"),
    (inception_v1, "inception_v1", 224, "AvgPool_0a_7x7"),
    (cifarnet, "cifarnet", 32, "fc4"),
    (lenet, "lenet", 28, "dropout3"),
    (alexnet, "alexnet_v2", 224, None),
])
def test_builders_keep_slims_end_points_and_the_registry_adds_prelogits(graph, module, builder, size, prelogits):
    """The slim builder's end points have no PreLogits; get_network_fn's are the same set plus
    PreLogits, the classifier's input (the pooled vector before Inception's head dropout)."""
    images = tf.placeholder(tf.float32, [2, size, size, 3])
    info = nets.get_info(builder)
    with slim.arg_scope(info.arg_scope()):
        _, theirs = getattr(module, builder)(images, 7, is_training=False)
    with tf.variable_scope(tf.get_variable_scope(), reuse=True):
        _, ours = nets.get_network_fn(builder, 7)(images)
    assert nets.PENULTIMATE not in theirs
    name_scope = f"{info.scope}_1/"  # the second build's name scope, in pool and other op-only keys
    assert {k.replace(name_scope, f"{info.scope}/") for k in ours} - {nets.PENULTIMATE} == set(theirs)
    if prelogits:
        assert ours[nets.PENULTIMATE] is ours[prelogits]
    else:  # alexnet: fc8's input, dropout7's output
        assert ours[nets.PENULTIMATE].op.name.startswith(f"{info.scope}_1/dropout7/")
