from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from bot.core.naming import channel_name, slugify


def test_channel_name_is_number_and_slug() -> None:
    assert channel_name(42, "Checkout: 500s on /pay!") == "inc-42-checkout-500s-on-pay"


def test_accents_fold_to_ascii() -> None:
    assert slugify("Déploiement échoué") == "deploiement-echoue"


def test_suffix_after_collision() -> None:
    assert channel_name(3, "db down", attempt=2) == "inc-3-db-down-2"


def test_title_without_letters_keeps_the_number() -> None:
    assert channel_name(5, "!!!") == "inc-5"


def test_long_titles_are_cut_at_a_word() -> None:
    name = channel_name(12345, "replication " * 20, attempt=11)
    assert len(name) <= 80
    assert name.endswith("-replication-11")


@given(st.integers(1, 10**9), st.text(max_size=300), st.integers(1, 99))
def test_names_are_always_valid(number: int, title: str, attempt: int) -> None:
    name = channel_name(number, title, attempt=attempt)
    assert len(name) <= 80
    assert re.fullmatch(r"inc-\d+(-[a-z0-9]+)*", name)
    assert name.startswith(f"inc-{number}")
