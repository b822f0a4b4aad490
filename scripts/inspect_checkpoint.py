"""List a checkpoint's entries, or check it against a net before fine-tuning.

    python scripts/inspect_checkpoint.py checkpoints/vgg_16.ckpt
    python scripts/inspect_checkpoint.py checkpoints/vgg_16.ckpt --model vgg_16 --num_classes 5
    python scripts/inspect_checkpoint.py checkpoints/vgg_16.ckpt --model vgg_16 --num_classes 5 --exclude auto

PATH is a V1 checkpoint file (as the releases ship), a V2 prefix, or a directory (its latest
checkpoint). Without --model it prints one line per entry: name, shape, dtype, and, when its
variables are a registered net's (names and shapes), which net it holds: `holds: vgg_16 (1000
classes)`. With --model it builds the net and prints the preflight report (what a restore would
do); a restore that would fail ends with `error: ...` and exit status 2.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from tlslim import cli, restore  # noqa: E402
from tlslim.compat import tf  # noqa: E402
from tlslim.errors import TlslimError  # noqa: E402

flags.DEFINE_string("model", None, "Net to compare the checkpoint with, e.g. vgg_16.")
flags.DEFINE_integer("num_classes", None, "Classes of the net's head (default: the release's).")
flags.DEFINE_string("exclude", "", "Comma-separated graph scopes left out of the restore, or 'auto'.")
flags.DEFINE_string("scope_map", "", "CHECKPOINT_SCOPE=GRAPH_SCOPE[,...] when the prefixes differ.")
flags.DEFINE_integer("image_size", None, "Input size the net is built at (default: the net's).")
FLAGS = flags.FLAGS


def list_entries(path):
    shapes = restore.list_checkpoint(path)
    dtypes = restore.checkpoint_dtypes(path)
    width = max((len(n) for n in shapes), default=0)
    values = 0
    for name, shape in shapes.items():
        print(f"{name:<{width}}  {restore.format_shape(shape):<20}  {dtypes[name]}")
        values += restore.num_elements(shape)
    print(f"{len(shapes)} entries, {values:,} values in {restore.resolve_checkpoint(path)}")
    found = restore.identify_net(path)
    if found:  # nothing is said of checkpoints of no registered net: the listing is all there is
        from tlslim.predict import checkpoint_classes
        print("holds: " + ", ".join(f"{n} ({checkpoint_classes(n, shapes)} classes)" for n in found))


def compare_with_net(path):
    from tlslim import nets
    info = nets.get_info(FLAGS.model)
    num_classes = FLAGS.num_classes or info.num_classes
    size = FLAGS.image_size or info.default_image_size
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [1, size, size, 3], name="images")
        nets.get_network_fn(info.name, num_classes)(images)
        variables = tf.model_variables()
        exclude, auto = restore.expand_exclude(FLAGS.exclude, variables, path, FLAGS.scope_map)
        if restore.AUTO in restore.parse_scopes(FLAGS.exclude):
            print(f"--exclude auto excludes: {', '.join(auto) if auto else 'nothing (no shape differs)'}")
        report = restore.preflight(variables, path, exclude=exclude, scope_map=FLAGS.scope_map)
    print(f"{info.name} with {num_classes} classes at {size}x{size}:")
    print(report.text())
    if not report.ok:
        raise TlslimError(report.problem())


def main(argv):
    if len(argv) != 2:
        raise TlslimError("give exactly one checkpoint PATH: inspect_checkpoint.py PATH [--model NAME ...].")
    path = argv[1]
    if FLAGS.model:
        compare_with_net(path)
    else:
        if FLAGS.exclude or FLAGS.num_classes or FLAGS.scope_map:
            raise TlslimError("--exclude, --num_classes and --scope_map need --model NAME.")
        list_entries(path)


if __name__ == "__main__":
    cli.run(main)
