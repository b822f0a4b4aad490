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
