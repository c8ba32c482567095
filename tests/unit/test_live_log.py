"""A finished answer's event log is compacted for its replay window and reads back the same."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import pytest

from chatgate.services.live import DONE, START, USAGE, LiveGeneration


def _generation(pieces: int = 256) -> LiveGeneration:
    generation = LiveGeneration(
        id="a",
        user_id="u",
        conversation_id="c",
        user_message_id="q",
        model="m",
        provider="p",
        prefix="Earlier: ",
        clock=lambda: 0.0,
    )
    generation.emit(START, {"message_id": "a"})
    generation.reasoning("Thinking ")
    generation.reasoning("hard. ")
    for n in range(pieces):
        generation.text(f"w{n:05d} ")
        if n == 3:
            generation.logprobs([{"token": "w", "logprob": -0.1}])
            generation.tool_call(0, "call_1", "lookup", '{"q":')
            generation.tool_call(0, None, None, '"x"}')
            generation.choice(1, "other ", None)
    generation.text("é🙂")  # not one byte per character
    generation.text("\ud800")  # a lone surrogate, which strict UTF-8 cannot encode
    generation.text("")
    generation.choice(1, None, "stop")
    generation.emit(USAGE, {"prompt_tokens": 3, "completion_tokens": pieces})
    generation.emit(DONE, {"status": "complete"})
    return generation


def _everything(generation: LiveGeneration) -> tuple[object, ...]:
    return (
        list(generation.kinds),
        list(generation.payloads),
        [generation.kinds[i] for i in range(generation.seq)],
        [generation.payloads[i] for i in range(generation.seq)],
        generation.payloads[-1],
        generation.payloads[2:6],
        generation.seq,
        generation.text_so_far(),
        generation.reasoning_so_far(),
        generation.pieces_since(5, 40),
        generation.tool_calls(),
        generation.other_choices(),
        generation.logprobs_so_far(),
    )


@pytest.mark.parametrize("pieces", [256, 10_000], ids=["short", "past-64-KiB"])
def test_a_finished_log_reads_back_every_event_under_the_same_id(pieces: int) -> None:
    generation = _generation(pieces)
    before = _everything(generation)
    assert list(generation.kinds)[:3] == [START, "reasoning", "reasoning"]
    assert generation.pieces_since(0, 6) == ("w00000 w00001 w00002 ", "Thinking hard. ")
    assert generation.text_so_far().endswith("é🙂\ud800")
    generation.finished_at = 1.0
    generation.compact()
    assert isinstance(generation.log.text, bytes)
    assert _everything(generation) == before
    with pytest.raises(IndexError):
        generation.payloads[generation.seq]


def test_a_reader_holding_the_log_reads_it_on_and_nothing_is_added_after_it_is_finished() -> None:
    generation = _generation(8)
    kinds, payloads = generation.kinds, generation.payloads
    held = (list(kinds), list(payloads))
    generation.finished_at = 1.0
    generation.compact()
    assert (list(kinds), list(payloads)) == held
    with pytest.raises(RuntimeError):
        generation.emit(DONE, {})
    with pytest.raises(RuntimeError):
        generation.text("late")
    assert (list(kinds), list(payloads)) == held


def test_a_running_log_is_not_frozen() -> None:
    generation = _generation(8)
    generation.compact()
    generation.text("more")
    assert generation.payloads[-1] == "more"


def test_an_unknown_event_kind_is_refused_and_nothing_is_added() -> None:
    generation = _generation(8)
    seq = generation.seq
    with pytest.raises(ValueError, match="unknown event kind"):
        generation.emit("surprise", {})
    assert generation.seq == seq


def _traced(build: Callable[[], object]) -> tuple[int, object]:
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        kept = build()
        return tracemalloc.get_traced_memory()[0] - base, kept
    finally:
        tracemalloc.stop()


def test_a_running_answer_holds_a_fraction_of_a_string_per_token() -> None:
    pieces = [f"w{n:05d} " for n in range(256)]
    as_strings, _ = _traced(lambda: ([p.encode().decode() for p in pieces], ["delta"] * 256))

    def running() -> LiveGeneration:
        generation = _generation(0)
        for piece in pieces:
            generation.text(piece)
        return generation

    as_log, _kept = _traced(running)
    assert as_log < as_strings / 3, (as_strings, as_log)


def test_a_finished_answer_without_its_text_replays_only_its_closing_events() -> None:
    generation = _generation(256)
    seq = generation.seq
    last_text = max(i for i in range(seq) if generation.kinds[i] in ("delta", "reasoning"))
    closing = [(generation.kinds[i], generation.payloads[i]) for i in range(last_text + 1, seq)]
    calls = generation.tool_calls()
    generation.let_go_of_text()  # still running: nothing is let go of
    assert generation.payloads[5] == "w00002 "
    generation.finished_at = 1.0
    generation.compact()
    reader_log = generation.log  # a reader attached before keeps what it holds
    generation.let_go_of_text()

    assert generation.seq == seq
    assert reader_log.payload(5) == "w00002 "
    assert [(generation.kinds[i], generation.payloads[i]) for i in range(last_text + 1, seq)] == (
        closing
    )
    assert generation.tool_calls() == calls  # the other payloads stay
    assert generation.replays_from(last_text + 1)
    assert generation.replays_from(seq + 5)  # a client claiming more than there is
    assert not generation.replays_from(last_text)
    assert not generation.replays_from(0)
    with pytest.raises(LookupError, match="stored row"):
        generation.payloads[5]
    with pytest.raises(LookupError, match="stored row"):
        generation.text_so_far()


def test_a_finished_answer_without_its_text_holds_a_fraction_of_it() -> None:
    def finished(textless: bool) -> LiveGeneration:
        generation = _generation(0)
        for n in range(256):
            generation.text(f"w{n:05d} ")
        generation.emit(DONE, {"status": "complete"})
        generation.finished_at = 1.0
        generation.compact()
        if textless:
            generation.let_go_of_text()
        return generation

    whole, _kept = _traced(lambda: finished(False))
    textless, _kept = _traced(lambda: finished(True))
    assert textless < whole / 2, (whole, textless)
