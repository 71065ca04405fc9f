"""Tests of engine/report/report.py (the HTML report of `bando score`).

The module also holds ``make_results``/``make_call``: hand-built result dicts
following docs/contracts.md, shared by test_outputs.py and
test_report_browser.py (they load this file by path).
"""

from __future__ import annotations

import html.parser
import random
import re
from decimal import ROUND_DOWN, Decimal

import pytest

from engine.score.outputs import summarize
from engine.report.report import render_report

HOSTILE = "<script>alert(1)</script>"

POLICY = {"name": "salentonet", "version": "2013.1", "sha256": "9f2c" + "0" * 60}

GATES = [
    ("min_firms", {"it": "Almeno 3 imprese in rete", "en": "At least 3 firms"}),
    ("all_sme", {"it": "Tutte le imprese sono PMI", "en": "All firms are SMEs"}),
    ("local", {"it": "Maggioranza di imprese con sede in provincia di Lecce",
               "en": "Majority based in Lecce"}),
]
CRITERIA = [
    ("innovation", {"it": "Profilo di innovazione", "en": "Innovation profile"}, 40),
    ("intl", {"it": "Internazionalizzazione", "en": "Internationalisation"}, 30),
    ("cert", {"it": "Processi certificati", "en": "Certified processes"}, 30),
]

_NAMES = [
    "Rete Mech-Net", "SalentoNet Innovazione", "Rete Artigiani Meccanici Varesini",
    "Consorzio Tessile Salentino", "Rete Agroalimentare del Capo di Leuca",
    "Rete d'imprese «Pietra Leccese»", "Distretto Nautico Adriatico", "Rete Olio & Vino Salento",
    "Aggregazione Ceramiche di Grottaglie", "Rete Turismo Barocco", "Rete Logistica Jonica",
    "Filiera Calzaturiera di Casarano", "Rete ICT Puglia Sud", "Rete Energia Pulita Salento",
]


def make_call(lang: str = "it", budget: str = "1000000.00") -> dict:
    return {
        "name": "Bando congiunto reti d'impresa" if lang == "it" else "Joint call for business networks",
        "version": "2013.1",
        "authority": "Provincia e Camera di Commercio di Lecce",
        "language": lang, "currency": "EUR", "budget": budget,
        "opens": "2013-01-15", "closes": "2013-12-31T12:00:00",
        "reference": "SALENTONET-2013",
        "signatory": "Il Dirigente del Settore Sviluppo Economico",
        "appeal_days": 60, "appeal_body": "TAR Puglia, sezione di Lecce",
        "contact": "reti@provincia.le.it",
        "max_score": 100, "pass_score": 60,
        "policy": dict(POLICY),
    }


def _num(d: Decimal):
    """JSON number as the contract wants it: int when integral."""
    return int(d) if d == d.to_integral_value() else float(d)


def make_results(n: int = 50, *, seed: int = 7, lang: str = "it", budget: str = "1000000.00",
                 hostile: bool = False, with_source: bool = True) -> list[dict]:
    """``n`` final results (after batch ranking) with mixed statuses.

    Roughly: 10% invalid, 25% ineligible, 15% below threshold, the rest
    admitted and ranked by score desc then id, funded while the budget lasts.
    """
    rng = random.Random(seed)
    results = []
    for i in range(1, n + 1):
        app_id = f"SN-2013-{i:03d}"
        name = rng.choice(_NAMES) + f" {i}"
        requested = Decimal(rng.randrange(20_000, 160_000, 500))
        cost = requested * Decimal(rng.choice(["1.6", "2", "2.5"]))
        grant = min(requested, (cost / 2).quantize(Decimal(1), ROUND_DOWN), Decimal(100_000))
        r = {
            "application": app_id, "applicant": name, "status": None, "eligible": True,
            "score": None, "ranking_score": None, "max_score": 100, "pass_score": 60,
            "requested": f"{requested:.2f}", "grant": None, "currency": "EUR", "rank": None,
            "language": lang, "gates": [], "criteria": [], "errors": [], "placement": None,
            "submitted": f"2013-{rng.randint(2, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(8, 17):02d}:{rng.randint(0, 59):02d}:00",
            "policy": dict(POLICY),
            "_grant": grant,
        }
        if with_source:
            r["source"] = {"file": "domande.csv", "row": i + 1}
        roll = rng.random()
        if roll < 0.10:
            r.update(status="invalid", eligible=False)
            r["errors"] = [
                {"field": f"network.firms[{rng.randint(0, 5)}].employees",
                 "message": "atteso un numero intero, trovato \"dodici\"" if lang == "it"
                 else "expected a whole number, got \"dodici\""},
            ]
            if rng.random() < 0.5:
                r["errors"].append({"field": "project.cost", "message": "campo obbligatorio mancante"
                                    if lang == "it" else "required field missing"})
            r["requested"] = None
            results.append(r)
            continue
        members = rng.randint(2, 14)
        local = rng.randint(0, members)
        fails = set()
        if roll < 0.35:
            fails = set(rng.sample([g for g, _ in GATES], rng.randint(1, 2)))
        for gid, labels in GATES:
            passed = gid not in fails
            if gid == "min_firms":
                m = members if passed else 2
                because = (f"imprese in rete = {m}, ne servono almeno 3" if lang == "it"
                           else f"firms in the network = {m}, at least 3 required")
            elif gid == "all_sme":
                because = ("tutte le imprese hanno meno di 250 addetti" if passed and lang == "it"
                           else "1 impresa ha 310 addetti (massimo 249)" if lang == "it"
                           else "all firms have fewer than 250 employees" if passed
                           else "1 firm has 310 employees (at most 249)")
            else:
                because = (f"{local} imprese su {members} in provincia di Lecce" if lang == "it"
                           else f"{local} of {members} firms based in Lecce")
            r["gates"].append({"id": gid, "label": labels[lang], "passed": passed,
                               "because": because, "values": {"members": members}})
        if fails:
            r.update(status="ineligible", eligible=False)
            results.append(r)
            continue
        below = roll < 0.50
        level = rng.randint(0, 2) if below else rng.randint(2, 5)
        innov = Decimal(40 if level >= 4 else 20 if level >= 2 else 0)
        markets = rng.randint(0, 1) if below else rng.randint(1, 4)
        intl = Decimal(min(markets * 10, 30))
        share = Decimal(rng.randint(0, 8)) / 8
        cert = (30 * share).quantize(Decimal("0.01"))
        for cid, labels, mx in CRITERIA:
            pts = {"innovation": innov, "intl": intl, "cert": cert}[cid]
            because = {
                "innovation": (f"livello {level} → {pts} su {mx} punti" if lang == "it"
                               else f"level {level} → {pts} of {mx} points"),
                "intl": (f"{markets} mercati esteri × 10 → {pts}" if lang == "it"
                         else f"{markets} foreign markets × 10 → {pts}"),
                "cert": (f"{share * 100:.1f}% delle imprese certificate ISO 9001" if lang == "it"
                         else f"{share * 100:.1f}% of firms ISO 9001 certified"),
            }[cid]
            r["criteria"].append({"id": cid, "label": labels[lang], "points": _num(pts), "max": mx,
                                  "minimum": None, "weight": 1, "because": because,
                                  "values": {"level": level}})
        score = innov + intl + cert
        r["score"] = r["ranking_score"] = _num(score)
        r["status"] = "below_threshold" if score < 60 else "admitted"
        results.append(r)

    # batch ranking and allocation
    ranked = sorted((r for r in results if r["status"] == "admitted"),
                    key=lambda r: (-Decimal(str(r["score"])), r["application"]))
    remaining = Decimal(budget)
    for pos, r in enumerate(ranked, 1):
        r["rank"] = pos
        if r["_grant"] <= remaining:
            r["status"], r["grant"] = "funded", f"{r['_grant']:.2f}"
            remaining -= r["_grant"]
            why = "finanziata: rientra nella dotazione" if lang == "it" else "funded within the budget"
        else:
            r["status"] = "not_funded"
            why = ("ammessa ma non finanziata: dotazione esaurita" if lang == "it"
                   else "admitted but not funded: budget exhausted")
        r["placement"] = {"rank": pos, "of": len(ranked), "tied_with": [],
                          "because": (f"{pos}ª posizione su {len(ranked)}; {why}" if lang == "it"
                                      else f"position {pos} of {len(ranked)}; {why}")}
    for r in results:
        del r["_grant"]
    if hostile:
        target = ranked[0] if ranked else results[0]
        target["applicant"] = HOSTILE
        for item in target["gates"][:1] + target["criteria"][:1]:
            item["because"] += ' <b>"&"</b>'
        for r in results:
            if r["errors"]:
                r["errors"][0]["message"] += " </details></section>"
                break
    return results


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class _Checker(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.srcs: list[str] = []
        self.counts: dict[str, int] = {}
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.counts[tag] = self.counts.get(tag, 0) + 1
        for k, v in attrs:
            if k == "id":
                self.ids.append(v)
            elif k in ("href", "xlink:href"):
                self.hrefs.append(v)
            elif k in ("src", "srcset", "poster", "data", "action"):
                self.srcs.append(v)
            elif k == "style":
                self.styles.append(v)
        if tag == "style":
            self._in_style = True
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def check_html(page: str) -> _Checker:
    c = _Checker()
    c.feed(page)
    c.close()
    return c


@pytest.fixture(scope="module")
def batch():
    results = make_results(50, hostile=True)
    call = make_call("it")
    return results, summarize(results, call), call


@pytest.fixture(scope="module")
def page_it(batch):
    results, summary, call = batch
    return render_report(results, summary, call, "it")


# --------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------

def test_fixture_has_every_status(batch):
    results, summary, _ = batch
    statuses = {r["status"] for r in results}
    assert {"funded", "not_funded", "ineligible", "below_threshold", "invalid"} <= statuses
    assert summary["total"] == 50


def test_report_contains_every_application_id_and_a_details_each(batch, page_it):
    results, _, _ = batch
    c = check_html(page_it)
    for r in results:
        assert r["application"] in page_it
    assert c.counts["details"] == len(results)
    # every in-page link points at an existing id
    ids = set(c.ids)
    assert len(ids) == len(c.ids), "duplicate ids"
    for href in c.hrefs:
        assert href.startswith("#"), href
        assert href[1:] in ids, href


def test_report_is_balanced_html(page_it):
    assert page_it.startswith("<!DOCTYPE html>")
    c = check_html(page_it)
    assert c.problems == []
    assert c.stack == []
    for tag in ("html", "head", "body", "header", "nav", "main", "footer", "table", "svg"):
        assert c.counts.get(tag, 0) >= 1, tag
    assert c.counts["html"] == c.counts["body"] == c.counts["main"] == 1
    assert '<html lang="it">' in page_it


def test_report_has_no_external_resources(page_it):
    c = check_html(page_it)
    assert c.srcs == []
    for href in c.hrefs:
        assert not re.match(r"(?i)\s*(https?:)?//", href), href
    assert not re.search(r"(?i)\b(src|href)\s*=\s*[\"']?\s*(https?:)?//", page_it)
    css = "\n".join(c.styles)
    assert "@import" not in css
    assert not re.search(r"(?i)url\(\s*['\"]?\s*(https?:)?//", css)
    assert "<link" not in page_it
    # the only script is our own inline one
    assert c.counts.get("script") == 1
    assert "<script src" not in page_it


def test_report_escapes_hostile_text(page_it):
    assert HOSTILE not in page_it
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page_it
    assert '<b>"&"</b>' not in page_it
    assert "&lt;b&gt;&#34;&amp;&#34;&lt;/b&gt;" in page_it


def test_report_sections_and_charts(batch, page_it):
    results, summary, call = batch
    for anchor in ("figures", "ranking", "scores", "criteria", "exclusions", "applications"):
        assert f'id="{anchor}"' in page_it
    assert call["name"].replace("'", "&#39;") in page_it
    assert call["authority"] in page_it
    assert "2013.1" in page_it
    # histogram: 10 bars; criteria labels; gate labels in the exclusion chart
    assert page_it.count('<rect class="bar') == 10
    for _cid, labels, _mx in CRITERIA:
        assert labels["it"] in page_it
    for g in summary["gates"]:
        if g["failed"]:
            assert g["label"] in page_it
    # ✓ and ✗ marks, because texts, placement and errors
    assert "✓" in page_it and "✗" in page_it
    assert "dotazione esaurita" in page_it
    assert "network.firms[" in page_it
    assert "domande.csv:" in page_it
    # Italian money formatting of the budget
    assert "1.000.000,00" in page_it


def test_ranking_table_is_in_rank_order(batch, page_it):
    results, _, _ = batch
    ranked = sorted((r for r in results if r["rank"] is not None), key=lambda r: r["rank"])
    table = page_it.split('<table class="ranking"', 1)[1].split("</table>", 1)[0]
    positions = [table.index(f">{r['application']}<") for r in ranked]
    assert positions == sorted(positions)
    assert "badge st-funded" in table and "badge st-not_funded" in table
    # the funding line is a labelled row right before the first application not funded
    first_out = next(r for r in ranked if r["status"] == "not_funded")
    line = table.index('<tr class="line">')
    assert line < table.index(f">{first_out['application']}<")
    assert all(table.index(f">{r['application']}<") < line for r in ranked if r["rank"] < first_out["rank"])
    assert f"Linea di finanziamento: prima domanda non finanziata, posizione {first_out['rank']}." in table


def _header_cells(table: str) -> list[str]:
    head = table.split("<thead>", 1)[1].split("</thead>", 1)[0]
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)]


def test_ranking_puts_outcome_grant_and_request_first_with_a_sticky_id(page_it):
    table = page_it.split('<table class="ranking"', 1)[1].split("</table>", 1)[0]
    cells = _header_cells(table)
    assert cells[:7] == ["Pos.", "Domanda", "Esito", "Contributo", "Richiesto", "Richiedente", "Punteggio"]
    # the rank and id columns stay in view when the table scrolls sideways
    assert "table.ranking tr > :nth-child(1) { position: sticky; left: 0;" in page_it
    assert "table.ranking tr > :nth-child(2) { position: sticky; left: 3.8em;" in page_it
    assert "table.ranking col.w-rank { width: 3.8em; }" in page_it


def test_charts_come_before_the_ranking_rows(page_it):
    order = [page_it.index(f'<section id="{s}"') for s in ("figures", "scores", "criteria", "exclusions",
                                                             "ranking", "applications")]
    assert order == sorted(order)


def test_partial_awards_and_reserve_grants_are_marked_and_reserves_have_a_panel():
    results = make_results(40, seed=9)
    funded = [r for r in results if r["status"] == "funded"]
    funded[-1]["placement"]["reason"] = "partial"
    funded[0]["placement"]["reserve"] = 0
    call = make_call()
    summary = summarize(results, call)
    summary["allocation"] = {"reserves": [{"label": "Reti di sole microimprese", "amount": "80000.00",
                                           "granted": "50000.00", "funded": 1, "qualifying": 4,
                                           "returned": "30000.00", "last_rank": 1}]}
    page = render_report(results, summary, call, "it")
    table = page.split('<table class="ranking"', 1)[1].split("</table>", 1)[0]
    row_of = {r["application"]: table.split(f">{r['application']}<", 1)[1].split("</tr>", 1)[0] for r in funded}
    assert 'class="mark partial"' in row_of[funded[-1]["application"]]
    assert "riserva «Reti di sole microimprese»" in row_of[funded[0]["application"]]
    assert sum('class="mark' in row for row in row_of.values()) == 2
    panel = page.split('<section id="reserves">', 1)[1].split("</section>", 1)[0]
    for text in ("Reti di sole microimprese", "€ 80.000,00", "€ 50.000,00", "€ 30.000,00",
                 "Tornato alla graduatoria generale"):
        assert text in panel


def test_reader_warnings_are_shown_at_the_top():
    results = make_results(10, seed=4)
    call = make_call()
    summary = summarize(results, call)
    summary["reader_warnings"] = ["domande.csv: column 'project.requsted' ignored: not a field of the "
                                  "policy's input (did you mean 'project.requested'?)"]
    page = render_report(results, summary, call, "it")
    warn = page.index('<section id="warnings"')
    assert warn < page.index('<section id="figures"')
    assert "did you mean &#39;project.requested&#39;?" in page[warn:page.index('<section id="figures"')]
    assert '<section id="warnings"' not in render_report(results, summarize(results, call), call, "it")


def test_search_filter_and_sort_script_is_inline():
    page = render_report(make_results(10, seed=4), summarize(make_results(10, seed=4), make_call()), make_call(), "it")
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    for needle in ('getElementById("rk-search")', 'getElementById("rk-status")', "aria-sort", "function number("):
        assert needle in script
    assert 'id="rk-search"' in page and 'id="rk-status"' in page
    assert '<table class="ranking" data-dec=",">' in page  # "€ 30.000,00" sorts as 30000.00


def test_histogram_bins_are_aligned_to_the_pass_mark():
    results = make_results(60, seed=8)
    call = dict(make_call(), pass_score=55)
    for r in results:
        r["pass_score"] = 55
    summary = summarize(results, call)
    edges = [(b["from"], b["to"]) for b in summary["histogram"]["bins"]]
    assert ("50", "55") in edges and ("55", "60") in edges and len(edges) == 11
    scores = [Decimal(str(r["score"])) for r in results if r["score"] is not None
              and r["status"] in ("funded", "not_funded", "admitted", "below_threshold")]
    for b in summary["histogram"]["bins"]:
        lo, hi = Decimal(b["from"]), Decimal(b["to"])
        inside = [x for x in scores if lo <= x < hi or (hi == 100 and x == 100)]
        assert b["count"] == len(inside)
        assert all(x < 55 for x in inside) or all(x >= 55 for x in inside)
    page = render_report(results, summary, call, "it")
    assert page.count('<rect class="bar') == 11
    below = re.findall(r'<rect class="bar below"[^>]*><title>([^<]*)</title>', page)
    assert below and all(not t.startswith(("55", "6", "7", "8", "9")) for t in below)


def test_report_is_deterministic_and_has_no_timestamp(batch, page_it):
    results, summary, call = batch
    again = render_report(results, summary, call, "it")
    assert again == page_it
    assert "generato il" not in page_it
    stamped = render_report(results, summary, call, "it", generated="1 gennaio 2014")
    assert "generato il 1 gennaio 2014" in stamped


def test_report_in_english():
    results = make_results(30, seed=3, lang="en")
    call = make_call("en")
    page = render_report(results, summarize(results, call), call, "en")
    assert '<html lang="en">' in page
    assert "Ranking" in page and "Why applications were excluded" in page
    assert "€1,000,000.00" in page
    assert check_html(page).problems == []


def test_report_with_no_results_and_no_budget():
    call = make_call("it", budget=None)
    page = render_report([], summarize([], call), call, "it")
    c = check_html(page)
    assert c.problems == [] and c.stack == []
    assert "Nessuna domanda è stata ammessa in graduatoria." in page
    assert "Nessuna dotazione" in page


def test_report_odd_ids_get_unique_anchors():
    results = make_results(6, seed=11)
    results[0]["application"] = "A 1/x"
    results[1]["application"] = "A 1/x"
    results[2]["application"] = '"><img src=x onerror=alert(1)>'
    call = make_call()
    page = render_report(results, summarize(results, call), call, "it")
    c = check_html(page)
    assert len(set(c.ids)) == len(c.ids)
    assert c.srcs == []
    assert "<img" not in page


def test_every_ranked_application_is_in_the_table_and_details_state_their_limit():
    results = make_results(3000, seed=5, budget="20000000.00")
    call = make_call("it", budget="20000000.00")
    summary = summarize(results, call)
    ranked = sorted((r for r in results if r["rank"] is not None), key=lambda r: r["rank"])
    details = ranked[:100]  # what bando score passes: the best ranked first, up to its limit
    page = render_report(details, summary, call, "it", rows=results)
    assert page.count("<details") == 100
    table = page.split('<table class="ranking"', 1)[1].split("</table>", 1)[0]
    assert table.count('<tr class="st-') == len(ranked)
    for r in ranked:
        assert f">{r['application']}<" in table
    assert "Dettaglio di 100 domande su 3.000" in page
    # an application without details is listed without a link to nowhere
    c = check_html(page)
    assert set(h[1:] for h in c.hrefs) <= set(c.ids)


def test_table_of_applications_not_ranked_states_its_limit(monkeypatch):
    import engine.report.report as report
    monkeypatch.setattr(report, "OTHERS_LIMIT", 5)
    results = make_results(60, seed=5)
    call = make_call()
    summary = summarize(results, call)
    page = report.render_report(results, summary, call, "it")
    others = sum(1 for r in results if r["rank"] is None)
    assert f"Sono elencate 5 delle {others} domande non ammesse" in page


# --------------------------------------------------------------------------
# named outputs: a column each in the ranking table, per item in the details
# --------------------------------------------------------------------------

#: the call's named outputs: name, labels, kind, the value of the i-th application
OUTPUTS = [
    ("category", {"it": "Categoria della filiera", "en": "Category of the supply chain"}, "text",
     lambda i: "A" if i % 2 else "B"),
    ("firms", {"it": "Imprese aderenti", "en": "Member firms"}, "int", lambda i: 1000 + i),
    ("women", {"it": "Quota di imprese femminili", "en": "Share of women-led firms"}, "percent",
     lambda i: "0.25"),
    ("founded", {"it": "Data del contratto", "en": "Date of the contract"}, "date",
     lambda i: None if i % 3 == 0 else "2013-03-01"),
    ("iso", {"it": "Certificazione", "en": "Certified"}, "bool", lambda i: i % 2 == 0),
    ("ceiling", {"it": "Massimale de minimis residuo", "en": "Remaining de minimis ceiling"}, "money",
     lambda i: "1234.50"),
]
PER_ITEM_LABEL = {"it": "Quota di contributo per impresa", "en": "Grant share per firm"}


def _with_outputs(results, lang):
    for i, r in enumerate(results):
        if r["status"] == "invalid":
            continue
        outs = {}
        for name, labels, kind, value in OUTPUTS:
            v = value(i)
            outs[name] = {"label": labels[lang], "kind": kind, "value": v, "text": str(v),
                          "because": f"{labels[lang]}: {v} (regola)"}
        outs["aid"] = {"label": PER_ITEM_LABEL[lang], "kind": "money", "value": None, "text": None,
                       "because": f"{PER_ITEM_LABEL[lang]}: #1 Alfa srl € 10,00",
                       "items": [{"position": 1, "key": "IT1", "name": "Alfa srl", "value": "10.00",
                                  "text": "€ 10,00"}]}
        r["outputs"] = outs
    return results


def _compact(r):
    """A ranking row as bando score passes it to the report: only the values of the outputs of one value."""
    row = {k: r[k] for k in ("application", "applicant", "status", "score", "requested", "grant", "rank",
                             "max_score", "pass_score", "criteria", "placement")}
    row["outputs"] = {n: {"value": o["value"]} for n, o in (r.get("outputs") or {}).items() if "items" not in o}
    return row


def _ranking(page):
    """The ranking table as (header texts, {application: [(cell attributes, cell text), …]})."""
    import html as _html
    table = page.split('<table class="ranking"', 1)[1].split("</table>", 1)[0]
    strip = lambda s: _html.unescape(re.sub(r"<[^>]+>", "", s)).strip()  # noqa: E731
    head = [strip(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", table.split("</thead>", 1)[0], re.S)]
    rows = {}
    for body in re.findall(r'<tr class="st-[^"]*">(.*?)</tr>', table, re.S):
        cells = [(attrs, strip(text)) for attrs, text in re.findall(r"<td([^>]*)>(.*?)</td>", body, re.S)]
        rows[cells[1][1]] = cells
    return head, rows


@pytest.mark.parametrize("lang", ["it", "en"])
def test_the_ranking_table_has_a_column_per_output_of_one_value(lang):
    results = _with_outputs(make_results(40, seed=9, lang=lang), lang)
    call = make_call(lang)
    summary = summarize(results, call)
    ranked = [r for r in results if r["rank"] is not None]
    # as bando score calls it: the details are full results, the table's rows carry only the values
    page = render_report(ranked[:3], summary, call, lang, rows=[_compact(r) for r in ranked])
    assert check_html(page).problems == []
    head, rows = _ranking(page)
    labels = [labels[lang] for _n, labels, _k, _v in OUTPUTS]
    crit_labels = [c[1][lang] for c in CRITERIA]
    assert [h.startswith(c) for h, c in zip(head[7:], crit_labels)] == [True] * len(CRITERIA)
    assert head[7 + len(CRITERIA):] == labels  # after the criteria, in the call's order
    assert PER_ITEM_LABEL[lang] not in head  # per item: in the details only
    assert page.count(PER_ITEM_LABEL[lang]) == 3  # once in each detailed application
    assert len(rows) == len(ranked)
    first = next(i for i, r in enumerate(results) if r["rank"] == ranked[0]["rank"])
    cells = rows[ranked[0]["application"]][7 + len(CRITERIA):]
    texts = [text for _attrs, text in cells]
    yes, no = ("sì", "no") if lang == "it" else ("yes", "no")
    expected = ["A" if first % 2 else "B", "1.0%02d" % first if lang == "it" else "1,0%02d" % first,
                "25 %" if lang == "it" else "25%",
                "" if first % 3 == 0 else ("1º marzo 2013" if lang == "it" else "1 March 2013"),
                yes if first % 2 == 0 else no, "€ 1.234,50" if lang == "it" else "€1,234.50"]
    assert texts == expected
    # a text and a date are left-aligned and a date sorts by its ISO form; numbers are numbers
    assert 'class="txt"' in cells[0][0]
    assert ('data-key="2013-03-01"' in cells[3][0]) == (first % 3 != 0)
    assert 'data-sort="num" title="%s"' % labels[1] in page
    assert 'data-sort="text" title="%s"' % labels[3] in page
    for row in rows.values():
        assert len(row) == 7 + len(CRITERIA) + len(OUTPUTS)
        for _attrs, text in row:
            assert text not in ("None", "True", "False", "nan")


def test_the_funding_line_spans_the_output_columns():
    results = _with_outputs(make_results(60, seed=5, budget="400000.00"), "it")
    call = make_call("it", budget="400000.00")
    page = render_report(results, summarize(results, call), call, "it")
    assert "not_funded" in {r["status"] for r in results}
    assert f'<tr class="line"><td colspan="{7 + len(CRITERIA) + len(OUTPUTS)}">' in page


def test_a_call_without_outputs_has_no_output_columns(page_it):
    head, _rows = _ranking(page_it)
    assert len(head) == 7 + len(CRITERIA)
    table = page_it.split('<table class="ranking"', 1)[1].split("</table>", 1)[0]
    assert "w-out" not in table and 'class="txt"' not in table


def test_the_details_state_each_output_under_its_label_once():
    results = _with_outputs(make_results(10, seed=4), "it")
    call = make_call()
    page = render_report(results, summarize(results, call), call, "it")
    assert '<span class="glabel">Categoria della filiera</span><br><span class="because">A (regola)</span>' in page \
        or '<span class="glabel">Categoria della filiera</span><br><span class="because">B (regola)</span>' in page
    assert "Categoria della filiera: " not in page


@pytest.mark.parametrize("lang", ["it", "en"])
def test_bando_score_report_lists_the_outputs_of_the_call(tmp_path, lang):
    """End to end: the small call of tests/golden/outputs, its report in each language."""
    import json
    from pathlib import Path
    from engine import score_batch
    golden = Path(__file__).resolve().parents[1] / "golden" / "outputs"
    batch = tmp_path / "batch.jsonl"
    batch.write_text("".join(json.dumps(json.loads((golden / f"FIL-00{i}.input.json").read_text(encoding="utf-8")))
                             + "\n" for i in (1, 2, 3)), encoding="utf-8")
    score_batch(str(golden / "filiere.bando"), str(batch), str(tmp_path / "out"), lang=lang, letters=False)
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    head, rows = _ranking(page)
    assert head[8:] == (["Categoria della rete", "PMI tra i partner", "Grandi imprese tra i partner"] if lang == "it"
                        else ["Category of the network", "SMEs among the partners", "Large firms among the partners"])
    assert [t for _a, t in rows["FIL-001"][8:]] == ["A", "3", "1"]
    assert [t for _a, t in rows["FIL-003"][8:]] == ["B", "2", "1"]
    assert "FIL-002" not in rows  # not eligible: not in the ranking table
    share = "Quota del contributo di ciascun partner" if lang == "it" else "Each partner's share of the grant"
    assert share not in page.split('<table class="ranking"', 1)[1].split("</table>", 1)[0]
    # the cut application's shares, in its details, are those of its award
    detail = page.split('id="app-FIL-003"', 1)[1].split("</details>", 1)[0]
    assert ("€ 19.230,00" if lang == "it" else "€19,230.00") in detail


class _ReadByPosition:
    """A sequence of rows as bando score hands them over: read by position, each read counted."""

    def __init__(self, rows):
        self.rows, self.reads = rows, 0

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        self.reads += 1
        return self.rows[i]


def test_write_report_streams_the_page_render_report_returns(batch, tmp_path):
    import io
    from collections.abc import Sequence
    from engine.report.report import write_report
    results, summary, call = batch
    Sequence.register(_ReadByPosition)
    # in table order, as bando score gives them: the ranked ones by rank, then the others
    ordered = sorted(results, key=lambda r: (r["rank"] is None, r["rank"] or 0, r["application"]))
    rows = _ReadByPosition(ordered)
    fh = io.StringIO()
    write_report(fh, results[:5], summary, call, "it", rows=rows)
    assert fh.getvalue() == render_report(results[:5], summary, call, "it", rows=results)
    # each row read once to order the tables (no key kept: they came in order), the first once more for
    # the columns, and each once more as its line is written
    assert rows.reads == 2 * len(results) + 1


def test_rows_in_any_order_give_the_page_of_rows_in_rank_order(batch):
    results, summary, call = batch
    shuffled = list(results)
    random.Random(3).shuffle(shuffled)
    ordered = sorted(results, key=lambda r: (r["rank"] is None, r["rank"] or 0, r["application"]))
    assert render_report(results[:4], summary, call, "it", rows=shuffled) == \
        render_report(results[:4], summary, call, "it", rows=ordered) == \
        render_report(results[:4], summary, call, "it", rows=tuple(reversed(ordered)))


@pytest.mark.parametrize("statuses, line_before", [
    (["funded", "funded", "not_funded", "not_funded"], 2),
    (["funded", "tied", "tied", "not_funded"], 1),
    (["not_funded", "funded", "not_funded"], None),  # the first not funded is at the top: no line anywhere
    (["funded", "funded"], None),
    (["admitted", "not_funded"], None),  # nothing funded above it
])
def test_the_funding_line_is_before_the_first_not_funded_below_a_funded_one(statuses, line_before):
    results = make_results(len(statuses), seed=1)
    for i, (r, s) in enumerate(zip(results, statuses)):
        r.update(status=s, rank=i + 1)
    call = make_call("it")
    page = render_report([], summarize(results, call), call, "it", rows=results)
    table = page.split('<table class="ranking"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr class="(line|st-[a-z_]+)"', table)
    expected = [f"st-{s}" for s in statuses]
    if line_before is not None:
        expected.insert(line_before, "line")
    assert rows == expected
