"""ocirun.jsonio against the json module: same values in, same text and values out."""
import json
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocirun import jsonio

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300)
@given(json_values, st.sampled_from([None, 2, 4]))
def test_dumps_matches_json(value, indent):
    compact = (",", ":") if indent is None else None
    assert jsonio.dumps(value, indent=indent) == json.dumps(value, indent=indent, separators=compact)
    assert jsonio.dumps(value, indent=indent, spaced=True) == json.dumps(value, indent=indent)


@settings(max_examples=300)
@given(json_values, st.sampled_from([None, 1]), st.sampled_from(["", " ", "\n\t "]))
def test_loads_matches_json(value, indent, padding):
    text = padding + json.dumps(value, indent=indent, ensure_ascii=False) + padding
    assert jsonio.loads(text) == json.loads(text)
    assert jsonio.loads(text.encode()) == json.loads(text.encode())


@pytest.mark.parametrize("text", ["", "  ", "{", '{"a": 1} x', "[1,]", '{"a" 1}', "tru", '"\\x"', "01"])
def test_bad_text_raises_like_json(text):
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        jsonio.loads(text)
    assert (got.value.msg, got.value.pos) == (expected.value.msg, expected.value.pos)


def test_syntax_error_in_a_process_that_never_imported_json(tmp_path):
    # _json's scanner looks json.decoder up in sys.modules and, when it is not
    # there, failed with a SystemError instead of the syntax error
    package_parent = os.path.dirname(os.path.dirname(jsonio.__file__))
    code = (f"import sys; sys.path.insert(0, {package_parent!r}); import ocirun.jsonio\n"
            "try:\n    ocirun.jsonio.loads('{\"a\": [1,}')\n"
            "except ValueError as e:\n    print(type(e).__name__, e)")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True,
                         cwd=tmp_path).stdout
    assert out.strip() == "JSONDecodeError Expecting value: line 1 column 10 (char 9)"


def test_utf8_bom_is_allowed_in_bytes_as_json_allows_it():
    data = b"\xef\xbb\xbf" + '{"k": "\u00e9"}'.encode()
    assert jsonio.loads(data) == json.loads(data) == {"k": "\u00e9"}


def test_unserializable_is_type_error():
    with pytest.raises(TypeError):
        jsonio.dumps({"a": object()})


def test_import_leaves_re_and_json_alone(tmp_path):
    # -S: this machine's site-packages .pth files import re themselves
    package_parent = os.path.dirname(os.path.dirname(jsonio.__file__))
    code = (f"import sys; sys.path.insert(0, {package_parent!r}); import ocirun.jsonio; "
            "print('re' in sys.modules, 'json' in sys.modules)")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True,
                         cwd=tmp_path).stdout
    assert out.split() == ["False", "False"]
