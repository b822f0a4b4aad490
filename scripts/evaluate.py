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

from tlslim import cli, train  # noqa: E402

FIELDS = cli.define_flags(train.EvalConfig)


def main(argv):
    cli.no_arguments(argv)
    result, config = train.evaluate_run(cli.from_flags(train.EvalConfig, FIELDS))
    top5 = f"  top-5 {result['top5']:.4f}" if result["top5"] is not None else ""
    print(f"{config.model} on {config.dataset}/{config.split} ({result['count']} images): top-1 {result['top1']:.4f}"
          f"{top5}  loss {result['loss']:.4f}")


if __name__ == "__main__":
    cli.run(main)
