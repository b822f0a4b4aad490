"""Graph builders under the exact variable scopes of the released TF-Slim checkpoints.

    fn = tlslim.nets.get_network_fn('vgg_16', num_classes=10)
    logits, end_points = fn(images)
    features = end_points[tlslim.nets.PENULTIMATE]
"""
from tlslim.nets.registry import PENULTIMATE, NetInfo, get_info, get_network_fn, manifest, names, register

# Importing a net module registers it (mobilenet/ and nasnet/ are packages, as in research/slim).
from tlslim.nets import (  # noqa: F401,E402
    alexnet, cifarnet, inception_resnet_v2, inception_v1, inception_v2, inception_v3, inception_v4, lenet, mobilenet_v1,
    nasnet, overfeat, resnet_v1, resnet_v2, vgg)
from tlslim.nets.mobilenet import mobilenet_v2, mobilenet_v3  # noqa: F401,E402

__all__ = ["PENULTIMATE", "NetInfo", "get_info", "get_network_fn", "manifest", "names", "register"]
