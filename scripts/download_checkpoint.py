"""Download a net's TF-Slim release checkpoint, unpack it, and verify it against the net.

    python scripts/download_checkpoint.py vgg_16                        # -> checkpoints/vgg_16.ckpt
    python scripts/download_checkpoint.py vgg_16 --from ~/Downloads/vgg_16_2016_08_28.tar.gz
    python scripts/download_checkpoint.py vgg_16 --from /data/vgg_16.ckpt

The tarball comes from the release URL (http://download.tensorflow.org/models/...), or --url.
Verification: every variable of the net's release manifest is in the checkpoint with the
release's shape. --from takes a tarball or a checkpoint (V1 file, V2 prefix or directory) you
already have; a V1 file is copied into --dest, a V2 checkpoint is verified where it is.
Everything is unpacked and verified in a temporary directory inside --dest first: a checkpoint
already in --dest is replaced only by one that passed, and stays as it was when the new one fails.
"""
import glob
import os
import shutil
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from tlslim import cli, download, nets, paths, restore  # noqa: E402
from tlslim.errors import TlslimError  # noqa: E402

flags.DEFINE_string("dest", "checkpoints", "Directory the checkpoint is unpacked into.")
flags.DEFINE_string("url", None, "Download from this URL instead of the release URL.")
flags.DEFINE_string("from", None, "A tarball or checkpoint you already have, used instead of downloading.")
flags.DEFINE_boolean("keep_tarball", False, "Keep the downloaded tarball after unpacking it.")
flags.DEFINE_boolean("force", False, "Download and unpack again even if --dest already holds the checkpoint (it "
                                     "is replaced only once the new one is verified).")
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


def verify(path, info):
    """The resolved path of checkpoint `path` once it reads as a checkpoint and holds every variable
    of the net's release manifest with its shape (when the registry has one); else a TlslimError."""
    if info.manifest:
        return restore.verify_checkpoint(path, info.name)
    restore.list_checkpoint(path)
    return restore.resolve_checkpoint(path)


def _verify_staged(staged, shown, info):
    """`verify` a file in a staging directory; its errors name `shown` (what the user gave), not a
    temporary path that is gone when they read it."""
    try:
        return verify(staged, info)
    except TlslimError as err:
        raise TlslimError(str(err).replace(staged, shown)) from None


def _release_checkpoint(extracted, info, tarball):
    for path in extracted:
        if _is_release_checkpoint(path, info):
            return path[:-len(".index")] if path.endswith(".index") else path
    held = ", ".join(sorted(os.path.basename(p) for p in extracted)) or "nothing"
    raise TlslimError(f"{tarball} holds no {info.checkpoint_file} (it holds {held}); it is not the "
                      f"{info.name} release tarball.")


def unpack(tarball, dest, info, shown=None):
    """Extract `tarball` into a staging directory inside `unpack_dir(info, dest)`, verify the net's
    checkpoint there, and only then move the release's files into place. Returns the checkpoint's
    path: the V1 file, or the V2 prefix (the MobileNet releases ship `<name>.ckpt.index` and
    `.data-*` files). Errors name the tarball as `shown` (default: its path)."""
    shown = shown or tarball
    target = unpack_dir(info, dest)
    with paths.staging_dir(target) as tmp:
        try:
            extracted = download.extract_tarball(tarball, tmp)
        except TlslimError as err:
            raise TlslimError(str(err).replace(tarball, shown)) from None
        staged = _release_checkpoint(extracted, info, shown)
        inside = os.path.relpath(staged, tmp)
        _verify_staged(staged, f"{inside} in {shown}", info)
        paths.install(tmp, target)
    return os.path.join(target, inside)


def install_copy(path, dest, info):
    """Copy the V1 file `path` to `dest/<checkpoint_file>` through a staging directory: the copy is
    verified before it replaces anything. Returns the installed path."""
    target = os.path.join(dest, info.checkpoint_file)
    if os.path.realpath(path) == os.path.realpath(target):
        return target
    with paths.staging_dir(dest) as tmp:
        staged = os.path.join(tmp, info.checkpoint_file)
        os.makedirs(os.path.dirname(staged), exist_ok=True)
        try:
            shutil.copyfile(path, staged)
        except OSError as err:
            raise TlslimError(f"could not copy {path} into {dest} ({err.strerror or err}); free disk space or "
                              f"choose another --dest.") from None
        _verify_staged(staged, path, info)
        paths.install(tmp, dest)
    return target


def report(info, path):
    path = verify(path, info)
    entries = restore.list_checkpoint(path)
    if not info.manifest:
        print(f"{info.name}: {path} reads as a checkpoint ({len(entries)} entries); the registry has no release "
              f"manifest to check its variables against.")
    else:
        m = nets.manifest(info.name)
        extras = [e for e in entries if e not in m["variables"]]
        print(f"{info.name}: {path} verified: all {len(m['variables'])} variables of the release, with their "
              f"shapes" + (f" (plus {', '.join(extras)}, never restored)" if extras else "") + ".")
    print(f"Use it with --checkpoint_path {path}")


def main(argv):
    if len(argv) != 2:
        raise TlslimError(f"give exactly one net name: download_checkpoint.py NAME; known: {', '.join(nets.names())}.")
    info = nets.get_info(argv[1])
    dest = paths.check_output_dir(FLAGS.dest, "--dest", "the checkpoint")
    source = FLAGS["from"].value
    if source:
        source = os.path.expanduser(source)
        if _is_tarball(source):
            return report(info, unpack(source, dest, info))
        path = verify(source, info)  # a checkpoint: file, prefix or directory
        if os.path.isfile(path):  # V1 single file: copy it where the tools expect it
            path = install_copy(path, dest, info)
        return report(info, path)

    url = FLAGS.url or info.checkpoint_url
    if not url:
        have = [n for n in nets.names() if nets.get_info(n).checkpoint_url]
        raise TlslimError(f"{info.name} has no release checkpoint; nets with one: {', '.join(have)}.")
    here = [p for p in glob.glob(os.path.join(glob.escape(unpack_dir(info, dest)), "**", "*"), recursive=True)
            if os.path.isfile(p) and _is_release_checkpoint(p, info)]
    if here and not FLAGS.force:
        target = sorted(here)[0]
        target = target[:-len(".index")] if target.endswith(".index") else target
        print(f"{target} is already there; verifying it (use --force to download it again).")
        return report(info, target)
    name = os.path.basename(url.split("?")[0]) or info.checkpoint_tarball
    print(f"Downloading {url}")
    # The tarball too goes to a staging directory: an interrupted run leaves nothing that looks done.
    with paths.staging_dir(dest) as tmp:
        tarball = download.fetch(url, os.path.join(tmp, name))
        path = unpack(tarball, dest, info, shown=url)
        if FLAGS.keep_tarball:
            os.replace(tarball, os.path.join(dest, name))
    report(info, path)


if __name__ == "__main__":
    cli.run(main)
