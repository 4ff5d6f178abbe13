#!/usr/bin/env bash
# sops-install-secrets' command line, so that sops-nix's module can use `secrets install`:
#   sops-install-secrets [-check-mode=off|manifest|sopsfile] [-ignore-passwd] manifest.json
set -euo pipefail
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
  echo "usage: sops-install-secrets [-check-mode=MODE] [-ignore-passwd] manifest.json" >&2
  exit 2
fi
exec @secrets@ install "${args[@]}" --manifest "$1"
