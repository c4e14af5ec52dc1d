def test_app_boots_and_login_page_answers(client):
    r = client.get("/")
    assert r.status_code in (302, 401)
