"""Behind nginx with its default configuration — proxy buffering on, HTTP/1.0 to the upstream —
the typewriter effect must still work: chatgpt-web's most reported problem."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import Harness
from tests.fakes.upstream import FakeUpstream
from tests.support.nginx import nginx
from tests.support.streams import iter_events

pytestmark = pytest.mark.nginx


NGINX_CONFIGS = {
    "default": "",
    # Compressing everything, streams included, is a common copy-pasted setting; without
    # X-Accel-Buffering: no it turns the stream into one lump.
    "gzip_everything": "gzip on; gzip_min_length 1; gzip_types text/event-stream application/json;",
}


@pytest.mark.parametrize("config", sorted(NGINX_CONFIGS))
async def test_first_token_arrives_through_nginx_before_the_answer_ends(
    chat: Harness, fake: FakeUpstream, tmp_path: Path, config: str
) -> None:
    fake.reply = "a b c d e f g h i j k l m n o p"
    fake.set_scenario("normal", token_delay=0.1)
    alice = await chat.user("alice")
    cid = (await alice.post("/api/conversations", json={})).json()["id"]
    app = await chat.serve()
    block = (
        NGINX_CONFIGS[config]
        + " server { listen 127.0.0.1:{port}; location / { proxy_pass "
        + app
        + "; } }"
    )
    with nginx(tmp_path / "nginx", block) as port:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", cookies=dict(alice.cookies), timeout=30
        ) as client:
            arrivals: dict[str, list[float]] = {}
            async with client.stream(
                "POST", f"/api/conversations/{cid}/messages", json={"content": "go"}
            ) as response:
                assert response.status_code == 200
                async for event in iter_events(response):
                    arrivals.setdefault(event.event, []).append(time.monotonic())
    first_delta, done = arrivals["delta"][0], arrivals["done"][0]
    assert done - first_delta > 1.0, "nginx delivered the answer in one lump"
    assert len(arrivals["delta"]) >= 10
