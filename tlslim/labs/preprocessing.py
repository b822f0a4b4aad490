"""Input preprocessing: mean image vs per-channel mean vs per-channel mean and std, and why zero-mean.

On a seeded synthetic image set (random 32x32 RGB, each channel with its own brightness and
brighter towards the top, like sky) it compares
  mean image          x - mean over images at each pixel and channel (AlexNet; 3072 numbers),
  per-channel mean    x - mean over images and pixels, per channel (VGG; 3 numbers),
  per-channel std     (x - mean_c) / std_c (ResNet as in torchvision; 6 numbers).

The zero-mean argument: for one neuron f(w.x + b), dL/dw_i = (dL/d(w.x + b)) * x_i. If every
x_i > 0, all components of the gradient have the sign of that one scalar, so a step can only
move w into the all-up or all-down orthant and reaching other directions takes zig-zags.
Shown with tf.gradients on a single sigmoid neuron, per example, on raw pixels vs centred ones.
"""
import numpy as np

from tlslim.compat import tf
from tlslim.labs import common

NUM_IMAGES = 64
SIZE = 32
CHANNEL_BRIGHTNESS = (150.0, 110.0, 70.0)  # synthetic: a reddish image set


def synthetic_images(num=NUM_IMAGES, size=SIZE, seed=0):
    """uint8 [num, size, size, 3], values 1..255 (all positive), labelled synthetic."""
    rng = np.random.RandomState(seed)
    rows = np.linspace(40.0, -40.0, size)[None, :, None, None]  # top rows brighter
    image_offset = rng.randn(num, 1, 1, 1) * 15.0
    x = np.array(CHANNEL_BRIGHTNESS)[None, None, None, :] + rows + image_offset
    x = x + rng.randn(num, size, size, 3) * 30.0
    return np.clip(np.round(x), 1, 255).astype(np.uint8)


def normalizations(images):
    """{'mean image' | 'per-channel mean' | 'per-channel mean and std': (float64 array, stored stats)}."""
    x = images.astype(np.float64)
    mean_image = x.mean(axis=0)
    channel_mean = x.mean(axis=(0, 1, 2))
    channel_std = x.std(axis=(0, 1, 2))
    return {
        "mean image": (x - mean_image, mean_image),
        "per-channel mean": (x - channel_mean, channel_mean),
        "per-channel mean and std": ((x - channel_mean) / channel_std, np.stack([channel_mean, channel_std])),
    }


def neuron_gradients(inputs):
    """Per-example dL/dw for one sigmoid neuron on flattened `inputs` [N, D], label 1, L = -log f.

    The neuron starts at w = 0, b = 0, so f = 0.5 and dL/dw = (f - 1) * x = -0.5 * x exactly.
    """
    n, d = inputs.shape
    with common.graph_session() as (_, sess):
        x = tf.constant(inputs, tf.float32)
        w = tf.get_variable("w", [d], initializer=tf.zeros_initializer())
        b = tf.get_variable("b", [], initializer=tf.zeros_initializer())
        # One copy of w per example, so tf.gradients returns each example's gradient, not the sum.
        w_per_example = tf.tile(w[None, :], [n, 1])
        logits = tf.reduce_sum(w_per_example * x, axis=1) + b
        loss = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones([n]), logits=logits))
        grad = tf.gradients(loss, w_per_example)[0]
        sess.run(tf.global_variables_initializer())
        return sess.run(grad)


def _same_sign(grads):
    """Per example: True if no two gradient components have opposite signs."""
    return ~((grads > 0).any(axis=1) & (grads < 0).any(axis=1))


def run(output_dir=None):
    images = synthetic_images()
    result = {"num_images": NUM_IMAGES, "synthetic": True, "methods": {}, "gradients": {}}
    norms = normalizations(images)
    for name, (x, stats) in norms.items():
        result["methods"][name] = {
            "stored_numbers": int(np.size(stats)),
            "channel_mean": x.mean(axis=(0, 1, 2)).tolist(),
            "channel_std": x.std(axis=(0, 1, 2)).tolist(),
            # How far from zero the mean over images is at the worst pixel position.
            "max_abs_pixel_mean": float(np.abs(x.mean(axis=0)).max()),
        }
    result["raw"] = {"channel_mean": images.astype(np.float32).mean(axis=(0, 1, 2)).tolist(),
                     "min": int(images.min())}
    flat = images.reshape(NUM_IMAGES, -1)
    for name, inputs in (("raw pixels (all > 0)", flat.astype(np.float32)),
                         ("per-channel mean subtracted", norms["per-channel mean"][0].reshape(NUM_IMAGES, -1))):
        g = neuron_gradients(inputs)
        result["gradients"][name] = {
            "fraction_same_sign": float(_same_sign(g).mean()),
            "mean_fraction_positive": float((g > 0).mean()),
        }
    figure = _plot(images, norms, output_dir)
    result["figures"] = [figure] if figure else []
    return result


def _plot(images, norms, output_dir):
    if not output_dir:
        return None
    fig = common.new_figure(12, 3)
    panels = [("image 0, raw", images[0].astype(np.float32)), ("the mean image", norms["mean image"][1])]
    panels += [(f"image 0, {name}", x[0]) for name, (x, _) in norms.items()]
    for i, (title, img) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        lo, hi = img.min(), img.max()
        ax.imshow((img - lo) / (hi - lo + 1e-8))  # each panel stretched to [0, 1] for display
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    return common.save_figure(fig, output_dir, "preprocessing")


def format(result):
    rows = [[name, m["stored_numbers"], *m["channel_mean"], *m["channel_std"], m["max_abs_pixel_mean"]]
            for name, m in result["methods"].items()]
    headers = ["method", "stored", "mean R", "mean G", "mean B", "std R", "std G", "std B",
               "max |pixel mean|"]
    out = [f"synthetic images: {result['num_images']} x 32x32x3, raw channel means "
           + ", ".join(f"{v:.1f}" for v in result["raw"]["channel_mean"]), common.table(headers, rows, ".3g"), "",
           "one sigmoid neuron, per-example dL/dw:"]
    rows = [[name, g["fraction_same_sign"], g["mean_fraction_positive"]] for name, g in result["gradients"].items()]
    out.append(common.table(["inputs", "examples whose dL/dw all share a sign", "fraction of dL/dw_i > 0"], rows))
    return "\n".join(out)
