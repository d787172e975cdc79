"""A template's link plan: every rendering it locates is what scanning that rendering finds."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from carteiro.campaigns import render
from carteiro.config import Settings
from carteiro.errors import InvalidInput
from carteiro.mail.templates import render_inline
from carteiro.tracking import body, links, plan

BASE = "https://mail.carteiro.test"

# Templates a plan must cover: links with values inside quoted hrefs, links the rewrite
# leaves alone (mailto:, anchors, unsubscribe, relative), links in <head>, <area>, entities,
# comments, a body tag with attributes, and no links at all.
PLANNED = [
    "<p>Olá {{ nome }}</p>",
    '<html><body><h1>Olá {{ contato_nome | default("cliente") }}</h1>'
    '<p><a href="https://example.com/oferta?c={{ campaign.name }}">Ver</a></p>'
    '<p><a href="{{ unsubscribe_url }}">Sair</a></p></body></html>',
    '<html><head><link rel="x"><a href="https://head.example/">h</a></head>'
    '<body class="b {{ nome }}" data-x=\'{{ nome }}\'><a href="https://a.example/">a</a>'
    '<a href="https://a.example/">again</a><a href="mailto:{{ email }}">m</a>'
    '<a href="#top">t</a><a href="/rel">r</a><a href=https://bare.example/x>b</a>'
    '<map><area href="https://area.example/{{ nome | lower }}"></map></body></html>',
    '<body><a title="{{ nome }}" href="https://x.example/?a=1&amp;b={{ nome }}">x</a>'
    "<a href='https://sq.example/{{ nome | upper }}'>sq</a><a href=\"\">empty</a>"
    '<a href="{{ site }}">site</a><a href="{{ site }}">same</a>'
    '<a href="https://x.example/{{ nome if nome else "anon" }}">c</a></body>',
    '<div>{# a note <a href="https://no.example/"> #}<a href="https://yes.example/">y</a>'
    '{{ nome ~ " & " ~ email }}</div><p>{{ vars.cupom | default("-") }}</p>',
    '<BODY><A HREF="https://upper.example/{{ email }}">U</A><img src="https://i.example/x.png">',
]
# Templates whose links must be found per message: a value could change the markup there.
NOT_PLANNED = [
    '{% if nome %}<a href="https://a.example/">a</a>{% endif %}',
    '<a href="https://a.example/">{{ nome | safe }}</a>',
    '<a {{ nome }} href="https://a.example/">a</a>',
    "<a href=https://a.example/{{ nome }}>a</a>",
    '<!-- {{ nome }} --><a href="https://a.example/">a</a>',
    '<script>var n = "{{ nome }}";</script><a href="https://a.example/">a</a>',
    '<{{ nome }} href="https://a.example/">',
    '<a href="https://a.example/">{{- nome }}</a>',
    "<p>{{ nome.upper() }}</p>",
    '<p><a title="{{ nome | tojson }}" href="https://a.example/">a</a></p>',
    "<p>{{ nome | urlize }}</p>",
    '<p>{{ nome }}</p>\ue001<a href="https://a.example/">a</a>',
    "<p>{{ nome </p>",
]
# Values as hostile as a lead's data can be: markup, quotes, entities, template syntax,
# URLs, empty, a plan's own mark, a NUL.
VALUES = [
    "Ana",
    "",
    '"><a href="https://evil.example/">x</a><body>',
    "O'Brien & Filhos <ltda>",
    "&amp;&#39;&lt;",
    "{{ 7 * 7 }}{% if x %}",
    "https://evil.example/?a=1&b=2",
    "  muitos   espaços  ",
    "Zoë — ação\n linha",
    "\ue001",
    "a\x00b",
]


def _values(value: str) -> dict[str, Any]:
    return {
        "nome": value,
        "contato_nome": value,
        "email": f"{value}@example.com",
        "site": value,
        "campaign": {"name": value},
        "unsubscribe_url": f"{BASE}/u/token",
        "vars": {"cupom": value},
    }


@pytest.mark.parametrize("source", PLANNED)
def test_every_located_rendering_is_what_scanning_it_finds(source: str) -> None:
    marked = plan.plan(source)
    assert marked is not None
    located_some = False
    for value in VALUES:
        variables = _values(value)
        expected = render_inline(source, variables, field="content", html=True)
        located = plan.locate(
            render_inline(marked.source, variables, field="content", html=True), marked
        )
        if located is None:
            assert "\ue001" in value or "\x00" in value
            continue
        located_some = True
        html, scan = located
        assert html == expected
        assert scan == links.scan_html(expected)
    assert located_some


@pytest.mark.parametrize("source", NOT_PLANNED)
def test_templates_where_a_value_could_change_the_markup_are_not_planned(source: str) -> None:
    assert plan.plan(source) is None


@pytest.mark.parametrize(("source", "value"), itertools.product(PLANNED + NOT_PLANNED, VALUES))
def test_campaign_render_gives_the_per_message_tracked_bytes(source: str, value: str) -> None:
    """Through the campaign render: the tracked message built from the plan's links is the
    one scanning the message gives, byte for byte (text part, pixel and trap included)."""
    variables = _values(value)
    recipient = render.Recipient(campaign_id=1, recipient_id=2, address="a@b.c", variant_id=3)
    try:
        expected = render_inline(source, variables, field="content", html=True)
    except InvalidInput:
        with pytest.raises(InvalidInput, match="content"):
            render.render(
                subject="s", html=source, text="t", variables=variables, recipient=recipient
            )
        return
    out = render.render(
        subject="s",
        html=source,
        text="Veja https://text.example/ e https://a.example/",
        variables=variables,
        recipient=recipient,
    )
    assert out.html == expected
    if out.html_links is not None:
        assert out.html_links == links.scan_html(expected)
    settings = Settings(_env_file=None, public_url=BASE)
    planned = body.rewrite(
        settings, html_body=out.html, text_body=out.text, token="tok", scan=out.html_links
    )
    scanned = body.rewrite(settings, html_body=out.html, text_body=out.text, token="tok")
    assert planned == scanned


def test_the_planned_templates_do_use_the_plan() -> None:
    recipient = render.Recipient(campaign_id=1, recipient_id=2, address="a@b.c", variant_id=3)
    for source in PLANNED:
        out = render.render(
            subject="s", html=source, text="t", variables=_values("Ana"), recipient=recipient
        )
        assert out.html_links is not None
