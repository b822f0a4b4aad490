"""Benchmark of tlslim's training paths against the course notebook's loop and Keras, as ratios.

    from tlslim.benchmark.settings import Settings
    from tlslim.benchmark.run import run
    report = run(Settings(preset="small"), output="runs/bench.json")   # scripts/bench.py

Everything runs in one process on one machine, and what is compared is reported as ratios
(absolute numbers are in the report too, but they describe that machine only).

The head-only parts (1 and 2) need features that carry signal, or "equal accuracy" compares two
chance-level numbers: with a checkpoint they use `model` and that checkpoint; without one they
use the embedded CifarNet (pretrained on the SYNTHETIC source task). The full fine-tune parts
(3 and 4) use `model` (default vgg_16) with its checkpoint or a SYNTHETIC release-format one
(random values: throughput does not depend on them).

1. baseline (`notebook`) -- the course notebook's loop: the net built once on an images
   placeholder, numpy batches of preprocessed images through feed_dict, the whole network's
   forward pass on every step; head-only training (var_list = the head) and full fine-tuning
   (var_list = all). The head runs twice: with the frozen base in inference mode (what the cache
   computes; compared) and with `is_training` fed True as in the notebook, dropout on in the
   frozen base (reported).
2. cached (`tlslim_parts.cached`) -- `tlslim.train.train` with `cache_features` (strategy head,
   what `finetune.py --strategy head --cache_features --noaugment` runs): features extracted once
   (the first epoch's cost), then the same head, optimizer and schedule on the cache. Compared:
   time per epoch after the first, accuracy after the same number of epochs (target: within 1
   point), the whole cached run (data, extraction, training, evaluations) against the baseline's
   epochs, and total time until the cached run first reaches the baseline's final accuracy (minus
   1 point). Both use a cosine learning-rate decay by default, so the final
   accuracies are those of the settled head rather than of wherever the last noisy steps left it.
3. full fine-tuning throughput (images/s) of tlslim's training graph (`tlslim_parts.tlslim_full`:
   strategy all, tf.data input, the training loop's fetches) against (a) VGG-16 trained with
   Keras `fit()` on the same preprocessed images and batch size, SGD with momentum
   (`keras_models`): the target compares with `keras.applications.VGG16(include_top=True)` as a
   Keras user builds it, at Keras's default `jit_compile` (plus XLA on request, the faster
   taken); for information also with the Applications conv base plus slim's convolutional top
   and weight decay (tlslim's variables) -- and (b) the baseline loop.
4. achieved GFLOP/s of the full fine-tune step against a large float32 matmul timed in the same
   run (`timing.matmul_peak`: the machine's practical peak, measured before and after, best
   taken). The step's FLOPs are counted from the graph (`flops`): every Conv2D and MatMul of the
   forward pass, 2 x multiply-adds, counting only the kernel taps that fall inside the input (a
   'SAME' convolution's taps over padding multiply zeros), times 3 for forward + backward (the
   backward pass computes the gradients with respect to both inputs and weights, each a
   forward's worth of multiply-adds). The count with every tap is reported too.

5. (`--parts precision`, not by default) the full fine-tune step at float32 and at
   mixed_bfloat16, or the one line refusing bfloat16 on hardware without it.
6. (`--parts replicas`, not by default) the full fine-tune step on one device and on two
   replicas on CPU logical devices (`tlslim.train.Replicated`): on a CPU both share the cores,
   so the ratio is replication's overhead.

Targets: cached head epochs >= 20x faster than the baseline at equal accuracy
(+-1 point); full fine-tune >= 1.0x Keras and >= 1.3x the baseline; >= 50% of the matmul peak
(`report.ratios`). The small preset takes a few minutes on 2 CPU cores. Other programs running
at the same time skew every number: the load average is recorded at the start and the end.

Modules: settings (presets, Settings, resolve), flops, timing, notebook, keras_models,
tlslim_parts, report (ratios, format_report), run (run: the whole benchmark).
"""
