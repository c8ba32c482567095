"""ChatGPT's web backend behind a reverse proxy (chatgpt-web's accessToken mode), streamed.

Sources (facts only):
* Chanzhaoyu/chatgpt-web and the ``chatgpt`` package it uses (transitive-bullshit/chatgpt-api,
  ``ChatGPTUnofficialProxyAPI``): ``POST <proxy URL>`` with ``Authorization: Bearer
  <accessToken>`` and ``{"action": "next", "messages": [{"id", "role": "user", "content":
  {"content_type": "text", "parts": [text]}}], "model", "parent_message_id",
  "conversation_id"?}``; each ``data:`` event carries the whole answer so far in
  ``message.content.parts[0]``, plus ``conversation_id`` and ``message.id``; the stream ends
  with ``data: [DONE]``.
* Recorded backend streams quoted in reverse-proxy projects' issues and tests: the user's own
  message and hidden ``system`` messages are echoed first (other ``author.role``), events
  without ``message`` (``moderation``, ``title_generation``, ``message_stream_complete``)
  interleave, the last assistant event has ``"status": "finished_successfully"``,
  ``"end_turn": true`` and ``metadata.finish_details``; the JSON is Python's
  (``", "`` separators, non-ASCII as ``\\u`` escapes, surrogate pairs for emoji). No usage.
"""

from __future__ import annotations

from tests.fakes.dialects import API_KEY, Refusal, Seen, Transcript, sse

_CID = "67a1f0c2-5d3e-8004-9b1a-4c2e7f9d0a15"
_UID = "aaa2c0d1-7e3f-4a5b-9c8d-1e2f3a4b5c6d"
_MID = "b3f4e5d6-a7b8-4c9d-8e0f-1a2b3c4d5e6f"


def conversation_request(seen: Seen) -> Refusal | None:
    if seen.headers.get("authorization") != f"Bearer {API_KEY}":
        return 401, {"detail": "Unauthorized - Access token is missing"}
    body = seen.body
    messages = body.get("messages")
    content = messages[-1].get("content") if isinstance(messages, list) and messages else None
    parts = content.get("parts") if isinstance(content, dict) else None
    if (
        body.get("action") != "next"
        or not isinstance(parts, list)
        or not all(isinstance(part, str) for part in parts)
        or not body.get("parent_message_id")
    ):
        return 422, {"detail": "(conformance) not a chatgpt-web 'next' request"}
    if body.get("model") != "auto":
        return 404, {"detail": f"Model {body.get('model')} not found"}
    # A follow-up continues the thread with the ids this answer handed over.
    if "conversation_id" in body and (
        body["conversation_id"] != _CID or body.get("parent_message_id") != _MID
    ):
        return 404, {"detail": f"Can't load conversation {body['conversation_id']}"}
    return None


ANSWER = sse(rf"""
data: {{"message": {{"id": "{_UID}", "author": {{"role": "user", "name": null, "metadata": {{}}}}, "create_time": 1767226700.12, "update_time": null, "content": {{"content_type": "text", "parts": ["Salut ?"]}}, "status": "finished_successfully", "end_turn": null, "weight": 1.0, "metadata": {{}}, "recipient": "all"}}, "conversation_id": "{_CID}", "error": null}}

data: {{"message": {{"id": "c9d8e7f6-0000-4aaa-8bbb-123456789abc", "author": {{"role": "system", "name": null, "metadata": {{}}}}, "create_time": null, "update_time": null, "content": {{"content_type": "text", "parts": [""]}}, "status": "finished_successfully", "end_turn": true, "weight": 0.0, "metadata": {{"is_visually_hidden_from_conversation": true}}, "recipient": "all"}}, "conversation_id": "{_CID}", "error": null}}

data: {{"type": "moderation", "moderation_response": {{"flagged": false, "blocked": false, "moderation_id": "modr-9QkXq"}}, "conversation_id": "{_CID}", "message_id": "{_UID}"}}

data: {{"message": {{"id": "{_MID}", "author": {{"role": "assistant", "name": null, "metadata": {{}}}}, "create_time": 1767226701.5, "update_time": null, "content": {{"content_type": "text", "parts": ["Salut"]}}, "status": "in_progress", "end_turn": null, "weight": 1.0, "metadata": {{"model_slug": "gpt-4o", "default_model_slug": "auto", "parent_id": "{_UID}"}}, "recipient": "all"}}, "conversation_id": "{_CID}", "error": null}}

data: {{"message": {{"id": "{_MID}", "author": {{"role": "assistant", "name": null, "metadata": {{}}}}, "create_time": 1767226701.5, "update_time": null, "content": {{"content_type": "text", "parts": ["Salut ! \u00c7a va"]}}, "status": "in_progress", "end_turn": null, "weight": 1.0, "metadata": {{"model_slug": "gpt-4o", "default_model_slug": "auto", "parent_id": "{_UID}"}}, "recipient": "all"}}, "conversation_id": "{_CID}", "error": null}}

data: {{"message": {{"id": "{_MID}", "author": {{"role": "assistant", "name": null, "metadata": {{}}}}, "create_time": 1767226701.5, "update_time": null, "content": {{"content_type": "text", "parts": ["Salut ! \u00c7a va ? \ud83c\udf0d"]}}, "status": "in_progress", "end_turn": null, "weight": 1.0, "metadata": {{"model_slug": "gpt-4o", "default_model_slug": "auto", "parent_id": "{_UID}"}}, "recipient": "all"}}, "conversation_id": "{_CID}", "error": null}}

data: {{"message": {{"id": "{_MID}", "author": {{"role": "assistant", "name": null, "metadata": {{}}}}, "create_time": 1767226701.5, "update_time": null, "content": {{"content_type": "text", "parts": ["Salut ! \u00c7a va ? \ud83c\udf0d Voil\u00e0 \u2014 \u4f60\u597d."]}}, "status": "finished_successfully", "end_turn": true, "weight": 1.0, "metadata": {{"finish_details": {{"type": "stop", "stop_tokens": [200002]}}, "is_complete": true, "model_slug": "gpt-4o", "default_model_slug": "auto", "parent_id": "{_UID}"}}, "recipient": "all"}}, "conversation_id": "{_CID}", "error": null}}

data: {{"type": "title_generation", "title": "Salutations", "conversation_id": "{_CID}"}}

data: {{"type": "message_stream_complete", "conversation_id": "{_CID}"}}

data: [DONE]

""")

TRANSCRIPTS = (
    Transcript(
        name="chatgpt_web",
        source="chatgpt-web / chatgpt-api (unofficial proxy API); recorded backend streams",
        kind="chatgpt_web",
        protocol="chatgpt_web",
        body=ANSWER,
        text="Salut ! Ça va ? 🌍 Voilà — 你好.",
        model="auto",
        base_path="/backend-api/conversation",
        path="/backend-api/conversation",
        checks=(conversation_request,),
    ),
)
