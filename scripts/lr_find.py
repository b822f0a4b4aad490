"""The learning-rate range test: sweep the learning rate up exponentially for a few steps of the
chosen strategy, plot the loss against it and suggest a rate (fastai's lr_find).

With no flags it sweeps the embedded default (CifarNet's new head on the synthetic target).

    python scripts/lr_find.py
    python scripts/lr_find.py --strategy discriminative --num_steps 200 --output runs/lr_find_disc.png
    python scripts/lr_find.py --model vgg_16 --checkpoint_path vgg_16.ckpt --exclude vgg_16/fc8 \\
        --dataset cifar10 --dataset_dir data --image_size 32

It never reads or writes a train_dir: the sweep trains in a temporary directory, deleted at the
end, and leaves only the plot (--output). Then pass the suggested rate to finetune.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tlslim import cli, lr_find, train  # noqa: E402

_d = lr_find.LRFindConfig()
# The run being tuned is TrainConfig's fields, except what the sweep sets itself and a cluster's.
TRAIN_FIELDS = cli.define_flags(train.TrainConfig, skip=lr_find.SWEEP_FIELDS + train.CLUSTER_FIELDS)
OWN_FIELDS = cli.define_flags(lr_find.LRFindConfig, skip=("train",))


def main(argv):
    cli.no_arguments(argv)
    config = cli.nested_from_flags(_d, OWN_FIELDS, TRAIN_FIELDS)
    lr_find.check_config(config)
    config.train = train.with_default_checkpoint(config.train)
    result = lr_find.lr_find(config)
    stopped = " (stopped early: the loss took off)" if result["stopped_early"] else ""
    print(f"swept {len(result['points'])} steps from {result['points'][0][1]:.3g} to {result['points'][-1][1]:.3g}"
          f"{stopped}")
    print(f"suggested --learning_rate {result['suggested']:.2g}: {result['rule']}; the minimum is at "
          f"{result['minimum']:.2g}, the steepest descent at {result['steepest']:.2g}")
    print(f"plot: {result['plot']}")


if __name__ == "__main__":
    cli.run(main)
