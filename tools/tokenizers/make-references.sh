#!/usr/bin/env bash
# Regenerates the committed tokenizer and chat-template fixtures (needs npm's registry, and python3 with jinja2 for the
# template references). The tests read only the committed files.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
(cd "$here" && npm install --no-audit --no-fund --silent)
node "$here/make-references.js" "$root" "$here/node_modules"
python3 "$here/render-templates.py" "$root"
