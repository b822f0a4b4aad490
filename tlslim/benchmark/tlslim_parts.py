"""Parts 2 and 3: tlslim's own training paths, through its training API.

`cached` trains the head on cached features (tlslim.train.train with cache_features);
`tlslim_full` times the step of tlslim's full fine-tuning graph (the FullGraph builder the harness
runs). These two are the only parts of the benchmark that call tlslim's training API. `s` is a
resolved Settings.
"""
import os
import shutil

from tlslim import train
from tlslim.benchmark.timing import best_time
from tlslim.compat import tf
from tlslim.device import check_precision, choose_device, replica_devices
from tlslim.errors import TlslimError


def cached(s, ckpt, work_dir, steps_per_epoch):
    """The head of s.head_model trained on cached features, twice: from a cold cache and again
    from scratch on the warm cache. Returns {'cold': summary, 'warm': summary} (see _cached_summary)."""
    config = train.TrainConfig(
        model=s.head_model, checkpoint_path=ckpt, exclude="auto", strategy="head", dataset=s.dataset,
        dataset_dir=s.dataset_dir, image_size=s.image_size, train_subset=s.train_subset,
        batch_size=s.batch_size, max_steps=s.epochs * steps_per_epoch, optimizer=s.optimizer,
        learning_rate=s.learning_rate, lr_decay=s.lr_decay, weight_decay=s.weight_decay,
        eval_every_steps=steps_per_epoch,
        eval_examples=s.test_examples, augment=False, cache_features=True, log_every_steps=steps_per_epoch,
        save_every_steps=10 ** 9, seed=s.seed, device=s.device, train_dir=os.path.join(work_dir, "cached"),
        cache_dir=os.path.join(work_dir, "feature_cache"))
    cold = train.train(config)
    # The same run again from scratch, the cache now warm.
    shutil.rmtree(config.train_dir)
    warm = train.train(config)
    return {"cold": _cached_summary(cold, steps_per_epoch), "warm": _cached_summary(warm, steps_per_epoch)}


def _cached_summary(result, steps_per_epoch):
    """{'top1', 'seconds', 'extract_seconds', 'extracted', 'train_seconds', 'epoch_seconds',
    'history': [{'epoch', 'top1', 'seconds'}, ...]} of one cached run's result."""
    history = [{"epoch": h["step"] // steps_per_epoch, "top1": h["top1"], "seconds": h["seconds"]}
               for h in result["history"] if h["step"] % steps_per_epoch == 0 and h["step"] > 0]
    epochs = len(history)
    return {"top1": result["top1"], "seconds": result["seconds"], "extract_seconds": result["cache"]["extract_seconds"],
            "extracted": result["cache"]["extracted"], "train_seconds": result["train_seconds"],
            "epoch_seconds": result["train_seconds"] / max(epochs, 1), "history": history}


def tlslim_full(s, ckpt, train_set, test_set, steps, precision="float32", num_clones=1):
    """{'images_per_second'} of tlslim's full fine-tuning graph of s.model (strategy all,
    tf.data input, the training loop's fetches) at `precision`, on `num_clones` replicas on CPU
    devices when more than one: the best of s.rounds runs of `steps` steps after a warm-up step."""
    config = train.check_config(train.TrainConfig(
        model=s.model, checkpoint_path=ckpt, exclude="auto", strategy="all", dataset=s.dataset,
        image_size=s.image_size, batch_size=s.batch_size, max_steps=steps, optimizer=s.optimizer,
        learning_rate=s.full_learning_rate, weight_decay=s.weight_decay, augment=False, seed=s.seed,
        device=s.device, precision=precision, num_clones=num_clones, clone_on_cpu=num_clones > 1))
    plan = train.make_plan(config, train_set.num_classes, s.image_size)
    if num_clones > 1:
        builder = train.Replicated(config, plan, train_set, test_set, s.image_size,
                                   replica_devices(num_clones, on_cpu=True))
    else:
        device = choose_device(s.device)
        check_precision(precision, device)
        builder = train.FullGraph(config, plan, train_set, test_set, s.image_size, device)
    tg = builder.build(start_step=0)
    with tg.graph.as_default():
        init_fn = plan.restore_plan.make_init_fn(tg.model_variables)
        init = tf.global_variables_initializer()
    with tf.Session(graph=tg.graph, config=builder.session_config()) as sess:
        sess.run(init)
        init_fn(sess)
        step = builder.step_fn(sess, tg, 0)  # what the harness's loop runs
        step()  # warm-up
        seconds = best_time(lambda: [step() for _ in range(steps)], s.rounds)
    return {"images_per_second": steps * s.batch_size / seconds}


def precisions(s, ckpt, train_set, test_set, steps):
    """tlslim_full at float32 and at mixed_bfloat16, one after the other in this run:
    {'float32': {...}, 'mixed_bfloat16': {...} or {'refused': the one-line reason}}."""
    out = {"float32": tlslim_full(s, ckpt, train_set, test_set, steps)}
    try:
        out["mixed_bfloat16"] = tlslim_full(s, ckpt, train_set, test_set, steps, precision="mixed_bfloat16")
    except TlslimError as err:  # this CPU (or GPU) has no bfloat16 arithmetic
        out["mixed_bfloat16"] = {"refused": str(err)}
    return out


def replicas(s, ckpt, train_set, test_set, steps):
    """tlslim_full on one device and on two replicas (the CPU split in two logical devices), one
    after the other: {'1': {...}, '2': {...}}. The replicas share the same cores, so on a CPU this
    measures their overhead, not a speed-up."""
    return {str(n): tlslim_full(s, ckpt, train_set, test_set, steps, num_clones=n) for n in (1, 2)}
