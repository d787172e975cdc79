"""Where a template's links land in every rendering of it, found once per template."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache

from jinja2 import TemplateError, nodes

from carteiro.mail.templates import html_environment
from carteiro.tracking.links import ATTR, TAG_NAME, Scan, Scanner

# The probe document stands each `{{ … }}` for this character; the marked template carries
# the other three, around each link's href value and after `<body …>`. Private-use code
# points: a template holding any of them is not planned, and a rendering in which a value
# brought one in is scanned as before.
_SLOT = "\ue000"
_OPEN, _CLOSE, _BODY = "\ue001", "\ue002", "\ue003"
_MARKS = re.compile(f"([{_OPEN}{_CLOSE}{_BODY}])")
_RESERVED = (_SLOT, _OPEN, _CLOSE, _BODY, "\x00")
# Filters whose result is never markup when their input is not: under autoescape their
# output is escaped, so it holds no `<`, `>`, quote or ampersand but its entities.
_PLAIN_FILTERS = frozenset(
    {"default", "d", "upper", "lower", "title", "capitalize", "trim", "truncate", "replace"}
    | {"join", "int", "float", "round", "abs", "length", "count", "first", "last", "string"}
    | {"e", "escape", "wordcount"}
)
_PLAIN_NODES = (
    nodes.Name,
    nodes.Const,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Slice,
    nodes.Filter,
    nodes.Test,
    nodes.CondExpr,
    nodes.Concat,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Compare,
    nodes.Operand,
    nodes.Keyword,
)


@dataclass(frozen=True)
class Plan:
    """A template with its link values and body start marked; rendering it and `locate` give
    what rendering the original and `links.scan_html` would."""

    source: str
    links: int
    bodies: int

    @property
    def extra(self) -> int:
        """Characters the marks add to a rendering."""
        return 2 * self.links + self.bodies


class _Probe(Scanner):
    """The scanner, also counting the slots it sees where a value cannot change the markup:
    in text outside script/style, and inside quoted attribute values of start tags."""

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self.placed = 0

    def handle_data(self, data: str) -> None:
        if self.cdata_elem is None:
            self.placed += data.count(_SLOT)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raw = self.get_starttag_text() or ""
        name = TAG_NAME.match(raw)
        for match in ATTR.finditer(raw, name.end() if name else 0):
            for group in ("dq", "sq"):
                if match.group(group) is not None:
                    self.placed += match.group(group).count(_SLOT)
        super().handle_starttag(tag, attrs)

    handle_startendtag = handle_starttag


def _pieces(source: str) -> list[tuple[str, str]] | None:
    """The template as (kind, source text) pieces: 'data', 'slot' (one `{{ … }}`) or
    'comment'; None when it has statements, whitespace control or raw blocks."""
    pieces: list[tuple[str, str]] = []
    current: list[str] = []
    for _, token, value in html_environment.lexer.tokeniter(source, None):
        if token == "data":
            pieces.append(("data", value))
        elif token in ("variable_begin", "comment_begin"):
            if value not in ("{{", "{#"):
                return None  # `{{-` and `{{+` strip the text around them
            current = [value]
        elif token in ("variable_end", "comment_end"):
            if value not in ("}}", "#}"):
                return None
            current.append(value)
            pieces.append(("slot" if token == "variable_end" else "comment", "".join(current)))
        elif token.startswith(("block", "raw", "linestatement", "linecomment")):
            return None
        else:
            current.append(value)
    return pieces


def _plain(source: str) -> bool:
    """Only text and `{{ … }}` of names, constants and plain filters: every slot outputs
    escaped text, once, wherever it stands."""
    tree = html_environment.parse(source)
    if not tree.body:
        return True
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return False
    for child in tree.body[0].nodes:
        if isinstance(child, nodes.TemplateData):
            continue
        for node in (child, *child.find_all(nodes.Node)):
            if not isinstance(node, _PLAIN_NODES):
                return False
            if isinstance(node, nodes.Filter) and node.name not in _PLAIN_FILTERS:
                return False
    return True


def _marked(pieces: list[tuple[str, str]], marks: list[tuple[int, str]]) -> str:
    """The template's source with each mark put at its offset in the probe (sorted)."""
    out: list[str] = []
    at = 0  # the piece's offset in the probe
    i = 0
    for kind, text in pieces:
        width = len(text) if kind == "data" else int(kind == "slot")
        # Text takes the marks inside it; a slot, those just before it; a comment (no width
        # in the probe), none.
        limit = at + width
        position = 0
        while i < len(marks) and marks[i][0] < limit:
            if kind == "data":
                offset = marks[i][0] - at
                out.append(text[position:offset])
                position = offset
            out.append(marks[i][1])
            i += 1
        out.append(text[position:])
        at += width
    out.extend(mark for _, mark in marks[i:])
    return "".join(out)


def _unmarked(pieces: list[tuple[str, str]] | None) -> list[tuple[str, str]] | None:
    """The pieces without marks, adjacent text joined: what a marked source must lex back to."""
    if pieces is None:
        return None
    out: list[tuple[str, str]] = []
    for kind, text in pieces:
        if kind == "data":
            text = _MARKS.sub("", text)
            if not text:
                continue
            if out and out[-1][0] == "data":
                out[-1] = ("data", out[-1][1] + text)
                continue
        out.append((kind, text))
    return out


@lru_cache(maxsize=256)
def plan(source: str) -> Plan | None:
    """The plan of an HTML template, or None when its links must be found per message: it
    uses statements (`{% … %}`), outputs markup (`| safe`), or puts a value where it could
    change the markup (in a tag outside a quoted value, in a comment or script, after `<`)."""
    if any(c in source for c in _RESERVED):
        return None
    try:
        pieces = _pieces(source)
        if pieces is None or not _plain(source):
            return None
    except TemplateError:
        return None  # the render reports it, naming the field
    probe = "".join(
        text if kind == "data" else (_SLOT if kind == "slot" else "") for kind, text in pieces
    )
    for at in (m.start() for m in re.finditer(_SLOT, probe)):
        if at and probe[at - 1] == "<":
            return None
    scanner = _Probe(probe)
    scanner.feed(probe)
    scanner.close()
    if scanner.placed != probe.count(_SLOT):
        return None
    marks = [(start, _OPEN) for start, _, _ in scanner.found]
    marks += [(end, _CLOSE) for _, end, _ in scanner.found]
    if scanner.body_end is not None:
        marks.append((scanner.body_end, _BODY))
    # At one offset (an empty href) the opening mark comes first.
    marks.sort(key=lambda m: (m[0], m[1] != _OPEN))
    marked = _marked(pieces, marks)
    if _unmarked(_pieces(marked)) != _unmarked(pieces):
        return None  # a mark changed how Jinja reads the template
    return Plan(marked, len(scanner.found), int(scanner.body_end is not None))


def locate(rendered: str, plan: Plan) -> tuple[str, Scan] | None:
    """The rendering without its marks and where its links are, or None when a value brought
    in a mark (or a NUL): the caller then renders the original and scans it."""
    if (
        rendered.count(_OPEN) != plan.links
        or rendered.count(_CLOSE) != plan.links
        or rendered.count(_BODY) != plan.bodies
        or "\x00" in rendered
    ):
        return None
    # Every mark of the plan is written once, in document order, and no other is there; an
    # href value is the text between its opening and closing marks.
    parts = _MARKS.split(rendered)
    found: list[tuple[int, int, str]] = []
    body_end: int | None = None
    length = len(parts[0])
    for mark, text in zip(parts[1::2], parts[2::2], strict=True):
        if mark == _OPEN:
            found.append((length, length + len(text), html.unescape(text)))
        elif mark == _BODY:
            body_end = length
        length += len(text)
    return "".join(parts[::2]), Scan(tuple(found), body_end)
