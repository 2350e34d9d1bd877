#!/usr/bin/env bash
# Install the system packages the integration tests need: a real Dovecot
# (IMAP + LMTP) that tests/servers/dovecot.py runs privately on loopback, and
# openssl for its self-signed certificate. The test fixtures never use the
# system service or /etc/dovecot; they only need the binaries.
#
# Idempotent: when everything is already there it returns at once, without
# touching the network. Non-interactive; uses sudo only when not root.
set -euo pipefail

# Debian installs dovecot in /usr/sbin, which an ordinary user's PATH may lack.
export PATH="${PATH}:/usr/local/sbin:/usr/sbin:/sbin"

# The imap and lmtp programs come from separate packages (dovecot-imapd,
# dovecot-lmtpd): the dovecot binary alone does not prove they are there.
has_dovecot_program() {
    local dir
    for dir in /usr/lib/dovecot /usr/libexec/dovecot /usr/local/libexec/dovecot; do
        [[ -x "${dir}/$1" ]] && return 0
    done
    return 1
}

if command -v dovecot >/dev/null 2>&1 \
    && has_dovecot_program imap && has_dovecot_program lmtp \
    && command -v openssl >/dev/null 2>&1 \
    && command -v systemd-analyze >/dev/null 2>&1; then
    echo "install-test-deps: dovecot $(dovecot --version) and openssl already installed"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-deps: apt-get not found; install Dovecot 2.3 (imap + lmtp)" \
         "and openssl with your system's package manager" >&2
    exit 1
fi

# Run as root directly (containers, CI images); otherwise go through sudo,
# which must not prompt (CI has no terminal).
sudo_cmd=()
if [[ "$(id -u)" -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-test-deps: not root and sudo is not available" >&2
        exit 1
    fi
    sudo_cmd=(sudo --non-interactive)
fi

export DEBIAN_FRONTEND=noninteractive
# The packages try to start the system dovecot service; where there is no init
# system that is refused, which is harmless: the tests run their own instance.
${sudo_cmd[@]+"${sudo_cmd[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update
${sudo_cmd[@]+"${sudo_cmd[@]}"} env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends dovecot-imapd dovecot-lmtpd openssl systemd

echo "install-test-deps: installed dovecot $(dovecot --version)"
