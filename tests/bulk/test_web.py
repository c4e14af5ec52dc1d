"""The bulk pages in Khmer and English: upload, the preview with every row error on its line,
submit, approval on the request page, the report download, the one-time passwords download."""

from __future__ import annotations

import io
import re
from pathlib import Path

from panel.services import requests
from tests.support.fixtures import csrf_from, login_as  # noqa: F401  (fixture)


def _upload(client, org_id, files):
    html = client.get("/bulk/").get_data(as_text=True)
    data = {
        "csrf_token": csrf_from(html),
        "org_id": str(org_id),
        "files": [(io.BytesIO(c if isinstance(c, bytes) else c.encode()), n) for n, c in files],
    }
    return client.post("/bulk/", data=data, content_type="multipart/form-data")


def test_upload_preview_submit_approve_report(login_as, world):
    wa = login_as(world.wa_user)
    r = _upload(
        wa,
        world.a.id,
        [
            ("sites.csv", "fqdn,plan\nwww.a.gov.test,basic\n"),
            ("mailboxes.csv", "address,display_name\nsok@a.gov.test,សុខ\n"),
        ],
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    page = wa.get(r.headers["Location"]).get_data(as_text=True)
    assert "www.a.gov.test" in page and "sok@a.gov.test" in page and "Submit for approval" in page
    token = csrf_from(page)
    pid = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    dl = wa.post(f"/bulk/{pid}/passwords", data={"csrf_token": token})
    assert dl.mimetype == "text/csv" and "sok@a.gov.test," in dl.get_data(as_text=True)
    password = dl.get_data(as_text=True).splitlines()[1].split(",")[1]
    assert wa.post(f"/bulk/{pid}/passwords", data={"csrf_token": token}).status_code == 302  # once only
    assert wa.post(f"/bulk/{pid}/submit", data={"csrf_token": token}).status_code == 302
    page = wa.get(f"/bulk/{pid}").get_data(as_text=True)
    rid = int(re.search(r"/requests/(\d+)", page).group(1))
    assert f"/bulk/{pid}" in wa.get(f"/requests/{rid}").get_data(as_text=True)  # the approver reaches the plan
    requests.request_approve(world.op, rid)  # the request page's approval (tested with requests)
    rep = wa.get(f"/bulk/{pid}/report.csv").get_data(as_text=True)
    assert "www.a.gov.test" in rep and "running" in rep and password not in rep
    assert password not in wa.get(f"/bulk/{pid}").get_data(as_text=True)


def test_row_errors_on_their_lines_in_khmer_and_bad_files_as_form_errors(login_as, world):
    wa = login_as(world.wa_user)
    r = _upload(wa, world.a.id, [("sites.csv", "fqdn,plan\nbad name,basic\nok.a.gov.test,nosuch\n")])
    page = wa.get(r.headers["Location"]).get_data(as_text=True)
    assert "Correct the rows with errors" in page and "site.plan_unknown" in page and "Submit for approval" not in page
    bad = _upload(wa, world.a.id, [("sites.csv", "fqdn;plan\nx;basic\n")])
    assert bad.status_code == 422 and "save the file as CSV with commas" in bad.get_data(as_text=True)
    none = _upload(wa, world.a.id, [])
    assert none.status_code == 422
    other = login_as(world.wb_user)
    assert other.get(r.headers["Location"]).status_code == 404
    t = wa.get("/bulk/templates/sites.csv")
    assert t.status_code == 200 and t.get_data().startswith("\ufefffqdn,".encode())


def test_pages_in_khmer(login_as, world):
    wa = login_as(world.wa_user)
    page = wa.get("/bulk/", headers={"Accept-Language": "km"}).get_data(as_text=True)
    assert "ការផ្តល់សេវាជាដុំ" in page


def test_excel_unicode_text_upload(login_as, world):
    """Issue 18: an upload of Excel's "Unicode text" (UTF-16 with its mark, tabs) plans its rows."""
    wa = login_as(world.wa_user)
    data = (Path(__file__).parent / "files" / "mailboxes-unicode.txt").read_bytes()
    r = _upload(wa, world.a.id, [("mailboxes-unicode.txt", data)])
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    page = wa.get(r.headers["Location"]).get_data(as_text=True)
    assert "sok@a.gov.test" in page and "dara@a.gov.test" in page and "Submit for approval" in page
