#!/usr/bin/env bash
# Prints the path of a working Python 3.13 interpreter: PATH first, then pyenv's versions.
set -u
candidates=("$(command -v python3.13 2>/dev/null)")
for d in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13; do candidates+=("$d"); done
for c in "${candidates[@]}"; do
  [ -n "$c" ] && [ -x "$c" ] || continue
  if "$c" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 13) else 1)' 2>/dev/null; then
    echo "$c"; exit 0
  fi
done
echo "error: Python 3.13 not found on PATH or under ${PYENV_ROOT:-$HOME/.pyenv}/versions; install it (e.g. 'pyenv install 3.13') and retry" >&2
exit 1
