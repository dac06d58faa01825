#!/usr/bin/env bash
# scripts/soak.sh — the bridge under churn for a given time (README "Load testing", Soak):
# scripts/load.sh with jvb-audio-load --soak. One conference of N endpoints with SSRC
# rewriting (colibri-ws per endpoint); the last C are churn slots: every 1/R s one of them
# leaves (colibri-ws and socket closed, Colibri2 expire) and a new endpoint joins (new id,
# SSRC, ICE, DTLS, SRTP, colibri-ws); K stable endpoints speak with the loudest rotating;
# stable endpoints reconnect their colibri-ws and muted ones get Colibri2 source updates.
# Every second it samples the bridge's RSS, open fds, heap in use, conference/endpoint counts
# and the stable endpoints' delivery, prints the time series (CSV), and fails (exit 1, the
# reason on stderr and as FAIL: lines) on growth after the warm-up, on loss between stable
# endpoints, or when the expired conference left anything behind.
#
# Usage: scripts/soak.sh [--duration S] [-n N] [--churners C] [--churn-rate R]
#                        [--no-rewriting] [load.sh / jvb-audio-load options...]
# Defaults: --duration 60, -n 200, --churners N/10, --churn-rate 2, -k 3,
#   --reconnect-rate 1, --source-update-rate 2, --sample-interval 1, --warmup duration/4
#   (10..300 s), --soak-csv soak.csv, --max-leak-per-churn 4 (KiB), --max-fd-growth 8.
# Everything else goes to scripts/load.sh (and from there to jvb-audio-load --help), e.g.
#   scripts/soak.sh --duration 1800 -n 300 --soak-csv soak-30min.csv --json soak.json
# Needs root (scripts/load.sh runs Prosody). Environment: as scripts/load.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rewriting=(--rewriting)
args=()
for a in "$@"; do
  case "$a" in
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    --no-rewriting) rewriting=() ;;
    *) args+=("$a") ;;
  esac
done
# Later options win in jvb-audio-load: the caller's come after these defaults.
exec "$root/scripts/load.sh" "${rewriting[@]}" --soak --duration 60 -n 200 -k 3 --churn-rate 2 \
  --reconnect-rate 1 --source-update-rate 2 "${args[@]}"
