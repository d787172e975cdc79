"""User-supplied templates, rendered in Jinja2's sandbox within time, size and loop budgets."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, nodes
from jinja2.filters import FILTERS
from jinja2.sandbox import SandboxedEnvironment

from carteiro.errors import InvalidInput

MAX_SECONDS = 2.0
MAX_OUTPUT_CHARS = 5 * 1024 * 1024  # the largest body a message may have
MAX_ITERATIONS = 100_000  # loop iterations of one render, all loops together
_NUMBERS = re.compile(r"\d+")


class OverBudget(Exception):
    """A template tried to run too long, loop too often or produce too much text."""


@dataclass
class _Budget:
    deadline: float
    max_chars: int
    seconds: float = MAX_SECONDS
    iterations: int = 0
    max_iterations: int = MAX_ITERATIONS
    out: int = 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise OverBudget(f"it takes longer than {self.seconds:g} s to render")

    def size(self, n: float) -> None:
        if n > self.max_chars:
            raise OverBudget(f"it would produce more than {self.max_chars} characters")


_budget: ContextVar[_Budget | None] = ContextVar("carteiro_template_budget", default=None)


def _current() -> _Budget:
    budget = _budget.get()
    if budget is None:  # rendered outside render_inline: give it a budget of its own
        budget = _Budget(deadline=time.monotonic() + MAX_SECONDS, max_chars=MAX_OUTPUT_CHARS)
        _budget.set(budget)
    return budget


def _length(value: object) -> int | None:
    return len(value) if isinstance(value, str | bytes | list | tuple) else None


def _check_binop(op: str, left: Any, right: Any) -> None:
    budget = _current()
    budget.tick()
    if op == "*":
        for seq, times in ((left, right), (right, left)):
            n = _length(seq)
            if n is not None and isinstance(times, int):
                budget.size(n * times)
    elif op == "+":
        a, b = _length(left), _length(right)
        if a is not None and b is not None:
            budget.size(a + b)
    elif op == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            # The result's digits: a huge power is refused before Python computes it.
            budget.size(right * math.log10(abs(left)))
    elif op == "%" and isinstance(left, str):
        _check_widths(left)


def _check_widths(fmt: str) -> None:
    """A format string's widths and precisions become that many characters of padding."""
    budget = _current()
    for number in _NUMBERS.findall(fmt):
        budget.size(int(number) if len(number) < 20 else math.inf)


def _check_str_method(name: str, text: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    budget = _current()
    values = [*args, *kwargs.values()]
    if name in ("ljust", "rjust", "center", "zfill") and values and isinstance(values[0], int):
        budget.size(values[0])
    elif name == "expandtabs":
        size = values[0] if values and isinstance(values[0], int) else 8
        budget.size(len(text) + text.count("\t") * size)
    elif name in ("format", "format_map"):
        _check_widths(text)
    elif name == "replace" and len(values) >= 2:
        old, new = values[0], values[1]
        if isinstance(old, str) and isinstance(new, str):
            count = len(text) + 1 if not old else text.count(old)
            budget.size(len(text) + count * len(new))
    elif name == "join" and values:
        items = values[0]
        n = _length(items)
        if n is not None:
            budget.size(n * len(text) + sum(_length(i) or 0 for i in items))


def _bounded(items: Iterable[Any]) -> Iterator[Any]:
    """Every `for` loop iterates through this, so nested loops share one iteration budget."""
    budget = _current()
    for item in items:
        budget.iterations += 1
        if budget.iterations > budget.max_iterations:
            raise OverBudget(f"its loops run more than {budget.max_iterations} times")
        budget.tick()
        yield item


def _bounded_range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_ITERATIONS:
        raise OverBudget(f"range() is limited to {MAX_ITERATIONS} items")
    return r


def _checked_filter(name: str, check: Callable[..., None]) -> Callable[..., Any]:
    original = FILTERS[name]

    def run(*args: Any, **kwargs: Any) -> Any:
        check(*args, **kwargs)
        return original(*args, **kwargs)

    if hasattr(original, "jinja_pass_arg"):  # the eval context or environment comes first
        run.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]  # set on a function
    return run


def _width_filter(value: Any, width: int = 80, *args: Any, **kwargs: Any) -> None:
    if isinstance(width, int):
        lines = str(value).count("\n") + 1
        _current().size(len(str(value)) + lines * width)


def _format_filter(value: Any, *args: Any, **kwargs: Any) -> None:
    _check_widths(str(value))


def _replace_filter(*args: Any, **kwargs: Any) -> None:
    # do_replace(eval_ctx, s, old, new, count=None)
    if len(args) >= 4:
        _check_str_method("replace", str(args[1]), (args[2], args[3]), {})


def _join_filter(*args: Any, **kwargs: Any) -> None:
    # do_join(eval_ctx, value, d="", attribute=None)
    if len(args) >= 2:
        items = args[1]
        sep = str(args[2]) if len(args) >= 3 else str(kwargs.get("d", ""))
        if _length(items) is not None:
            _check_str_method("join", sep, (items,), {})


class BoundedEnvironment(SandboxedEnvironment):
    """Jinja2's sandbox with budgets: repetition, concatenation, powers and padding are sized
    before they run, loops share an iteration budget, and every step checks a deadline."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _bounded_range
        self.filters["_carteiro_bounded"] = _bounded
        self.filters["center"] = _checked_filter("center", _width_filter)
        self.filters["indent"] = _checked_filter("indent", _width_filter)
        self.filters["format"] = _checked_filter("format", _format_filter)
        self.filters["replace"] = _checked_filter("replace", _replace_filter)
        self.filters["join"] = _checked_filter("join", _join_filter)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        # Jinja has no hook on loops; wrapping each loop's iterable puts it under the budget.
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(
                loop.iter, "_carteiro_bounded", [], [], None, None, lineno=loop.lineno
            )
        return tree

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        _check_binop(op, left, right)
        return super().call_binop(context, op, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _current().tick()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            _check_str_method(getattr(__obj, "__name__", ""), owner, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _current().tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _current().tick()
        return super().getitem(obj, argument)


_text = BoundedEnvironment(undefined=StrictUndefined, autoescape=False)
_html = BoundedEnvironment(undefined=StrictUndefined, autoescape=True)
# What HTML templates are lexed and parsed with (tracking.plan reads them as Jinja does).
html_environment = _html


@lru_cache(maxsize=256)
def _parsed(source: str, html: bool) -> Template:
    # A campaign renders one source for every recipient: parse it once, not per message.
    return (_html if html else _text).from_string(source)


def render_inline(
    source: str,
    variables: dict[str, Any],
    *,
    field: str,
    html: bool = False,
    max_seconds: float = MAX_SECONDS,
    max_chars: int = MAX_OUTPUT_CHARS,
) -> str:
    """Renders `{{name}}`-style text; a missing variable, a syntax error or a template over its
    budget (time, output size, loop iterations) names the field. In HTML, variables are escaped
    so a value cannot inject markup. Blocking: async callers run it in a thread."""
    budget = _Budget(
        deadline=time.monotonic() + max_seconds, max_chars=max_chars, seconds=max_seconds
    )
    token = _budget.set(budget)
    try:
        template = _parsed(source, html)
        parts: list[str] = []
        for chunk in template.generate(**variables):
            budget.out += len(chunk)
            budget.size(budget.out)
            budget.tick()
            parts.append(chunk)
        return "".join(parts)
    except OverBudget as exc:
        raise InvalidInput(f"{field}: the template is refused: {exc}", field=field) from None
    except TemplateError as exc:
        raise InvalidInput(f"{field}: template error: {exc.message or exc}", field=field) from None
    except (RecursionError, MemoryError, OverflowError):
        raise InvalidInput(
            f"{field}: the template is refused: it recurses or computes too much", field=field
        ) from None
    finally:
        _budget.reset(token)
