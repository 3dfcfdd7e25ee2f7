"""JSON for the start path, on the interpreter's C accelerator alone.

`import json` pulls in re, enum, functools and collections: about a third of
a container start's import time.  The C scanner and string encoder in _json
need none of them; the json package itself is imported only to describe a
syntax error.  Equivalence with json is tested in tests/unit/test_jsonio.py.
"""
import _json

_ENCODE_STRING = _json.encode_basestring_ascii


class _ScannerContext:
    # the attributes _json.make_scanner reads, set as json.loads' defaults are
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # NaN, Infinity, -Infinity, as json.loads accepts them
    memo = {}


_scan = _json.make_scanner(_ScannerContext())
_WHITESPACE = " \t\n\r"


def loads(text):
    """Like json.loads; raises ValueError (json.JSONDecodeError) on bad input."""
    if isinstance(text, (bytes, bytearray)):
        # as json.loads does for UTF-8 bytes, a BOM is allowed; the utf-8-sig
        # codec would do the same at the cost of another module import
        text = (text[3:] if text.startswith(b"\xef\xbb\xbf") else text).decode("utf-8")
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as stop:
        _raise_decode_error("Expecting value", text, stop.value)
    except SystemError:
        # The C scanner reports a syntax error through json.decoder's
        # exception class, which it looks up but never imports: without it,
        # the error is lost.  Let json itself say what is wrong.
        import json
        json.loads(text)
        raise
    finally:
        _ScannerContext.memo.clear()
    rest = text[end:]
    if rest.strip(_WHITESPACE):
        _raise_decode_error("Extra data", text, end + len(rest) - len(rest.lstrip(_WHITESPACE)))
    return value


def _raise_decode_error(message, text, position):
    from json import JSONDecodeError
    raise JSONDecodeError(message, text, position) from None


def dumps(value, indent=None, spaced=False):
    """Like json.dumps for JSON-shaped data (dict with str keys, list, tuple,
    str, int, float, bool, None); on one line it is compact, as Go writes
    JSON (runc's events, list and log lines: scripts match {"type":"stats"...});
    spaced: with json's ", " and ": " (for people: error messages)."""
    chunks = []
    _encode(value, chunks, indent, 0, spaced)
    return "".join(chunks)


def _encode(value, out, indent, level, spaced=False):
    if isinstance(value, str):
        out.append(_ENCODE_STRING(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(_float(value))
    elif isinstance(value, dict):
        _encode_items(value.items(), "{", "}", out, indent, level, True, spaced)
    elif isinstance(value, (list, tuple)):
        _encode_items(value, "[", "]", out, indent, level, False, spaced)
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _encode_items(items, opening, closing, out, indent, level, keyed, spaced):
    out.append(opening)
    separator = ", " if spaced and indent is None else ","
    newline = "" if indent is None else "\n" + " " * (indent * (level + 1))
    first = True
    for item in items:
        if not first:
            out.append(separator)
        first = False
        out.append(newline)
        if keyed:
            key, item = item
            if not isinstance(key, str):
                raise TypeError(f"keys must be str, not {type(key).__name__}")
            out.append(_ENCODE_STRING(key))
            out.append(":" if indent is None and not spaced else ": ")
        _encode(item, out, indent, level + 1, spaced)
    if not first and indent is not None:
        out.append("\n" + " " * (indent * level))
    out.append(closing)


def _float(value):
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)
