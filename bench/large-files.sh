#!/usr/bin/env bash
# Decrypts large files of several shapes with `secrets sops decrypt` and prints, per file, the
# wall time, the peak memory (maximum resident set size) and that peak as a multiple of the
# file's size: a repository committer controls file sizes, so memory must stay proportional.
#
#   bash bench/large-files.sh [MEGABYTES]     # default 50: each encrypted file is about that big
#
# Shapes: one huge string value, many small keys, many comments, deep-ish nesting, a long list
# (YAML), and many keys and one huge string (JSON). The files are encrypted by `secrets` itself:
# the real sops takes minutes on files with hundreds of thousands of keys (its encryption is
# quadratic in the number of values), and the format is the same.
#
# Needs: cargo, python3, age-keygen, GNU time (`/usr/bin/time`, package `time`).
set -euo pipefail
cd "$(dirname "$0")/.."
megabytes=${1:-50}

source bench/common.sh
age-keygen -o "$work/key.txt" 2>/dev/null
recipient=$(grep -o 'age1[a-z0-9]*' "$work/key.txt" | head -n 1)
export SOPS_AGE_KEY_FILE="$work/key.txt"

# Plaintext of roughly the size that encrypts to MEGABYTES (the encrypted form of a short
# value is several times larger than the value).
python3 - "$work" "$megabytes" <<'EOF'
import json, sys
work, mb = sys.argv[1], int(sys.argv[2])
target = mb * 1_000_000

def write(name, ratio, lines):
    size, limit = 0, target / ratio
    with open(f"{work}/{name}", "w") as out:
        for line in lines():
            out.write(line)
            size += len(line)
            if size >= limit:
                break

def huge_string():
    yield "blob: |\n"
    while True:
        yield "    " + "x" * 75 + "\n"

def keys():
    i = 0
    while True:
        yield f"key{i:08d}: v{i}\n"
        i += 1

def comments():
    i = 0
    while True:
        yield f"# comment {i}\nk{i}: v\n"
        i += 1

def nested():
    i = 0
    while True:
        yield "".join("    " * d + f"n{i}_{d}:\n" for d in range(8))
        yield "    " * 8 + f"leaf: value{i}\n" + "    " * 8 + f"other: {i}\n"
        i += 1

def long_list():
    yield "items:\n"
    i = 0
    while True:
        yield f"    - item{i}\n"
        i += 1

write("huge-string.yaml", 1.27, huge_string)
write("many-keys.yaml", 6.4, keys)
write("many-comments.yaml", 9.4, comments)
write("nested.yaml", 1.78, nested)
write("long-list.yaml", 7.7, long_list)
n = int(target / 6.6 / 19)
with open(f"{work}/many-keys.json", "w") as out:
    json.dump({f"key{i:08d}": f"v{i}" for i in range(n)}, out, indent=4)
with open(f"{work}/huge-string.json", "w") as out:
    json.dump({"blob": "x" * int(target / 1.34)}, out)
EOF

echo "$ours, files of about $megabytes MB encrypted"
printf '| file | encrypted size (MB) | time (s) | peak RSS (MB) | RSS / size |\n|---|---|---|---|---|\n'
for plain in huge-string.yaml many-keys.yaml many-comments.yaml nested.yaml long-list.yaml many-keys.json huge-string.json; do
  enc="$work/enc-$plain"
  "$ours" sops encrypt --age "$recipient" --output "$enc" "$work/$plain"
  rm "$work/$plain"
  /usr/bin/time -f '%e %M' -o "$work/time" "$ours" sops decrypt "$enc" > /dev/null
  read -r seconds kilobytes < "$work/time"
  bytes=$(stat -c %s "$enc")
  awk -v n="$plain" -v b="$bytes" -v s="$seconds" -v k="$kilobytes" \
    'BEGIN { printf "| %s | %.1f | %s | %.0f | %.1f |\n", n, b / 1e6, s, k / 1024, k * 1024 / b }'
  rm "$enc"
done
