#!/usr/bin/env bash
# README command 1: set up and run the demo (no mail server, no configuration needed).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/dcs-mailbox demo "$@"
