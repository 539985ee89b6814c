"""What a client saw through the gateway, and which pieces of a secret leaked into it."""

from __future__ import annotations

from typing import Any

from tests.connectors.openai.gateway.servers import Servers

LONG_EMAIL = "jonathan.alexander.smithson@computer-sciences.example-university-department.org"
"""The 79-character address whose domain tail leaked in fail closed (issue 11)."""
MESSAGES: Any = [{"role": "user", "content": "hi"}]


def sdk_text(servers: Servers, model: str) -> str:
    """Stream a chat completion through the gateway with the SDK; return its text."""
    stream = servers.client().chat.completions.create(model=model, messages=MESSAGES,
                                                      stream=True)
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def leaked(text: str, secret: str = LONG_EMAIL) -> list[str]:
    """Pieces of ``secret`` (six characters or more) that reached the client."""
    return [secret[i:i + 6] for i in range(len(secret) - 5) if secret[i:i + 6] in text]
