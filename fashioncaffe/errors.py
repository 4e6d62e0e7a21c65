"""The one exception type users see from the engine.

Every error raised on bad input is a :class:`FashionCaffeError` whose message is one readable
paragraph naming the file, line, layer or field at fault and what was expected.  The command line
prints the message alone (no traceback) and exits with status 2.

Where pycaffe raises a particular built-in type for the same mistake (``ValueError`` from
``caffe.io``, ``ImportError`` for a Python layer's missing module, ...), ``fail(..., like=T)``
builds an error that is both: ``except ValueError`` in a pycaffe script and
``except FashionCaffeError`` both catch it.
"""


class FashionCaffeError(Exception):
    """Bad input or an unrecoverable condition, explained in one paragraph."""


_COMBINED: dict = {}


def _combined(builtin: type) -> type:
    cls = _COMBINED.get(builtin)
    if cls is None:
        cls = type(f"FashionCaffe{builtin.__name__}", (FashionCaffeError, builtin), {"__module__": __name__})
        _COMBINED[builtin] = cls
    return cls


def fail(message: str, like: type | None = None) -> "FashionCaffeError":
    """Build the error so call sites read ``raise fail(...)``; whitespace is folded to one paragraph.
    ``like``: the built-in exception type pycaffe raises in the same situation."""
    text = " ".join(message.split())
    if like is None or like is Exception:
        return FashionCaffeError(text)
    return _combined(like)(text)
