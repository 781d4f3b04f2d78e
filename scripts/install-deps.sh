#!/usr/bin/env bash
# Installs what dbxcred needs to build, test and demo on Debian 12, skipping what is already there.
# Usage: scripts/install-deps.sh [--bench] [--ci] [--package] [--systemd-ci]
set -euo pipefail

pkgs=(build-essential cmake ninja-build pkg-config
      libboost1.81-dev libboost-json1.81-dev libspdlog-dev libssl-dev
      googletest libgtest-dev libgmock-dev
      python3 curl openssl ca-certificates)
for arg in "$@"; do
  case "$arg" in
    --ci) pkgs+=(clang clang-tidy libclang-rt-14-dev systemd passwd util-linux)
          # Node.js for the SDK end-to-end tests: keep a newer one (e.g. NodeSource's) if present.
          command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm) ;;
    --bench) pkgs+=(nginx-light gnuplot-nox) ;;
    --package) pkgs+=(dpkg-dev lintian) ;;
    --systemd-ci) pkgs+=(debootstrap systemd-container dpkg-dev lintian) ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
