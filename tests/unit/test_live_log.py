"""A finished answer's event log is compacted for its replay window and reads back the same."""

from __future__ import annotations

import tracemalloc

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
def test_a_compacted_log_reads_back_every_event_under_the_same_id(pieces: int) -> None:
    generation = _generation(pieces)
    before = _everything(generation)
    generation.finished_at = 1.0
    generation.compact()
    assert not isinstance(generation.kinds, list)
    assert _everything(generation) == before
    with pytest.raises(IndexError):
        generation.payloads[generation.seq]


def test_a_reader_holding_the_lists_reads_them_on_and_nothing_is_added_after() -> None:
    generation = _generation(8)
    kinds, payloads = generation.kinds, generation.payloads
    held = (list(kinds), list(payloads))
    generation.finished_at = 1.0
    generation.compact()
    assert (kinds, payloads) == held
    with pytest.raises(RuntimeError):
        generation.emit(DONE, {})


def test_a_running_log_is_not_compacted() -> None:
    generation = _generation(8)
    generation.compact()
    assert isinstance(generation.kinds, list)


def test_a_compacted_answer_holds_a_fraction_of_a_string_per_token() -> None:
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        generation = _generation(256)
        whole = tracemalloc.get_traced_memory()[0] - base
        generation.finished_at = 1.0
        generation.compact()
        compacted = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert compacted < whole / 3, (whole, compacted)
