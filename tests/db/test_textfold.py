"""fold() gives the same text on SQLite and PostgreSQL as fold_text() does in Python."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import literal, select

from carteiro.db.textfold import ACCENTED, fold, fold_text
from carteiro.runtime import Runtime

# What fold() promises: ASCII and the accented Latin letters (other letters' case follows the
# database's locale on PostgreSQL).
LATIN = st.text(alphabet="".join(map(chr, range(0x20, 0x7F))) + ACCENTED, max_size=40)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("ORÇAMENTO de Março", "orcamento de marco"),
        ("João Araújo", "joao araujo"),
        ("ÀÉÎÕÜ àéîõü Ññ Çç", "aeiou aeiou nn cc"),
        ("plain ascii 123", "plain ascii 123"),
    ],
)
def test_fold_in_the_database(runtime: Runtime, text: str, folded: str) -> None:
    with runtime.db.session() as session:
        assert session.scalar(select(fold(literal(text)))) == folded
    assert fold_text(text) == folded


# Read-only queries: the shared runtime is the same for every example.
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=LATIN)
def test_database_and_python_agree_on_latin_text(runtime: Runtime, text: str) -> None:
    with runtime.db.session() as session:
        in_sql = session.scalar(select(fold(literal(text))))
    assert in_sql == fold_text(text)
