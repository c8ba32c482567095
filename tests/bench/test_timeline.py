"""The request timeline: each mark's time after its request arrived, per path, only for questions
whose upstream request was sent, and never the answer's finish."""

from __future__ import annotations

from pathlib import Path

from bench.timeline import read, summarise

LOG = """\
10.000000 1 request /api/conversations/c1/messages
10.001000 1 read Auth.resolve_session.<locals>.<lambda> >
10.003000 1 read Auth.resolve_session.<locals>.<lambda> <
10.006000 1 upstream.send <
15.000000 1 write Generations._record.<locals>.save >
10.500000 0 write Ticker.checkpoint.<locals>.save >
20.000000 2 request /v1/chat/completions
20.004000 2 upstream.send <
30.000000 3 request /api/auth/login
30.001000 3 read Auth.login >
"""


def test_marks_are_timed_from_their_requests_arrival_per_path(tmp_path: Path) -> None:
    log = tmp_path / "timeline.log"
    log.write_text(LOG)
    marks = summarise(read(str(log)))
    assert set(marks) == {"browser", "/v1"}  # the sign-in sent nothing upstream
    browser = {name: [round(t, 3) for t in times] for name, times in marks["browser"].items()}
    assert browser == {
        "read Auth.resolve_session.<locals>.<lambda> > #1": [1.0],
        "read Auth.resolve_session.<locals>.<lambda> < #1": [3.0],
        "upstream.send < #1": [6.0],
    }
    assert {name: [round(t, 3) for t in times] for name, times in marks["/v1"].items()} == {
        "upstream.send < #1": [4.0]
    }
