"""The studio's "Samplers" field group: shown, saved into the character's sampling, checked
field by field (nothing written on a bad value), and in French."""

from __future__ import annotations

import httpx

from tests.web.test_pages import SAME, web_sign_up
from tests.web.test_studio_pages import api_character, create

SAMPLERS = {
    "min_p": "0.05",
    "top_k": "30",
    "repeat_penalty": "1.15",
    "frequency_penalty": "0.2",
    "presence_penalty": "-0.5",
    "dry_multiplier": "0.8",
    "dry_base": "1.75",
    "dry_allowed_length": "2",
    "seed": "42",
}


async def test_samplers_are_edited_in_the_studio(client: httpx.AsyncClient, db_kind: str) -> None:
    await web_sign_up(client, "carol")
    handle = await create(client, temperature="0.7")
    page = await client.get(f"/studio/{handle}")
    assert "<legend>Samplers</legend>" in page.text
    for name in SAMPLERS:
        assert f'id="f-{name}"' in page.text and f'name="{name}"' in page.text
    r = await client.post(
        f"/studio/{handle}", data={"name": "Ansel", "temperature": "0.7", **SAMPLERS}, headers=SAME
    )
    assert r.status_code == 303, r.text
    saved = (await api_character(client, handle))["sampling"]
    assert saved == {
        "temperature": 0.7,
        "min_p": 0.05,
        "top_k": 30,
        "repeat_penalty": 1.15,
        "frequency_penalty": 0.2,
        "presence_penalty": -0.5,
        "dry_multiplier": 0.8,
        "dry_base": 1.75,
        "dry_allowed_length": 2,
        "seed": 42,
    }
    shown = await client.get(f"/studio/{handle}")
    assert 'name="dry_base" type="text" value="1.75"' in shown.text
    # Emptying a field gives it back to the backend's default.
    r = await client.post(
        f"/studio/{handle}",
        data={"name": "Ansel", "temperature": "0.7", **SAMPLERS, "top_k": ""},
        headers=SAME,
    )
    assert r.status_code == 303
    assert "top_k" not in (await api_character(client, handle))["sampling"]


async def test_bad_sampler_values_are_shown_by_field(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    await web_sign_up(client, "carol")
    handle = await create(client, min_p="0.2")
    for field, value, message in (
        ("min_p", "2", "Must be at most 1."),
        ("repeat_penalty", "0.5", "Must be at least 1."),
        ("top_k", "2.5", "Enter a whole number."),
        ("seed", "lucky", "Enter a whole number."),
        ("dry_base", "high", "Enter a number."),
    ):
        r = await client.post(
            f"/studio/{handle}",
            data={"name": "Changed", "min_p": "0.2", field: value},
            headers=SAME,
        )
        assert r.status_code == 422, (field, value)
        assert f'id="f-{field}-error"' in r.text and message in r.text, (field, value)
    saved = await api_character(client, handle)
    assert saved["name"] == "Ansel" and saved["sampling"] == {"min_p": 0.2}


async def test_the_samplers_group_speaks_french(client: httpx.AsyncClient) -> None:
    await web_sign_up(client, "carol")
    handle = await create(client)
    page = await client.get(f"/studio/{handle}", headers={"Accept-Language": "fr"})
    assert "<legend>Échantillonneurs</legend>" in page.text
    assert "Pénalité de répétition" in page.text and "Graine" in page.text
