#!/usr/bin/env bash
# Install the reference servers the benchmarks compare against: Icecast 2 (fan-out) and
# Liquidsoap 2 (playout), from the Debian packages. Idempotent: does nothing when both
# binaries are already there. We never use the system services: the benchmarks run icecast2
# and liquidsoap from temp dirs with their own config files.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have icecast2 && have liquidsoap; then
    echo "icecast2 and liquidsoap already installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

# icecast2's debconf asks whether to configure the system service; say no.
echo "icecast2 icecast2/icecast-setup boolean false" | $SUDO debconf-set-selections || true

# apt-get update once: only when the package lists have never been fetched.
if ! compgen -G "/var/lib/apt/lists/*_Packages" >/dev/null; then
    $SUDO apt-get update
fi
if ! $SUDO apt-get install -y --no-install-recommends icecast2 liquidsoap; then
    # Stale package lists: refresh once and retry.
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends icecast2 liquidsoap
fi

# Never leave the system icecast2 service running in the background of a benchmark.
if have systemctl; then
    $SUDO systemctl disable --now icecast2 >/dev/null 2>&1 || true
fi
if [ -x /etc/init.d/icecast2 ]; then
    $SUDO /etc/init.d/icecast2 stop >/dev/null 2>&1 || true
fi

icecast2 -v || true
liquidsoap --version | head -n 1
