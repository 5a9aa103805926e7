"""Ledger integrity: recompute every hash, check every signed checkpoint, sign a new one.

The same checks as ``vault ledger verify`` (web/cli.py), run on demand by an officer; the result
is said in plain words, with the core's own sentence beside it for whoever investigates.
"""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _

from consent import ledger, reports
from vendor_api.context import get_db, instance

from .blueprint import bp, officer_page, record_view


def plain_words(problem: ledger.Problem | None) -> str | None:
    """What went wrong, for a person (translated); the core's sentence says it for engineers."""
    if problem is None:
        return None
    where = {"chain": problem.chain, "seq": problem.seq, "checkpoint": problem.checkpoint_id}
    sentences = {
        "edited": _("Entry %(seq)s of chain %(chain)s was changed after it was written.", **where),
        "deleted": _("Entry %(seq)s of chain %(chain)s is missing: it was deleted.", **where),
        "reordered": _("Entries of chain %(chain)s were moved or renumbered, from entry %(seq)s on.", **where),
        "head_mismatch": _("The newest entry of chain %(chain)s (entry %(seq)s) was replaced.", **where),
        "inserted": _("Entry %(seq)s of chain %(chain)s was added outside the ledger.", **where),
        "bad_signature": _("Checkpoint %(checkpoint)s is not signed by any key of this vault: it was forged "
                           "or altered.", **where),
    }
    text = sentences.get(problem.kind, problem.sentence)
    if problem.checkpoint_id is not None and problem.kind != "bad_signature":
        text += " " + _("Found through signed checkpoint %(checkpoint)s.", **where)
    return text


@bp.route("/integrity")
@officer_page
def integrity():
    db, signing = get_db(), instance().signing
    chains = ledger.verify(db)
    checkpoints = ledger.verify_checkpoints(db, signing)
    latest = reports.latest_checkpoint(db, signing)
    record_view("integrity", details={"ok": chains.ok and checkpoints.ok, "entries_checked": chains.checked,
                                      "chains": chains.chains, "checkpoints_checked": checkpoints.checked})
    return render_template("privacy/integrity.html", chains=chains, checkpoints=checkpoints, latest=latest,
                           chain_problem=plain_words(chains.first_problem),
                           checkpoint_problem=plain_words(checkpoints.first_problem))


@bp.route("/integrity/checkpoint", methods=["POST"])
@officer_page
def sign_checkpoint():
    cp = ledger.checkpoint(get_db(), instance().signing)
    summary = cp.data
    record_view("checkpoint_signed", details={"checkpoint": cp.id, "kid": cp.kid, "chains": summary["chains"]})
    flash(_("Checkpoint %(id)s signed over %(chains)s chain heads.", id=cp.id, chains=summary["chains"]), "success")
    return redirect(url_for("privacy.integrity"), 303)
