"""Registry behaviour: unknown names, num_classes validation, the minimum image size."""
import numpy as np
import pytest

from tlslim import nets
from tlslim.compat import slim, tf
from tlslim.errors import TlslimError

MINE = ["alexnet_v2", "cifarnet", "lenet", "vgg_16", "vgg_19", "vgg_a"]


def channels(name):
    return 1 if name == "lenet" else 3


def test_unknown_model_lists_known_ones():
    with pytest.raises(TlslimError) as err:
        nets.get_network_fn("vgg_17", 10)
    message = str(err.value)
    assert "\n" not in message and "'vgg_17'" in message
    assert message.split("known models: ")[1].rstrip(".").split(", ") == nets.names()
    assert set(MINE) <= set(nets.names())
    with pytest.raises(TlslimError, match="unknown model 'VGG_16'"):
        nets.get_info("VGG_16")


@pytest.mark.parametrize("bad", [0, -3, 2.5, "10", None, True])
def test_num_classes_must_be_a_positive_integer(bad):
    with pytest.raises(TlslimError, match="num_classes must be a positive integer") as err:
        nets.get_network_fn("cifarnet", bad)
    assert "\n" not in str(err.value)


def test_numpy_integer_num_classes(graph):
    labels = np.array([0, 3, 6])
    logits, _ = nets.get_network_fn("cifarnet", labels.max() + 1)(
        tf.placeholder(tf.float32, [1, 32, 32, 3]))
    assert logits.shape.as_list() == [1, 7]


@pytest.mark.parametrize("name", MINE)
def test_min_image_size_is_the_smallest_that_builds(graph, name):
    info = nets.get_info(name)
    m = info.min_image_size
    fn = nets.get_network_fn(name, 10)
    logits, _ = fn(tf.placeholder(tf.float32, [1, m, m, channels(name)]))
    assert logits.shape.as_list() == [1, 10]
    # One pixel less: the registry refuses with a one-line message naming the minimum ...
    for shape in ([1, m - 1, m - 1], [1, m, m - 1]):
        with pytest.raises(TlslimError, match=f"at least {m}x{m}.*--image_size {m}") as err:
            fn(tf.placeholder(tf.float32, shape + [channels(name)]))
        assert "\n" not in str(err.value)
    # ... and the builder itself, unguarded, cannot build there.
    with pytest.raises(ValueError, match="Negative dimension"):
        with slim.arg_scope(info.arg_scope(weight_decay=0.0)):
            info.builder(tf.placeholder(tf.float32, [1, m - 1, m - 1, channels(name)]), 10,
                         scope="unguarded")


def test_network_fn_attributes():
    fn = nets.get_network_fn("vgg_16", 10)
    assert fn.default_image_size == 224 and fn.info is nets.get_info("vgg_16")


def test_manifest_of_unknown_model():
    with pytest.raises(TlslimError, match="unknown model 'nope'"):
        nets.manifest("nope")
