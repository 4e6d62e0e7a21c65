"""``param_str`` of the papers' Python layers: a JSON object or a Python dict literal.

Shared by every layer in this folder; like them it imports only the standard library, so BVLC Caffe
loads it unchanged.
"""
import ast
import json


def parse_param_str(text):
    """A layer's param_str as a dict; empty means {}."""
    text = (text or "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise ValueError("param_str must be a JSON object or a Python dict literal, got %r" % text)
    if not isinstance(value, dict):
        raise ValueError("param_str must be a JSON object, got %r" % text)
    return value
