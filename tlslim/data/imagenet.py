"""ImageNet (ILSVRC-2012) class names, as the released classifiers number their outputs.

    class_names(1000)[0]   # 'tench, Tinca tinca'  (vgg, resnet_v1)
    class_names(1001)[0]   # 'background'          (inception, resnet_v2, mobilenet, nasnet)
    class_names(1001)[1]   # 'tench, Tinca tinca'

The list ships with the package as `imagenet_classes.txt` (its header says where it came from).
"""
import functools
import os

from tlslim.errors import TlslimError

CLASSES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "imagenet_classes.txt")
NUM_CLASSES = 1000
BACKGROUND = "background"
LAYOUTS = (NUM_CLASSES, NUM_CLASSES + 1)


@functools.lru_cache(maxsize=None)
def synsets():
    """((wnid, names), ...) of the 1000 classes in the releases' order (sorted WordNet IDs)."""
    entries = []
    with open(CLASSES_FILE, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line and not line.startswith("#"):
                wnid, names = line.split("\t", 1)
                entries.append((wnid, names))
    if len(entries) != NUM_CLASSES:  # a damaged install, not a user error the flags can fix
        raise RuntimeError(f"{CLASSES_FILE} holds {len(entries)} classes, not {NUM_CLASSES}")
    return tuple(entries)


def class_names(num_classes=NUM_CLASSES):
    """The names of the outputs of a `num_classes`-way ImageNet classifier: 1000, or 1001 with
    'background' at index 0 (the other 1000 shifted by one)."""
    if num_classes not in LAYOUTS:
        raise TlslimError(f"ImageNet class names exist for 1000 or 1001 classes, not {num_classes}.")
    names = [n for _, n in synsets()]
    return names if num_classes == NUM_CLASSES else [BACKGROUND] + names
