"""Fine-tune a TF-Slim net on a dataset: one engine for every way of training.

    config = TrainConfig(model="vgg_16", checkpoint_path="vgg_16.ckpt", exclude="vgg_16/fc8",
                         dataset="cifar10", dataset_dir="/data/cifar10", image_size=32, max_steps=1000)
    result = train(config)   # {'step', 'loss', 'top1', 'top5', 'seconds', 'history', ...}
    evaluate("vgg_16", result["checkpoint"], "cifar10", dataset_dir="/data/cifar10", image_size=32)

The package, by concern (each module imports only those above it in this list):
  cluster      training across machines: the cluster from TF_CONFIG or flags, servers, joining and leaving
  config       TrainConfig (the one source of truth: flags are generated from its fields),
               STRATEGIES, check_config, the built-in example's defaults
  plan         what a run restores (one restore plan per run) and what it trains (strategies)
  graph        the net's training and evaluation towers, loss, optimizer, train op
  evaluation   metrics, and `evaluate` of a checkpoint on a dataset split
  rundir       the train_dir: run record, resume checks, checkpoints
  builders     the ways of training: FullGraph (tf.data batches), Replicated (the same on several devices,
               tf.distribute), Distributed (one worker of a cluster) and CachedHead (cached features)
  harness      `train`: the one harness that runs a builder (session, summaries, progress,
               evaluation, checkpoints, NaN stop, Ctrl-C)

Only the trainable scopes' batch norms run in training mode and update their moving statistics;
frozen ones use their restored statistics (tlslim.layers.batch_norm_train_only). The training
data are reshuffled on resume with a seed derived from (seed, step), so a resumed run does not
replay the batches it already saw.
"""
from tlslim.train.builders import (CachedHead, Distributed, FullGraph, Replicated, cache_problem, data_seed,
                                   use_cache)
from tlslim.train.config import (CLUSTER_FIELDS, LR_DECAYS, OPTIMIZERS, STRATEGIES, TrainConfig, check_config,
                                 default_train_dir, with_default_checkpoint)
from tlslim.train.evaluation import (EvalConfig, eval_metrics, evaluate, evaluate_run, first_examples, format_metrics,
                                     style_stats)
from tlslim.train.graph import (LOSS_SCALE_START, TrainGraph, build_towers, build_train_op, group_variables,
                                learning_rate_schedule, make_optimizer, regularized_variable)
from tlslim.train.harness import run_loop, train
from tlslim.train.plan import Plan, make_plan, variable_shapes
from tlslim.train.rundir import (RUN_FILE, check_resumable, latest_checkpoint, read_run_record, run_record,
                                 save_checkpoint)

__all__ = ["CLUSTER_FIELDS", "CachedHead", "Distributed", "EvalConfig", "FullGraph", "LOSS_SCALE_START", "LR_DECAYS",
           "OPTIMIZERS", "Plan", "RUN_FILE", "Replicated",
           "STRATEGIES", "TrainConfig", "TrainGraph", "build_towers", "build_train_op", "cache_problem",
           "check_config", "check_resumable", "data_seed", "default_train_dir", "eval_metrics", "evaluate",
           "evaluate_run", "first_examples", "format_metrics", "group_variables", "latest_checkpoint",
           "learning_rate_schedule", "make_optimizer", "make_plan", "read_run_record", "regularized_variable",
           "run_loop", "run_record", "save_checkpoint", "style_stats", "train", "use_cache", "variable_shapes",
           "with_default_checkpoint"]
