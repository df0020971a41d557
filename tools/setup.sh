#!/usr/bin/env bash
# Installs the system packages STOQ Sim needs, and only those that are missing.
# Idempotent: a second run installs nothing. Fails loudly on any error.
set -euo pipefail

# Debian packages: C libraries found through pkg-config, plus the tools the
# namespace backend and the interop tests use, rsvg-convert (librsvg2-bin)
# for `stoqsim export --figures png|pdf`, mandoc, whose lint the tests
# run on `stoqsim man`'s page, and headless Chromium with fonts, in which the
# tests lay out the report of every bundled topology.
packages=(
  pkg-config
  libngtcp2-dev
  libngtcp2-crypto-gnutls-dev
  libgnutls28-dev
  libnghttp3-dev
  iproute2
  ngtcp2-client
  ngtcp2-server
  gnutls-bin
  iputils-ping
  tshark
  slurm-wlm
  munge
  librsvg2-bin
  mandoc
  chromium
  fonts-liberation
)

say() { printf 'setup: %s\n' "$*"; }

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  say "all ${#packages[@]} system packages already installed"
else
  say "installing: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { say "ERROR: need root or sudo to install ${missing[*]}"; exit 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine has no package lists yet; an old list may lack the packages.
  $sudo apt-get update -qq -o DPkg::Lock::Timeout=300 || { say "ERROR: apt-get update failed"; exit 1; }
  $sudo apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" \
    || { say "ERROR: apt-get install failed for: ${missing[*]}"; exit 1; }
  say "installed: ${missing[*]}"
fi

# Check the libraries are visible to SwiftPM through pkg-config.
for pc in libngtcp2 libngtcp2_crypto_gnutls gnutls libnghttp3; do
  pkg-config --exists "$pc" || { say "ERROR: pkg-config cannot find $pc"; exit 1; }
done
say "pkg-config finds libngtcp2 $(pkg-config --modversion libngtcp2), gnutls $(pkg-config --modversion gnutls), libnghttp3 $(pkg-config --modversion libnghttp3)"

# topohub (PyPI): the Internet Topology Zoo, SNDlib and CAIDA graphs that
# `stoqsim import` reads; a test imports every Zoo network when it is present.
# Optional: without Python or PyPI the setup goes on and that test is skipped.
if command -v python3 >/dev/null; then
  if python3 -c 'import topohub' 2>/dev/null; then
    say "topohub already installed"
  elif python3 -m pip install --quiet --disable-pip-version-check 'topohub==1.5.1' 2>/dev/null; then
    say "installed topohub 1.5.1 (Topology Zoo graphs for the import test)"
  else
    say "note: could not install topohub from PyPI; the Topology Zoo import test will be skipped"
  fi
fi
