"""The web app: every page router and the static files, added to the app in one place."""

from __future__ import annotations

from fastapi import FastAPI


def include_pages(app: FastAPI) -> None:
    """Add the HTML pages (each area is its own module) and /static to the app."""
    # Imported here: building the app, not importing this module, is what loads the pages.
    from personae.web import (
        admin_pages,
        chat_pages,
        explore,
        feed,
        menu,
        notifications,
        prefs,
        profiles,
        routes,
        scenes,
        settings_pages,
        social_pages,
        studio,
        studio_agents,
        studio_editor,
    )
    from personae.web.assets import STATIC_DIR, AssetFiles

    for module in (
        routes,
        prefs,
        feed,
        explore,
        notifications,
        menu,
        # Before social_pages: its "/@{handle}/{post_id}" would catch "/@{handle}/followers".
        profiles,
        social_pages,
        # The studio's own routes first: "/studio/new" before the editor's "/studio/{handle}".
        studio,
        studio_editor,
        studio_agents,
        chat_pages,
        scenes,
        settings_pages,
        admin_pages,
    ):
        app.include_router(module.router)
    app.mount("/static", AssetFiles(directory=STATIC_DIR), name="static")
