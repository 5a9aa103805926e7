#!/usr/bin/env bash
# Translations: extract every marked string -> merge into each language's .po -> compile the .mo.
#
#   scripts/i18n.sh            extract, update web/translations/*/LC_MESSAGES/messages.po, compile
#   scripts/i18n.sh compile    compile only (after filling translations in a .po)
#
# New strings arrive in the .po with an empty msgstr; tests/web/test_translations.py fails
# until each one has its Arabic. Fill them, then run this script again (or with `compile`).
set -euo pipefail
cd "$(dirname "$0")/.."
PYBABEL=$(command -v "${PYBABEL:-pybabel}") || { echo "pybabel not found: activate the venv (pip install -e .)"; exit 1; }
DIR=web/translations
POT=$DIR/messages.pot

if [ "${1:-}" != "compile" ]; then
  "$PYBABEL" -q extract -F babel.cfg -k _l -k lazy_gettext --no-wrap --sort-by-file \
      --project "VRM Vault" --copyright-holder "VRM Vault" -o "$POT" web vendor_api
  for po in "$DIR"/*/LC_MESSAGES/messages.po; do
    [ -f "$po" ] || continue
    lang=$(basename "$(dirname "$(dirname "$po")")")
    "$PYBABEL" -q update -i "$POT" -d "$DIR" -l "$lang" --no-wrap --no-fuzzy-matching --ignore-obsolete
  done
fi
"$PYBABEL" compile -d "$DIR" --statistics
"$(dirname "$PYBABEL")/python" - <<'PY'
from babel.messages.pofile import read_po
for path in __import__("glob").glob("web/translations/*/LC_MESSAGES/messages.po"):
    with open(path, "rb") as f:
        missing = [m.id for m in read_po(f) if m.id and not m.string]
    if missing:
        print(f"{len(missing)} string(s) still untranslated in {path}:")
        for msgid in missing:
            print("   ", msgid)
PY
