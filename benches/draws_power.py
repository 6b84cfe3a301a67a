"""How many independent randomizations a randomization-type check needs (docs/checks.md,
"Repeated randomization"): a power analysis from a measured report.

Reads a report.json (or `blindspot check ... --json`) whose results drew R >= 2 randomizations
(`draws`, R rows of N per-image values), estimates each method's variance components in the
crossed images x draws design (v_ri = mu + a_i + b_r + e_ri: images, draws, residual) by the
two-way ANOVA mean squares, and prints, for R = 1..16 draws on the same N images, the expected
standard error of blindspot's conservative estimate (s^2_images/N + s^2_draws/R), its
Satterthwaite degrees of freedom, and the approximate chance that the verdict is decided the way
the measured mean says (pass below the threshold, fail above it) at the per-side error alpha:
Phi(|threshold - mean| / se - t(1 - alpha, df)).

    python benches/draws_power.py REPORT.json --alpha 1.1e-4 [--images 16] [--threshold 0.5]
"""
import argparse
import json
import math
from statistics import NormalDist

from scipy import stats


def components(rows):
    r, n = len(rows), len(rows[0])
    grand = sum(map(sum, rows)) / (r * n)
    img = [sum(rows[k][i] for k in range(r)) / r for i in range(n)]
    drw = [sum(row) / n for row in rows]
    ms_a = r * sum((m - grand) ** 2 for m in img) / (n - 1)
    ms_b = n * sum((m - grand) ** 2 for m in drw) / (r - 1)
    sse = sum(
        (rows[k][i] - img[i] - drw[k] + grand) ** 2 for k in range(r) for i in range(n)
    )
    ms_e = sse / ((r - 1) * (n - 1))
    return grand, max(ms_a - ms_e, 0) / r, max(ms_b - ms_e, 0) / n, ms_e


def expected(sa, sb, se, n, r):
    """Expected conservative variance terms for r draws on n images, and Satterthwaite df."""
    images = (sa + se / r) / n
    draws = (sb + se / n) / r if r > 1 else 0.0
    total = images + draws
    parts = images ** 2 / (n - 1) + (draws ** 2 / (r - 1) if r > 1 else 0.0)
    if r == 1 or parts == 0:
        return math.sqrt(total), n - 1
    df = total ** 2 / parts
    return math.sqrt(total), df


def main():
    p = argparse.ArgumentParser()
    p.add_argument("report")
    p.add_argument("--alpha", type=float, required=True, help="per-side error of a verdict")
    p.add_argument("--images", type=int, default=None, help="N (default: the report's)")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--draws", type=int, nargs="+", default=[2, 4, 8, 16, 24, 32, 48])
    a = p.parse_args()
    report = json.load(open(a.report))
    rs = a.draws
    print("| method | mean | sd images | sd draws | sd residual | "
          + " | ".join(f"R={r}" for r in rs) + " |")
    print("|---|---|---|---|---|" + "---|" * len(rs))
    for res in report["results"]:
        rows = res.get("draws") or []
        if len(rows) < 2:
            continue
        mean, sa, sb, se = components(rows)
        n = a.images or len(rows[0])
        cells = []
        for r in rs:
            sd, df = expected(sa, sb, se, n, r)
            t = stats.t.ppf(1 - a.alpha, df)
            power = 1.0 if sd == 0 else NormalDist().cdf(abs(a.threshold - mean) / sd - t)
            # One draw's interval leaves the draws' variance out: no valid power to report.
            cells.append("-" if r == 1 else f"{power:.2f}")
        print(f"| {res['method']} | {mean:.3f} | {math.sqrt(sa):.3f} | {math.sqrt(sb):.3f} | "
              f"{math.sqrt(se):.3f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
