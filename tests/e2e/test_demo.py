"""The README's first command serves the demo: its config, as shipped, answers a phone book
search for a demo contact and lets the demo admin in (on free ports instead of 712/8712)."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from tests.servers import MetadirServer
from tests.web import Browser

DEMO = Path(__file__).resolve().parents[2] / "demo"


def test_the_demo_config_serves_a_phone_book_with_a_demo_contact(tmp_path: Path) -> None:
    shutil.copy(DEMO / "contacts.csv", tmp_path / "contacts.csv")
    config = yaml.safe_load((DEMO / "metadir.yaml").read_text(encoding="utf-8"))
    assert config["http"]["listen"] == ["http://127.0.0.1:8712"]  # what demo.sh prints
    config["store"] = {"url": "sqlite:///demo.db"}
    server = MetadirServer(tmp_path, config)
    server.sync()
    server.start()
    try:
        assert server.http_url is not None
        client = Browser(server.http_url)
        page = client.get("/?q=" + "J%C3%BCrgen%20Gro%C3%9F")
        assert page.status == 200 and "Schmitz Bau AG" in page.text
        assert client.sign_in("admin", "demo", next="/admin").status == 303
        assert "296 contacts" in client.get("/admin").text
    finally:
        server.stop()
