from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dcs_mailbox.text import fold
from dcs_mailbox.triage.tag import find_tag

CHANNELS = (("CDSE", "Saisine CDSE"),)


@pytest.mark.parametrize(
    "subject",
    [
        "Saisine CDSE - question",
        "saisine cdse : question",
        "SAISINE CDSE",
        "[Saisine CDSE] vidéoprotection",
        "RE: Saisine CDSE - question",
        "TR : Saisine CDSE",
        "Fwd: AW: Saisine CDSE",
        "Saisine  CDSE",
        "Saisine\u00a0CDSE",
        "Saïsine CDSE",
        "Saisine-CDSE",
        "Réponse automatique : Saisine CDSE",
    ],
)
def test_tag_is_found_in_its_usual_variants(subject: str) -> None:
    match = find_tag(subject, CHANNELS)
    assert match is not None and match.channel == "CDSE"


@pytest.mark.parametrize(
    "subject",
    ["saisine CSDE - question", "Question CDSE", "Saisine du CDSE", "Saisines CDSEX", ""],
)
def test_near_misses_are_not_the_tag(subject: str) -> None:
    assert find_tag(subject, CHANNELS) is None


def test_second_channel_is_recognised() -> None:
    channels = (*CHANNELS, ("USP", "Saisine USP"))
    match = find_tag("TR: saisine usp", channels)
    assert match is not None and match.channel == "USP"


prefixes = st.sampled_from(["", "RE: ", "TR: ", "Fwd: ", "[", "AW: RE: ", "Réf. "])
cases = st.sampled_from(["Saisine CDSE", "saisine cdse", "SAISINE CDSE", "SaIsInE cDsE"])
spaces = st.sampled_from([" ", "  ", "\u00a0", "\t", " - "])


@given(prefixes, cases, spaces, st.text(max_size=40))
def test_tag_found_whatever_surrounds_it(prefix: str, tag: str, space: str, tail: str) -> None:
    subject = prefix + tag.replace(" ", space) + " " + tail
    assert find_tag(subject, CHANNELS) is not None


@given(st.text(max_size=200))
def test_text_without_the_word_saisine_never_matches(text: str) -> None:
    # Unicode folds many characters to "s" (ſ, ｓ...): ask the folded text itself.
    assume("saisine" not in fold(text))
    assert find_tag(text, CHANNELS) is None
