"""The job of ``bando score``, written by hand: the yardstick for the end-to-end targets of issue 13.

    python benchmarks/pipeline_handwritten.py BATCH.jsonl OUTDIR [--letters] [--budget 10000000]

What it does is what ``bando score benchmarks/bench.bando BATCH -o OUTDIR`` does, minus everything
bando adds (validation messages, explanations, the report, the run folder as one unit):

1. read the JSON Lines with the standard library (``json.loads``, floats as the shared peer expects);
2. decide each application with the shared hand-written function (``../shared/bench/peers/handwritten.py``);
3. write one JSON line per result (``results.jsonl``);
4. sort by score (descending, then id), allocate the budget greedily in that order (an application that
   does not fit is skipped, as ``shortfall skip``), write ``ranking.csv``;
5. with ``--checked``, decide with ``benchmarks/handwritten_validated.py``'s ``evaluate_exact`` instead:
   every declared field checked and money in Decimal, as bando does (an application it finds invalid is
   written as such, not decided); this variant says how much of the end-to-end ratio is that job itself;
6. with ``--letters``, render one plain Jinja2 letter per application into its own file
   (``letters/<id>.txt``): the template is a dozen lines with the outcome, the score, the grant and the
   failed gates — the least a letter says.

It is a script, not a library: run in a child process by ``benchmarks/run_targets.py`` so that both it
and ``bando score`` pay for starting Python and importing what they use.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_BENCH = HERE.parent.parent / "shared" / "bench"

LETTER = """\
{{ call }}

Domanda n. {{ r.id }} — {{ r.applicant }}

{% if r.funded %}La domanda è ammessa e finanziata con {{ r.score }} punti su 100.
Contributo concesso: € {{ "%.2f"|format(r.grant) }}.
{% elif r.eligible %}La domanda è ammissibile con {{ r.score }} punti su 100, ma non è finanziata.
{% else %}La domanda non è ammissibile. Requisiti non soddisfatti:
{% for g in r.failed_gates %}  - {{ g }}
{% endfor %}{% endif %}
Il responsabile del procedimento
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="bando score's job, by hand (benchmark yardstick)")
    ap.add_argument("batch")
    ap.add_argument("outdir")
    ap.add_argument("--letters", action="store_true")
    ap.add_argument("--checked", action="store_true", help="every field checked and money in Decimal, as bando")
    ap.add_argument("--budget", type=float, default=10_000_000)
    ap.add_argument("--bench-dir", default=str(DEFAULT_BENCH))
    args = ap.parse_args(argv)
    sys.path.insert(0, args.bench_dir)
    from peers import handwritten  # noqa: E402 - the shared yardstick's function

    evaluate = handwritten.load()
    if args.checked:
        sys.path.insert(0, str(HERE))
        from handwritten_validated import Invalid, evaluate_exact as evaluate  # noqa: E402
    else:
        Invalid = ()  # noqa: N806 - nothing to catch: the shared function trusts its input
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    ranked = []
    with open(args.batch, encoding="utf-8") as src, open(out / "results.jsonl", "w", encoding="utf-8") as dst:
        for line in src:
            if not line.strip():
                continue
            app = json.loads(line)
            try:
                r = evaluate(app)
            except Invalid:
                dst.write(json.dumps({"id": app.get("id"), "invalid": True}) + "\n")
                continue
            r["id"] = app["id"]
            r["applicant"] = app["network"]["name"]
            dst.write(json.dumps(r, separators=(",", ":"), default=str) + "\n")
            if r["eligible"] and r["grant"] > 0:
                ranked.append((-r["score"], r["id"], r["grant"]))
    ranked.sort()
    budget = args.budget
    if args.checked:  # the grants are Decimals: so is what is left of the budget
        from decimal import Decimal
        budget = Decimal(repr(budget))
    left = budget
    funded = {}
    with open(out / "ranking.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["rank", "id", "score", "grant"])
        for rank, (neg_score, app_id, grant) in enumerate(ranked, 1):
            given = grant if grant <= left else grant * 0
            left -= given
            funded[app_id] = given
            w.writerow([rank, app_id, -neg_score, f"{given:.2f}"])
    if args.letters:
        import jinja2
        template = jinja2.Environment(autoescape=False).from_string(LETTER)
        letters = out / "letters"
        letters.mkdir(exist_ok=True)
        with open(out / "results.jsonl", encoding="utf-8") as fh:  # the letters follow the results, as bando's
            for line in fh:
                r = json.loads(line)
                r["funded"] = funded.get(r["id"], 0) > 0
                r["grant"] = funded.get(r["id"], 0.0)
                (letters / f"{r['id']}.txt").write_text(template.render(call="Reti d'impresa 2025", r=r),
                                                         encoding="utf-8")
    print(f"{len(ranked)} ranked, {sum(1 for g in funded.values() if g > 0)} funded, "
          f"{budget - left:.2f} granted", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
