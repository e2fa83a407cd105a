"""Audio focus: every cell of the interaction matrix, the scenarios a car lives through, and
invariants over random sequences of requests and abandons."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carmesh.errors import InvalidArgument
from carmesh.media.focus import (
    CRITICAL,
    INTERACTIONS,
    AudioFocus,
    Change,
    FocusChange,
    FocusRequest,
    Gain,
    Interaction,
    Result,
    Usage,
)

# The expected matrix, written out independently of the module (AAOS's default cells for
# these usages). Rows: holder; columns: requester.
GRID = """
                media  navigation assistant call call_ring alarm notification emergency safety
media             X       C          X       X      X       X       C            X        C
navigation        C       C          X       X      C       C       C            X        C
assistant         C       R          C       X      X       R       R            X        C
call              R       C          R       C      C       C       C            C        C
call_ring         R       C          C       C      C       R       R            X        C
alarm             C       C          X       X      X       C       C            X        C
notification      C       C          X       X      X       C       C            X        C
emergency         R       R          R       C      R       R       R            C        C
safety            C       C          C       C      C       C       C            C        C
"""

_LETTER = {"R": Interaction.REJECT, "X": Interaction.EXCLUSIVE, "C": Interaction.CONCURRENT}


def _parse(grid: str) -> dict[tuple[Usage, Usage], Interaction]:
    header, *rows = [line.split() for line in grid.strip().splitlines()]
    cells = {}
    for holder, *letters in rows:
        assert len(letters) == len(header)
        for requester, letter in zip(header, letters, strict=True):
            cells[(Usage(holder), Usage(requester))] = _LETTER[letter]
    return cells


EXPECTED = _parse(GRID)

L, LT, DUCK = Change.LOSS, Change.LOSS_TRANSIENT, Change.LOSS_TRANSIENT_CAN_DUCK
X, C = Interaction.EXCLUSIVE, Interaction.CONCURRENT

# What an ordinary holder is told, by cell and the requester's gain.
ORDINARY: dict[tuple[Interaction, Gain], Change] = {
    (X, Gain.GAIN): L,
    (X, Gain.TRANSIENT): LT,
    (X, Gain.TRANSIENT_MAY_DUCK): LT,
    (X, Gain.TRANSIENT_EXCLUSIVE): LT,
    (C, Gain.GAIN): L,
    (C, Gain.TRANSIENT): LT,
    (C, Gain.TRANSIENT_MAY_DUCK): DUCK,
    (C, Gain.TRANSIENT_EXCLUSIVE): LT,
}
# ...when the requester is SAFETY or EMERGENCY: never for good, ducking unless exclusive.
FROM_CRITICAL: dict[tuple[Interaction, Gain], Change] = {
    (X, Gain.GAIN): LT,
    (X, Gain.TRANSIENT): LT,
    (X, Gain.TRANSIENT_MAY_DUCK): LT,
    (X, Gain.TRANSIENT_EXCLUSIVE): LT,
    (C, Gain.GAIN): DUCK,
    (C, Gain.TRANSIENT): DUCK,
    (C, Gain.TRANSIENT_MAY_DUCK): DUCK,
    (C, Gain.TRANSIENT_EXCLUSIVE): LT,
}


def expected_outcome(
    holder: Usage, requester: Usage, gain: Gain, pauses: bool
) -> tuple[Result, Change | None]:
    cell = EXPECTED[(holder, requester)]
    if cell is Interaction.REJECT:
        return Result.FAILED, None
    if holder in CRITICAL and cell is C:
        return Result.GRANTED, None
    table = FROM_CRITICAL if requester in CRITICAL else ORDINARY
    change = table[(cell, gain)]
    if change is DUCK and pauses:
        change = LT
    return Result.GRANTED, change


class Recorder:
    """Collects every FocusChange."""

    def __init__(self, focus: AudioFocus) -> None:
        self.changes: list[FocusChange] = []
        self.stop = focus.listen(self.changes.append)

    def of(self, client_id: str) -> list[Change]:
        return [c.change for c in self.changes if c.client_id == client_id]

    def take(self) -> list[tuple[str, Change]]:
        out = [(c.client_id, c.change) for c in self.changes]
        self.changes.clear()
        return out


@pytest.fixture
def focus() -> AudioFocus:
    return AudioFocus(("driver", "rear"))


@pytest.fixture
def rec(focus: AudioFocus) -> Recorder:
    return Recorder(focus)


def req(client: str, usage: Usage, gain: Gain = Gain.GAIN, **kw: object) -> FocusRequest:
    return FocusRequest(client, usage, gain, **kw)  # type: ignore[arg-type]


# -- the matrix -----------------------------------------------------------------------------


def test_matrix_is_the_documented_one() -> None:
    assert len(INTERACTIONS) == len(Usage) ** 2
    assert dict(INTERACTIONS) == EXPECTED


def test_safety_and_emergency_are_never_rejected() -> None:
    for holder in Usage:
        for critical in CRITICAL:
            assert INTERACTIONS[(holder, critical)] is not Interaction.REJECT


def test_values_are_lower_case() -> None:
    for kind in (Usage, Gain, Change, Interaction, Result):
        for member in kind:
            assert member.value == member.name.lower()


@pytest.mark.parametrize("pauses", [False, True], ids=["ducks", "pauses_when_ducked"])
@pytest.mark.parametrize("gain", list(Gain), ids=str)
@pytest.mark.parametrize("requester", list(Usage), ids=str)
@pytest.mark.parametrize("holder", list(Usage), ids=str)
def test_every_cell(holder: Usage, requester: Usage, gain: Gain, pauses: bool) -> None:
    focus = AudioFocus()
    rec = Recorder(focus)
    assert focus.request(req("h", holder, pauses_when_ducked=pauses)) is Result.GRANTED
    result, change = expected_outcome(holder, requester, gain, pauses)

    assert focus.request(req("r", requester, gain)) is result
    assert rec.of("r") == []  # the requester learns from the result, not the listener
    assert rec.of("h") == ([] if change is None else [change])
    if result is Result.FAILED:
        assert focus.state("r") is None
        assert [h.client_id for h in focus.holders()] == ["h"]
        return
    assert focus.state("r") is Change.GAIN
    assert focus.state("h") is (Change.GAIN if change is None else None if change is L else change)
    expected_holders = ["r", "h"] if change is None else ["r"]
    assert [h.client_id for h in focus.holders()] == expected_holders

    focus.abandon("r")
    if change is None:
        assert rec.of("h") == []
    elif change is L:
        assert rec.of("h") == [L]  # gone for good: nothing comes back
        assert focus.state("h") is None
    else:
        assert rec.of("h") == [change, Change.GAIN]
        assert focus.state("h") is Change.GAIN
    assert rec.of("r") == []


REJECTING = [pair for pair, cell in EXPECTED.items() if cell is Interaction.REJECT]


@pytest.mark.parametrize(("holder", "requester"), REJECTING, ids=lambda u: str(u))
def test_every_rejecting_cell_can_delay(holder: Usage, requester: Usage) -> None:
    focus = AudioFocus()
    rec = Recorder(focus)
    focus.request(req("h", holder, Gain.TRANSIENT))

    assert focus.request(req("r", requester, accepts_delayed=True)) is Result.DELAYED
    assert focus.state("r") is Change.LOSS_TRANSIENT
    assert focus.delayed() == req("r", requester, accepts_delayed=True)
    assert rec.take() == []  # a parked request affects nobody

    focus.abandon("h")
    assert rec.take() == [("r", Change.GAIN)]
    assert focus.delayed() is None
    assert [h.client_id for h in focus.holders()] == ["r"]


@pytest.mark.parametrize("gain", [g for g in Gain if g is not Gain.GAIN], ids=str)
def test_only_a_permanent_request_can_be_delayed(gain: Gain) -> None:
    focus = AudioFocus()
    focus.request(req("call", Usage.CALL, Gain.TRANSIENT))
    assert focus.request(req("m", Usage.MEDIA, gain, accepts_delayed=True)) is Result.FAILED
    assert focus.delayed() is None and focus.state("m") is None


# -- scenarios ------------------------------------------------------------------------------


def test_navigation_ducks_media_and_media_comes_back(focus: AudioFocus, rec: Recorder) -> None:
    assert focus.request(req("player", Usage.MEDIA)) is Result.GRANTED
    assert focus.request(req("nav", Usage.NAVIGATION, Gain.TRANSIENT_MAY_DUCK)) is Result.GRANTED
    assert rec.take() == [("player", DUCK)]
    assert focus.state("player") is DUCK
    assert [h.client_id for h in focus.holders()] == ["nav"]

    focus.abandon("nav")
    assert rec.take() == [("player", Change.GAIN)]
    assert [h.client_id for h in focus.holders()] == ["player"]


def test_a_player_that_pauses_when_ducked_is_paused(focus: AudioFocus, rec: Recorder) -> None:
    focus.request(req("podcast", Usage.MEDIA, pauses_when_ducked=True))
    focus.request(req("nav", Usage.NAVIGATION, Gain.TRANSIENT_MAY_DUCK))
    assert rec.take() == [("podcast", LT)]
    focus.abandon("nav")
    assert rec.take() == [("podcast", Change.GAIN)]


def test_a_call_pauses_media_and_it_resumes(focus: AudioFocus, rec: Recorder) -> None:
    focus.request(req("player", Usage.MEDIA))
    assert focus.request(req("phone", Usage.CALL, Gain.TRANSIENT)) is Result.GRANTED
    assert rec.take() == [("player", LT)]
    assert focus.request(req("other", Usage.MEDIA)) is Result.FAILED  # media during a call
    assert rec.take() == []
    focus.abandon("phone")
    assert rec.take() == [("player", Change.GAIN)]


def test_a_safety_chime_during_a_call(focus: AudioFocus, rec: Recorder) -> None:
    focus.request(req("player", Usage.MEDIA))
    focus.request(req("phone", Usage.CALL, Gain.TRANSIENT))
    rec.take()
    assert focus.request(req("chime", Usage.SAFETY, Gain.TRANSIENT)) is Result.GRANTED
    # The call ducks under the chime; media, already paused, stays paused.
    assert rec.take() == [("phone", DUCK)]
    assert focus.state("player") is LT
    # The ducked call still keeps media out.
    assert focus.request(req("other", Usage.MEDIA)) is Result.FAILED
    focus.abandon("chime")
    assert rec.take() == [("phone", Change.GAIN)]
    focus.abandon("phone")
    assert rec.take() == [("player", Change.GAIN)]


def test_a_safety_chime_is_never_cut_off(focus: AudioFocus, rec: Recorder) -> None:
    focus.request(req("chime", Usage.SAFETY, Gain.TRANSIENT_MAY_DUCK))
    for i, usage in enumerate(Usage):
        for gain in Gain:
            focus.request(req(f"c{i}", usage, gain))
    assert rec.of("chime") == []
    assert focus.state("chime") is Change.GAIN


def test_emergency_pauses_media_but_never_ends_it(focus: AudioFocus, rec: Recorder) -> None:
    focus.request(req("player", Usage.MEDIA))
    assert focus.request(req("ecall", Usage.EMERGENCY, Gain.GAIN)) is Result.GRANTED
    assert rec.take() == [("player", LT)]
    assert focus.request(req("nav", Usage.NAVIGATION, Gain.TRANSIENT_MAY_DUCK)) is Result.FAILED
    focus.abandon("ecall")
    assert rec.take() == [("player", Change.GAIN)]


def test_a_second_media_source_replaces_the_first(focus: AudioFocus, rec: Recorder) -> None:
    focus.request(req("radio", Usage.MEDIA))
    assert focus.request(req("podcast", Usage.MEDIA)) is Result.GRANTED
    assert rec.take() == [("radio", L)]
    assert focus.state("radio") is None
    assert [h.client_id for h in focus.holders()] == ["podcast"]
    focus.abandon("podcast")
    assert rec.take() == []  # the first one does not come back
    assert focus.holders() == []


def test_a_permanent_request_ends_waiting_ones_too(focus: AudioFocus, rec: Recorder) -> None:
    focus.request(req("radio", Usage.MEDIA))
    focus.request(req("nav", Usage.NAVIGATION, Gain.TRANSIENT_MAY_DUCK))
    rec.take()
    focus.request(req("podcast", Usage.MEDIA))
    assert rec.take() == [("nav", L), ("radio", L)]


def test_losses_escalate_and_relax_in_order(focus: AudioFocus, rec: Recorder) -> None:
    focus.request(req("player", Usage.MEDIA))
    focus.request(req("nav", Usage.NAVIGATION, Gain.TRANSIENT_MAY_DUCK))
    focus.request(req("phone", Usage.CALL, Gain.TRANSIENT))
    assert rec.take() == [("player", DUCK), ("nav", LT), ("player", LT)]
    focus.abandon("phone")  # the prompt still plays: media may play again, ducked
    assert rec.take() == [("nav", Change.GAIN), ("player", DUCK)]
    focus.abandon("nav")
    assert rec.take() == [("player", Change.GAIN)]


def test_transient_exclusive_makes_concurrent_exclusive(focus: AudioFocus, rec: Recorder) -> None:
    focus.request(req("player", Usage.MEDIA))
    focus.request(req("nav", Usage.NAVIGATION, Gain.TRANSIENT_EXCLUSIVE))
    assert rec.take() == [("player", LT)]


def test_transient_exclusive_keeps_notifications_out(focus: AudioFocus, rec: Recorder) -> None:
    note = req("msg", Usage.NOTIFICATION, Gain.TRANSIENT_MAY_DUCK)
    focus.request(req("nav", Usage.NAVIGATION, Gain.TRANSIENT_MAY_DUCK))
    assert focus.request(note) is Result.GRANTED  # the matrix allows it (concurrent)...
    focus.abandon("msg")
    focus.request(req("nav", Usage.NAVIGATION, Gain.TRANSIENT_EXCLUSIVE))
    assert focus.request(note) is Result.FAILED  # ...but not over an exclusive request
    parked = req("msg", Usage.NOTIFICATION, accepts_delayed=True)
    assert focus.request(parked) is Result.DELAYED
    rec.take()
    focus.abandon("nav")
    assert rec.take() == [("msg", Change.GAIN)]


def test_notification_rule_applies_to_those_waiting_too(focus: AudioFocus) -> None:
    focus.request(req("nav", Usage.NAVIGATION, Gain.TRANSIENT_EXCLUSIVE))
    focus.request(req("chime", Usage.SAFETY, Gain.TRANSIENT_MAY_DUCK))
    assert focus.state("nav") is DUCK
    note = req("msg", Usage.NOTIFICATION, Gain.TRANSIENT_MAY_DUCK)
    assert focus.request(note) is Result.FAILED


# -- delayed focus --------------------------------------------------------------------------


def test_media_asked_for_during_a_call_starts_when_it_ends(
    focus: AudioFocus, rec: Recorder
) -> None:
    focus.request(req("player", Usage.MEDIA))
    focus.request(req("phone", Usage.CALL, Gain.TRANSIENT))
    rec.take()
    # The user picks another station during the call.
    assert focus.request(req("radio", Usage.MEDIA, accepts_delayed=True)) is Result.DELAYED
    assert rec.take() == []
    assert focus.state("radio") is LT
    assert focus.as_json()["delayed"] == {"client_id": "radio", "usage": "media", "gain": "gain"}

    focus.abandon("phone")
    # The parked request is granted as if asked now: the old player ends for good.
    assert rec.take() == [("player", L), ("radio", Change.GAIN)]
    assert [h.client_id for h in focus.holders()] == ["radio"]
    assert focus.delayed() is None


def test_a_held_request_parked_again_is_withdrawn(focus: AudioFocus, rec: Recorder) -> None:
    focus.request(req("player", Usage.MEDIA))
    focus.request(req("phone", Usage.CALL, Gain.TRANSIENT))
    again = req("player", Usage.MEDIA, accepts_delayed=True)
    assert focus.request(again) is Result.DELAYED
    assert focus.as_json()["holders"] == [
        {"client_id": "phone", "usage": "call", "gain": "transient", "state": "gain"}
    ]
    assert focus.delayed() == again
    rec.take()
    focus.abandon("phone")
    assert rec.take() == [("player", Change.GAIN)]


def test_one_parked_request_per_zone(focus: AudioFocus, rec: Recorder) -> None:
    focus.request(req("phone", Usage.CALL, Gain.TRANSIENT))
    focus.request(req("a", Usage.MEDIA, accepts_delayed=True))
    assert focus.request(req("b", Usage.MEDIA, accepts_delayed=True)) is Result.DELAYED
    assert rec.take() == [("a", L)]
    assert focus.state("a") is None
    assert focus.delayed() == req("b", Usage.MEDIA, accepts_delayed=True)


def test_a_parked_request_waits_for_every_blocker(focus: AudioFocus, rec: Recorder) -> None:
    focus.request(req("ring", Usage.CALL_RING, Gain.TRANSIENT))
    focus.request(req("phone", Usage.CALL, Gain.TRANSIENT))
    focus.request(req("player", Usage.MEDIA, accepts_delayed=True))
    rec.take()
    focus.abandon("phone")
    assert focus.delayed() is not None  # the ringing still rejects media
    assert rec.take() == [("ring", Change.GAIN)]
    focus.abandon("ring")
    assert rec.take() == [("player", Change.GAIN)]


def test_abandoning_a_parked_request(focus: AudioFocus, rec: Recorder) -> None:
    focus.request(req("phone", Usage.CALL, Gain.TRANSIENT))
    focus.request(req("player", Usage.MEDIA, accepts_delayed=True))
    focus.abandon("player")
    assert focus.delayed() is None and focus.state("player") is None
    focus.abandon("phone")
    assert rec.take() == []


def test_a_granted_delayed_request_is_like_any_other(focus: AudioFocus) -> None:
    focus.request(req("phone", Usage.CALL, Gain.TRANSIENT))
    focus.request(req("player", Usage.MEDIA, accepts_delayed=True))
    focus.abandon("phone")
    assert focus.request(req("phone", Usage.CALL, Gain.TRANSIENT)) is Result.GRANTED
    assert focus.state("player") is LT


# -- repeated requests, failures, unknowns --------------------------------------------------


def test_a_repeated_request_replaces_the_earlier_one(focus: AudioFocus, rec: Recorder) -> None:
    focus.request(req("player", Usage.MEDIA))
    assert focus.request(req("player", Usage.MEDIA)) is Result.GRANTED
    assert rec.take() == []  # no loss to itself
    focus.request(req("nav", Usage.NAVIGATION, Gain.TRANSIENT))
    assert rec.take() == [("player", LT)]
    assert focus.request(req("nav", Usage.NAVIGATION, Gain.TRANSIENT_MAY_DUCK)) is Result.GRANTED
    assert rec.take() == [("player", DUCK)]
    assert len(focus.as_json()["holders"]) == 2
    # A different usage on the same client replaces it too.
    assert focus.request(req("nav", Usage.ALARM, Gain.TRANSIENT)) is Result.GRANTED
    assert rec.take() == [("player", LT)]
    assert [h["usage"] for h in focus.as_json()["holders"]] == ["alarm", "media"]


def test_a_failed_request_changes_nothing(focus: AudioFocus, rec: Recorder) -> None:
    focus.request(req("phone", Usage.CALL, Gain.TRANSIENT))
    focus.request(req("player", Usage.NAVIGATION, Gain.TRANSIENT_MAY_DUCK))
    before = focus.as_json()
    rec.take()
    assert focus.request(req("player", Usage.MEDIA)) is Result.FAILED
    assert focus.as_json() == before
    assert rec.take() == []


def test_abandoning_an_unknown_client_does_nothing(focus: AudioFocus, rec: Recorder) -> None:
    focus.request(req("player", Usage.MEDIA))
    focus.abandon("nobody")
    assert rec.take() == []
    assert focus.state("nobody") is None


def test_unknown_zones_are_refused(focus: AudioFocus) -> None:
    calls: list[Callable[[], object]] = [
        lambda: focus.request(req("x", Usage.MEDIA, zone="trunk")),
        lambda: focus.abandon("x", "trunk"),
        lambda: focus.holders("trunk"),
        lambda: focus.state("x", "trunk"),
        lambda: focus.as_json("trunk"),
        lambda: focus.delayed("trunk"),
    ]
    for call in calls:
        with pytest.raises(InvalidArgument, match="trunk"):
            call()
    with pytest.raises(InvalidArgument):
        AudioFocus(())
    with pytest.raises(InvalidArgument):
        AudioFocus(("",))
    assert AudioFocus(("driver", "rear", "driver")).zones == ["driver", "rear"]


def test_requests_take_string_values_and_refuse_bad_ones() -> None:
    r = FocusRequest("nav", "navigation", "transient_may_duck")  # type: ignore[arg-type]
    assert r.usage is Usage.NAVIGATION and r.gain is Gain.TRANSIENT_MAY_DUCK
    with pytest.raises(InvalidArgument, match="usage"):
        FocusRequest("x", "music")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="gain"):
        FocusRequest("x", Usage.MEDIA, "forever")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        FocusRequest("", Usage.MEDIA)
    with pytest.raises(InvalidArgument):
        FocusRequest("x", Usage.MEDIA, zone="")


# -- zones ----------------------------------------------------------------------------------


def test_zones_are_independent(focus: AudioFocus, rec: Recorder) -> None:
    focus.request(req("front", Usage.MEDIA))
    assert focus.request(req("back", Usage.MEDIA, zone="rear")) is Result.GRANTED
    assert rec.take() == []  # rear media does not replace driver media
    focus.request(req("phone", Usage.CALL, Gain.TRANSIENT))
    assert [(c.client_id, c.zone, c.change) for c in rec.changes] == [("front", "driver", LT)]
    rec.take()
    assert focus.state("back", "rear") is Change.GAIN
    assert focus.request(req("back2", Usage.MEDIA, zone="rear")) is Result.GRANTED
    assert [(c.client_id, c.zone, c.change) for c in rec.changes] == [("back", "rear", L)]
    assert [h.client_id for h in focus.holders("rear")] == ["back2"]
    assert [h.client_id for h in focus.holders("driver")] == ["phone"]


def test_one_client_in_two_zones(focus: AudioFocus) -> None:
    focus.request(req("app", Usage.MEDIA))
    focus.request(req("app", Usage.MEDIA, zone="rear"))
    focus.abandon("app", "rear")
    assert focus.state("app") is Change.GAIN
    assert focus.state("app", "rear") is None


# -- listeners and JSON ---------------------------------------------------------------------


def test_listeners_stop_and_failures_are_contained(
    focus: AudioFocus, rec: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(change: FocusChange) -> None:
        raise RuntimeError("listener bug")

    stop_broken = focus.listen(broken)
    focus.request(req("a", Usage.MEDIA))
    with caplog.at_level(logging.ERROR, logger="carmesh.media.focus"):
        focus.request(req("b", Usage.MEDIA))
    assert rec.take() == [("a", L)]
    assert "listener failed" in caplog.text
    stop_broken()
    stop_broken()
    rec.stop()
    focus.request(req("c", Usage.MEDIA))
    assert rec.take() == []


def test_listener_sees_the_updated_state(focus: AudioFocus) -> None:
    seen: list[tuple[Change, Change | None]] = []
    focus.listen(lambda c: seen.append((c.change, focus.state(c.client_id, c.zone))))
    focus.request(req("player", Usage.MEDIA))
    focus.request(req("nav", Usage.NAVIGATION, Gain.TRANSIENT_MAY_DUCK))
    focus.abandon("nav")
    assert seen == [(DUCK, DUCK), (Change.GAIN, Change.GAIN)]


def test_changes_caused_by_a_listener_come_after(focus: AudioFocus, rec: Recorder) -> None:
    seen: list[tuple[str, Change, Change | None]] = []

    def on_change(change: FocusChange) -> None:
        seen.append((change.client_id, change.change, focus.state(change.client_id)))
        if change.client_id == "nav" and change.change is LT:
            focus.abandon("phone")  # e.g. the driver declined the call at once

    focus.request(req("player", Usage.MEDIA))
    focus.request(req("nav", Usage.NAVIGATION, Gain.TRANSIENT_MAY_DUCK))
    focus.listen(on_change)
    focus.request(req("phone", Usage.CALL, Gain.TRANSIENT))
    # The call's batch is delivered whole before the changes the listener caused.
    assert [(c, ch) for c, ch, _ in seen] == [
        ("nav", LT),
        ("player", LT),
        ("nav", Change.GAIN),
        ("player", DUCK),
    ]
    assert seen[1][2] is DUCK  # state had already moved on when that change arrived
    assert focus.state("player") is DUCK and focus.state("nav") is Change.GAIN


def test_as_json(focus: AudioFocus) -> None:
    focus.request(req("player", Usage.MEDIA))
    focus.request(req("nav", Usage.NAVIGATION, Gain.TRANSIENT_MAY_DUCK))
    assert focus.as_json() == {
        "zone": "driver",
        "holders": [
            {
                "client_id": "nav",
                "usage": "navigation",
                "gain": "transient_may_duck",
                "state": "gain",
            },
            {
                "client_id": "player",
                "usage": "media",
                "gain": "gain",
                "state": "loss_transient_can_duck",
            },
        ],
        "delayed": None,
    }
    assert focus.as_json("rear") == {"zone": "rear", "holders": [], "delayed": None}


# -- random sequences -----------------------------------------------------------------------

CLIENTS = [f"c{i}" for i in range(5)]
ZONES = ["driver", "rear"]
# Weighted so that rejections, parking and displacement of parked requests happen often.
BLOCKING = [Usage.CALL, Usage.CALL_RING, Usage.ASSISTANT, Usage.EMERGENCY]

request_ops = st.builds(
    lambda c, u, g, z, d, p: ("request", FocusRequest(c, u, g, z, d, p)),
    st.sampled_from(CLIENTS),
    st.one_of(st.sampled_from(list(Usage)), st.sampled_from(BLOCKING)),
    st.one_of(st.just(Gain.GAIN), st.sampled_from(list(Gain))),
    st.sampled_from(ZONES),
    st.booleans(),
    st.booleans(),
)
abandon_ops = st.tuples(st.just("abandon"), st.sampled_from(CLIENTS), st.sampled_from(ZONES))


class Model:
    """What each client must believe, from results and delivered changes alone."""

    def __init__(self, focus: AudioFocus) -> None:
        self.focus = focus
        self.known: dict[tuple[str, str], Change] = {}
        self.batch: list[FocusChange] = []
        focus.listen(self.batch.append)

    def request(self, r: FocusRequest) -> None:
        stack = self.focus.as_json(r.zone)["holders"]
        kept_out = any(_keeps_out(h, r) for h in stack if h["client_id"] != r.client_id)
        result = self.focus.request(r)
        if not kept_out:
            assert result is Result.GRANTED
        elif r.accepts_delayed and r.gain is Gain.GAIN:
            assert result is Result.DELAYED
        else:
            assert result is Result.FAILED
        if result is Result.GRANTED:
            self.known[(r.zone, r.client_id)] = Change.GAIN
        elif result is Result.DELAYED:
            self.known[(r.zone, r.client_id)] = Change.LOSS_TRANSIENT
        else:
            assert not self.batch
        self.absorb(r.zone)

    def abandon(self, client: str, zone: str) -> None:
        self.known.pop((zone, client), None)
        self.focus.abandon(client, zone)
        self.absorb(zone)

    def absorb(self, zone: str) -> None:
        for change in self.batch:
            assert change.zone == zone  # zones are independent
            key = (zone, change.client_id)
            assert key in self.known, "a change for a client with no request"
            assert self.known[key] is not change.change, "a change that changes nothing"
            if change.change is Change.LOSS:
                del self.known[key]
            else:
                self.known[key] = change.change
        self.batch.clear()
        self.check()

    def check(self) -> None:
        for zone in ZONES:
            for client in CLIENTS:
                assert self.focus.state(client, zone) is self.known.get((zone, client))
            stack = self.focus.as_json(zone)["holders"]
            ids = [h["client_id"] for h in stack]
            assert len(ids) == len(set(ids))
            holders = self.focus.holders(zone)
            assert [h.client_id for h in holders] == [
                h["client_id"] for h in stack if h["state"] == "gain"
            ]
            if stack:
                assert holders, "someone always holds focus while anyone waits"
            for h in stack:
                if Usage(h["usage"]) in CRITICAL:
                    assert h["state"] == "gain"
            parked = self.focus.delayed(zone)
            if parked is not None:
                assert parked.client_id not in ids
                assert parked.accepts_delayed and parked.gain is Gain.GAIN
                assert any(_keeps_out(h, parked) for h in stack), "parked though allowed"


def _keeps_out(holder: dict[str, str], parked: FocusRequest) -> bool:
    if EXPECTED[(Usage(holder["usage"]), parked.usage)] is Interaction.REJECT:
        return True
    return parked.usage is Usage.NOTIFICATION and holder["gain"] == "transient_exclusive"


@settings(max_examples=400, deadline=None)
@given(
    ops=st.lists(st.one_of(request_ops, request_ops, abandon_ops), min_size=5, max_size=40),
    survivor=st.sampled_from(CLIENTS),
    order=st.permutations(CLIENTS),
)
def test_random_sequences_keep_the_invariants(
    ops: list[tuple[object, ...]], survivor: str, order: list[str]
) -> None:
    focus = AudioFocus(ZONES)
    model = Model(focus)
    for op in ops:
        if op[0] == "request":
            assert isinstance(op[1], FocusRequest)
            model.request(op[1])
        else:
            client, zone = op[1], op[2]
            assert isinstance(client, str) and isinstance(zone, str)
            model.abandon(client, zone)

    # Whoever is waiting gets focus back (or loses it for good) once the others are gone.
    for zone in ZONES:
        for client in order:
            if client != survivor:
                model.abandon(client, zone)
        assert focus.state(survivor, zone) in (Change.GAIN, None)
        model.abandon(survivor, zone)
        assert focus.holders(zone) == []
        assert focus.as_json(zone) == {"zone": zone, "holders": [], "delayed": None}
    assert model.known == {}
