"""FLOPs of a training step, counted from the graph.

Every Conv2D and MatMul of one image's forward pass counts 2 x its multiply-adds. `useful`
counts only the kernel taps that fall inside the input (a 'SAME' convolution's taps over the
padding multiply zeros); `nominal` counts every tap. A training step is TRAINING_PASSES forward
passes' worth: the backward pass computes the gradients with respect to both the inputs and the
weights, each a forward's worth of multiply-adds.
"""
import numpy as np

from tlslim import nets
from tlslim.compat import tf

TRAINING_PASSES = 3  # forward + the two gradients of the backward pass


def _name(padding):
    return padding.decode() if isinstance(padding, bytes) else padding


def out_size(n_in, k, stride, padding):
    """Output length of a convolution along one axis (TF's SAME and VALID rules)."""
    return -(-n_in // stride) if _name(padding) == "SAME" else (n_in - k) // stride + 1


def taps(n_in, n_out, k, stride, padding):
    """Kernel taps inside the input, summed over the output positions along one axis."""
    if _name(padding) == "VALID":
        return n_out * k
    pad = max((n_out - 1) * stride + k - n_in, 0) // 2
    starts = np.arange(n_out) * stride - pad
    return int(sum(np.clip(s + k, 0, n_in) - np.clip(s, 0, n_in) for s in starts))


def forward_flops(model, num_classes, image_size):
    """(useful, nominal) FLOPs of one image's forward pass through `model`: 2 x multiply-adds of
    every Conv2D and MatMul, counting only in-bounds taps (useful) or every tap (nominal)."""
    useful = nominal = 0
    with tf.Graph().as_default() as g:
        nets.get_network_fn(model, num_classes)(tf.placeholder(tf.float32, [1, image_size, image_size, 3]))
        for op in g.get_operations():
            if op.type == "Conv2D":
                _, h_in, w_in, c_in = op.inputs[0].shape.as_list()
                kh, kw, _, c_out = op.inputs[1].shape.as_list()
                _, h_out, w_out, _ = op.outputs[0].shape.as_list()
                strides, padding = op.get_attr("strides"), op.get_attr("padding")
                if op.get_attr("dilations") != [1, 1, 1, 1] or op.get_attr("data_format") != b"NHWC":
                    raise RuntimeError(f"FLOP count does not handle {op.name}")
                nominal += 2 * h_out * w_out * kh * kw * c_in * c_out
                useful += 2 * taps(h_in, h_out, kh, strides[1], padding) * \
                    taps(w_in, w_out, kw, strides[2], padding) * c_in * c_out
            elif op.type == "MatMul":
                m, k = op.inputs[0].shape.as_list()
                n = op.outputs[0].shape.as_list()[1]
                useful += 2 * m * k * n
                nominal += 2 * m * k * n
            elif op.type in ("DepthwiseConv2dNative", "Conv3D", "BatchMatMulV2"):
                raise RuntimeError(f"FLOP count does not handle {op.type}")
    return useful, nominal


def training_gflops(model, num_classes, image_size, images_per_second):
    """GFLOP per image of the forward pass and GFLOP/s of training at `images_per_second`, each
    over the useful taps and over all taps (the `_all_taps` keys)."""
    useful, nominal = forward_flops(model, num_classes, image_size)
    return {"forward_gflop_per_image": useful / 1e9,
            "forward_gflop_per_image_all_taps": nominal / 1e9,
            "gflop_per_second": TRAINING_PASSES * useful / 1e9 * images_per_second,
            "gflop_per_second_all_taps": TRAINING_PASSES * nominal / 1e9 * images_per_second}
