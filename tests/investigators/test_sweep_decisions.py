"""The sweep's decisions on plain data: sustained, confirmed, recovered, suppressed, mentioned."""

from __future__ import annotations

from investigators.sweep import Suspect, SweepState, advance

T0 = 1_795_000_000.0


def _suspect(service: str = "payments-db", *, score: float = 0.9, explains=()) -> Suspect:  # type: ignore[no-untyped-def]
    return Suspect(
        service=service,
        team="payments",
        score=score,
        confidence="high",
        reasons=["latency x8"],
        explains=list(explains),
    )


def _run(windows: list[list[Suspect]], **kw):  # type: ignore[no-untyped-def]
    state, log = SweepState(), []
    for n, suspects in enumerate(windows):
        state, actions = advance(
            state,
            window=100 + n,
            at=T0 + 600 * n,
            suspects=suspects,
            covered=kw.get("covered", {}),
            mutes=kw.get("mutes", {}),
            mention_severity=kw.get("mention", "high"),
        )
        log.append([(a.kind, a.degradation.service) for a in actions])
    return state, log


def test_one_sweep_is_not_enough_two_in_a_row_are() -> None:
    _, log = _run([[], [_suspect()], [_suspect()]])
    assert log == [[], [], [("open", "payments-db")]]


def test_later_sweeps_confirm_and_the_first_without_it_recovers() -> None:
    state, log = _run([[_suspect()], [_suspect()], [_suspect()], [_suspect()], []])
    assert log[2:] == [
        [("confirm", "payments-db")],
        [("confirm", "payments-db")],
        [("recovered", "payments-db")],
    ]
    assert state.open == {} and state.closed[-1].recovered_at == T0 + 600 * 4


def test_a_missed_sweep_breaks_the_streak() -> None:
    state = SweepState()
    state, _ = advance(state, window=1, at=T0, suspects=[_suspect()], covered={}, mutes={})
    state, actions = advance(
        state, window=3, at=T0 + 1200, suspects=[_suspect()], covered={}, mutes={}
    )
    assert actions == [] and state.open["payments-db"].sweeps == 1


def test_the_same_window_twice_changes_nothing() -> None:
    state, _ = _run([[_suspect()]])
    again, actions = advance(state, window=100, at=T0, suspects=[_suspect()], covered={}, mutes={})
    assert actions == [] and again.open["payments-db"].sweeps == 1


def test_a_flapping_service_that_never_lasts_two_sweeps_is_never_reported() -> None:
    _, log = _run([[_suspect()], [], [_suspect()], [], [_suspect()], []])
    assert all(entry == [] for entry in log)


def test_covered_by_an_incident_channel_is_suppressed() -> None:
    state, log = _run([[_suspect()], [_suspect()]], covered={"payments-db": "inc-7-payments"})
    assert log == [[], []]
    assert state.open["payments-db"].suppressed_by == "covered by #inc-7-payments"


def test_a_mute_holds_until_it_expires_then_the_heads_up_comes() -> None:
    until = T0 + 600 * 2 + 1
    _, log = _run([[_suspect()]] * 4, mutes={"payments-db": until})
    assert log == [[], [], [], [("open", "payments-db")]]


def test_active_mutes_ride_along_with_a_heads_up() -> None:
    state = SweepState()
    mutes = {"checkout": T0 + 7200}
    for n in range(2):
        state, actions = advance(
            state, window=n, at=T0 + n, suspects=[_suspect()], covered={}, mutes=mutes
        )
    assert actions[0].mutes == mutes


def test_the_team_is_mentioned_only_at_or_above_the_configured_severity() -> None:
    weak = _suspect(score=0.6)
    strong = _suspect(score=0.6, explains=["checkout"])  # already hurting a caller
    for suspect, mention, expected in [
        (weak, "high", False),
        (weak, "medium", True),
        (strong, "high", True),
        (strong, "none", False),
    ]:
        state = SweepState()
        for n in range(2):
            state, actions = advance(
                state,
                window=n,
                at=T0 + n,
                suspects=[suspect],
                covered={},
                mutes={},
                mention_severity=mention,
            )
        assert actions[0].mention is expected, (suspect.explains, mention)


def _medium(service: str = "payments-db") -> Suspect:
    return _suspect(service).model_copy(update={"confidence": "medium"})


def test_without_high_confidence_it_takes_three_sweeps_in_a_row() -> None:
    _, log = _run([[_medium()], [_medium()], [_medium()]])
    assert log == [[], [], [("open", "payments-db")]]


def test_one_high_confidence_sweep_of_two_is_enough() -> None:
    _, log = _run([[_medium()], [_suspect()]])
    assert log == [[], [("open", "payments-db")]]
