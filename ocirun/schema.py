"""Validation of config.json and state.json against the runtime-spec schemas in spec/.

The checks themselves are ocirun/_config_validator.py, generated from spec/ at build time by
cext/schema_codegen.py, so validating costs no jsonschema import (120-200 ms). This module
turns the first broken rule into one line:

    config.json: process.args: "true" is not of type array
    config.json: mounts[2]: "destination" is a required property
    config.json: annotations["org.example.key"]: 1 is not of type string

Unknown properties (and annotations) are accepted, as the spec's schemas say.
"""
from ocirun import _config_validator, jsonio
from ocirun.errors import ConfigError, OcirunError


def validate_config(doc):
    """Raise ConfigError naming the first rule that doc, a parsed config.json, breaks."""
    try:
        _config_validator.validate_config(doc)
    except _config_validator.ValidationError as error:
        raise ConfigError(describe(error, "config.json")) from None


def validate_state(doc):
    """Raise OcirunError naming the first rule that doc, a state document, breaks."""
    try:
        _config_validator.validate_state(doc)
    except _config_validator.ValidationError as error:
        raise OcirunError(describe(error, "state.json")) from None


def validate_features(doc):
    """Raise OcirunError naming the first rule that doc, a `features` document, breaks."""
    try:
        _config_validator.validate_features(doc)
    except _config_validator.ValidationError as error:
        raise OcirunError(describe(error, "features")) from None


def describe(error, document):
    """`<document>: <path>: <what is wrong>`, without the path at the document's root."""
    path = format_path(error.path)
    what = _what(error.rule, _value(error.value), error.expected)
    return f"{document}: {path}: {what}" if path else f"{document}: {what}"


def format_path(path):
    """("mounts", 2, "destination") -> mounts[2].destination. Keys that are not plain names are
    quoted: ("linux", "sysctl", "net.ipv4.ip_forward") -> linux.sysctl["net.ipv4.ip_forward"]."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.isidentifier() and part.isascii():
            text += f".{part}" if text else part
        else:
            text += f"[{_json(part)}]"
    return text


def _what(rule, value, expected):
    """What is wrong, naming the rule; value is the offending value as (shortened) JSON and
    expected the rule's argument."""
    match rule:
        case "type":
            return f"{value} is not of type {' or '.join(expected)}"
        case "required":
            return f"{_json(expected)} is a required property"
        case "dependencies":
            present, needed = map(_json, expected)
            return f"{needed} is a required property when {present} is present"
        case "additionalProperties":
            return f"{_json(expected)} is not an allowed property"
        case "minProperties":
            return f"{value} has fewer than {_count(expected, 'property', 'properties')}"
        case "maxProperties":
            return f"{value} has more than {_count(expected, 'property', 'properties')}"
        case "enum":
            return f"{value} is not one of {_json(list(expected))}"
        case "pattern":
            return f"{value} does not match pattern {_json(expected)}"
        case "minLength":
            return f"{value} is shorter than {_count(expected, 'character')}"
        case "maxLength":
            return f"{value} is longer than {_count(expected, 'character')}"
        case "minimum":
            return f"{value} is less than the minimum of {expected}"
        case "maximum":
            return f"{value} is greater than the maximum of {expected}"
        case "exclusiveMinimum":
            return f"{value} is less than or equal to the exclusive minimum of {expected}"
        case "exclusiveMaximum":
            return f"{value} is greater than or equal to the exclusive maximum of {expected}"
        case "minItems":
            return f"{value} has fewer than {_count(expected, 'item')}"
        case "maxItems":
            return f"{value} has more than {_count(expected, 'item')}"
        case "additionalItems":
            return f"{value} has more than {_count(expected, 'item')} (additionalItems is false)"
        case "uniqueItems":
            return f"{value} has non-unique items"
        case "anyOf":
            return f"{value} is not valid under any of the given schemas (anyOf)"
        case "oneOf" if expected:
            return f"{value} is valid under more than one of the given schemas (oneOf)"
        case "oneOf":
            return f"{value} is not valid under any of the given schemas (oneOf)"
        case "not":
            return f"{value} is valid under a schema it must not match (not)"
    return f"{value} breaks the {rule} rule"


def _count(count, noun, plural=None):
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def _json(value):
    try:
        return jsonio.dumps(value, spaced=True)
    except TypeError:  # not JSON-shaped, from a library caller
        return repr(value)


def _value(value, limit=60):
    text = _json(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
