"""Download CIFAR-10 (python version), check its MD5, extract it and check that it loads.

    python scripts/download_cifar10.py                      # -> data/cifar-10-batches-py
    python scripts/download_cifar10.py --dest ~/datasets
    python scripts/download_cifar10.py --from ~/Downloads/cifar-10-python.tar.gz

Without network access, fetch the tarball elsewhere and pass it with --from. Train with
`--dataset_name cifar10 --dataset_dir <dest>`.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from tlslim import cli, download  # noqa: E402
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
        return len(cifar10.load(path, "train")), len(cifar10.load(path, "test"))
    except TlslimError:
        return None


def _from_directory(source, batches_dir):
    """Copy the release files from an extracted directory; return a tarball found instead, or None."""
    kind, path = cifar10.locate(source)  # the batches dir, its parent, or a dir with the tarball
    if kind == "tarball":
        return path
    missing = [n for n in cifar10.ALL_FILES if not os.path.isfile(os.path.join(path, n))]
    if missing:
        raise TlslimError(f"--from {source}: {path} lacks {', '.join(missing)}; pass the full "
                          f"{cifar10.BATCHES_DIR} directory or {cifar10.TARBALL}.")
    if os.path.abspath(path) != os.path.abspath(batches_dir):
        for name in cifar10.ALL_FILES:
            download.copy_file(os.path.join(path, name), os.path.join(batches_dir, name))
    return None


def main(argv):
    del argv
    dest = os.path.expanduser(FLAGS.dest)
    batches_dir = os.path.join(dest, cifar10.BATCHES_DIR)
    source = FLAGS["from"].value
    md5 = FLAGS.md5 or None
    if not FLAGS.force and source is None and os.path.isdir(batches_dir) and _loads(batches_dir):
        print(f"CIFAR-10 is already in {batches_dir}; use --force to fetch it again.")
        return 0
    tarball, downloaded = None, False
    if source is not None:
        source = os.path.expanduser(source)
        if os.path.isdir(source):
            tarball = _from_directory(source, batches_dir)
        elif os.path.isfile(source):
            tarball = source
        else:
            raise TlslimError(f"--from {source}: no such file or directory; give the path of "
                              f"{cifar10.TARBALL} or of an extracted {cifar10.BATCHES_DIR}.")
        if tarball is not None and md5:
            download.check_md5(tarball, md5)
    else:
        tarball = os.path.join(dest, cifar10.TARBALL)
        if not (os.path.isfile(tarball) and md5 and download.md5sum(tarball) == md5):
            print(f"Downloading {FLAGS.url}")
            download.fetch(FLAGS.url, tarball, md5=md5)
        downloaded = True
    if tarball is not None:
        extracted = download.extract_tarball(tarball, dest)
        if not any(os.path.normpath(p) == os.path.normpath(batches_dir) for p in extracted):
            raise TlslimError(f"{tarball} has no {cifar10.BATCHES_DIR}/ directory; it is not "
                              f"{cifar10.TARBALL}.")
    train = len(cifar10.load(batches_dir, "train"))  # raises a clear error if anything is off
    test = len(cifar10.load(batches_dir, "test"))
    if downloaded and not FLAGS.keep_tarball:
        os.remove(tarball)
    print(f"CIFAR-10 ready in {batches_dir}: {train} train and {test} test images. "
          f"Use --dataset_name cifar10 --dataset_dir {dest}")
    return 0


if __name__ == "__main__":
    cli.run(main)
