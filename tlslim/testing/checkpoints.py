"""SYNTHETIC checkpoints in the real formats, for tests: files and release tarballs.

The checkpoint writers live in the library (tlslim.checkpoint_files) and are re-exported here:
release names and shapes (from the nets' manifests), seeded random values, NOT trained weights,
in TF's V1 single-file format (how the TF-Slim releases ship) or V2. This module adds the
release tarballs that the download tests serve.

    path = write_net_checkpoint('vgg_16', '/tmp/ckpt/vgg_16.ckpt')            # V1, release shapes
    tarball = make_release_tarball('inception_v1', '/tmp/serve')               # inception_v1_2016_08_28.tar.gz
"""
import io
import os
import tarfile
import tempfile

from tlslim.checkpoint_files import (  # noqa: F401 (re-exported for the tests)
    net_shapes, synthetic_tensors, synthetic_value, write_checkpoint, write_net_checkpoint)
from tlslim.nets import get_info

SYNTHETIC_NOTE = ("SYNTHETIC checkpoint written by tlslim.testing.checkpoints: the variable names and shapes "
                  "are the release's, the values are seeded random numbers, not trained weights.\n")
NOTE_NAME = "SYNTHETIC_README.txt"


def make_tarball(tarball_path, files, compresslevel=1):
    """A .tar.gz holding {name inside the archive: file path}, plus a SYNTHETIC note."""
    os.makedirs(os.path.dirname(os.path.abspath(tarball_path)), exist_ok=True)
    with tarfile.open(tarball_path, "w:gz", compresslevel=compresslevel) as tar:
        for arcname, path in files.items():
            tar.add(path, arcname=arcname)
        note = SYNTHETIC_NOTE.encode()
        info = tarfile.TarInfo(NOTE_NAME)
        info.size = len(note)
        tar.addfile(info, io.BytesIO(note))
    return tarball_path


def make_release_tarball(net, dest_dir, seed=0):
    """A SYNTHETIC stand-in for net `net`'s release tarball in `dest_dir`, named as the release
    (e.g. vgg_16_2016_08_28.tar.gz) and holding its V1 checkpoint file (e.g. vgg_16.ckpt) with the
    release names and shapes. Returns the tarball's path."""
    info = get_info(net)
    if not info.checkpoint_tarball:
        raise ValueError(f"{net} has no release checkpoint")
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = write_net_checkpoint(net, os.path.join(tmp, info.checkpoint_file), seed=seed)
        return make_tarball(os.path.join(dest_dir, info.checkpoint_tarball), {info.checkpoint_file: ckpt})
