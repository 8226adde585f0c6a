"""Pipedrive's response envelopes: ``{"success": true, "data": ...}`` and its error form."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse


class ApiError(Exception):
    """An error answered with Pipedrive's envelope."""

    def __init__(self, status: int, error: str, info: str = "") -> None:
        super().__init__(error)
        self.status, self.error, self.info = status, error, info


def envelope_error(status: int, error: str, info: str = "") -> JSONResponse:
    body = {
        "success": False,
        "error": error,
        "error_info": info or "Please check developers.pipedrive.com for more information",
        "data": None,
        "additional_data": None,
    }
    if status == 401:
        body["errorCode"] = 401
    return JSONResponse(body, status_code=status)


def ok(data: Any, additional: dict[str, Any] | None = None, status: int = 200) -> JSONResponse:
    body: dict[str, Any] = {"success": True, "data": data}
    if additional is not None:
        body["additional_data"] = additional
    return JSONResponse(body, status_code=status)
