"""Tensor and operation names: finding things in a graph by name, and the mistakes people make.

An operation is named like 'mul'; its outputs are tensors named '<op name>:<output index>',
'mul:0'. `graph.get_tensor_by_name` wants the tensor name, `graph.get_operation_by_name` the
op name. An op with several outputs numbers them (tf.nn.top_k's 'TopKV2:0' values and
'TopKV2:1' indices). A function such as tf.nn.moments builds several ops under its name scope
and returns tensors whose names are not what you would guess ('moments/Squeeze:0', not
'moments/mean:0', which exists but keeps the reduced axes): print `tensor.name`, don't guess it.

The same applies to a net: vgg_16's penultimate layer (fc7 after its ReLU) is the tensor
'vgg_16/fc7/Relu:0'; its variable scope 'vgg_16/fc7' names no tensor at all. vgg_16 is built
at 32x32 here to keep it cheap; the names are those of the 224x224 graph.
"""
import numpy as np

from tlslim.compat import tf
from tlslim.labs import common

IMAGE_SIZE = 32
PENULTIMATE_NAME = "vgg_16/fc7/Relu:0"


def _attempt(fn, arg):
    """[exception type name, message] of calling fn(arg), or ['ok', repr of the result]."""
    try:
        return ["ok", repr(fn(arg))]
    except (ValueError, KeyError, TypeError) as err:
        return [type(err).__name__, str(err.args[0]) if err.args else str(err)]


def basics():
    with common.graph_session() as (graph, sess):
        a = tf.constant(2.0, name="a")
        b = tf.constant(3.0, name="b")
        c = a * b  # an op named 'mul' with one output, the tensor 'mul:0'
        mean, variance = tf.nn.moments(tf.constant([[1.0, 2.0], [3.0, 6.0]]), axes=[0])
        top = tf.nn.top_k(tf.constant([1.0, 3.0, 2.0]), k=2)
        found = {
            "c.name": c.name, "c.op.name": c.op.name,
            "get_tensor_by_name('mul:0') is c": graph.get_tensor_by_name("mul:0") is c,
            "get_operation_by_name('mul') is c.op": graph.get_operation_by_name("mul") is c.op,
            "c.op.outputs[0] is c": c.op.outputs[0] is c,
        }
        moments = {
            "mean.name": mean.name, "variance.name": variance.name,
            "ops": [op.name for op in graph.get_operations() if op.name.startswith("moments/")],
            "moments/mean:0 shape": graph.get_tensor_by_name("moments/mean:0").shape.as_list(),
            "mean shape": mean.shape.as_list(),
            "values": [float(v) for v in np.concatenate(sess.run([mean, variance]))],
        }
        multi = {
            "op": top.values.op.name, "type": top.values.op.type, "num_outputs": len(top.values.op.outputs),
            "outputs": [t.name for t in top.values.op.outputs],
            "values": sess.run(graph.get_tensor_by_name("TopKV2:0")).tolist(),
            "indices": sess.run(graph.get_tensor_by_name("TopKV2:1")).tolist(),
        }
        mistakes = {}
        for call, fn, arg in (("get_tensor_by_name('mul')", graph.get_tensor_by_name, "mul"),
                              ("get_tensor_by_name('mull:0')", graph.get_tensor_by_name, "mull:0"),
                              ("get_tensor_by_name('mul:1')", graph.get_tensor_by_name, "mul:1"),
                              ("get_operation_by_name('mul:0')", graph.get_operation_by_name, "mul:0"),
                              ("get_operation_by_name('mull')", graph.get_operation_by_name, "mull")):
            mistakes[call] = _attempt(fn, arg)
        # sess.run of an op name runs the op and returns None; of a tensor name, its value.
        runs = {"sess.run('mul')": repr(sess.run("mul")), "sess.run('mul:0')": repr(sess.run("mul:0"))}
    return {"found": found, "moments": moments, "multi_output": multi, "mistakes": mistakes, "runs": runs}


def vgg_penultimate(seed=0):
    """Build vgg_16 at 32x32, grab fc7 by its tensor name, and run it."""
    from tlslim import nets  # only this part needs the registry
    images_np = np.random.RandomState(seed).uniform(-1, 1, [1, IMAGE_SIZE, IMAGE_SIZE, 3]).astype(np.float32)
    with common.graph_session(seed) as (graph, sess):
        images = tf.placeholder(tf.float32, [None, IMAGE_SIZE, IMAGE_SIZE, 3], name="images")
        logits, end_points = nets.get_network_fn("vgg_16", num_classes=10)(images)
        fc7 = graph.get_tensor_by_name(PENULTIMATE_NAME)
        prelogits = end_points[nets.PENULTIMATE]
        sess.run(tf.global_variables_initializer())
        fc7_value, prelogits_value = sess.run([fc7, prelogits], {images: images_np})
        return {
            # The layer's own ops (its variables and its computation), not the variables' helpers.
            "fc7_ops": [op.name for op in graph.get_operations()
                        if op.name.startswith("vgg_16/fc7/") and op.name.count("/") == 2],
            "fc7_tensor": fc7.name, "fc7_shape": fc7.shape.as_list(),
            "end_point_name": prelogits.name, "end_point_op_type": prelogits.op.type,
            "fc7_equals_end_point": bool(np.array_equal(fc7_value, prelogits_value)),
            "scope_as_tensor": _attempt(graph.get_tensor_by_name, "vgg_16/fc7:0"),
            "scope_as_op": _attempt(graph.get_operation_by_name, "vgg_16/fc7"),
        }


def run(output_dir=None):
    result = basics()
    result["vgg_16"] = vgg_penultimate()
    result["figures"] = []
    return result


def format(result):
    f, m, t, v = result["found"], result["moments"], result["multi_output"], result["vgg_16"]
    out = ["c = a * b:", common.table(["expression", "result"], [[k, str(val)] for k, val in f.items()]), "",
           f"tf.nn.moments returns {m['mean.name']} and {m['variance.name']}; it built the ops "
           f"{', '.join(m['ops'])}. 'moments/mean:0' has shape {m['moments/mean:0 shape']}, the returned mean "
           f"{m['mean shape']}.",
           f"one op, several outputs: {t['op']} ({t['type']}) has {t['num_outputs']} outputs "
           f"{', '.join(t['outputs'])}: values {t['values']}, indices {t['indices']}.", "",
           "mistakes and what TensorFlow says:",
           common.table(["call", "raises", "message"], [[k, e, msg] for k, (e, msg) in result["mistakes"].items()]
                        + [[k, "returns", val] for k, val in result["runs"].items()]), "",
           f"vgg_16 at {IMAGE_SIZE}x{IMAGE_SIZE}: ops under vgg_16/fc7/: {', '.join(v['fc7_ops'])}",
           f"  get_tensor_by_name('{v['fc7_tensor']}') -> shape {v['fc7_shape']}; equals "
           f"end_points['PreLogits'] ({v['end_point_name']}, op type {v['end_point_op_type']}): "
           f"{v['fc7_equals_end_point']}",
           f"  get_tensor_by_name('vgg_16/fc7:0') -> {v['scope_as_tensor'][0]}: {v['scope_as_tensor'][1]}",
           f"  get_operation_by_name('vgg_16/fc7') -> {v['scope_as_op'][0]}: {v['scope_as_op'][1]}"]
    return "\n".join(out)
