"""What every script shares: absl flag parsing and one-line errors.

    from tlslim import cli
    def main(argv): ...
    if __name__ == '__main__':
        cli.run(main)

A TlslimError (or a bad flag) prints `error: <message>` on stderr and exits 2, with no
traceback. Ctrl-C exits 130.
"""
import sys
import warnings

from absl import app, flags, logging

from tlslim.compat import graph_mode, tf
from tlslim.errors import TlslimError

EXIT_USAGE = 2


def fail(message):
    """Print one error line and exit 2."""
    sys.stderr.write(f"error: {' '.join(str(message).split())}\n")
    sys.stderr.flush()
    sys.exit(EXIT_USAGE)


def _parse_flags(argv):
    try:
        return flags.FLAGS(argv)
    except flags.Error as err:
        fail(f"{err}. Run with --helpshort to see the flags.")


def run(main, argv=None):
    """Run `main(argv)` under absl with tlslim's error handling, in graph mode."""
    def wrapped(args):
        graph_mode()
        logging.set_verbosity(logging.INFO)
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
