"""Read and write journey files (YAML or JSON) with errors located by file, line and column.

The reader uses YAML 1.2 scalar rules (only true / false are booleans; `yes: launch` is a port, dates stay
text) and records where every mapping key and value starts, so that schema and model errors point at the
offending spot. The writer produces the canonical, diff-friendly form: small step mappings in flow style.

The reader is bounded: it reads plain values only (mappings, lists, text, numbers, true / false, null), so that
what it returns is proportional to the text and can be written back. It refuses, located by line and column:
- every alias (`*name`, and so `<<: *name` merges): an alias repeats a whole subtree, and a few of them nested
  make a 1 KB file expand to gigabytes ("billion laughs"). None is needed: the writer never makes one, JSON has
  none, and a shared subtree would tie two parts of a journey together. An anchor (`&name`) alone is harmless.
- every explicit tag (`!!int abc`, `!!timestamp`, `!!binary`, `!!python/...`, `!foo`): a tag makes a value
  the codec does not write back (a date, bytes, a set) or one that does not convert at all; quote text instead.
- whole numbers of more than MAX_DIGITS digits, and texts of more than MAX_TEXT characters.
Every entry point that reads YAML (journey files, packages, behaviour files, population profiles) goes through
`parse_text`. Its messages, and those of the decoder, are one line (control characters escaped).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import Any

import yaml

from app.codec.plain import PlainError, journey_from_doc, journey_to_doc
from app.errors import FormatError, ModelError
from app.model.content import Content
from app.model.journey import Journey
from app.model.segment import Segment
from app.model.values import printable, shown

Mark = tuple[int, int]  # 1-based line, column
MAX_TEXT = 16 * 1024 * 1024  # characters (a journey file is a few kilobytes; a package's at most a few MB)
MAX_DIGITS = 100  # of a whole number: converting it to a float (1e100) cannot overflow


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

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        """The next node, refusing aliases and explicit tags (see the module doc) where they are written."""
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(f"aliases (*{printable(str(event.anchor))[:40]}) are not supported: write the value out "
                           "in full where it is used", event.start_mark)
        tag = getattr(event, "tag", None)
        if tag is not None:
            written = printable(str(tag).replace("tag:yaml.org,2002:", "!!"))
            raise _Refused(f"explicit tags ({written[:40]}) are not supported: write a plain value "
                           "(quote it to make it text)", event.start_mark)
        node: yaml.Node = super().compose_node(parent, index)
        return node

    def construct_whole_number(self, node: yaml.ScalarNode) -> int:
        text = str(node.value).lstrip("+-")
        if len(text) > MAX_DIGITS:
            raise _Refused(f"a whole number of {len(text):,} digits is too long (at most {MAX_DIGITS})",
                           node.start_mark)
        return int(node.value)  # the decoder bounds each field, and plain_value those it does not know

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


class _Refused(yaml.MarkedYAMLError):
    """YAML the reader does not take (an alias, a tag, a number too large), where it is written."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem=problem, problem_mark=mark)


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_marked_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_marked_seq)
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_whole_number)


def _text_mark(text: str, position: int) -> Mark:
    """The 1-based line and column of a character offset in `text`."""
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


def parse_text(text: str, *, file: str = "<input>") -> Any:
    """Parse YAML (or JSON, which is YAML) into plain values that carry their source positions.

    FormatError (file:line:column, one line) on anything malformed or refused (see the module doc)."""
    if not isinstance(text, str):
        raise FormatError(f"not text but {type(text).__name__}", file=file)
    if len(text) > MAX_TEXT:
        raise FormatError(f"the text is too large ({len(text):,} characters; at most {MAX_TEXT:,})", file=file)
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # the reader refuses control characters here, before any parsing
        return loader.get_single_data()
    except yaml.reader.ReaderError as e:
        line, column = _text_mark(text, e.position)
        raise FormatError(f"malformed YAML: character {printable(repr(e.character))} is not allowed "
                          f"({printable(str(e.reason))})", file=file, line=line, column=column) from None
    except _Refused as e:
        mark = e.problem_mark
        raise FormatError(printable(str(e.problem)), file=file, line=mark.line + 1 if mark else None,
                          column=mark.column + 1 if mark else None) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = (e.problem or e.context or "malformed YAML").strip()
        if e.context and e.problem:
            problem = f"{problem} ({e.context.strip()})"
        raise FormatError(f"malformed YAML: {printable(problem)}", file=file,
                          line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None) from None
    except yaml.YAMLError as e:
        raise FormatError(f"malformed YAML: {printable(str(e))}", file=file) from None
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
    """The FormatError of a decoding error, at the position of the value (or key) it names, on one line."""
    mark = locate(doc, err.path, at_key=err.at_key)
    return FormatError(printable(err.message), file=file, line=mark[0] if mark else None,
                       column=mark[1] if mark else None)


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
        if p.stat().st_size > 4 * MAX_TEXT:  # UTF-8 takes at most 4 bytes a character
            raise FormatError(f"the file is too large ({p.stat().st_size:,} bytes)", file=str(p))
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
    def ignore_aliases(self, data: Any) -> bool:
        return True  # never an anchor or alias: the reader refuses them (a shared value is written twice)


# Characters only double quotes keep: escaped there; plain or single-quoted text would drop or fold them
_ESCAPE_ONLY = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")


def _represent_text(d: yaml.SafeDumper, v: str) -> yaml.ScalarNode:
    return d.represent_scalar("tag:yaml.org,2002:str", v, style='"' if _ESCAPE_ONLY.search(v) else None)


_Dumper.yaml_implicit_resolvers = _Resolver.yaml_implicit_resolvers  # quote only what 1.2 would misread
_Dumper.add_representer(str, _represent_text)
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
        return _FlowList(_Flow({k: _style(y, 9) for k, y in x.items()}) for x in v)
    if isinstance(v, list):
        return [_style(x, depth + 1) for x in v]
    return v


_BLOCK_SECTIONS = ("steps", "content", "segments", "layout")


def plain(v: Any) -> Any:
    """`v` as the plain values the writers know: dict, list, text, int, float, bool, None (tuples become
    lists, marked mappings and lists plain ones); ModelError on anything else (a value no reader makes)."""
    if v is None or type(v) in (str, bool, int, float):
        return v
    for kind in (bool, int, float, str):  # a subclass (an IntEnum, say): the representers want the exact type
        if isinstance(v, kind):
            return kind(v)
    if isinstance(v, Mapping):
        return {plain(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    raise ModelError(f"a journey file cannot hold a {type(v).__name__} value ({shown(v)})")


def dump_yaml(doc: Mapping[str, Any]) -> str:
    """Canonical YAML: top-level keys in block style, small inner mappings and lists on one line."""
    doc = plain(doc)
    styled = {k: ({n: _style(x, 1) for n, x in v.items()} if k in _BLOCK_SECTIONS and isinstance(v, dict)
                  else _style(v, 1)) for k, v in doc.items()}
    return yaml.dump(styled, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110,
                     default_flow_style=False)


_NON_PRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")


def dump_json(doc: Mapping[str, Any]) -> str:
    """Pretty JSON; characters YAML readers refuse or fold (and lone surrogates, which UTF-8 cannot encode) are
    escaped (they can only occur inside strings)."""
    text = json.dumps(plain(doc), indent=2, ensure_ascii=False) + "\n"
    return _NON_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def write_journey_text(journey: Journey, content: dict[str, Content] | None = None,
                       segments: dict[str, Segment] | None = None, *, as_json: bool = False) -> str:
    doc = journey_to_doc(journey, content, segments)
    return dump_json(doc) if as_json else dump_yaml(doc)
