#!/usr/bin/env python3
"""Markdown tables for docs/RESULTS.md from sweep summaries (summary.csv).

    python3 docs/results/tables.py docs/results/<sweep>/summary.csv [...]

One row per (dataset, hidden, and any other key that varies in the file,
such as lr) of each file, one column per rule: the mean
test error in % over the finished seeds, +- their standard deviation, and
the mean validation error in parentheses when the sweep has a validation
split. Cells with runs still missing are marked with how many finished.
"""
import csv
import sys

RULES = ["bp", "fa", "dfa", "bfa", "bdfa"]


def cell_text(row):
    runs, done = int(row["runs"]), int(row["finished"])
    if done == 0:
        return "— (0 of %d)" % runs
    text = "%.2f" % float(row["mean_test_error_pct"])
    if row.get("std_test_error_pct"):  # empty with fewer than two finished runs
        text += " ± %.2f" % float(row["std_test_error_pct"])
    if row.get("mean_valid_error_pct"):
        text += " (%.2f)" % float(row["mean_valid_error_pct"])
    if int(row["diverged"]):
        text += " [%s diverged]" % row["diverged"]
    if done < runs:
        text += " [%d of %d]" % (done, runs)
    return text


def table(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        header = reader.fieldnames or []
    # The key columns come before "runs"; besides dataset and hidden, those
    # that vary in the file (lr, epochs, ...) get a column of their own.
    key_cols = header[:header.index("runs")] if "runs" in header else ["dataset", "hidden"]
    shown = ["dataset", "hidden"] + [c for c in key_cols if c not in ("dataset", "hidden", "rule")
                                     and len({r[c] for r in rows}) > 1]
    keys = []
    by_key = {}
    for r in rows:
        k = tuple(r[c] for c in shown)
        if k not in by_key:
            keys.append(k)
            by_key[k] = {}
        by_key[k][r["rule"]] = r
    out = ["| " + " | ".join(shown) + " | " + " | ".join(x.upper() for x in RULES) + " |",
           "|" + "---|" * (len(shown) + len(RULES))]
    for k in keys:
        cells = [cell_text(by_key[k][x]) if x in by_key[k] else "" for x in RULES]
        out.append("| %s | %s |" % (" | ".join(k), " | ".join(cells)))
    return "\n".join(out)


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) >= 2 else 2
    for p in argv[1:]:
        print("`%s`\n" % p)
        print(table(p))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
