"""Templates render within budgets: loops, repetition, padding and output size are refused."""

from __future__ import annotations

import pytest

from carteiro.errors import InvalidInput
from carteiro.mail.templates import render_inline

BIG = "x" * 100_000
ATTACKS = {
    "nested range loops": "{% for i in range(100000) %}{% for j in range(100000) %}"
    "{% endfor %}{% endfor %}",
    "nested loops over a string": "{% for i in big %}{% for j in big %}{% endfor %}{% endfor %}",
    "one huge range": "{% for i in range(10**9) %}{% endfor %}",
    "string repetition": "{{ 'a' * 50000000 }}",
    "repetition, number first": "{{ 50000000 * 'a' }}",
    "list repetition": "{{ [1] * 50000000 }}",
    "huge power": "{{ 10 ** 100000000 }}",
    "concatenation": "{% set a = 'x' * 4000000 %}{{ a + a }}",
    "ljust padding": "{{ 'a'.ljust(50000000) }}",
    "zfill padding": "{{ '1'.zfill(50000000) }}",
    "center filter": "{{ 'a'|center(50000000) }}",
    "indent filter": "{{ 'a\nb'|indent(50000000) }}",
    "format width": "{{ '{:>50000000}'.format(1) }}",
    "printf width": "{{ '%50000000s'|format(1) }}",
    "percent operator": "{{ '%50000000s' % 1 }}",
    "replace blowup": "{{ big.replace('', big) }}",
    "join blowup": "{{ big|join(big) }}",
    "huge output": "{% for i in range(90000) %}{{ big }}{% endfor %}",
    "recursion": "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
}


@pytest.mark.parametrize("source", ATTACKS.values(), ids=ATTACKS.keys())
def test_attacks_are_refused_naming_the_field(source: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        render_inline(source, {"big": BIG}, field="html_body", html=True)
    assert caught.value.field == "html_body"
    assert caught.value.message.startswith("html_body: the template is refused: ")


def test_the_deadline_is_checked_as_it_goes() -> None:
    with pytest.raises(InvalidInput) as caught:
        render_inline(
            "{% for i in range(10) %}{{ i }}{% endfor %}", {}, field="body", max_seconds=0
        )
    assert "takes longer than 0 s" in caught.value.message


def test_the_output_budget_is_counted_while_streaming() -> None:
    source = "{% for i in range(20) %}{{ chunk }}{% endfor %}"
    assert len(render_inline(source, {"chunk": "y" * 50}, field="body", max_chars=1000)) == 1000
    with pytest.raises(InvalidInput) as caught:
        render_inline(source, {"chunk": "y" * 51}, field="body", max_chars=1000)
    assert "more than 1000 characters" in caught.value.message


def test_ordinary_templates_still_render() -> None:
    source = (
        "Olá {{ nome }}: {% for i in range(3) %}{{ i }}{% endfor %} {{ '%05d'|format(7) }} "
        "{{ 'ab'|center(6) }}|{{ itens|join(', ') }}|{{ 'a' * 3 }}{{ 2 ** 10 }}"
    )
    out = render_inline(source, {"nome": "Ana", "itens": ["x", "y"]}, field="body")
    assert out == "Olá Ana: 012 00007   ab  |x, y|aaa1024"
    assert render_inline("<b>{{ v }}</b>", {"v": "<i>"}, field="html", html=True) == (
        "<b>&lt;i&gt;</b>"
    )
