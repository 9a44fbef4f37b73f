"""YAML for kubeconfigs, read and written as PyYAML's safe loader and dumper do, faster.

A 10,000-context kubeconfig (28 MB) spends most of `kctx import` in PyYAML's Python layers:
the resolver (which tag a plain scalar has), the constructor and the representer. Here the C
parser and emitter do the same work with a resolver that answers at once for the common case
(a plain scalar whose first character starts no implicit tag is a string) and nodes turned into
Python values, and values into nodes, in one tight function each. Anything unusual (merge keys,
tags other than YAML's core ones, a value shared in two places) goes through PyYAML unchanged,
so the result is always the same as yaml.load(..., CSafeLoader) and yaml.dump(..., CSafeDumper).
bench/store.py measures `kctx import`.
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
    try:
        node = _node(doc, set())
    except _Unusual:
        return yaml.dump(doc, Dumper=_DUMPER, **_DUMP_OPTIONS)  # type: ignore[no-any-return]
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
