"""Pipedrive's response envelopes: ``{"success": true, "data": ...}`` and its error form.

Both are rendered to bytes when they are made, so an answer that cannot be encoded (a lone
surrogate, a number JSON cannot carry) is an ``ApiError`` raised inside the request's
transaction, before anything is committed, and never a 500 after the write.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse, Response


class ApiError(Exception):
    """An error answered with Pipedrive's envelope."""

    def __init__(self, status: int, error: str, info: str = "") -> None:
        super().__init__(error)
        self.status, self.error, self.info = status, error, info


def envelope_error(status: int, error: str, info: str = "") -> Response:
    """Pipedrive's error envelope. Always encodable: a message quoting a client's broken
    string is escaped (ASCII JSON), so an error can never become a 500 itself."""
    body: dict[str, Any] = {
        "success": False,
        "error": error or "Error",
        "error_info": info or "Please check developers.pipedrive.com for more information",
        "data": None,
        "additional_data": None,
    }
    if status == 401:
        body["errorCode"] = 401
    content = json.dumps(body, ensure_ascii=True, default=str, separators=(",", ":"))
    return Response(content.encode("ascii"), status_code=status, media_type="application/json")


def ok(data: Any, additional: dict[str, Any] | None = None, status: int = 200) -> JSONResponse:
    """The success envelope, rendered now: strict UTF-8 and finite numbers, or a 400."""
    body: dict[str, Any] = {"success": True, "data": data}
    if additional is not None:
        body["additional_data"] = additional
    try:
        return JSONResponse(body, status_code=status)
    except UnicodeEncodeError as exc:
        raise ApiError(400, "A string in the request is not valid Unicode") from exc
    except ValueError as exc:  # allow_nan=False: NaN or Infinity
        raise ApiError(400, "A number in the request is out of range") from exc
