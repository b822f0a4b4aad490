"""Part 3a: VGG-16 trained with Keras `fit()` on the same preprocessed images and batch size.

Keras 3 runs eagerly: these run before the process switches to graph mode (see run.run).
Keras is imported inside the functions, so importing this module stays cheap.
"""
from absl import logging

from tlslim.benchmark.timing import best_time


def keras_applications_model(s, num_classes):
    """keras.applications.VGG16 as a Keras user builds it: include_top=True, no weights, logits out.
    At 32x32 its top is Flatten -> Dense(4096) -> Dense(4096) -> Dense(classes) (fc1 on the 512
    pool5 features: the FLOPs of tlslim's fc6 there; at 224 on 25088, exactly fc6); it has no
    weight decay."""
    import keras

    size = s.image_size
    return keras.applications.VGG16(include_top=True, weights=None, input_shape=(size, size, 3),
                                    classes=num_classes, classifier_activation=None)


def keras_same_graph_model(s, num_classes):
    """keras.applications.VGG16's conv base (same layers; checked: same parameter count) + slim's
    convolutional top (fc6 7x7, fc7 and fc8 1x1 convolutions), with slim's weight decay: the
    parameters and FLOPs of the tlslim net."""
    import keras
    from keras import layers

    size = s.image_size
    reg = keras.regularizers.L2(s.weight_decay / 2)  # slim's l2_regularizer(wd) is wd * sum(w^2) / 2
    conv = dict(activation="relu", padding="same", kernel_regularizer=reg)
    model = keras.Sequential(name="vgg16_slim_top")
    model.add(keras.Input((size, size, 3)))
    for block, (repeats, width) in enumerate(zip((2, 2, 3, 3, 3), (64, 128, 256, 512, 512)), start=1):
        for i in range(1, repeats + 1):
            model.add(layers.Conv2D(width, 3, name=f"block{block}_conv{i}", **conv))
        model.add(layers.MaxPooling2D(2, 2, name=f"block{block}_pool"))
    reference = keras.applications.VGG16(include_top=False, weights=None, input_shape=(size, size, 3))
    if model.count_params() != reference.count_params():
        raise RuntimeError("the Keras conv base differs from keras.applications.VGG16")
    pool5 = size // 32
    fc6_padding = "valid" if pool5 >= 7 else "same"  # as tlslim's vgg chooses from the map size
    model.add(layers.Conv2D(4096, 7, name="fc6", **{**conv, "padding": fc6_padding}))
    model.add(layers.Dropout(0.5))
    model.add(layers.Conv2D(4096, 1, name="fc7", **conv))
    if (pool5 if fc6_padding == "same" else pool5 - 6) != 1:
        model.add(layers.GlobalAveragePooling2D(keepdims=True))
    model.add(layers.Dropout(0.5))
    model.add(layers.Conv2D(num_classes, 1, name="fc8", kernel_regularizer=reg))
    model.add(layers.Flatten())
    return model


def keras_fit(s, build, num_classes, x, y, jit_compile="auto"):
    """{'model', 'images_per_second', 'jit_compile', 'parameters'} of build(s, num_classes)'s
    model.fit on (x, y), SGD with momentum: the best of s.rounds epochs after a one-batch warm-up
    fit (tracing and compiling)."""
    import keras

    keras.utils.set_random_seed(s.seed)
    model = build(s, num_classes)
    model.compile(optimizer=keras.optimizers.SGD(s.full_learning_rate, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=jit_compile)
    B = s.batch_size
    model.fit(x[:B], y[:B], batch_size=B, epochs=1, verbose=0, shuffle=False)
    seconds = best_time(lambda: model.fit(x, y, batch_size=B, epochs=1, verbose=0, shuffle=True), s.rounds)
    result = {"model": model.name, "images_per_second": len(x) / seconds, "jit_compile": bool(model.jit_compile),
              "parameters": int(model.count_params())}
    logging.info("keras fit (%s, jit_compile=%s): %.2f images/s", result["model"], result["jit_compile"],
                 result["images_per_second"])
    return result
