"""Download a net's TF-Slim release checkpoint, unpack it, and verify it against the net.

    python scripts/download_checkpoint.py vgg_16                        # -> checkpoints/vgg_16.ckpt
    python scripts/download_checkpoint.py vgg_16 --from ~/Downloads/vgg_16_2016_08_28.tar.gz
    python scripts/download_checkpoint.py vgg_16 --from /data/vgg_16.ckpt

The tarball comes from the release URL (http://download.tensorflow.org/models/...), or --url.
Verification: every variable of the net's release manifest is in the checkpoint with the
release's shape. --from takes a tarball or a checkpoint (V1 file, V2 prefix or directory) you
already have; a V1 file is copied into --dest, a V2 checkpoint is verified where it is.
"""
import glob
import os
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from tlslim import cli, download, nets, restore  # noqa: E402
from tlslim.errors import TlslimError  # noqa: E402

flags.DEFINE_string("dest", "checkpoints", "Directory the checkpoint is unpacked into.")
flags.DEFINE_string("url", None, "Download from this URL instead of the release URL.")
flags.DEFINE_string("from", None, "A tarball or checkpoint you already have, used instead of downloading.")
flags.DEFINE_boolean("keep_tarball", False, "Keep the downloaded tarball after unpacking it.")
FLAGS = flags.FLAGS


def _is_tarball(path):
    if path.endswith((".tar.gz", ".tgz", ".tar")):
        return True  # extract_tarball explains what is wrong with a bad one
    return os.path.isfile(path) and tarfile.is_tarfile(path)


def unpack_dir(info, dest):
    """Where `info`'s release is unpacked: `dest`, or `dest/<net>` when another net's release has a
    checkpoint of the same name (the NASNet releases all ship `model.ckpt`), so neither overwrites
    the other."""
    shared = [n for n in nets.names() if n != info.name and nets.get_info(n).checkpoint_file == info.checkpoint_file]
    return os.path.join(dest, info.name) if shared else dest


def _is_release_checkpoint(path, info):
    """Whether `path` (an unpacked file) is `info`'s checkpoint: its V1 file or its V2 index, by
    name (checkpoint_file may carry the release's folders, e.g. MobileNet v3's 'ema/...')."""
    for name in (info.checkpoint_file, info.checkpoint_file + ".index"):
        if path == name or path.endswith(os.sep + name.replace("/", os.sep)):
            return True
    return False


def unpack(tarball, dest, info):
    """Extract `tarball` into `unpack_dir(info, dest)` and return the path of the net's checkpoint
    in it: the V1 file, or the V2 prefix (the MobileNet releases ship `<name>.ckpt.index` and
    `.data-*` files)."""
    paths = download.extract_tarball(tarball, unpack_dir(info, dest))
    for path in paths:
        if _is_release_checkpoint(path, info):
            return path[:-len(".index")] if path.endswith(".index") else path
    held = ", ".join(sorted(os.path.basename(p) for p in paths)) or "nothing"
    raise TlslimError(f"{tarball} holds no {info.checkpoint_file} (it holds {held}); it is not the "
                      f"{info.name} release tarball.")


def report(name, path):
    path = restore.verify_checkpoint(path, name)
    m = nets.manifest(name)
    extras = [e for e in restore.list_checkpoint(path) if e not in m["variables"]]
    print(f"{name}: {path} verified: all {len(m['variables'])} variables of the release, with their shapes"
          + (f" (plus {', '.join(extras)}, never restored)" if extras else "") + ".")
    print(f"Use it with --checkpoint_path {path}")


def main(argv):
    if len(argv) != 2:
        raise TlslimError(f"give exactly one net name: download_checkpoint.py NAME; known: {', '.join(nets.names())}.")
    info = nets.get_info(argv[1])
    dest = FLAGS.dest
    source = FLAGS["from"].value
    if source:
        source = os.path.expanduser(source)
        if _is_tarball(source):
            return report(info.name, unpack(source, dest, info))
        path = restore.verify_checkpoint(source, info.name)  # a checkpoint: file, prefix or directory
        if os.path.isfile(path):  # V1 single file: copy it where the tools expect it
            path = download.copy_file(path, os.path.join(dest, info.checkpoint_file))
        return report(info.name, path)

    url = FLAGS.url or info.checkpoint_url
    if not url:
        have = [n for n in nets.names() if nets.get_info(n).checkpoint_url]
        raise TlslimError(f"{info.name} has no release checkpoint; nets with one: {', '.join(have)}.")
    here = [p for p in glob.glob(os.path.join(glob.escape(unpack_dir(info, dest)), "**", "*"), recursive=True)
            if os.path.isfile(p) and _is_release_checkpoint(p, info)]
    if here:
        target = sorted(here)[0]
        target = target[:-len(".index")] if target.endswith(".index") else target
        print(f"{target} is already there; verifying it (delete it to download again).")
        return report(info.name, target)
    tarball = os.path.join(dest, os.path.basename(url.split("?")[0]) or info.checkpoint_tarball)
    print(f"Downloading {url}")
    download.fetch(url, tarball)
    path = unpack(tarball, dest, info)
    if not FLAGS.keep_tarball:
        os.remove(tarball)
    report(info.name, path)


if __name__ == "__main__":
    cli.run(main)
