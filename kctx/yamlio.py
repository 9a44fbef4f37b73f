"""YAML for kubeconfigs, read and written as PyYAML's safe loader and dumper do, faster.

A 10,000-context kubeconfig (28 MB) spends most of `kctx import` in PyYAML's Python layers:
the resolver (which tag a plain scalar has), the constructor and the representer. Here the C
parser and emitter do the same work with a resolver that answers at once for the common case
(a plain scalar whose first character starts no implicit tag is a string) and nodes turned into
Python values, and values into nodes, in one tight function each. Anything unusual (merge keys,
tags other than YAML's core ones, a value shared in two places) goes through PyYAML unchanged,
so the result is always the same as yaml.load(..., CSafeLoader) and yaml.dump(..., CSafeDumper).

Even so the C parser needs ~5 s for 28 MB. The files kubectl and the cloud CLIs write are block
YAML of one shape (`key: value`, `- item`, plain or simply quoted scalars), so a line reader
builds those at once (`_block_load`) and gives up, for PyYAML to do it all, at the first line it
does not know for certain (a comment after a value, an anchor, a tag, a flow collection, a
multi-line scalar, a tab...). In the same way `_block_dump` writes the documents kctx stores
(mappings, lists and ASCII strings) the way libyaml's emitter does, and leaves anything else to
it. tests/test_yamlio.py compares both with PyYAML. bench/store.py measures `kctx import`.
"""

from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_DUMP_OPTIONS = {"default_flow_style": False, "sort_keys": False, "allow_unicode": True}


class _Unusual(Exception):
    """Not the plain shape this module handles: let PyYAML do it."""


def _quick_resolve(base: Any) -> Any:
    resolvers = base.yaml_implicit_resolvers
    if None in resolvers:  # a resolver for any first character: no shortcut
        return base.resolve
    starts = frozenset(k for k in resolvers if k)  # first characters that may start a tag

    def resolve(self: Any, kind: Any, value: Any, implicit: Any) -> str:
        if kind is ScalarNode and implicit[0] and value and value[0] not in starts and not self.yaml_path_resolvers:
            return _STR
        return base.resolve(self, kind, value, implicit)

    return resolve


class _Loader(_LOADER):  # type: ignore[misc, valid-type]
    resolve = _quick_resolve(_LOADER)


class _Dumper(_DUMPER):  # type: ignore[misc, valid-type]
    resolve = _quick_resolve(_DUMPER)


def load(text: str) -> Any:
    """yaml.load(text, CSafeLoader); yaml.YAMLError on bad input."""
    try:
        return _block_load(text)
    except _Unusual:
        pass
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        try:
            return _value(node, loader, {})
        except _Unusual:
            return loader.construct_document(node)
    finally:
        loader.dispose()


def _value(node: Any, loader: Any, seen: dict[int, Any]) -> Any:
    if isinstance(node, ScalarNode):
        if node.tag == _STR:
            return node.value
        return loader.construct_object(node, deep=True)  # null, bool, int, float, timestamp
    if id(node) in seen:
        raise _Unusual  # an alias: PyYAML shares the object
    if isinstance(node, MappingNode):
        if node.tag != _MAP:
            raise _Unusual
        out: dict[Any, Any] = {}
        seen[id(node)] = out
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, ScalarNode):
                raise _Unusual
            out[_value(key_node, loader, seen)] = _value(value_node, loader, seen)
        return out
    if isinstance(node, SequenceNode):
        if node.tag != _SEQ:
            raise _Unusual
        items: list[Any] = []
        seen[id(node)] = items
        items.extend(_value(item, loader, seen) for item in node.value)
        return items
    raise _Unusual


def dump(doc: Any) -> str:
    """yaml.dump(doc, CSafeDumper, default_flow_style=False, sort_keys=False, allow_unicode=True)."""
    if type(doc) is dict and doc:
        out: list[str] = []
        try:
            _dump_map(doc, 0, out, set())
            return "".join(out)
        except _Unusual:
            pass
    try:
        node = _node(doc, set())
    except _Unusual:
        return yaml.dump(doc, Dumper=_DUMPER, **_DUMP_OPTIONS)  # type: ignore[call-overload, no-any-return]
    return yaml.serialize(node, Dumper=_Dumper, allow_unicode=True)  # type: ignore[no-any-return]


def _node(value: Any, seen: set[int]) -> Any:
    kind = type(value)
    if kind is str:
        return ScalarNode(_STR, value)
    if kind is dict:
        if id(value) in seen:
            raise _Unusual  # PyYAML writes an anchor and an alias
        seen.add(id(value))
        return MappingNode(_MAP, [(_node(k, seen), _node(v, seen)) for k, v in value.items()], flow_style=False)
    if kind is list:
        if id(value) in seen:
            raise _Unusual
        seen.add(id(value))
        return SequenceNode(_SEQ, [_node(v, seen) for v in value], flow_style=False)
    if value is None:
        return ScalarNode("tag:yaml.org,2002:null", "null")
    if kind is bool:
        return ScalarNode("tag:yaml.org,2002:bool", "true" if value else "false")
    if kind is int:
        return ScalarNode("tag:yaml.org,2002:int", str(value))
    raise _Unusual  # floats, dates, bytes...: the representer's rules


# -- block YAML of the usual shape, without PyYAML ----------------------------------------------
_STARTS = frozenset(k for k in yaml.resolver.Resolver.yaml_implicit_resolvers if k)
_RESOLVER = yaml.resolver.Resolver()
_KEY = None  # the compiled patterns, made on first use (re is not imported at start-up)
_PLAIN_TYPES = frozenset(("tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
                          "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp"))


def _patterns() -> Any:
    global _KEY
    if _KEY is None:
        import re

        _KEY = (
            # `key: value`, `key:`; keys of letters, digits and -_./ (never a quoted or complex key)
            re.compile(r"([A-Za-z0-9_][A-Za-z0-9_./-]*):(?: +(.*))?"),
            # what the reader rejects (yaml.reader.Reader.NON_PRINTABLE), and the line breaks and
            # tabs this reader leaves to PyYAML
            re.compile("[^\x0a\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\x85\u2028\u2029\ufeff]"),
            # printable ASCII: the strings _block_dump writes
            re.compile("[\x20-\x7e]*"),
            # what libyaml surely writes plain (unless it reads as another type): no space, no
            # indicator first, no colon last (URLs, base64, ARNs, tokens, names)
            re.compile(r"[A-Za-z0-9_/][A-Za-z0-9_./@=+~%:-]*(?<!:)"),
        )
    return _KEY


def _plain_value(value: str, cache: dict[str, Any]) -> Any:
    """A plain scalar as the safe loader constructs it."""
    if value[0] not in _STARTS:
        return value
    try:
        return cache[value]
    except KeyError:
        pass
    tag = _RESOLVER.resolve(ScalarNode, value, (True, False))
    if tag == _STR:
        result: Any = value
    elif tag in _PLAIN_TYPES:
        result = yaml.SafeLoader("").construct_object(ScalarNode(tag, value))
    else:
        raise _Unusual
    cache[value] = result
    return result


_NOT_QUICK = frozenset("'\"{[-?:,]}#&*!|>%@`.")


def _scalar(text: str, cache: dict[str, Any]) -> Any:
    """The value after `key: ` or `- ` (no comment, no continuation)."""
    first = text[0]
    if first not in _NOT_QUICK:  # the common case first: a plain scalar
        if " #" in text or ": " in text or text[-1] == ":":
            raise _Unusual
        return text if first not in _STARTS else _plain_value(text, cache)
    if first == "'":
        if len(text) > 1 and text[-1] == "'" and "'" not in text[1:-1]:
            return text[1:-1]
        raise _Unusual
    if first == '"':
        if len(text) > 1 and text[-1] == '"' and '"' not in text[1:-1] and "\\" not in text:
            return text[1:-1]
        raise _Unusual
    if text == "{}":
        return {}
    if text == "[]":
        return []
    if first == "-" and len(text) > 1 and text[1] != " ":
        first = "a"  # --region: plain (as -1 and -.5 are numbers, through the resolver)
    if (first in "-?:,[]{}#&*!|>%@`" or " #" in text or ": " in text or text[-1] == ":"
            or text.startswith(("---", "..."))):
        raise _Unusual
    return _plain_value(text, cache)


_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\n"


def _odd(text: str) -> bool:
    """Characters the reader rejects, and line breaks and tabs this reader leaves to PyYAML."""
    if text.isascii():
        return bool(text.encode("ascii").translate(None, _PRINTABLE))  # much faster than a regex
    return _patterns()[1].search(text) is not None


def _block_load(text: str) -> Any:
    """The document, when every line is of the usual block shape; else _Unusual."""
    if _odd(text):
        raise _Unusual
    cache: dict[str, Any] = {}
    # The open collections, innermost last: (indent, dict or list).
    stack: list[tuple[int, Any]] = []
    pending: tuple[dict[str, Any], Any, int] | None = None  # a `key:` whose value comes next
    match = _patterns()[0].fullmatch
    for line in text.split("\n"):
        content = line.lstrip(" ")
        if not content or content[0] == "#":
            continue
        indent = len(line) - len(content)
        if content[-1] == " ":
            content = content.rstrip(" ")
        dash = content[:2] == "- "
        if pending is not None:
            mapping, key, key_indent = pending
            pending = None
            if dash and indent >= key_indent:
                mapping[key] = []
                stack.append((indent, mapping[key]))
            elif not dash and indent > key_indent:
                mapping[key] = {}
                stack.append((indent, mapping[key]))
        if not stack:
            if indent or dash:
                raise _Unusual
            stack.append((0, {}))
            root = stack[0][1]
        while stack and stack[-1][0] > indent:
            stack.pop()
        if not stack:
            raise _Unusual
        if dash:
            top_indent, top = stack[-1]
            if top_indent != indent or type(top) is not list:
                raise _Unusual
            rest = content[2:].lstrip(" ")
            col = len(content) - len(rest) + indent
            m = match(rest)
            if m is None:
                if rest[:2] == "- " or rest == "-":
                    raise _Unusual
                top.append(_scalar(rest, cache))
                continue
            item: dict[Any, Any] = {}
            top.append(item)
            stack.append((col, item))
            mapping = item
        else:
            if stack[-1][0] == indent and type(stack[-1][1]) is list:
                stack.pop()  # a key after an indentless sequence closes it
            if not stack:
                raise _Unusual
            top_indent, mapping = stack[-1]
            if top_indent != indent or type(mapping) is not dict:
                raise _Unusual
            m = match(content)
            if m is None:
                raise _Unusual
            col = indent
        key = _plain_value(m[1], cache)
        if type(key) is not str:
            raise _Unusual  # 1: or true: keys; PyYAML decides what they are
        if m[2] is None:
            mapping[key] = None
            pending = (mapping, key, col)
        else:
            mapping[key] = _scalar(m[2], cache)
    if not stack:
        raise _Unusual
    return root


def _dump_str(value: str, room: int, key: bool = False) -> str:
    """A string as libyaml writes it in block context: plain when it may, else single-quoted.

    `room`: the columns left on the line; a string with spaces that might be folded, a key too
    long to be a simple key, or anything beyond printable ASCII is left to PyYAML."""
    patterns = _patterns()
    if patterns[3].fullmatch(value) and (not key or len(value) <= 128):
        if value[0] not in _STARTS or _RESOLVER.resolve(ScalarNode, value, (True, False)) == _STR:
            return value
        return "'" + value + "'"
    if not patterns[2].fullmatch(value) or (key and len(value) > 128):
        raise _Unusual
    if _plain_ok(value) and (value[0] not in _STARTS or _RESOLVER.resolve(ScalarNode, value, (True, False)) == _STR):
        out = value
    else:
        out = "'" + value.replace("'", "''") + "'"
    if " " in out and len(out) > room:
        raise _Unusual
    return out


def _plain_ok(s: str) -> bool:
    """libyaml's yaml_emitter_analyze_scalar for printable ASCII: block plain allowed."""
    if not s or s[0] == " " or s[-1] == " " or s.startswith(("---", "...")):
        return False
    first = s[0]
    if first in "#,[]{}&*!|>'\"%@`":
        return False
    if first in "?:-" and (len(s) == 1 or s[1] == " "):
        return False
    return not (": " in s or " #" in s or (len(s) > 1 and s[-1] == ":"))


def _dump_scalar(value: Any, room: int) -> str:
    kind = type(value)
    if kind is str:
        return _dump_str(value, room)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is dict and not value:
        return "{}"
    if kind is list and not value:
        return "[]"
    raise _Unusual


_DUMPED_KEYS: dict[str, str] = {}  # key -> as written: the same few keys in every entry file


def _dump_map(doc: dict[Any, Any], indent: int, out: list[str], seen: set[int], first: str = "") -> None:
    """Append a non-empty mapping's lines; `first`: what starts its first line ("- " of an item)."""
    if id(doc) in seen:
        raise _Unusual
    seen.add(id(doc))
    pad = " " * indent
    lead = (pad[:-2] + first) if first else pad
    for key, value in doc.items():
        if type(key) is not str:
            raise _Unusual
        k = _DUMPED_KEYS.get(key)
        if k is None:
            k = _dump_str(key, 80 - indent, key=True)
            if " " not in k and len(_DUMPED_KEYS) < 4096:  # without a space, the room left does not matter
                _DUMPED_KEYS[key] = k
        kind = type(value)
        if kind is dict and value:
            out.append(f"{lead}{k}:\n")
            _dump_map(value, indent + 2, out, seen)
        elif kind is list and value:
            out.append(f"{lead}{k}:\n")
            _dump_seq(value, indent, out, seen)
        else:
            out.append(f"{lead}{k}: {_dump_scalar(value, 80 - indent - len(k) - 2)}\n")
        lead = pad


def _dump_seq(items: list[Any], indent: int, out: list[str], seen: set[int]) -> None:
    if id(items) in seen:
        raise _Unusual
    seen.add(id(items))
    pad = " " * indent
    for item in items:
        kind = type(item)
        if kind is dict and item:
            _dump_map(item, indent + 2, out, seen, first="- ")
        elif kind is list and item:
            raise _Unusual  # - - x
        else:
            out.append(f"{pad}- {_dump_scalar(item, 80 - indent - 2)}\n")
