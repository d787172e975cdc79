"""Content compiled once per variant: layouts, Markdown, text, MJML, preheader, text part."""

from __future__ import annotations

import pytest

from carteiro.campaigns.content import check_layout, compile_variant, html_to_text
from carteiro.errors import InvalidInput

LAYOUT = "<html><body><header>Marca</header>{{ content }}<footer>rodapé</footer></body></html>"


def test_layout_wraps_markdown_and_keeps_jinja_for_each_recipient() -> None:
    c = compile_variant(
        format="markdown",
        content="# Oi {{ contato_nome }}\n\nVeja [a oferta](https://x.com/?a=1&b=2)",
        text=None,
        preheader="Só hoje",
        layout=LAYOUT,
        layout_format="html",
    )
    assert "<h1>Oi {{ contato_nome }}</h1>" in c.html
    assert c.html.index("Só hoje") < c.html.index("Marca")  # preheader first in the body
    assert "<footer>rodapé</footer>" in c.html
    assert "a oferta (https://x.com/?a=1&b=2)" in c.text


def test_text_content_becomes_paragraphs_and_is_its_own_text_part() -> None:
    c = compile_variant(
        format="text",
        content="Linha <1>\n\nOutra",
        text=None,
        preheader=None,
        layout=None,
        layout_format=None,
    )
    assert c.html == "<p>Linha &lt;1&gt;</p>\n<p>Outra</p>\n"
    assert c.text == "Linha <1>\n\nOutra"


def test_given_text_part_wins() -> None:
    c = compile_variant(
        format="html",
        content="<p>x</p>",
        text="plain",
        preheader=None,
        layout=None,
        layout_format=None,
    )
    assert c.text == "plain"


def test_mjml_compiles_with_the_layout_wrapped_first() -> None:
    pytest.importorskip("mjml")
    layout = "<mjml><mj-body>{{ content }}</mj-body></mjml>"
    c = compile_variant(
        format="mjml",
        content="<mj-section><mj-column><mj-text>Olá {{ nome }}</mj-text></mj-column></mj-section>",
        text=None,
        preheader=None,
        layout=layout,
        layout_format="mjml",
    )
    assert "<!doctype html>" in c.html.lower() and "Olá {{ nome }}" in c.html
    assert "Olá {{ nome }}" in c.text
    with pytest.raises(InvalidInput, match="MJML"):
        compile_variant(
            format="mjml",
            content="<mjml><mj-bogus>",
            text=None,
            preheader=None,
            layout=None,
            layout_format=None,
        )


def test_layout_needs_exactly_one_slot() -> None:
    check_layout(LAYOUT)
    for bad in ("<p>no slot</p>", "{{ content }}{{content}}"):
        with pytest.raises(InvalidInput, match="exactly one"):
            check_layout(bad)


def test_html_to_text_skips_styles_and_keeps_links() -> None:
    text = html_to_text(
        "<style>p{color:red}</style><p>Oi</p><p><a href='https://a.b/c'>aqui</a></p>"
    )
    assert text == "Oi\n\naqui (https://a.b/c)\n"
