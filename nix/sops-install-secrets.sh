#!/usr/bin/env bash
# sops-install-secrets' command line, so that sops-nix's module can use `secrets install`:
#   sops-install-secrets [-check-mode=off|manifest|sopsfile] [-ignore-passwd] manifest.json
set -euo pipefail
usage() {
  echo "usage: sops-install-secrets [-check-mode=MODE] [-ignore-passwd] manifest.json" >&2
  echo "  -check-mode MODE  validate without installing: manifest, sopsfile or off (default off)" >&2
  echo "  -ignore-passwd    own every file by root without looking up users" >&2
}
for arg in "$@"; do
  case "$arg" in
    -h | -help | --help)
      usage
      exit 0
      ;;
  esac
done
args=()
while [ $# -gt 1 ]; do
  case "$1" in
    -check-mode=* | --check-mode=*) args+=(--check-mode "${1#*=}") ;;
    -check-mode | --check-mode)
      args+=(--check-mode "$2")
      shift
      ;;
    -ignore-passwd | --ignore-passwd | -ignore-passwd=true | --ignore-passwd=true) args+=(--ignore-passwd) ;;
    -ignore-passwd=false | --ignore-passwd=false) ;;
    *)
      echo "sops-install-secrets: unknown option $1" >&2
      exit 2
      ;;
  esac
  shift
done
if [ $# -ne 1 ]; then
  usage
  exit 2
fi
exec @secrets@ install "${args[@]}" --manifest "$1"
