"""The citation check on plain text: what survives and why the rest does not."""

from __future__ import annotations

from investigators.citations import check, split_sentences

EVIDENCE = {
    "E1": ["payments-db"],
    "E2": ["payments-db", "checkout", "cart"],
    "E3": ["payments"],
}


def test_sentences_split_at_full_stops_and_lines_with_citations_after_the_stop_kept() -> None:
    text = "A broke. [E1] B followed [E2][E3].\n- C is next [E1]\n\nNo cite here."
    assert split_sentences(text) == [
        "A broke [E1].",
        "B followed [E2][E3].",
        "C is next [E1]",
        "No cite here.",
    ]


def test_numbers_with_decimal_points_do_not_split_a_sentence() -> None:
    assert split_sentences("p95 rose from 0.4 s to 2.3 s at 14:02 [E1]. Then [E2].") == [
        "p95 rose from 0.4 s to 2.3 s at 14:02 [E1].",
        "Then [E2].",
    ]


def test_cited_sentences_are_kept_with_their_citations_apart() -> None:
    checked = check(
        "payments-db saturated at 14:02 [E1]. checkout and cart followed [E2].", EVIDENCE
    )
    assert [s.text for s in checked.kept] == [
        "payments-db saturated at 14:02.",
        "checkout and cart followed.",
    ]
    assert [s.cites for s in checked.kept] == [["E1"], ["E2"]]
    assert checked.survival == 1.0


def test_uncited_and_unknown_citations_are_dropped_with_the_reason() -> None:
    checked = check(
        "payments-db is the cause [E1]. This is typical of regressions. It was DNS [E9].",
        EVIDENCE,
    )
    assert [s.text for s in checked.kept] == ["payments-db is the cause."]
    assert [d.reason for d in checked.dropped] == ["cites no evidence", "cites unknown E9"]
    assert round(checked.survival, 2) == 0.33


def test_a_sentence_naming_a_service_its_evidence_is_not_about_is_dropped() -> None:
    checked = check("checkout is the root cause [E1]. payments-db is it [E1].", EVIDENCE)
    assert [s.text for s in checked.kept] == ["payments-db is it."]
    assert checked.dropped[0].reason == "names checkout without evidence on it"


def test_service_names_match_whole_names_only() -> None:
    # "payments" is a service and a prefix of "payments-db": only whole names count.
    checked = check("payments-db is saturated [E1].", EVIDENCE)
    assert len(checked.kept) == 1


def test_comma_separated_citations_and_any_case_of_names() -> None:
    checked = check("Payments-DB and Checkout broke together [E1, E2].", EVIDENCE)
    assert checked.kept[0].cites == ["E1", "E2"]


def test_enough_needs_both_a_count_and_a_share() -> None:
    checked = check("a [E1]. b. c. d.", EVIDENCE)
    assert not checked.enough(min_sentences=1, min_share=0.5)
    assert check("a [E1]. b [E1]. c.", EVIDENCE).enough(min_sentences=2, min_share=0.5)
    assert not check("a [E1].", EVIDENCE).enough(min_sentences=2, min_share=0.5)
