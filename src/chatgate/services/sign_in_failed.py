"""The one error of a sign-in through another service, apart from the OpenID Connect client so
that naming it does not load Authlib and joserfc (20 MB and 0.2 s of start-up) on instances that
configure no provider."""

from __future__ import annotations

from chatgate.security import redaction


class SignInFailed(Exception):
    """A flow that cannot end in a sign-in. `reason` names it for the page and the audit log."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = redaction.redact(detail)[:500]
