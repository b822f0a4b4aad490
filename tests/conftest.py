"""Shared fixtures: every test builds in its own fresh graph, in graph mode."""
import pytest

from tlslim.compat import graph_mode, tf

graph_mode()


@pytest.fixture
def graph():
    """A fresh default graph for the test."""
    g = tf.Graph()
    with g.as_default():
        yield g


@pytest.fixture(scope="module")
def built():
    """built(name, size): registry net `name` at `size` (tlslim.testing.nets.registry_build), each
    (net, size) built once per test module."""
    from tlslim.testing.nets import registry_build
    cache = {}

    def get(name, size):
        if (name, size) not in cache:
            cache[name, size] = registry_build(name, size)
        return cache[name, size]
    return get
