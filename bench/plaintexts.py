"""Writes the benchmark plaintexts: for each size (1k, 1m, 10m) one file per store of about that
many bytes, values of 64 characters under distinct keys (a binary file is one value).

Usage: python3 bench/plaintexts.py WORK SIZE...
"""
import sys

work, sizes = sys.argv[1], sys.argv[2:]
bytes_of = {"1k": 1_000, "1m": 1_048_576, "10m": 10_485_760}
for size in sizes:
    total = bytes_of[size]
    n = max(1, total // 80)
    value = lambda i: f"{i:08d}" * 8
    with open(f"{work}/plain-{size}.yaml", "w") as f:
        f.writelines(f"key{i}: {value(i)}\n" for i in range(n))
    with open(f"{work}/plain-{size}.json", "w") as f:
        f.write("{\n" + ",\n".join(f'  "key{i}": "{value(i)}"' for i in range(n)) + "\n}\n")
    with open(f"{work}/plain-{size}.env", "w") as f:
        f.writelines(f"KEY{i}={value(i)}\n" for i in range(n))
    with open(f"{work}/plain-{size}.ini", "w") as f:
        f.write("[section]\n")
        f.writelines(f"key{i} = {value(i)}\n" for i in range(n))
    with open(f"{work}/plain-{size}.bin", "w") as f:
        f.write("x" * total)
