"""What the labs share: a fresh graph and session, a plain-text table, and PNG saving.

Figures are drawn on a bare `matplotlib.figure.Figure` (Agg canvas) so that no lab touches
pyplot's global state or needs a display.
"""
import contextlib
import os

from tlslim import paths
from tlslim.compat import graph_mode, tf


@contextlib.contextmanager
def graph_session(seed=0):
    """A new graph (with graph-level seed `seed`) as default, and a session on it."""
    graph_mode()
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(seed)
        with tf.Session(graph=graph) as sess:
            yield graph, sess


def fmt(value, spec=".4g"):
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


def table(headers, rows, spec=".4g"):
    """Rows of values as an aligned plain-text table (floats formatted with `spec`)."""
    cells = [[str(h) for h in headers]] + [[fmt(v, spec) for v in row] for row in rows]
    # Text left-aligned, numbers right-aligned; a column's header follows its first row.
    left = [isinstance(v, str) for v in (rows[0] if rows else headers)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) if l else c.rjust(w) for c, w, l in zip(r, widths, left)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def new_figure(width, height):
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height), dpi=100)


def save_figure(fig, output_dir, name):
    """Save `fig` as `<output_dir>/<name>.png` and return the path (None if no output_dir)."""
    if not output_dir:
        return None
    path = os.path.join(output_dir, name + ".png")
    fig.tight_layout()
    with paths.replacing(path) as tmp:  # a figure already there stays whole until the new one is
        fig.savefig(tmp)
    return path
