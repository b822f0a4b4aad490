"""Tensor and operation names: finding things in a graph by name, and the mistakes people make.

An operation is named like 'mul'; its outputs are tensors named '<op name>:<output index>',
'mul:0'. `graph.get_tensor_by_name` wants the tensor name, `graph.get_operation_by_name` the
op name. An op with several outputs numbers them (tf.nn.top_k's 'TopKV2:0' values and
'TopKV2:1' indices). A function such as tf.nn.moments builds several ops under its name scope
and returns tensors whose names are not what you would guess ('moments/Squeeze:0', not
'moments/mean:0', which exists but keeps the reduced axes): print `tensor.name`, don't guess it.

The same applies to a net. vgg_16's fc7 activation (after its ReLU) is the tensor
'vgg_16/fc7/Relu:0', but its penultimate tensor -- the classifier's input, end_points['PreLogits'],
what `restore.penultimate` returns -- is fc7 after dropout7: 'vgg_16/dropout7/Identity:0' in a
net built for inference (is_training=False). There dropout is the identity, so the two hold the
same values; in a net built for training, dropout7 zeroes about half of fc7's units and doubles
the rest (keep_prob 0.5), so the two differ (and the penultimate tensor has another name). The
variable scope 'vgg_16/fc7' names no tensor at all. vgg_16 is built at 32x32 here to keep it
cheap; the names are those of the 224x224 graph.
"""
import numpy as np

from tlslim.compat import tf
from tlslim.labs import common

IMAGE_SIZE = 32
FC7_NAME = "vgg_16/fc7/Relu:0"
PENULTIMATE_NAME = "vgg_16/dropout7/Identity:0"  # in inference; training adds dropout's own ops
KEEP_PROB = 0.5  # slim's VGG default
SAMPLE = 64  # units of fc7 / the penultimate tensor reported, enough to see dropout's zeros


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


def _run_vgg(training, seed, weights=None):
    """vgg_16 at 32x32 built for training or inference: its fc7 and penultimate tensors by name,
    and their values on one random image -> (result, {variable name: value}).

    `weights` (the other build's) are fed in place of the variables' initial values: the same
    net in both modes, and no second draw of fc6's 100M random weights."""
    from tlslim import nets, restore  # only this part needs the registry
    images_np = np.random.RandomState(seed).uniform(-1, 1, [1, IMAGE_SIZE, IMAGE_SIZE, 3]).astype(np.float32)
    with common.graph_session(seed) as (graph, sess):
        images = tf.placeholder(tf.float32, [None, IMAGE_SIZE, IMAGE_SIZE, 3], name="images")
        _, end_points = nets.get_network_fn("vgg_16", num_classes=10, is_training=training,
                                            dropout_keep_prob=KEEP_PROB)(images)
        fc7 = graph.get_tensor_by_name(FC7_NAME)
        penultimate = restore.penultimate(graph, "vgg_16")
        variables = tf.global_variables()
        sess.run(tf.global_variables_initializer(),
                 {v.initial_value: weights[v.op.name] for v in variables} if weights else None)
        fc7_value, penultimate_value = (v.ravel() for v in sess.run([fc7, penultimate], {images: images_np}))
        active = fc7_value > 0
        result = {
            "fc7_tensor": fc7.name, "fc7_shape": fc7.shape.as_list(),
            "penultimate_tensor": penultimate.name, "penultimate_op_type": penultimate.op.type,
            "penultimate_is_end_point": penultimate is end_points[nets.PENULTIMATE],
            "equal": bool(np.array_equal(fc7_value, penultimate_value)),
            "active_units": int(active.sum()),
            "active_units_zeroed": int((active & (penultimate_value == 0)).sum()),
            "fc7_sample": [float(v) for v in fc7_value[:SAMPLE]],
            "penultimate_sample": [float(v) for v in penultimate_value[:SAMPLE]],
        }
        if not training:
            result.update({
                # The layer's own ops (its variables and its computation), not the variables' helpers.
                "fc7_ops": [op.name for op in graph.get_operations()
                            if op.name.startswith("vgg_16/fc7/") and op.name.count("/") == 2],
                "by_name_is_penultimate": graph.get_tensor_by_name(PENULTIMATE_NAME) is penultimate,
                "scope_as_tensor": _attempt(graph.get_tensor_by_name, "vgg_16/fc7:0"),
                "scope_as_op": _attempt(graph.get_operation_by_name, "vgg_16/fc7"),
            })
        return result, weights or sess.run({v.op.name: v for v in variables})


def vgg_penultimate(seed=0):
    """vgg_16's fc7 and penultimate tensors by name, in inference and in training."""
    inference, weights = _run_vgg(False, seed)
    training, _ = _run_vgg(True, seed, weights)
    return {"inference": inference, "training": training}


def run(output_dir=None):
    result = basics()
    result["vgg_16"] = vgg_penultimate()
    result["figures"] = []
    return result


def format(result):
    f, m, t = result["found"], result["moments"], result["multi_output"]
    inf, trn = result["vgg_16"]["inference"], result["vgg_16"]["training"]
    # A few units fc7 left active: dropout either scales them by 1/keep_prob or zeroes them.
    active = [(a, b) for a, b in zip(trn["fc7_sample"], trn["penultimate_sample"]) if a > 0]
    kept = ", ".join([f"{a:.3g} -> {b:.3g}" for a, b in active if b != 0][:3])
    zeroed = ", ".join([f"{a:.3g} -> {b:.3g}" for a, b in active if b == 0][:3])
    out = ["c = a * b:", common.table(["expression", "result"], [[k, str(val)] for k, val in f.items()]), "",
           f"tf.nn.moments returns {m['mean.name']} and {m['variance.name']}; it built the ops "
           f"{', '.join(m['ops'])}. 'moments/mean:0' has shape {m['moments/mean:0 shape']}, the returned mean "
           f"{m['mean shape']}.",
           f"one op, several outputs: {t['op']} ({t['type']}) has {t['num_outputs']} outputs "
           f"{', '.join(t['outputs'])}: values {t['values']}, indices {t['indices']}.", "",
           "mistakes and what TensorFlow says:",
           common.table(["call", "raises", "message"], [[k, e, msg] for k, (e, msg) in result["mistakes"].items()]
                        + [[k, "returns", val] for k, val in result["runs"].items()]), "",
           f"vgg_16 at {IMAGE_SIZE}x{IMAGE_SIZE} built for inference: ops under vgg_16/fc7/: {', '.join(inf['fc7_ops'])}",
           f"  fc7 activation: get_tensor_by_name('{inf['fc7_tensor']}') -> shape {inf['fc7_shape']}",
           f"  penultimate: restore.penultimate(graph, 'vgg_16') -> {inf['penultimate_tensor']} (op type "
           f"{inf['penultimate_op_type']}); is end_points['PreLogits']: {inf['penultimate_is_end_point']}; "
           f"is get_tensor_by_name('{PENULTIMATE_NAME}'): {inf['by_name_is_penultimate']}",
           f"  same values as fc7: {inf['equal']} (dropout is the identity in inference)",
           f"  get_tensor_by_name('vgg_16/fc7:0') -> {inf['scope_as_tensor'][0]}: {inf['scope_as_tensor'][1]}",
           f"  get_operation_by_name('vgg_16/fc7') -> {inf['scope_as_op'][0]}: {inf['scope_as_op'][1]}",
           f"vgg_16 built for training (is_training=True, keep_prob {KEEP_PROB}):",
           f"  penultimate: {trn['penultimate_tensor']}, op type {trn['penultimate_op_type']}; same values as "
           f"{trn['fc7_tensor']}: {trn['equal']}",
           f"  dropout7 zeroed {trn['active_units_zeroed']} of fc7's {trn['active_units']} active units and "
           f"multiplied the rest by 1/{KEEP_PROB}; fc7 -> penultimate, kept: {kept}; zeroed: {zeroed}"]
    return "\n".join(out)
