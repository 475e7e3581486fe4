"""Reference values for surveyd's reports, computed independently of surveyd.

Reads a data set as JSON on stdin (invitations with their answers, contacts, the report's
settings) and writes, as JSON, the expected rows of the reports the test asks for. Intervals
come from statsmodels (Wilson, the two-proportion z test) and scipy (t and beta quantiles);
the NPS interval is the adjusted-Wald interval (Sauro & Lewis: ¾ promoter, ¾ detractor and
3 answers added), the CES interval a t interval with half an answer added at each end of the
scale, the shrinkage the beta-binomial method of moments; a contact is a repeat when another
of the customer in its category opened within the window after it closed.
"""

import json
import math
import sys
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from scipy import stats
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

Z = stats.norm.ppf(0.975)


def ts(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def wilson(x, n):
    if n == 0:
        return None
    low, high = proportion_confint(x, n, alpha=0.05, method="wilson")
    return [x / n, low, high, n]


def nps_se(p, d, n):
    pa, da = (p + 0.75) / (n + 3), (d + 0.75) / (n + 3)
    return pa - da, math.sqrt((pa + da - (pa - da) ** 2) / (n + 3))


def nps(scores):
    n = len(scores)
    if n == 0:
        return None
    p = sum(1 for s in scores if s >= 9)
    d = sum(1 for s in scores if s <= 6)
    centre, se = nps_se(p, d, n)
    value = (p - d) / n
    low = min(max(-1, centre - Z * se), value)
    high = max(min(1, centre + Z * se), value)
    return [100 * value, 100 * low, 100 * high, n, p, d]


def ces(scores):
    """The adjusted t interval: the answers with half an answer added at each end of the
    scale (weights), the weighted mean and variance, Student's t with n' − 1 degrees of
    freedom; clamped to the scale and widened to take in the observed mean."""
    n = len(scores)
    if n == 0:
        return None
    mean = float(np.mean(scores))
    values = np.array(list(scores) + [1.0, 7.0])
    weights = np.array([1.0] * n + [0.5, 0.5])
    size = weights.sum()
    centre = float(np.average(values, weights=weights))
    variance = float((weights * (values - centre) ** 2).sum() / (size - 1))
    low, high = stats.t.interval(0.95, size - 1, loc=centre, scale=math.sqrt(variance / size))
    return [mean, min(max(1.0, low), mean), max(min(7.0, high), mean), n]


def prior(tallies):
    """The beta-binomial method of moments. With p̂ the pooled share, the weighted squares
    S = Σ nᵢ(xᵢ/nᵢ − p̂)² have E[S] = p(1 − p)(k − 1) + τ²(N − Σnᵢ²/N − (k − 1)); solved for τ²
    with p̂ for p, then α + β = p̂(1 − p̂)/τ² − 1 (kept within 1 and N; N when τ² is not
    positive or cannot be measured). The prior's mean has half an answer added each way."""
    tallies = [(x, n) for x, n in tallies if n > 0]
    k = len(tallies)
    if k < 2:
        return None
    xs = np.array([x for x, _ in tallies], dtype=float)
    ns = np.array([n for _, n in tallies], dtype=float)
    total = ns.sum()
    pooled = xs.sum() / total
    spread = float((ns * (xs / ns - pooled) ** 2).sum())
    noise = pooled * (1 - pooled) * (k - 1)
    room = total - (ns**2).sum() / total - (k - 1)
    between = (spread - noise) / room if room > 0 else 0.0
    if between > 0:
        weight = min(max(pooled * (1 - pooled) / between - 1, 1.0), max(total, 1.0))
    else:
        weight = total
    mu = (xs.sum() + 0.5) / (total + 1)
    return mu * weight, (1 - mu) * weight


def shrink(pr, x, n):
    a, b = max(x + pr[0], 1e-9), max(n - x + pr[1], 1e-9)
    return [a / (a + b), stats.beta.ppf(0.025, a, b), stats.beta.ppf(0.975, a, b)]


def period_label(t, zone, period):
    local = t.astimezone(zone)
    if period == "day":
        return local.strftime("%Y-%m-%d")
    if period == "week":
        return (local.date() - timedelta(days=local.weekday())).isoformat()
    return local.strftime("%Y-%m")


def previous_label(label, period):
    if period == "day":
        return (datetime.fromisoformat(label) - timedelta(days=1)).date().isoformat()
    if period == "week":
        return (datetime.fromisoformat(label) - timedelta(days=7)).date().isoformat()
    y, m = map(int, label.split("-"))
    return f"{y - 1}-12" if m == 1 else f"{y}-{m - 1:02d}"


def repeats(data):
    """Per contact index: None (not settled yet) or whether another contact of the customer in
    its category (no category is one) was opened in (closed_at, closed_at + window]."""
    window = timedelta(days=data["repeat_days"])
    now = ts(data["now"])
    by_pair = defaultdict(list)
    for i, c in enumerate(data["contacts"]):
        by_pair[(c["customer"], c["category"])].append(i)
    result = {}
    for indexes in by_pair.values():
        for i in indexes:
            closed = ts(data["contacts"][i]["closed_at"])
            if closed > now - window:
                result[i] = None
                continue
            opened = [ts(data["contacts"][j]["opened_at"] or data["contacts"][j]["closed_at"])
                      for j in indexes if j != i]
            result[i] = any(closed < o <= closed + window for o in opened)
    return result


def report(data, keys, zone_name, period):
    zone = ZoneInfo(zone_name)
    top = data["top_box"]

    def key_of(item, time_field):
        out = []
        for k in keys:
            if k == "period":
                out.append(period_label(ts(item[time_field]), zone, period))
            else:
                out.append(item[k] or "")
        return tuple(out)

    groups = defaultdict(list)
    for inv in data["invitations"]:
        groups[key_of(inv, "sent_at")].append(inv)
    contact_groups = defaultdict(list)
    settled = repeats(data)
    for i, c in enumerate(data["contacts"]):
        if settled[i] is not None:
            contact_groups[key_of(c, "closed_at")].append(settled[i])

    rows = {}
    for key in set(groups) | set(contact_groups):
        invs = groups.get(key, [])
        answered = [i for i in invs if i["answered"]]
        csat = [i["csat"] for i in answered if i["csat"] is not None]
        fcr = [i["fcr"] for i in answered if i["fcr"] is not None]
        reps = contact_groups.get(key, [])
        rows[key] = {
            "team": invs[0]["team"] if invs else None,
            "sent": len(invs),
            "responses": len(answered),
            "response_rate": wilson(len(answered), len(invs)),
            "csat": wilson(sum(1 for s in csat if s >= top), len(csat)),
            "nps": nps([i["nps"] for i in answered if i["nps"] is not None]),
            "ces": ces([i["ces"] for i in answered if i["ces"] is not None]),
            "fcr": wilson(sum(fcr), len(fcr)),
            "fcr_contacts": wilson(sum(1 for r in reps if not r), len(reps)),
            "median": float(np.median([i["delay"] for i in answered])) if answered else None,
            "enough": len(answered) >= data["min_answers"],
        }

    if "agent" in keys:
        at = keys.index("agent")
        context = lambda k: tuple(v for i, v in enumerate(k) if i != at)
        tallies = defaultdict(list)
        everyone = defaultdict(list)
        for k, r in rows.items():
            if r["csat"]:
                tallies[(context(k), r["team"])].append((round(r["csat"][0] * r["csat"][3]), r["csat"][3]))
                everyone[context(k)].append((round(r["csat"][0] * r["csat"][3]), r["csat"][3]))
        for k, r in rows.items():
            if r["csat"]:
                pr = prior(tallies[(context(k), r["team"])]) or prior(everyone[context(k)])
                x, n = round(r["csat"][0] * r["csat"][3]), r["csat"][3]
                r["csat_shrunk"] = shrink(pr, x, n) if pr else None

    if "period" in keys:
        at = keys.index("period")
        for k, r in rows.items():
            before = list(k)
            before[at] = previous_label(k[at], period)
            p = rows.get(tuple(before))
            if p is None:
                continue
            trend = {"previous_period": before[at]}
            if r["csat"] and p["csat"]:
                x1, n1 = round(r["csat"][0] * r["csat"][3]), r["csat"][3]
                x2, n2 = round(p["csat"][0] * p["csat"][3]), p["csat"][3]
                z, _ = proportions_ztest([x1, x2], [n1, n2])
                # Both at 0% or both at 100%: no change, and no spread to measure it by.
                trend["csat"] = [r["csat"][0] - p["csat"][0], 0.0 if math.isnan(z) else float(z)]
            if r["nps"] and p["nps"]:
                _, se1 = nps_se(r["nps"][4], r["nps"][5], r["nps"][3])
                _, se2 = nps_se(p["nps"][4], p["nps"][5], p["nps"][3])
                change = r["nps"][0] - p["nps"][0]
                trend["nps"] = [change, change / (100 * math.sqrt(se1**2 + se2**2))]
            r["trend"] = trend
    return {"|".join(k): v for k, v in rows.items()}


def main():
    data = json.load(sys.stdin)
    out = {}
    for name, spec in data["reports"].items():
        out[name] = report(data, spec["by"], spec["time_zone"], spec["period"])
    json.dump(out, sys.stdout, indent=1, default=float)


main()
