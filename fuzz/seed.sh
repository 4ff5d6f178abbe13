#!/usr/bin/env bash
# Seeds the fuzz corpora (fuzz/corpus/<target>, not committed) from the golden vectors made by
# the real sops, so each target starts from real files instead of finding the format from
# nothing. The first byte of an input picks the store (0 JSON, 1 YAML, 2 dotenv, 3 INI,
# 4 binary), the age file kind (even: armored, odd: binary) or the key kind (0 OpenSSH private,
# 1 ssh public, 2 age identity file). Existing corpus entries are kept.
#
# Needs: age (for the age_file seeds).
set -euo pipefail
cd "$(dirname "$0")"
vectors=../fixtures/sops-vectors
for target in fuzz_targets/*.rs; do mkdir -p "corpus/$(basename "$target" .rs)"; done

selector() {
  case "$1" in
    *.json) printf '\000' ;; *.yaml) printf '\001' ;; *.env) printf '\002' ;; *.ini) printf '\003' ;; *) printf '\004' ;;
  esac
}
for file in "$vectors"/enc/* "$vectors"/dec/*; do
  kind=$(basename "$(dirname "$file")")
  { selector "$file"; cat "$file"; } > "corpus/stores/$kind-$(basename "$file")"
done
for file in "$vectors"/enc/*; do
  { selector "$file"; cat "$file"; } > "corpus/data_key/$(basename "$file")"
  # The `enc` fields (armored age files) and the encrypted values of each file.
  grep -o 'ENC\[AES256_GCM,[^]]*\]' "$file" | head -n 20 | while read -r value; do
    printf '%s' "$value" > "corpus/enc_value/$(printf '%s' "$value" | cksum | cut -d' ' -f1)"
  done || true
done
cp "$vectors"/enc/*.json corpus/metadata/

key=$(mktemp)
trap 'rm -f "$key"' EXIT
head -c 32 /dev/urandom > "$key"
{ printf '\000'; age -e -a -R "$vectors/ssh/id_ed25519.pub" "$key"; } > corpus/age_file/ssh-armored
{ printf '\001'; age -e -r age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg "$key"; } > corpus/age_file/x25519-binary
age -e -a -r age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg "$key" > corpus/armor/x25519-armored
{ printf '\000'; cat "$vectors/ssh/id_ed25519"; } > corpus/key_text/ssh-private
{ printf '\001'; cat "$vectors/ssh/id_ed25519.pub"; } > corpus/key_text/ssh-public
{ printf '\002'; cat "$vectors/keys.txt"; } > corpus/key_text/age-keys
printf '["a"][0]["b c"]' > corpus/tree_path/nested
