"""The one error type tlslim raises for anything a user can fix.

Its message is a single line saying what is wrong and what to do; the CLIs print it
as-is (no traceback) and exit with status 2.
"""


class TlslimError(Exception):
    """A user-facing error: `str(err)` is one line with the problem and the fix."""

    def __init__(self, message):
        # Keep it one line even if a caller builds it from multi-line parts.
        super().__init__(" ".join(str(message).split()))
