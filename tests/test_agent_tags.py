from __future__ import annotations

import pytest

from dcs_mailbox.agent_tags import AGENT_TAGS, DAEMON_TAGS, thunderbird_key, thunderbird_prefs
from dcs_mailbox.cli import main


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Clos", "clos"),
        ("Orienté", "orient&aok-"),
        ("Hors périmètre", "hors_p&aok-rim&aog-tre"),
        ("Pas une saisine", "pas_une_saisine"),
        ('A (b) "c"', "a__b___c_"),
    ],
)
def test_keys_are_those_thunderbird_derives_from_the_tag_name(name: str, key: str) -> None:
    assert thunderbird_key(name) == key


def test_every_key_the_daemon_reads_or_writes_is_lower_case_and_unique() -> None:
    keys = [t.key for t in (*AGENT_TAGS, *DAEMON_TAGS)]
    assert all(k == k.lower() for k in keys)
    assert len(set(keys)) == len(keys)


def test_prefs_define_label_colour_and_order_for_each_tag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    prefs = thunderbird_prefs({"CDSE": "$saisine_cdse"})
    assert 'user_pref("mailnews.tags.orient&aok-.tag", "Orienté");' in prefs
    assert 'user_pref("mailnews.tags.$saisine_cdse.tag", "Saisine CDSE");' in prefs
    assert prefs.count(".color") == len(AGENT_TAGS) + len(DAEMON_TAGS) + 1
    assert main(["thunderbird-tags"]) == 0
    assert capsys.readouterr().out == prefs
