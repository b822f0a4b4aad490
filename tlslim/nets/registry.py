"""The network registry, in the spirit of slim's `nets_factory` and torchvision's model registry.

Each net module registers a `NetInfo` at import; `tlslim.nets` imports them all.
`get_network_fn(name, num_classes, ...)` returns `fn(images) -> (logits, end_points)` with
`logits` of shape [batch, num_classes] and `end_points[PENULTIMATE]` the classifier's input.
"""
import dataclasses
import json
import numbers
import os
from typing import Callable, Optional, Tuple

from tlslim.compat import graph_mode, slim, tf
from tlslim.errors import TlslimError

# The end_points key of the tensor the classifier reads (fc7 after dropout7 for VGG, the pooled vector for ResNet).
PENULTIMATE = "PreLogits"


def penultimate_collection(name):
    """The graph collection where get_network_fn records net `name`'s PENULTIMATE tensor
    (read by tlslim.restore.penultimate(graph, name))."""
    return "tlslim_penultimate/" + name


RELEASE_URL = "http://download.tensorflow.org/models/"


@dataclasses.dataclass(frozen=True)
class NetInfo:
    """What the toolkit knows about one net.

    builder(images, num_classes, is_training=..., **kwargs) -> (logits, end_points)
    arg_scope(weight_decay=...) -> the arg_scope dict the builder runs under
    head_scope: the classifier's variable scope, e.g. 'vgg_16/fc8'
    blocks: variable-scope prefixes of the layer groups from input to head (the head last);
        `top N` unfreezes the last N before the head, `discriminative` gives each its own rate
    preprocessing: name of the preprocessing style the release was trained with (see tlslim.data)
    checkpoint_tarball / checkpoint_file: release tarball name and the checkpoint inside it (a V1
        file or V2 prefix, found by name; with the release's folders where its name alone is
        ambiguous, e.g. MobileNet v3's 'ema/model-540000' beside 'pristine/...')
    release_path: the tarball's path under RELEASE_URL when it is not just its name (a release
        kept in a subdirectory), or its whole URL when it is published elsewhere (e.g. MobileNet v2's)
    prelogits_op: for a builder whose end_points have no PENULTIMATE (the slim-API builders keep
        slim's end_points exactly): the name, relative to the net's scope, of the classifier op
        whose first input is the classifier's input; get_network_fn records that input
    prelogits_end_points: instead of prelogits_op, end_points keys of which the first present is
        the penultimate tensor (a pooled vector the head's own dropout follows, e.g. Inception
        v1's 'AvgPool_0a_7x7' or 'global_pool')
    """
    name: str
    builder: Callable
    arg_scope: Callable
    scope: str
    head_scope: str
    blocks: Tuple[str, ...]
    default_image_size: int
    min_image_size: int
    num_classes: int
    preprocessing: str
    checkpoint_tarball: Optional[str] = None
    checkpoint_file: Optional[str] = None
    manifest: Optional[str] = None  # file under tlslim/nets/manifests/ (release names and shapes)
    release_path: Optional[str] = None
    prelogits_op: Optional[str] = None
    prelogits_end_points: Tuple[str, ...] = ()
    aux_scopes: Tuple[str, ...] = ()  # auxiliary heads (e.g. Inception's AuxLogits): not upstream of PreLogits

    @property
    def scopes(self):
        """The variable scopes that hold the whole net: its scope, or for a net built without one
        (NASNet's cells are top-level scopes) its blocks."""
        return (self.scope,) if self.scope else self.blocks

    @property
    def checkpoint_url(self):
        if not self.checkpoint_tarball:
            return None
        path = self.release_path or self.checkpoint_tarball
        return path if "://" in path else RELEASE_URL + path


_REGISTRY = {}


def register(info):
    if info.name in _REGISTRY:
        raise ValueError(f"net {info.name} registered twice")
    _REGISTRY[info.name] = info
    return info


def names():
    return sorted(_REGISTRY)


def get_info(name):
    """The NetInfo for `name`; TlslimError listing the known nets otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise TlslimError(f"unknown model '{name}'; known models: {', '.join(names())}.") from None


def manifest(name):
    """The release manifest of net `name`: {'variables': {name: shape}, 'extra': {...}, ...}."""
    info = get_info(name)
    if not info.manifest:
        raise TlslimError(f"no manifest is recorded for {name}.")
    path = os.path.join(os.path.dirname(__file__), "manifests", info.manifest)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def classifier_input(logits, op_name):
    """The first input of the op named `op_name` (a name relative to the net's scope, such as
    'Logits/Conv2d_1c_1x1/Conv2D') found walking back from `logits`. Matching the name's end
    finds it whatever the net's name scope became (e.g. 'MobilenetV1_1' for a second build)."""
    seen, frontier = set(), [logits.op]
    while frontier:
        op = frontier.pop(0)
        if op.name.endswith("/" + op_name):
            return op.inputs[0]
        for t in op.inputs:
            if t.op.name not in seen:
                seen.add(t.op.name)
                frontier.append(t.op)
    raise TlslimError(f"no op '{op_name}' leads to the logits {logits.name}; the net's prelogits_op is wrong.")


def get_network_fn(name, num_classes, is_training=False, weight_decay=0.0, **kwargs):
    """Return fn(images) -> (logits, end_points) building net `name` with `num_classes` outputs.

    Building creates the net's model variables and nothing else. `is_training` may be a Python
    bool or a boolean tensor; extra kwargs go to the builder (e.g. dropout_keep_prob).
    """
    info = get_info(name)
    # numbers.Integral admits numpy ints (e.g. labels.max() + 1); bool is not a class count.
    if (not isinstance(num_classes, numbers.Integral) or isinstance(num_classes, bool)
            or num_classes < 1):
        raise TlslimError(f"num_classes must be a positive integer, got {num_classes!r}.")
    num_classes = int(num_classes)

    def network_fn(images):
        graph_mode()
        height, width = images.shape[1], images.shape[2]
        if any(d is not None and int(d) < info.min_image_size for d in (height, width)):
            got = "x".join("?" if d is None else str(int(d)) for d in (height, width))
            raise TlslimError(
                f"{name} needs images of at least {info.min_image_size}x{info.min_image_size}, "
                f"got {got}; use --image_size {info.min_image_size} or larger.")
        with slim.arg_scope(info.arg_scope(weight_decay=weight_decay)):
            logits, end_points = info.builder(images, num_classes, is_training=is_training, **kwargs)
        if PENULTIMATE not in end_points:
            present = [key for key in info.prelogits_end_points if key in end_points]
            if present:
                end_points[PENULTIMATE] = end_points[present[0]]
            elif info.prelogits_op:
                end_points[PENULTIMATE] = classifier_input(logits, info.prelogits_op)
        if PENULTIMATE in end_points:
            tf.add_to_collection(penultimate_collection(name), end_points[PENULTIMATE])
        return logits, end_points

    network_fn.default_image_size = info.default_image_size
    network_fn.info = info
    return network_fn
