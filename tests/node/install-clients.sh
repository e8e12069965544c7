#!/bin/sh
# Installs the official Daytona npm clients, pinned, into the build tree (never globally,
# never into the source tree). Idempotent: a stamp file records what was installed.
# A failed install leaves no stamp; the tests that need the clients then skip (exit 77)
# and say why, so a missing install is visible.
set -u
prefix=$1
stamp=$2
packages="@daytonaio/toolbox-api-client@0.161.0 @daytona/toolbox-api-client@0.218.0 @daytonaio/sdk@0.218.0 sdk0161@npm:@daytonaio/sdk@0.161.0 sdk0108@npm:@daytonaio/sdk@0.108.1 ws@8.18.0"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$packages" ]; then
  exit 0
fi
rm -f "$stamp"
if ! command -v npm >/dev/null 2>&1; then
  echo "install-clients: npm not found; the official-client tests will be skipped" >&2
  exit 0
fi
mkdir -p "$prefix"
# shellcheck disable=SC2086
if npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error $packages >&2; then
  echo "$packages" > "$stamp"
else
  echo "install-clients: npm install failed; the official-client tests will be skipped" >&2
fi
exit 0
