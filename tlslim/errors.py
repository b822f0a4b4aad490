"""The one error type tlslim raises for anything a user can fix.

Its message is a single line saying what is wrong and what to do; the CLIs print it
as-is (no traceback) and exit with status 2.
"""


class TlslimError(Exception):
    """A user-facing error: `str(err)` is one line with the problem and the fix."""

    def __init__(self, message):
        # Keep it one line even if a caller builds it from multi-line parts.
        super().__init__(" ".join(str(message).split()))


# Causes a user can act on, as the system or TensorFlow words them anywhere in an error's text.
_CAUSES = (
    ("no space left on device", "no space left on device"),
    ("disk quota exceeded", "disk quota exceeded"),
    ("read-only file system", "read-only file system"),
    ("permission denied", "permission denied"),
    ("oom when allocating", "out of memory"),
    ("out of memory", "out of memory"),
    ("resource exhausted", "out of memory"),
    ("failed to allocate", "out of memory"),
)
_NOISE = ("graph execution error", "detected at node", "node:", "traceback", "file \"", "[[")


def error_cause(err):
    """The cause of an exception (an OSError, TensorFlow's OpError, ...) in a few words: a cause the
    user can act on (no space left on device, permission denied, out of memory) wherever the
    message says it, else the message's first informative line, else the exception's type."""
    if isinstance(err, MemoryError):
        return "out of memory"
    text = str(getattr(err, "message", None) or getattr(err, "strerror", None) or err)
    lowered = text.lower()
    for needle, cause in _CAUSES:
        if needle in lowered:
            return cause
    for line in text.splitlines():
        line = line.strip()
        if line and not line.lower().startswith(_NOISE):
            return line[:300]
    return type(err).__name__
