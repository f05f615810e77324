"""A person using the console over plain HTTP: a cookie jar, the forms' hidden tokens read
from the pages, and nothing that a browser would not send."""

from __future__ import annotations

import re
from typing import Any

import httpx

FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class ConsoleClient:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=20, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def sign_in(self, key: str) -> httpx.Response:
        form = self.http.get("/console/sign-in")
        match = FORM_TOKEN.search(form.text)
        assert match, form.text
        return self.http.post(
            "/console/sign-in", data={"form_token": match.group(1), "api_key": key}
        )

    def page(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def csrf(self, path: str = "/console/") -> str:
        reply = self.page(path)
        match = CSRF.search(reply.text)
        assert match, f"no CSRF token on {path}: {reply.status_code} {reply.text[:300]}"
        return match.group(1)

    def submit(
        self, action: str, fields: dict[str, Any], *, csrf: str | None = ""
    ) -> httpx.Response:
        """Post a console form; ``csrf=""`` reads the session's token first, None sends none."""
        token = self.csrf() if csrf == "" else csrf
        data = {**fields, **({"csrf": token} if token is not None else {})}
        return self.http.post(action, data=data)

    def after(self, reply: httpx.Response) -> httpx.Response:
        """The page a form's 303 leads to (with the message the action left)."""
        assert reply.status_code == 303, f"{reply.status_code}: {reply.text[:500]}"
        return self.page(reply.headers["location"])
