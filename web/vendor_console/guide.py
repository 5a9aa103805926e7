"""How to call the API: the authorization code flow with PKCE, the token endpoint, the API, webhooks
and dynamic registration, with this vault's own URLs (and, if asked, one of the person's apps)."""
from __future__ import annotations

from flask import render_template, request, url_for

from vendor_api.context import base_url
from vendor_api.resources import API_PREFIX
from vendor_api.webhooks import SIGNATURE_HEADER

from .blueprint import bp, member_app, vendor_page


@bp.route("/guide")
@vendor_page
def guide():
    root = base_url()
    app = client = None
    if request.args.get("app"):
        app, client = member_app(request.args["app"])
    urls = {
        "issuer": root,
        "authorize": root + "/oauth/authorize",
        "token": root + url_for("oauth.token"),
        "revoke": root + url_for("oauth.revoke"),
        "metadata": root + url_for("oauth.server_metadata"),
        "register": root + url_for("oauth_registration.register_client"),
        "me": root + API_PREFIX + "/me",
        "app": root + API_PREFIX + "/app",
        "changes": root + API_PREFIX + "/changes",
        "docs": root + API_PREFIX + "/docs",
        "openapi": root + API_PREFIX + "/openapi.json",
    }
    example = {
        "client_id": app.client_id if app else "vv_app_…",
        "redirect_uri": client.redirect_uris[0] if client and client.redirect_uris else "https://shop.example/callback",
        "scope": " ".join(app.requested_scopes) if app else "profile.name profile.email",
    }
    return render_template("vendor_console/guide.html", urls=urls, example=example, app=app,
                           signature_header=SIGNATURE_HEADER)
