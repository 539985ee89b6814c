"""OpenAI-style error responses and SSE error frames, so clients' SDKs raise the usual errors.

Every error the gateway itself produces has OpenAI's shape,
``{"error": {"message", "type", "param", "code"}}``, and a message that never
contains a key, a header or the upstream's address.

Examples
--------
>>> error_json("No key.", "invalid_request_error", "invalid_api_key")[:40]
b'{"error":{"message":"No key.","type":"in'
"""

from __future__ import annotations

import orjson
from aiohttp import web


def error_json(message: str, type_: str, code: str | None, param: str | None = None) -> bytes:
    """Serialise an error object in OpenAI's shape."""
    return orjson.dumps({"error": {"message": message, "type": type_, "param": param,
                                   "code": code}})


def error_response(status: int, message: str, type_: str, code: str | None,
                   param: str | None = None, headers: dict[str, str] | None = None
                   ) -> web.Response:
    """Make an HTTP error response in OpenAI's shape."""
    return web.Response(status=status, body=error_json(message, type_, code, param),
                        content_type="application/json", headers=headers)


def error_frame(message: str, type_: str, code: str | None) -> bytes:
    """Make an SSE ``data: {"error": ...}`` frame, as OpenAI sends mid-stream.

    >>> error_frame("lost", "upstream_error", "upstream_disconnected").startswith(b"data: {")
    True
    """
    return b"data: " + error_json(message, type_, code) + b"\n\n"


def unauthorized() -> web.Response:
    """401: no or wrong client key (the key itself is never echoed)."""
    return error_response(401, "Incorrect or missing API key for this gateway. Send "
                          "'Authorization: Bearer <key>' with a key the gateway was given.",
                          "invalid_request_error", "invalid_api_key")


def rate_limited(retry_after: float) -> web.Response:
    """429 with ``Retry-After`` (whole seconds, at least 1)."""
    seconds = max(1, int(retry_after + 0.999))
    return error_response(429, f"Rate limit reached for this key. Retry in {seconds}s.",
                          "rate_limit_error", "rate_limit_exceeded",
                          headers={"Retry-After": str(seconds)})


def too_large(limit: int) -> web.Response:
    """413: the body is larger than the configured limit."""
    return error_response(413, f"Request body too large: the limit is {limit} bytes.",
                          "invalid_request_error", "request_too_large")


def invalid_json(detail: str) -> web.Response:
    """400: the body is not a JSON object."""
    return error_response(400, f"We could not parse the JSON body of your request: {detail}",
                          "invalid_request_error", "invalid_json")


def bad_gateway(message: str, code: str) -> web.Response:
    """502: the upstream could not be reached or answered nonsense."""
    return error_response(502, message, "upstream_error", code)
