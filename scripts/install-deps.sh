#!/usr/bin/env bash
# Installs what Switchyard needs to build, test and run, from Debian's packages only.
# Idempotent: installs nothing when everything is present.
# --tests adds what only the test command needs: clang and its libFuzzer runtime (fuzz/).
set -euo pipefail
PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libboost-dev libboost-system-dev libssl-dev
  librdkafka-dev rapidjson-dev libpqxx-dev libpq-dev libspdlog-dev libfmt-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  chromium  # headless, for the dashboard page test (DashboardTest.PageRenders...)
  postgresql postgresql-client kcat openssl
)
if [ "${1:-}" = --tests ]; then
  PACKAGES+=(clang-14 libclang-rt-14-dev)
fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
# The package starts a default cluster on port 5432; Switchyard runs its own (scripts/pg.sh).
