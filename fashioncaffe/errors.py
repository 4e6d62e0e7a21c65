"""The one exception type users see from the engine.

Every error raised on bad input is a :class:`FashionCaffeError` whose message is one readable
paragraph naming the file, line, layer or field at fault and what was expected.  The command line
prints the message alone (no traceback) and exits with status 2.
"""


class FashionCaffeError(Exception):
    """Bad input or an unrecoverable condition, explained in one paragraph."""


def fail(message: str) -> "FashionCaffeError":
    """Build the error so call sites read ``raise fail(...)``; whitespace is folded to one paragraph."""
    return FashionCaffeError(" ".join(message.split()))
