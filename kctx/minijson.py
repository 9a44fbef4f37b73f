"""The JSON of the hot paths (`k`, `kctx use`, the guard): session kubeconfigs, unlock files,
audit lines.

The json module pulls in re and its decoder and encoder: importing it costs more than all of
this (bench/json.py measures both). `loads` accepts standard JSON and raises ValueError on
anything else; `dumps` writes one line. Paths that wait for a person use json.
"""

_WS = " \t\n\r"
_ESC = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_NUM = "+-0123456789.eE"


def loads(text: str) -> object:
    value, i = _value(text, _skip(text, 0))
    if _skip(text, i) != len(text):
        raise ValueError("trailing data")
    return value


def _skip(s: str, i: int) -> int:
    n = len(s)
    while i < n and s[i] in _WS:
        i += 1
    return i


def _value(s: str, i: int) -> tuple[object, int]:
    if i >= len(s):
        raise ValueError("unexpected end")
    c = s[i]
    if c == "{":
        out: dict[str, object] = {}
        i = _skip(s, i + 1)
        if s[i:i + 1] == "}":
            return out, i + 1
        while True:
            if s[i:i + 1] != '"':
                raise ValueError("expected a key")
            key, i = _string(s, i)
            i = _skip(s, i)
            if s[i:i + 1] != ":":
                raise ValueError("expected ':'")
            out[key], i = _value(s, _skip(s, i + 1))
            i = _skip(s, i)
            if s[i:i + 1] == ",":
                i = _skip(s, i + 1)
            elif s[i:i + 1] == "}":
                return out, i + 1
            else:
                raise ValueError("expected ',' or '}'")
    if c == "[":
        items: list[object] = []
        i = _skip(s, i + 1)
        if s[i:i + 1] == "]":
            return items, i + 1
        while True:
            item, i = _value(s, i)
            items.append(item)
            i = _skip(s, i)
            if s[i:i + 1] == ",":
                i = _skip(s, i + 1)
            elif s[i:i + 1] == "]":
                return items, i + 1
            else:
                raise ValueError("expected ',' or ']'")
    if c == '"':
        return _string(s, i)
    for word, value in (("true", True), ("false", False), ("null", None)):
        if s.startswith(word, i):
            return value, i + len(word)
    j = i
    while j < len(s) and s[j] in _NUM:
        j += 1
    text = s[i:j]
    if not text:
        raise ValueError(f"unexpected {c!r}")
    try:
        return (float(text) if any(ch in text for ch in ".eE") else int(text)), j
    except ValueError:
        raise ValueError(f"bad number {text!r}") from None


def _string(s: str, i: int) -> tuple[str, int]:
    parts: list[str] = []
    i += 1
    while True:
        j = s.find('"', i)
        if j < 0:
            raise ValueError("unterminated string")
        k = s.find("\\", i, j)
        if k < 0:  # no escape before the closing quote: the common case, taken in one slice
            chunk = s[i:j]
            if not chunk.isprintable() and any(c < " " for c in chunk):
                raise ValueError("control character in string")
            parts.append(chunk)
            return "".join(parts), j + 1
        parts.append(s[i:k])
        e = s[k + 1:k + 2]
        if e == "u":
            code = int(s[k + 2:k + 6], 16)
            i = k + 6
            if 0xD800 <= code < 0xDC00 and s[i:i + 2] == "\\u":
                low = int(s[i + 2:i + 6], 16)
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                i += 6
            parts.append(chr(code))
        elif e in _ESC:
            parts.append(_ESC[e])
            i = k + 2
        else:
            raise ValueError("bad escape")


def _quote(text: str) -> str:
    out = ['"']
    for c in text:
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif c < " " or c == "\x7f" or "\ud800" <= c <= "\udfff":
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def dumps(value: object, compact: bool = False) -> str:
    """One line of JSON (non-ASCII kept as is, control characters escaped); compact: no spaces."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, (int, float)):
        return repr(value)
    comma, colon = (",", ":") if compact else (", ", ": ")
    if isinstance(value, dict):
        return "{" + comma.join(_quote(str(k)) + colon + dumps(v, compact) for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + comma.join(dumps(v, compact) for v in value) + "]"
    return _quote(str(value))
