"""Top-1/top-5 accuracy of a checkpoint on a dataset split (inference mode).

    python scripts/evaluate.py --checkpoint_path runs/cifarnet-synthetic-head
    python scripts/evaluate.py --checkpoint_path model.ckpt-1000 --model vgg_16 \\
        --dataset cifar10 --dataset_dir /data/cifar10 --image_size 32

--checkpoint_path may be a file, a V2 prefix, or a --train_dir of scripts/finetune.py; for a
train_dir, --model, --dataset, --dataset_dir, --image_size and --preprocessing default to the
ones it was trained with.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from tlslim import cli, train  # noqa: E402
from tlslim.errors import TlslimError  # noqa: E402

flags.DEFINE_string("checkpoint_path", None, "Checkpoint file, V2 prefix, or training directory.")
flags.DEFINE_string("model", None, "Network name; default: the train_dir's model.")
flags.DEFINE_string("dataset", None, "Dataset name; default: the train_dir's dataset.")
flags.DEFINE_string("dataset_dir", None, "Where the dataset's files are.")
flags.DEFINE_enum("split", "test", ["train", "test"], "Which split to evaluate.")
flags.DEFINE_integer("image_size", None, "Input size; default: the net's default size.")
flags.DEFINE_string("preprocessing", None, "Preprocessing style; default: the net's.")
flags.DEFINE_integer("batch_size", 32, "Images per batch.")
flags.DEFINE_integer("num_examples", None, "Evaluate the first N images only.")
flags.DEFINE_string("device", "auto", "auto, cpu or gpu.")
flags.DEFINE_alias("model_name", "model")
flags.DEFINE_alias("dataset_name", "dataset")
flags.DEFINE_alias("eval_image_size", "image_size")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise TlslimError(f"unexpected arguments {' '.join(argv[1:])}; all options are --flags (see --helpshort).")
    if not FLAGS.checkpoint_path:
        raise TlslimError("--checkpoint_path is required (a checkpoint file, V2 prefix or training directory).")
    record = train.read_run_record(FLAGS.checkpoint_path) or {}
    model = FLAGS.model or record.get("model")
    dataset = FLAGS.dataset or record.get("dataset")
    if not model or not dataset:
        missing = " and ".join(f for f, v in (("--model", model), ("--dataset", dataset)) if not v)
        raise TlslimError(f"{missing} required: {FLAGS.checkpoint_path} is not a training directory that records them.")
    same = dataset == record.get("dataset")  # the record's dataset settings apply to its dataset only
    result = train.evaluate(
        model, FLAGS.checkpoint_path, dataset,
        dataset_dir=FLAGS.dataset_dir or (record.get("dataset_dir") if same else None), split=FLAGS.split,
        image_size=FLAGS.image_size or record.get("image_size"), batch_size=FLAGS.batch_size,
        num_examples=FLAGS.num_examples, preprocessing=FLAGS.preprocessing or record.get("preprocessing"),
        device=FLAGS.device)
    top5 = f"  top-5 {result['top5']:.4f}" if result["top5"] is not None else ""
    print(f"{model} on {dataset}/{FLAGS.split} ({result['count']} images): top-1 {result['top1']:.4f}{top5}  "
          f"loss {result['loss']:.4f}")


if __name__ == "__main__":
    cli.run(main)
