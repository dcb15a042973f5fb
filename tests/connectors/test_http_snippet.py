"""A vendor's non-JSON error body is quoted scrubbed: no piece of a credential survives the cut."""

from __future__ import annotations

import pytest
from aiohttp import web

from connectors.config import ResilienceConfig
from connectors.errors import ConnectorError
from connectors.http import HttpSource
from sandbox.faults import serving

SECRET = "sk-live-" + "Q7x" * 10


def _echoing_app(offset: int) -> web.Application:
    """Answers 400 with an HTML page that quotes the credential ``offset`` characters in."""

    async def page(request: web.Request) -> web.Response:
        body = "<html>" + "x" * (offset - 6) + SECRET + " rejected</html>"
        return web.Response(status=400, text=body, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    return app


@pytest.mark.parametrize("offset", [60, 75, 190, 199])
async def test_a_credential_straddling_the_quote_cut_is_scrubbed(offset: int) -> None:
    async with serving(_echoing_app(offset)) as url:
        source = HttpSource(
            connector="vendor",
            base_url=url,
            headers={"Authorization": f"Bearer {SECRET}"},
            secrets=[SECRET],
            resilience=ResilienceConfig(attempts=1),
            auth_hint="check the key",
        )
        try:
            with pytest.raises(ConnectorError) as caught:
                await source.get_json("/v1/things")
        finally:
            await source.aclose()
    message = str(caught.value)
    assert "400" in message
    pieces = {SECRET[i : i + 4] for i in range(len(SECRET) - 3)}
    assert not [p for p in pieces if p in message], message
