"""Plots the CSV of bench/scale-processes.sh: throughput and p99 against processes, one line per
total client count. Needs matplotlib (a venv under target/, not a test dependency):

    python3 -m venv target/plot-venv && target/plot-venv/bin/pip install matplotlib
    target/plot-venv/bin/python bench/plot-scale.py scale.csv docs/img/scale-processes.png
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

rows = list(csv.DictReader(open(sys.argv[1])))
clients = sorted({int(r["clients"]) for r in rows})
fig, (ax_tps, ax_p99) = plt.subplots(1, 2, figsize=(10, 4))
for c in clients:
    series = sorted((int(r["processes"]), float(r["transfers_per_s"]), float(r["p99_ms"]))
                    for r in rows if int(r["clients"]) == c)
    procs = [s[0] for s in series]
    ax_tps.plot(procs, [s[1] for s in series], marker="o", label=f"{c} clients")
    ax_p99.plot(procs, [s[2] for s in series], marker="o", label=f"{c} clients")
for ax, title, unit in [(ax_tps, "Throughput", "transfers/s"), (ax_p99, "p99 latency", "ms")]:
    ax.set_title(title)
    ax.set_xlabel("purse serve processes on one PostgreSQL")
    ax.set_ylabel(unit)
    ax.set_xticks(sorted({int(r["processes"]) for r in rows}))
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
fig.suptitle("P2P transfers, same total load split over N processes (2 shared vCPUs)")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
print(f"wrote {sys.argv[2]}")
