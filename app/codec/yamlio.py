"""Read and write journey files (YAML or JSON) with errors located by file, line and column.

The reader uses YAML 1.2 scalar rules (only true / false are booleans; `yes: launch` is a port, dates stay
text) and records where every mapping key and value starts, so that schema and model errors point at the
offending spot. The writer produces the canonical, diff-friendly form: small step mappings in flow style.
"""

from __future__ import annotations

import json
import re
from pathlib import Path as FsPath
from typing import Any

import yaml

from app.codec.plain import PlainError, journey_from_doc, journey_to_doc
from app.errors import FormatError
from app.model.content import Content
from app.model.journey import Journey
from app.model.segment import Segment

Mark = tuple[int, int]  # 1-based line, column


class _Resolver(yaml.resolver.Resolver):
    """YAML 1.2 core-schema resolution: null, true/false, ints, floats; everything else is text."""


_Resolver.yaml_implicit_resolvers = {}
_Resolver.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                list("tTfF"))
_Resolver.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"),
                                list("-+0123456789"))
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|"
               r"\.(?:nan|NaN|NAN))$"), list("-+0123456789."))
_Resolver.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"),
                                ["~", "n", "N", ""])


class MarkedDict(dict):
    """A mapping that remembers where it, each key and each value start in the source."""

    start: Mark = (1, 1)
    key_marks: dict[Any, Mark]
    value_marks: dict[Any, Mark]


class MarkedList(list):
    start: Mark = (1, 1)
    item_marks: list[Mark]


def _mark(node: yaml.Node) -> Mark:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Loader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer,
              yaml.constructor.SafeConstructor, _Resolver):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        _Resolver.__init__(self)

    def construct_marked_map(self, node: yaml.MappingNode) -> MarkedDict:
        self.flatten_mapping(node)
        d = MarkedDict()
        d.start = _mark(node)
        d.key_marks, d.value_marks = {}, {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise yaml.constructor.ConstructorError(None, None, "a key must be a plain value",
                                                        key_node.start_mark)
            if key in d:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            d[key] = self.construct_object(value_node, deep=True)
            d.key_marks[key] = _mark(key_node)
            d.value_marks[key] = _mark(value_node)
        return d

    def construct_marked_seq(self, node: yaml.SequenceNode) -> MarkedList:
        lst = MarkedList(self.construct_object(n, deep=True) for n in node.value)
        lst.start = _mark(node)
        lst.item_marks = [_mark(n) for n in node.value]
        return lst


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_marked_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_marked_seq)


def _text_mark(text: str, position: int) -> Mark:
    """The 1-based line and column of a character offset in `text`."""
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


def parse_text(text: str, *, file: str = "<input>") -> Any:
    """Parse YAML (or JSON, which is YAML) into plain values that carry their source positions."""
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # the reader refuses control characters here, before any parsing
        return loader.get_single_data()
    except yaml.reader.ReaderError as e:
        line, column = _text_mark(text, e.position) if isinstance(text, str) else (None, None)
        raise FormatError(f"malformed YAML: character {e.character!r} is not allowed ({e.reason})", file=file,
                          line=line, column=column) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = (e.problem or e.context or "malformed YAML").strip()
        if e.context and e.problem:
            problem = f"{problem} ({e.context.strip()})"
        raise FormatError(f"malformed YAML: {problem}", file=file,
                          line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None) from None
    except yaml.YAMLError as e:
        raise FormatError(f"malformed YAML: {e}", file=file) from None
    except RecursionError:  # PyYAML composes recursively: '[[[[...' thousands deep exhausts the stack
        raise FormatError("malformed YAML: nested too deeply", file=file) from None
    finally:
        if loader is not None:
            loader.dispose()


def locate(doc: Any, path: tuple[Any, ...], *, at_key: bool = False) -> Mark | None:
    """The source position of the value (or key) at `path`, or of its nearest located ancestor."""
    best: Mark | None = getattr(doc, "start", None)
    node = doc
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, MarkedDict) and part in node:
            best = node.key_marks[part] if (last and at_key) else node.value_marks[part]
            node = node[part]
        elif isinstance(node, MarkedList) and isinstance(part, int) and 0 <= part < len(node):
            best = node.item_marks[part]
            node = node[part]
        else:
            break
    return best


def format_error(doc: Any, err: PlainError, file: str) -> FormatError:
    mark = locate(doc, err.path, at_key=err.at_key)
    return FormatError(err.message, file=file, line=mark[0] if mark else None, column=mark[1] if mark else None)


def read_journey_text(text: str, *, file: str = "<input>", journey_id: str = "",
                      ) -> tuple[Journey, list[Content], list[Segment]]:
    """Decode a journey document; FormatError (file:line:column) on anything wrong."""
    from app.codec.schema import schema_errors
    doc = parse_text(text, file=file)
    if doc is None:
        raise FormatError("the file is empty; a journey file starts with 'format: journey/1'", file=file, line=1)
    try:  # the decoder's messages are the most specific; the schema is the second net
        result = journey_from_doc(doc, journey_id=journey_id)
        for path, message in schema_errors(doc):
            raise format_error(doc, PlainError(path, message), file)
    except PlainError as e:
        raise format_error(doc, e, file) from None
    except RecursionError:  # a document nested deeply enough to parse can still be too deep to check
        raise FormatError("the document is nested too deeply", file=file) from None
    return result


def read_journey_file(path: str | FsPath, *, journey_id: str = "") -> tuple[Journey, list[Content], list[Segment]]:
    p = FsPath(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise FormatError(f"cannot read the file: {e.strerror or e}", file=str(p)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise FormatError(f"not UTF-8 text (byte {e.start})", file=str(p)) from None
    return read_journey_text(text, file=str(p), journey_id=journey_id)


# --- writing ---------------------------------------------------------------------------------------------

class _Flow(dict):
    """A mapping written on one line: {type: email, content: ..., next: x}."""


class _FlowList(list):
    pass


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.yaml_implicit_resolvers = _Resolver.yaml_implicit_resolvers  # quote only what 1.2 would misread
_Dumper.add_representer(_Flow, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v.items(),
                                                                 flow_style=True))
_Dumper.add_representer(_FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))
_Dumper.add_representer(dict, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v.items(),
                                                                flow_style=False))
_Dumper.add_representer(MarkedDict, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v.items(),
                                                                      flow_style=False))


def _scalar_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, (str, int, float, bool)) for x in v)


def _flowable(v: Any, budget: int = 100) -> bool:
    """Small enough to read on one line: scalars, scalar lists and one level of small mappings."""
    if isinstance(v, dict):
        return len(json.dumps(v, default=str)) <= budget and all(
            isinstance(x, (str, int, float, bool)) or _scalar_list(x) or
            (isinstance(x, dict) and all(isinstance(y, (str, int, float, bool)) for y in x.values()))
            for x in v.values()) and not any(isinstance(x, str) and "\n" in x for x in v.values())
    return False


def _style(v: Any, depth: int = 0) -> Any:
    if isinstance(v, dict):
        if depth >= 1 and _flowable(v):
            return _Flow({k: _style(x, 9) for k, x in v.items()})
        return {k: _style(x, depth + 1) for k, x in v.items()}
    if _scalar_list(v):
        return _FlowList(v)
    if isinstance(v, list) and v and all(_flowable(x) for x in v) and len(json.dumps(v, default=str)) <= 100:
        return _FlowList(_Flow(x) for x in v)
    if isinstance(v, list):
        return [_style(x, depth + 1) for x in v]
    return v


_BLOCK_SECTIONS = ("steps", "content", "segments", "layout")


def dump_yaml(doc: dict[str, Any]) -> str:
    """Canonical YAML: top-level keys in block style, small inner mappings and lists on one line."""
    styled = {k: ({n: _style(x, 1) for n, x in v.items()} if k in _BLOCK_SECTIONS and isinstance(v, dict)
                  else _style(v, 1)) for k, v in doc.items()}
    return yaml.dump(styled, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110,
                     default_flow_style=False)


_NON_PRINTABLE = re.compile("[\x7f-\x9f\ufffe\uffff]")


def dump_json(doc: dict[str, Any]) -> str:
    """Pretty JSON; characters YAML readers refuse are escaped (they can only occur inside strings)."""
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    return _NON_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def write_journey_text(journey: Journey, content: dict[str, Content] | None = None,
                       segments: dict[str, Segment] | None = None, *, as_json: bool = False) -> str:
    doc = journey_to_doc(journey, content, segments)
    return dump_json(doc) if as_json else dump_yaml(doc)
