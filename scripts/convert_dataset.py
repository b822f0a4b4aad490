"""Convert an image folder or CIFAR-10's python release to slim's TFRecord format.

    python scripts/convert_dataset.py --dataset_name hats --dataset_dir photos/ --output_dir records/
    python scripts/convert_dataset.py --dataset_name cifar10 --dataset_dir data/ --output_dir records/

--dataset_name cifar10 reads CIFAR-10's python release (the batches directory, its parent or the
tarball) and writes slim's cifar10_train.tfrecord and cifar10_test.tfrecord. Any other name reads an
image folder (one sub-folder of JPEG/PNG images per class) and writes slim's flowers layout under
that name: <name>_train_NNNNN-of-NNNNN.tfrecord and <name>_validation_..., the validation part the
same images tlslim's folder dataset holds out. labels.txt goes beside them. Nothing appears in
--output_dir until every file is written; an existing set of the same name is replaced only with
--overwrite.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from tlslim import cli, paths  # noqa: E402
from tlslim.data import convert, folder  # noqa: E402
from tlslim.errors import TlslimError  # noqa: E402

flags.DEFINE_string("dataset_name", None, "cifar10 (CIFAR-10's python release), or the name to give an "
                    "image folder's TFRecords (<name>_<split>_NNNNN-of-NNNNN.tfrecord; flowers gives slim's "
                    "flowers layout).")
flags.DEFINE_string("dataset_dir", None, "The input: the image folder, or for cifar10 the "
                    "cifar-10-batches-py directory, its parent or cifar-10-python.tar.gz.")
flags.DEFINE_string("output_dir", None, "Directory to write the TFRecord files and labels.txt in.")
flags.DEFINE_integer("num_shards", convert.DEFAULT_NUM_SHARDS, "Files per split for an image folder "
                     "(slim's flowers: 5). cifar10 is one file per split.")
flags.DEFINE_float("validation_fraction", folder.DEFAULT_VALIDATION_FRACTION, "Fraction of each class "
                   "held out as the validation split of an image folder (the same seeded split as "
                   "tlslim's folder dataset); 0 writes train only.")
flags.DEFINE_bool("overwrite", False, "Replace a converted set of the same name in --output_dir.")
FLAGS = flags.FLAGS


def main(argv):
    cli.no_arguments(argv)
    for name in ("dataset_name", "dataset_dir", "output_dir"):
        if not FLAGS[name].value:
            raise TlslimError(f"--{name} is required; see --helpshort.")
    paths.check_output_dir(FLAGS.output_dir, "--output_dir", "the TFRecord files")
    is_cifar10 = FLAGS.dataset_name == "cifar10"
    done = convert.convert(
        FLAGS.dataset_name, FLAGS.dataset_dir, FLAGS.output_dir,
        num_shards=FLAGS.num_shards if cli.given("num_shards") or not is_cifar10 else None,
        validation_fraction=(FLAGS.validation_fraction if cli.given("validation_fraction") or not is_cifar10
                             else None),
        overwrite=FLAGS.overwrite)
    counts = ", ".join(f"{n} {split}" for split, n in done.counts.items())
    notes = "".join([f"; skipped {done.skipped} undecodable file(s)" if done.skipped else "",
                     f"; {done.rotated} photo(s) stored turned upright (EXIF)" if done.rotated else ""])
    print(f"{done.name}: {counts} images in {len(done.files) - 1} file(s) and labels.txt in "
          f"{done.output_dir}{notes}.")
    return 0


if __name__ == "__main__":
    cli.run(main)
