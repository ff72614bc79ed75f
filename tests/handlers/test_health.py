async def test_healthz_reports_database_and_current_migrations(client) -> None:
    response = await client.get("/healthz")
    body = await response.json()
    assert response.status == 200
    assert body["ok"] is True and body["revision"] == body["head"]


async def test_unknown_api_route_is_json_404(client) -> None:
    response = await client.get("/api/v1/nope")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"


async def test_unknown_page_is_a_chinese_error_page(client) -> None:
    response = await client.get("/no-such-page")
    assert response.status == 404
    assert "您要找的内容不存在" in await response.text()
