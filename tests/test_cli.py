"""Flags generated from the config dataclasses (tlslim.cli.define_flags): every field has its flag,
slim's aliases work, values are parsed once into typed config values."""
import dataclasses

import pytest
from absl import flags

from tlslim import cli, compare, pretrain, train
from tlslim.errors import TlslimError

SLIM_ALIASES = {"model_name": "model", "dataset_name": "dataset", "checkpoint_exclude_scopes": "exclude",
                "max_number_of_steps": "max_steps", "learning_rate_decay_type": "lr_decay",
                "learning_rate_decay": "lr_decay", "learning_rate_decay_factor": "decay_rate",
                "log_every_n_steps": "log_every_steps", "train_image_size": "image_size",
                "preprocessing_name": "preprocessing"}


def _flags(cls, argv=(), **kw):
    values = flags.FlagValues()
    defined = cli.define_flags(cls, flag_values=values, **kw)
    values(["prog"] + list(argv))
    return values, defined


def test_every_train_config_field_is_a_flag_with_its_help():
    values, defined = _flags(train.TrainConfig)
    fields = [f.name for f in dataclasses.fields(train.TrainConfig)]
    assert list(defined) == fields and list(defined.values()) == fields
    for f in dataclasses.fields(train.TrainConfig):
        assert values[f.name].help.endswith(f.metadata["help"]) and len(f.metadata["help"]) > 10, f.name
    # With no flags given, the flags make the dataclass's defaults.
    assert cli.from_flags(train.TrainConfig, defined, flag_values=values) == train.TrainConfig()
    for alias, name in SLIM_ALIASES.items():
        assert values[alias].name == alias  # defined, pointing at the field's flag
    assert set(train.TrainConfig.__dataclass_fields__["strategy"].metadata["choices"]) == set(train.STRATEGIES)


def test_flag_values_become_typed_config_values_once():
    values, defined = _flags(train.TrainConfig, [
        "--checkpoint_exclude_scopes", "vgg_16/fc8, vgg_16/fc7", "--trainable_scopes", "vgg_16/fc8",
        "--scope_map", "vgg_16=my_vgg", "--max_number_of_steps", "7", "--learning_rate_decay_type", "cosine",
        "--nocache_features", "--noaugment"])
    config = cli.from_flags(train.TrainConfig, defined, flag_values=values)
    assert config.exclude == ("vgg_16/fc8", "vgg_16/fc7") and config.trainable_scopes == ("vgg_16/fc8",)
    assert config.scope_map == {"vgg_16": "my_vgg"} and config.max_steps == 7 and config.lr_decay == "cosine"
    assert config.cache_features is False and config.augment is False
    # Library calls may give the same settings as strings; the config holds the same typed values.
    same = train.TrainConfig(exclude="vgg_16/fc8,vgg_16/fc7", trainable_scopes=["vgg_16/fc8"],
                             scope_map="vgg_16=my_vgg")
    assert (same.exclude, same.trainable_scopes, same.scope_map) == (config.exclude, config.trainable_scopes,
                                                                    config.scope_map)
    assert dataclasses.replace(config) == config  # parsing again changes nothing
    assert cli.flag_text(config.exclude) == "vgg_16/fc8,vgg_16/fc7" and cli.flag_text(config.scope_map) == \
        "vgg_16=my_vgg"
    with pytest.raises(TlslimError, match="--scope_map entry 'vgg_16' is not CHECKPOINT_SCOPE=GRAPH_SCOPE"):
        train.TrainConfig(scope_map="vgg_16")
    with pytest.raises(flags.IllegalFlagValueError):
        _flags(train.TrainConfig, ["--strategy", "sideways"])


def test_compare_and_pretrain_take_train_config_fields_with_their_own_defaults():
    defaults = compare.CompareConfig()
    values = flags.FlagValues()
    train_fields = cli.define_flags(train.TrainConfig, defaults=defaults.train, skip=compare.PER_RUN_FIELDS,
                                    flag_values=values)
    own = cli.define_flags(compare.CompareConfig, skip=("train",), flag_values=values)
    values(["prog", "--max_steps", "50", "--momentum", "0.5", "--train_subset", "5,all", "--seeds", "3,4",
            "--strategies", "scratch,head"])
    config = cli.nested_from_flags(defaults, own, train_fields, flag_values=values)
    assert config.train.max_steps == 50 and config.train.momentum == 0.5
    assert config.train_subsets == (5, None) and config.seeds == (3, 4) and config.strategies == ("scratch", "head")
    assert values["max_steps"].default == 200  # the comparison's default budget, not TrainConfig's 1000
    assert not set(compare.PER_RUN_FIELDS) & set(train_fields)
    # Every shared TrainConfig field is a compare flag: none can be forgotten.
    shared = {f.name for f in dataclasses.fields(train.TrainConfig)} - set(compare.PER_RUN_FIELDS)
    assert set(train_fields) == shared

    recipe = pretrain.PretrainConfig()
    values = flags.FlagValues()
    train_fields = cli.define_flags(train.TrainConfig, defaults=recipe.train, only=pretrain.RECIPE_FIELDS,
                                    flag_values=values)
    own = cli.define_flags(pretrain.PretrainConfig, skip=("train",), flag_values=values)
    values(["prog", "--max_steps", "5"])
    config = cli.nested_from_flags(recipe, own, train_fields, flag_values=values)
    assert config.recipe() == dict(recipe.recipe(), max_steps=5) and config.output is None
