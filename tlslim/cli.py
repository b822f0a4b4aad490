"""What every script shares: flags generated from the config dataclasses, and one-line errors.

    from tlslim import cli
    FIELDS = cli.define_flags(TrainConfig)            # one flag per field, help from its metadata
    def main(argv): config = cli.from_flags(TrainConfig, FIELDS) ...
    if __name__ == '__main__':
        cli.run(main)

A TlslimError (or a bad flag) prints `error: <message>` on stderr and exits 2, with no
traceback. Ctrl-C exits 130. --help, --helpshort and -h print the script's help and exit 0.
"""
import contextlib
import dataclasses
import logging as std_logging
import os
import sys
import tempfile
import typing
import warnings

from absl import app, flags, logging

from tlslim.errors import TlslimError

VERBOSE = "--verbose" in sys.argv[1:]


@contextlib.contextmanager
def _native_stderr_held(show):
    """Hold what C++ code writes to the process's stderr (file descriptor 2) in the block, and
    show it afterwards only if `show` or the block failed. TensorFlow's start-up banners (oneDNN,
    CPU features, CUDA probes) are C++ log lines written before its logging is set up, which
    TF_CPP_MIN_LOG_LEVEL no longer filters."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        failed = True
        try:
            yield
            failed = False
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if show or failed:
                held.seek(0)
                sys.stderr.write(held.read().decode("utf-8", "replace"))
                sys.stderr.flush()


# Scripts import this module before anything that imports TensorFlow: its import and first look
# at the devices (where the CUDA probes run) happen here, their banners held back unless --verbose.
with _native_stderr_held(VERBOSE):
    from tlslim.compat import graph_mode, tf
    tf.config.list_physical_devices()

EXIT_USAGE = 2
flags.DEFINE_bool("verbose", False, "Show TensorFlow's start-up messages and absl's prefixes (time, file, line) "
                                    "on every log line.")


class PlainFormatter(std_logging.Formatter):
    """Log lines as a user reads them: the message alone, 'warning: ' before warnings (absl's
    prefix of level, time, thread, file and line goes only to a run's log file)."""

    def format(self, record):
        text = record.getMessage()
        return text if record.levelno < std_logging.WARNING else f"{record.levelname.lower()}: {text}"


def fail(message):
    """Print one error line and exit 2."""
    sys.stderr.write(f"error: {' '.join(str(message).split())}\n")
    sys.stderr.flush()
    sys.exit(EXIT_USAGE)


# absl's help flags (--help is also -?); each prints the help and exits 1.
_HELP_FLAGS = ("help", "helpshort", "helpfull", "helpxml", "?")


def _asks_for_help(args):
    return any(a.startswith("-") and a.lstrip("-").split("=")[0] in _HELP_FLAGS for a in args)


def _parse_flags(argv):
    args = list(argv)
    end = args.index("--") if "--" in args else len(args)  # after '--' every word is an argument
    # -h is how most tools ask for help; absl knows only --help, -? and --helpshort.
    args[1:end] = ["--helpshort" if a == "-h" else a for a in args[1:end]]
    try:
        return flags.FLAGS(args)
    except flags.Error as err:
        fail(f"{err}. Run with --helpshort to see the flags.")
    except SystemExit as exit_:
        if exit_.code == 1 and _asks_for_help(args[1:end]):
            sys.exit(0)  # help was asked for and given: a success
        raise


def run(main, argv=None):
    """Run `main(argv)` under absl with tlslim's error handling, in graph mode."""
    def wrapped(args):
        graph_mode()
        logging.set_verbosity(logging.INFO)
        if not VERBOSE:
            logging.get_absl_handler().setFormatter(PlainFormatter())
        # TF 1.x APIs are the point here; their deprecation notices are noise to a student.
        tf.get_logger().setLevel("ERROR")
        for module in ("tensorflow", "tf_slim", "keras"):
            warnings.filterwarnings("ignore", module=module)
        try:
            return main(args)
        except TlslimError as err:
            fail(err)
        except KeyboardInterrupt:
            sys.stderr.write("interrupted\n")
            sys.exit(130)

    app.run(wrapped, argv=argv, flags_parser=_parse_flags)


def flag_text(value):
    """A config value as a user would type it: tuples comma-separated, scope maps 'a=b,c=d'."""
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, (tuple, list)):
        return ",".join("all" if v is None else str(v) for v in value)
    return str(value)


def _flag_type(annotation):
    """The type a field's flag parses: Optional[X] -> X; tuples and lists -> list; dicts -> str."""
    if typing.get_origin(annotation) is typing.Union:
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    origin = typing.get_origin(annotation)
    if origin in (tuple, list, typing.Sequence) or annotation in (tuple, list):
        return list
    if origin is dict or annotation is dict:
        return str  # 'a=b,c=d': the dataclass parses it
    return annotation


def define_flags(cls, defaults=None, only=None, skip=(), help=None, flag_values=flags.FLAGS):  # noqa: A002
    """Define one absl flag per field of dataclass `cls`; returns {flag name: field name}.

    The help text, slim's alias spellings and the allowed values come from each field's metadata
    (tlslim.train.config.field); a field may name its flag (metadata 'flag'). `defaults` (an
    instance of `cls`) gives the flags' defaults, else the fields' own; `help` ({field: text})
    replaces a field's help where a script means something else by it. `only`/`skip` choose fields.
    The flags hold raw values (a list flag's strings); the dataclass parses them when made.
    """
    defaults = defaults if defaults is not None else cls()
    hints = typing.get_type_hints(cls)
    # Flags belong to the script that asks for them, so --helpshort lists them (absl names the
    # main module by its path).
    module = sys._getframe(1).f_globals.get("__name__")
    module = sys.argv[0] if module == "__main__" else module
    where = dict(flag_values=flag_values, module_name=module)
    defined = {}
    for f in dataclasses.fields(cls):
        if (only is not None and f.name not in only) or f.name in skip:
            continue
        meta = f.metadata
        name, kind = meta.get("flag", f.name), _flag_type(hints[f.name])
        help_text = (help or {}).get(f.name) or meta.get("help", f.name)
        value = getattr(defaults, f.name)
        if meta.get("choices"):
            flags.DEFINE_enum(name, value, list(meta["choices"]), help_text, **where)
        elif kind is list:
            flags.DEFINE_list(name, None if value is None else ["all" if v is None else str(v) for v in value],
                              help_text, **where)
        elif kind is bool:
            flags.DEFINE_bool(name, value, help_text, **where)
        elif kind is int:
            flags.DEFINE_integer(name, value, help_text, **where)
        elif kind is float:
            flags.DEFINE_float(name, value, help_text, **where)
        elif kind is str:
            flags.DEFINE_string(name, None if value is None else flag_text(value), help_text, **where)
        else:
            raise TypeError(f"no flag type for field {cls.__name__}.{f.name}: {hints[f.name]}")
        for alias in meta.get("aliases", ()):
            flags.DEFINE_alias(alias, name, flag_values=flag_values)
        defined[name] = f.name
    return defined


def from_flags(cls, defined, base=None, flag_values=flags.FLAGS):
    """An instance of `cls` (a copy of `base` if given) with the fields `defined` (define_flags'
    result) set from the parsed flags."""
    values = {field: flag_values[name].value for name, field in defined.items()}
    return dataclasses.replace(base, **values) if base is not None else cls(**values)


def given(name, flag_values=flags.FLAGS):
    """True if flag `name` (or an alias of it) was on the command line."""
    return flag_values[name].present > 0


def nested_from_flags(defaults, own, train_fields, flag_values=flags.FLAGS):
    """A config like `defaults` (one that holds a TrainConfig as its field `train`) with its own
    fields `own` and its TrainConfig's fields `train_fields` (define_flags' results) set from the
    parsed flags."""
    train = from_flags(type(defaults.train), train_fields, defaults.train, flag_values)
    return from_flags(type(defaults), own, dataclasses.replace(defaults, train=train), flag_values)


def no_arguments(argv):
    """A one-line error for words on the command line that are not flags."""
    if len(argv) > 1:
        raise TlslimError(f"unexpected arguments {' '.join(argv[1:])}; all options are --flags (see --helpshort).")
