"""Download CIFAR-10 (python version), check its MD5, extract it and check that it loads.

    python scripts/download_cifar10.py                      # -> data/cifar-10-batches-py
    python scripts/download_cifar10.py --dest ~/datasets
    python scripts/download_cifar10.py --from ~/Downloads/cifar-10-python.tar.gz

Without network access, fetch the tarball elsewhere and pass it with --from. Train with
`--dataset_name cifar10 --dataset_dir <dest>`. The files are extracted (or copied) and loaded in a
temporary directory inside --dest first: a CIFAR-10 already in --dest is replaced only by one that
loads, and stays as it was when the new one does not.
"""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from tlslim import cli, download, paths  # noqa: E402
from tlslim.data import cifar10  # noqa: E402
from tlslim.errors import TlslimError  # noqa: E402

flags.DEFINE_string("dest", cifar10.DEFAULT_DIR, "Directory to put cifar-10-batches-py/ in.")
flags.DEFINE_string("url", cifar10.URL, "Where to download the tarball from.")
flags.DEFINE_string("md5", cifar10.MD5, "Expected MD5 of the tarball (default: the official "
                    "release's); an empty string skips the check.")
flags.DEFINE_string("from", None, "Use this local copy of cifar-10-python.tar.gz (or an extracted "
                    "cifar-10-batches-py directory) instead of downloading.")
flags.DEFINE_bool("keep_tarball", False, "Keep the downloaded tarball after extracting it.")
flags.DEFINE_bool("force", False, "Download and extract again even if dest already holds CIFAR-10.")
FLAGS = flags.FLAGS


def _loads(path):
    """(train, test) sizes if `path` holds a loadable CIFAR-10, else None."""
    try:
        return _sizes(path)
    except TlslimError:
        return None


def _sizes(path, shown=None):
    """(train, test) sizes of the CIFAR-10 in `path`; errors name `shown` instead of `path` (a
    staging directory is gone by the time the user reads them)."""
    try:
        return len(cifar10.load(path, "train")), len(cifar10.load(path, "test"))
    except TlslimError as err:
        raise TlslimError(str(err).replace(path, shown) if shown else str(err)) from None


def _copy_release_files(path, source, staged):
    """Copy the release files of the extracted directory `path` into `staged`."""
    missing = [n for n in cifar10.ALL_FILES if not os.path.isfile(os.path.join(path, n))]
    if missing:
        raise TlslimError(f"--from {source}: {path} lacks {', '.join(missing)}; pass the full "
                          f"{cifar10.BATCHES_DIR} directory or {cifar10.TARBALL}.")
    os.makedirs(staged)
    for name in cifar10.ALL_FILES:
        try:
            shutil.copyfile(os.path.join(path, name), os.path.join(staged, name))
        except OSError as err:
            raise TlslimError(f"could not copy {os.path.join(path, name)} ({err.strerror or err}); free disk "
                              f"space or choose another --dest.") from None


def main(argv):
    cli.no_arguments(argv)
    dest = paths.check_output_dir(FLAGS.dest, "--dest", "the CIFAR-10 files")
    batches_dir = os.path.join(dest, cifar10.BATCHES_DIR)
    source = FLAGS["from"].value
    md5 = FLAGS.md5 or None
    if not FLAGS.force and source is None and os.path.isdir(batches_dir) and _loads(batches_dir):
        print(f"CIFAR-10 is already in {batches_dir}; use --force to fetch it again.")
        return 0
    reused = None  # a tarball already in --dest with the right MD5: used instead of downloading
    with paths.staging_dir(dest) as tmp:
        tree = os.path.join(tmp, "tree")  # mirrors --dest
        staged = os.path.join(tree, cifar10.BATCHES_DIR)
        tarball, shown = None, None
        if source is not None:
            source = os.path.expanduser(source)
            if os.path.isdir(source):
                kind, path = cifar10.locate(source)  # the batches dir, its parent, or a dir with the tarball
                if kind == "tarball":
                    tarball = path
                elif os.path.realpath(path) == os.path.realpath(batches_dir):
                    staged = shown = batches_dir  # already where it goes: check it in place
                else:
                    _copy_release_files(path, source, staged)
                    shown = path
            elif os.path.isfile(source):
                tarball = source
            else:
                raise TlslimError(f"--from {source}: no such file or directory; give the path of "
                                  f"{cifar10.TARBALL} or of an extracted {cifar10.BATCHES_DIR}.")
            if tarball is not None and md5:
                download.check_md5(tarball, md5)
        else:
            tarball = os.path.join(dest, cifar10.TARBALL)
            if os.path.isfile(tarball) and md5 and download.md5sum(tarball) == md5:
                reused = tarball
            else:
                print(f"Downloading {FLAGS.url}")
                tarball = download.fetch(FLAGS.url, os.path.join(tmp, cifar10.TARBALL), md5=md5)
        if tarball is not None:
            named = FLAGS.url if source is None and not reused else tarball  # not the staged download
            try:
                extracted = download.extract_tarball(tarball, tree)
            except TlslimError as err:
                raise TlslimError(str(err).replace(tarball, named)) from None
            if not any(os.path.normpath(p) == os.path.normpath(staged) for p in extracted):
                raise TlslimError(f"{named} has no {cifar10.BATCHES_DIR}/ directory; it is not "
                                  f"{cifar10.TARBALL}.")
            shown = f"{named}:{cifar10.BATCHES_DIR}"  # a member of the tarball
        train, test = _sizes(staged, shown)  # raises a clear error if anything is off
        if staged != batches_dir:
            paths.install(tree, dest)
        if source is None and FLAGS.keep_tarball and not reused:
            os.replace(tarball, os.path.join(dest, cifar10.TARBALL))
    if reused and not FLAGS.keep_tarball:
        os.remove(reused)
    print(f"CIFAR-10 ready in {batches_dir}: {train} train and {test} test images. "
          f"Use --dataset_name cifar10 --dataset_dir {dest}")
    return 0


if __name__ == "__main__":
    cli.run(main)
