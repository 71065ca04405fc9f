"""Seeded batches of realistic applications for the policies in ``policies/``.

    python examples/generate.py salentonet --n 500 --seed 1 --out examples/salentonet/batch

writes the same batch in the three forms ``bando score`` reads
(``docs/batch-formats.md``):

* ``OUT.jsonl``: one application per line, shaped like ``bando schema``;
* ``OUT.csv``: one row per application, plus ``OUT.<list>.csv`` for each list of
  records (``OUT.firms.csv``: one row per member firm, linked by the
  ``application`` column). Italian calls use ``;`` as separator and Italian
  numbers, dates and yes/no (``1.234,56``, ``30/06/2013 12:00:00``, ``sì``);
  English calls use ``,`` and ``1234.56``, ISO dates, ``yes``;
* ``OUT.xlsx``: sheet ``applications`` plus one sheet per list (``firms``...),
  with native numbers, dates and booleans.

The batches look like a real call: most applications are eligible, about one
in ten fails a requirement (a different one each time), a few rows carry data
errors (a number that is not a number, a missing required field) so that the
batch error handling shows, scores tie, submissions pile up at the opening
second of first-come-first-served calls, and some firms appear in two
applications so that the policies' ``unique`` rule has work to do.

The same seed always gives the same files. Columns and value formats come from
the policy's input schema, so the files stay in step with the policy.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import sys
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

D = Decimal
CENT = D("0.01")

# --------------------------------------------------------------------------- helpers


def piva(rng: random.Random, office: str) -> str:
    """A well-formed Italian VAT number: 7 digits, the provincial office code, the check digit."""
    body = f"{rng.randrange(0, 10**7):07d}{office}"
    odd = sum(int(body[i]) for i in range(0, 10, 2))
    even = 0
    for i in range(1, 10, 2):
        d = int(body[i]) * 2
        even += d - 9 if d > 9 else d
    return "IT" + body + str((10 - (odd + even) % 10) % 10)


def money(x) -> Decimal:
    """An amount in euro, to the cent (rounded down, so a share never exceeds its ceiling)."""
    return D(x).quantize(CENT, rounding=ROUND_DOWN)


def at(day: dt.date, rng: random.Random, closes: dt.datetime | None = None) -> dt.datetime:
    """A submission time on `day` in office hours, before the call's closing time."""
    end = 19
    if closes is not None and day == closes.date():
        end = closes.hour
    return dt.datetime.combine(day, dt.time(rng.randrange(8, end), rng.randrange(60), rng.randrange(60)))


def spread_days(rng: random.Random, opens: dt.date, closes: dt.date, rush_last_days=10) -> dt.date:
    """Submissions pile up towards the deadline."""
    span = (closes - opens).days
    if rng.random() < 0.45:
        return closes - dt.timedelta(days=rng.randrange(0, min(rush_last_days, span + 1)))
    return opens + dt.timedelta(days=rng.randrange(0, span + 1))


def half_marks(rng: random.Random, centre: float, n=3) -> list:
    """n evaluators' marks on a 0–5 scale in half points, around `centre`."""
    out = []
    for _ in range(n):
        v = round((centre + rng.choice([-0.5, 0, 0, 0, 0.5])) * 2) / 2
        out.append(D(str(min(5.0, max(0.0, v)))))
    return out


class Firms:
    """Firm names and VAT numbers, never the same VAT twice unless asked to share."""

    def __init__(self, rng, surnames, trades, forms, offices):
        self.rng, self.surnames, self.trades, self.forms, self.offices = rng, surnames, trades, forms, offices
        self.vats: set[str] = set()

    def identity(self, office=None, trade=None):
        rng = self.rng
        while True:
            vat = piva(rng, office or rng.choice(self.offices))
            if vat not in self.vats:
                self.vats.add(vat)
                break
        trade = trade or rng.choice(self.trades)
        name = f"{trade} {rng.choice(self.surnames)} {rng.choice(self.forms)}"
        return vat, name


def size(rng, micro_share=0.35):
    """(staff, turnover, balance sheet) of a small firm; a share of them micro firms."""
    if rng.random() < micro_share:
        staff = rng.randrange(1, 10)
    else:
        staff = rng.choice([10, 12, 14, 17, 21, 26, 32, 38, 45, 55, 70, 90, 130, 180])
    turnover = money(staff * rng.randrange(65_000, 160_000, 500))
    balance = money(turnover * D(rng.choice(["0.45", "0.55", "0.6", "0.7", "0.8"])))
    return staff, turnover, balance


# --------------------------------------------------------------------------- SalentoNet

LE_SURNAMES = ["De Giorgi", "Mariano", "Stefanelli", "Quarta", "Rizzo", "Carlà", "Perrone", "Manca", "Leo",
               "Miglietta", "De Santis", "Giannuzzi", "Martina", "Vergine", "Pellegrino", "Marra", "Negro",
               "Sergi", "Ingrosso", "Serra", "Scarcia", "Gianfreda", "Chirivì", "Longo", "Cazzato", "Coppola",
               "Pati", "Nuzzo", "Tundo", "Mangia", "Calò", "Palma", "Caputo", "Surdo", "Pisanò", "Giurgola"]
LE_TRADES = ["Calzaturificio", "Maglificio", "Mobilificio", "Oleificio", "Cantine", "Pietra Leccese", "Tessile",
             "Software", "Ceramiche", "Confezioni", "Meccanica", "Agriturismo", "Pastificio", "Caseificio"]
IT_FORMS = ["S.r.l.", "S.r.l.", "S.r.l.s.", "S.n.c.", "S.a.s.", "Soc. Coop."]
LE_NETWORKS = ["Salento", "Capo di Leuca", "Grecìa Salentina", "Terra d'Otranto", "Arneo", "Serre Salentine",
               "Valle della Cupa", "Porto Cesareo", "Gallipoli", "Nardò", "Tricase", "Casarano", "Maglie"]
LE_SECTORS = ["Shoes", "Moda", "Food", "Wine", "Pietra", "Contract", "Software", "Turismo", "Ceramica", "Olio",
              "Tessile", "Nautica", "Meccanica", "Bio"]
LE_TITLES = ["Export in {m} con showroom condiviso", "Piattaforma e-commerce comune per {m}",
             "Marchio di rete e certificazione di filiera", "Acquisti e logistica comuni",
             "Prototipazione condivisa e design", "Promozione congiunta in {m}"]
MARKETS = ["Germania", "Russia", "Cina", "Stati Uniti", "Canada", "Giappone", "Emirati Arabi", "Brasile", "Svizzera"]


def make_salentonet(rng: random.Random, n: int) -> list[dict]:
    opens, closes = dt.date(2013, 9, 16), dt.datetime(2013, 11, 29, 12, 0)
    firms = Firms(rng, LE_SURNAMES, LE_TRADES, IT_FORMS, ["075"])
    apps, pool = [], []
    reasons = ["min_firms", "registered", "contract_before", "local_majority", "all_sme", "de_minimis",
               "cost_range", "duration", "on_time"]
    for i in range(n):
        k = rng.choice([3, 3, 4, 4, 4, 5, 5, 6, 6, 7, 8, 9, 10, 12])
        micro = rng.random() < 0.15
        members = []
        for j in range(k):
            province = "LE" if j < k * 0.7 or rng.random() < 0.6 else rng.choice(["BR", "TA", "BA"])
            vat, name = firms.identity({"LE": "075", "BR": "074", "TA": "073", "BA": "072"}[province])
            staff, turnover, balance = size(rng, 1.0 if micro else 0.3)
            f = {"vat": vat, "name": name, "province": province, "employees": staff, "turnover": turnover,
                 "balance_sheet": balance, "certified": rng.random() < 0.3}
            if rng.random() < 0.15:
                f["de_minimis_received"] = money(rng.randrange(5_000, 120_000, 500))
            members.append(f)
        if pool and rng.random() < 0.04:  # a firm already in another network
            members[-1] = dict(rng.choice(pool))
        pool.extend(dict(f) for f in members[:2])
        cost = money(rng.choice([25_000, 40_000, 50_000, 60_000, 75_000, 80_000, 100_000, 120_000, 149_000])
                     + rng.choice([0, 0, 0, D("0.50"), D("333.33")]))
        requested = money(min(cost / 2, D(rng.choice([20_000, 30_000, 40_000, 50_000, 60_000]))))
        day = spread_days(rng, opens, closes.date())
        market = rng.choice(MARKETS)
        app = {
            "id": f"SN-2013-B{i + 1:04d}",
            "submitted_at": at(day, rng, closes),
            "network": {
                "name": f"Rete {rng.choice(LE_NETWORKS)} {rng.choice(LE_SECTORS)}",
                "contract_date": day - dt.timedelta(days=rng.randrange(10, 400)),
                "registered": True,
                "firms": members,
            },
            "project": {
                "title": rng.choice(LE_TITLES).format(m=market),
                "cost": cost, "amount_requested": requested, "months": rng.choice([6, 9, 12, 12, 18, 24]),
                "innovation": rng.choice([2, 3, 3, 4, 4, 4, 4, 5, 5, 5]),
                "new_markets": rng.choice([0, 1, 2, 2, 3, 3, 4, 5, 6, 8]),
                "production_abroad": rng.random() < 0.5,
                "integration": rng.choice(["nessuna", "commerciale", "produttiva", "produttiva", "entrambe",
                                           "entrambe"]),
                "certifications_planned": rng.choice([0, 1, 1, 2, 2, 3, 4]),
            },
        }
        if rng.random() < 0.10:
            spoil_salentonet(rng, app, rng.choice(reasons))
        apps.append(app)
    return apps


def spoil_salentonet(rng, app, reason):
    net, prj = app["network"], app["project"]
    if reason == "min_firms":
        net["firms"] = net["firms"][:2]
    elif reason == "registered":
        net["registered"] = False
    elif reason == "contract_before":
        net["contract_date"] = app["submitted_at"].date() + dt.timedelta(days=rng.randrange(1, 20))
    elif reason == "local_majority":
        for f in net["firms"][: (len(net["firms"]) + 1) // 2 + 1]:
            f["province"] = rng.choice(["BR", "TA"])
    elif reason == "all_sme":
        f = net["firms"][0]
        f["employees"], f["turnover"], f["balance_sheet"] = 260, money(61_000_000), money(47_500_000)
    elif reason == "de_minimis":
        net["firms"][-1]["de_minimis_received"] = money(199_000)
    elif reason == "cost_range":
        prj["cost"] = money(rng.choice([12_000, 18_500, 175_000, 240_000]))
    elif reason == "duration":
        prj["months"] = rng.choice([3, 4, 30, 36])
    elif reason == "on_time":
        app["submitted_at"] = dt.datetime(2013, 11, 29, 12, rng.randrange(1, 59), rng.randrange(60))


# --------------------------------------------------------------------------- Mech-Net

VA_SURNAMES = ["Bossi", "Colombo", "Ferrario", "Brambilla", "Macchi", "Zanzi", "Bianchi", "Castiglioni",
               "Lualdi", "Pozzi", "Crespi", "Bernasconi", "Galli", "Mazzucchelli", "Tosi", "Cattaneo", "Ceriani",
               "Daverio", "Premoli", "Ossola", "Rossetti", "Guffanti", "Zampieri", "Maffioli", "Caldiroli",
               "Broggini", "Bardelli", "Mentasti", "Riva", "Sessa", "Bonacina", "Tettamanti"]
VA_TRADES = [("Meccanica", "25.62.00"), ("Officina Meccanica", "25.62.00"), ("Torneria", "25.62.00"),
             ("Minuterie Metalliche", "25.94.00"), ("Stampi", "25.73.20"), ("Carpenteria", "25.11.00"),
             ("Rettifiche", "25.62.00"), ("Fresatura CNC", "25.62.00"), ("Galvanica", "25.61.00"),
             ("Costruzioni Macchine", "28.41.00"), ("Fonderia", "24.53.00"), ("Manutenzioni", "33.12.10"),
             ("Ingranaggi", "28.15.10"), ("Componenti Auto", "29.32.09")]
VA_PLACES = ["Varesina", "dell'Olona", "del Seprio", "di Gallarate", "di Busto Arsizio", "del Verbano",
             "di Saronno", "della Valceresio", "di Tradate", "di Luino", "della Valle Olona", "Insubrica"]
QUANT_KPIS = [("Riduzione dei costi di acquisto (%)", 0, 8), ("Quota di fatturato estero (%)", 10, 18),
              ("Ore macchina condivise all'anno", 0, 1500), ("Tempo medio di consegna (giorni)", 20, 14),
              ("Scarti di produzione (%)", D("4.5"), 3), ("Nuovi clienti comuni", 0, 5),
              ("Fatturato di rete (migliaia di euro)", 0, 350)]
QUAL_KPIS = ["Riconoscibilità del marchio di rete", "Clima di collaborazione tra gli imprenditori",
             "Competenze manageriali acquisite", "Reputazione del marchio territoriale"]
AREAS = ["acquisti_collettivi", "servizi_progettazione", "servizi_commerciali", "macchinari_attrezzature",
         "forza_lavoro", "marchio_qualita", "marchio_territoriale"]
MANAGERS = ["ing. Stefano Broggini", "dott. Marco Premoli", "ing. Paolo Riva", "dott.ssa Laura Ossola",
            "ing. Andrea Sessa", "dott. Carlo Bardelli", "ing. Giorgio Mentasti", "dott. Fabio Guffanti",
            "ing. Elena Daverio", "dott.ssa Chiara Maffioli", "ing. Alberto Lualdi", "dott. Pietro Galli"]


def make_mechnet(rng: random.Random, n: int) -> list[dict]:
    opens = dt.datetime(2010, 1, 11, 9, 0)
    firms = Firms(rng, VA_SURNAMES, [t for t, _ in VA_TRADES], ["S.n.c.", "S.n.c.", "S.r.l.", "S.a.s.", "& C. S.n.c."],
                  ["012"])
    apps, pool = [], []
    reasons = ["min_firms", "varese", "mechanical", "mostly_artisan", "de_minimis", "manager", "kpis",
               "kpis_measurable", "checks", "collaboration", "cost_range"]
    for i in range(n):
        k = rng.choice([5, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14])
        members = []
        for j in range(k):
            trade, ateco = rng.choice(VA_TRADES)
            vat, name = firms.identity("012", trade)
            staff, turnover, balance = size(rng, 0.55)
            members.append({"vat": vat, "name": name, "province": "VA", "ateco": ateco,
                            "artisan": j < k * 0.6 or rng.random() < 0.5, "employees": staff, "turnover": turnover,
                            "balance_sheet": balance})
        if pool and rng.random() < 0.04:
            members[-1] = dict(rng.choice(pool))
        pool.extend(dict(f) for f in members[:2])
        # first come, first served: a rush at the opening second, then a trickle
        r = rng.random()
        if r < 0.08:
            submitted = opens
        elif r < 0.35:
            submitted = opens + dt.timedelta(seconds=rng.randrange(1, 600))
        else:
            submitted = opens + dt.timedelta(days=rng.randrange(0, 46), hours=rng.randrange(0, 8),
                                             minutes=rng.randrange(60), seconds=rng.randrange(60))
        nq, nl = rng.choice([2, 2, 3, 3, 4, 5, 6]), rng.choice([1, 1, 2, 3])
        kpis = [{"name": q[0], "kind": "quantitativo", "baseline": D(q[1]), "target": D(q[2])}
                for q in rng.sample(QUANT_KPIS, nq)]
        kpis += [{"name": q, "kind": "qualitativo"} for q in rng.sample(QUAL_KPIS, nl)]
        cost = money(rng.choice([12_000, 18_000, 25_000, 30_000, 40_000, 50_000, 60_000, 75_000, 80_000]))
        apps.append({
            "id": f"MN-2010-B{i + 1:04d}",
            "submitted_at": submitted,
            "network": {"name": f"Rete {rng.choice(['Meccanica', 'Mech', 'Subfornitura', 'Precisione'])} "
                                f"{rng.choice(VA_PLACES)}",
                        "firms": members, "shared": rng.sample(AREAS, rng.choice([2, 2, 3, 3, 4, 5, 6, 7]))},
            "plan": {"manager": rng.choice(MANAGERS),
                     "manager_hours": rng.choice([100, 120, 150, 180, 200, 250, 300, 360]),
                     "kpis": kpis, "checks_per_year": rng.choice([2, 2, 3, 4, 4, 6, 12]),
                     "cost": cost, "amount_requested": money(cost / 2 if rng.random() < 0.8 else cost * D("0.4"))},
        })
        if rng.random() < 0.10:
            spoil_mechnet(rng, apps[-1], rng.choice(reasons))
    return apps


def spoil_mechnet(rng, app, reason):
    net, plan = app["network"], app["plan"]
    if reason == "min_firms":
        net["firms"] = net["firms"][:4]
    elif reason == "varese":
        net["firms"][-1]["province"] = rng.choice(["CO", "MI"])
    elif reason == "mechanical":
        net["firms"][-1]["ateco"] = rng.choice(["62.01.00", "47.52.10", "43.21.01"])
    elif reason == "mostly_artisan":
        for f in net["firms"]:
            f["artisan"] = False
    elif reason == "de_minimis":
        net["firms"][0]["de_minimis_received"] = money(199_500)
    elif reason == "manager":
        if rng.random() < 0.5:
            del plan["manager"]
        else:
            plan["manager_hours"] = rng.choice([40, 60, 80, 99])
    elif reason == "kpis":
        plan["kpis"] = [k for k in plan["kpis"] if k["kind"] == "quantitativo"]
    elif reason == "kpis_measurable":
        del plan["kpis"][0]["target"]
    elif reason == "checks":
        plan["checks_per_year"] = 1
    elif reason == "collaboration":
        net["shared"] = net["shared"][:1]
    elif reason == "cost_range":
        plan["cost"] = money(rng.choice([8_000, 95_000, 120_000]))


# --------------------------------------------------------------------------- Distretti

SIC_SURNAMES = ["Russo", "Lombardo", "La Rosa", "Messina", "Caruso", "Grasso", "Marino", "Amato", "Di Stefano",
                "Catalano", "Greco", "Ferrara", "Rizzo", "Costa", "Giordano", "Vitale", "Leone", "Scalia",
                "Li Causi", "Lo Presti", "Sciortino", "Bonanno", "Calì", "Cannizzaro", "Pappalardo", "Privitera",
                "Scuderi", "Sortino", "Occhipinti", "Puglisi", "Abate", "Barbagallo", "Musumeci", "Vasta",
                "Spadaro", "Cascone", "Iacono", "Licitra", "Schembari", "Giuffrida", "Patanè", "Failla"]
SIC_OFFICES = ["082", "087", "083", "089", "088", "081", "084", "085", "086"]
# (district, trade, ATECO division, [(stage, ATECO code)])
SIC_CHAINS = [
    ("Agrumi", "Agrumi", "01", [("fornitura", "01.30.00"), ("produzione", "01.23.00"), ("distribuzione", "46.31.10")]),
    ("Ceramica", "Ceramiche", "23", [("produzione", "23.41.00"), ("distribuzione", "46.44.10")]),
    ("Lapideo", "Marmi", "08", [("fornitura", "08.11.00"), ("produzione", "23.70.10"), ("distribuzione", "46.73.40")]),
    ("Pesca", "Pesca", "03", [("produzione", "03.11.00"), ("fornitura", "33.15.00"), ("distribuzione", "10.20.00")]),
    ("Dolciario", "Dolciaria", "10", [("produzione", "10.82.00"), ("distribuzione", "46.36.00")]),
    ("Vino", "Vini", "11", [("fornitura", "01.21.00"), ("produzione", "11.02.10"), ("distribuzione", "46.34.20")]),
    ("Meccatronica", "Meccatronica", "28", [("produzione", "28.99.99"), ("fornitura", "26.51.21")]),
    ("Nautica", "Nautica", "30", [("produzione", "30.12.00"), ("fornitura", "25.62.00"), ("servizi", "33.15.00")]),
    ("Olio", "Oleificio", "10", [("fornitura", "01.26.00"), ("produzione", "10.41.10"), ("distribuzione", "46.33.10")]),
    ("Tessile", "Tessile", "13", [("produzione", "13.20.00"), ("distribuzione", "46.41.00")]),
]
SIC_AREAS = ["della Sicilia Orientale", "del Val di Noto", "del Trapanese", "dell'Etna", "dei Nebrodi",
             "del Ragusano", "del Belice", "delle Madonie", "del Calatino", "dello Stretto", "del Canale di Sicilia",
             "dei Sicani", "Ibleo", "Palermitano", "Agrigentino", "Nisseno", "Ennese", "Peloritano"]
REPRESENTATIVES = ["Consorzio di tutela", "Confartigianato", "CNA", "Confindustria", "Camera di Commercio",
                   "Associazione produttori", "Consorzio di filiera", "GAL"]


def district_firms(rng, firms, chain, k, employees, division):
    _, trade, _, stages = chain
    out = []
    base, extra = divmod(employees, k)
    for j in range(k):
        stage, code = stages[j % len(stages)] if j < len(stages) else rng.choice(stages)
        vat, _ = firms.identity()
        name = f"{rng.choice(SIC_SURNAMES)} {trade} {rng.choice(['srl', 'snc', 'sas', 'coop'])}"
        out.append({"vat": vat, "name": name, "region": "Sicilia", "stage": stage,
                    "ateco": code if not division else f"{division}.{code[3:]}",
                    "employees": base + (1 if j < extra else 0), "signed_pact": True})
    return out


def make_distretto_riconoscimento(rng: random.Random, n: int) -> list[dict]:
    opens, closes = dt.date(2025, 3, 3), dt.datetime(2025, 9, 30, 12, 0)
    firms = Firms(rng, SIC_SURNAMES, ["x"], ["srl"], SIC_OFFICES)
    apps, pool = [], []
    reasons = ["min_firms", "min_employees", "supply_chain", "rooted", "pact_signed_by_all", "representative",
               "pact_before", "pact_covers", "on_time"]
    for i in range(n):
        chain = rng.choice(SIC_CHAINS)
        horizontal = rng.random() < 0.35
        k = rng.choice([50, 50, 51, 52, 52, 53, 54, 55, 56, 58, 60])
        employees = rng.randrange(150, 420)
        members = district_firms(rng, firms, chain, k, employees, chain[2] if horizontal else None)
        if horizontal:
            for f in members:
                f["stage"] = "produzione"
        if rng.random() < 0.15:  # cross-border or extra-regional members (a minority)
            for f in members[-rng.randrange(2, 9):]:
                f["region"] = rng.choice(["Calabria", "Malta", "Tunisia"])
                if f["region"] in ("Malta", "Tunisia"):
                    f["vat"] = ("MT" if f["region"] == "Malta" else "TN") + f["vat"][2:10]
        if pool and rng.random() < 0.03:
            members[-1] = dict(rng.choice(pool))
        pool.extend(dict(f) for f in members[:1])
        day = spread_days(rng, opens, closes.date(), rush_last_days=20)
        app = {
            "id": f"RIC-2025-B{i + 1:04d}",
            "submitted_at": at(day, rng, closes),
            "district": {
                "name": f"Distretto {chain[0]} {rng.choice(SIC_AREAS)}",
                "chain": "orizzontale" if horizontal else "verticale",
                "division": chain[2],
                "pact_signed": day - dt.timedelta(days=rng.randrange(5, 200)),
                "pact_until": dt.date(rng.choice([2028, 2029, 2030, 2031]), 12, 31),
                "representative": f"{rng.choice(REPRESENTATIVES)} – {rng.choice(SIC_SURNAMES)}",
                "firms": members,
            },
        }
        if rng.random() < 0.6:
            costs = money(rng.randrange(8_000, 60_000, 500))
            app["setup_costs"] = costs
            app["amount_requested"] = money(min(costs / 2, D(rng.choice([10_000, 15_000, 20_000, 25_000]))))
        if rng.random() < 0.10:
            spoil_riconoscimento(rng, app, rng.choice(reasons))
        apps.append(app)
    return apps


def spoil_riconoscimento(rng, app, reason):
    dis = app["district"]
    if reason == "min_firms":
        dis["firms"] = dis["firms"][: rng.randrange(38, 50)]
    elif reason == "min_employees":
        for f in dis["firms"]:
            f["employees"] = 2
    elif reason == "supply_chain":
        if dis["chain"] == "verticale":
            for f in dis["firms"]:
                f["stage"] = "produzione"
        else:
            for f in dis["firms"][: len(dis["firms"]) // 3]:
                f["ateco"] = "46.90.00"
    elif reason == "rooted":
        for f in dis["firms"][: len(dis["firms"]) // 2 + 1]:
            f["region"] = "Calabria"
    elif reason == "pact_signed_by_all":
        rng.choice(dis["firms"])["signed_pact"] = False
    elif reason == "representative":
        del dis["representative"]
    elif reason == "pact_before":
        dis["pact_signed"] = app["submitted_at"].date() + dt.timedelta(days=rng.randrange(1, 15))
    elif reason == "pact_covers":
        dis["pact_until"] = dt.date(2027, 12, 31)
    elif reason == "on_time":
        app["submitted_at"] = dt.datetime(2025, 9, 30, rng.randrange(12, 18), rng.randrange(1, 60), 0)


PROJECT_TYPES = ["osservatori_banche_dati", "ricerca_sviluppo_trasferimento", "marchi_distretto",
                 "portali_distretto", "fiere", "strutture_promozionali_estero", "laboratori_centri_prova",
                 "software_gestionale", "ricerca_industriale_aggregata", "bonifica_siti_dismessi",
                 "politiche_formative_lavoro", "promozione_prodotti_innovativi", "opere_infrastrutture"]
PROJECT_TITLES = {
    "osservatori_banche_dati": "Osservatorio economico del distretto",
    "ricerca_sviluppo_trasferimento": "Trasferimento tecnologico nella filiera",
    "marchi_distretto": "Marchio collettivo del distretto",
    "portali_distretto": "Portale del distretto",
    "fiere": "Partecipazione collettiva a fiere internazionali",
    "strutture_promozionali_estero": "Show-room permanente all'estero",
    "laboratori_centri_prova": "Laboratorio prove e certificazione",
    "software_gestionale": "Gestionale condiviso di filiera",
    "ricerca_industriale_aggregata": "Ricerca industriale aggregata",
    "bonifica_siti_dismessi": "Bonifica e riuso di un'area industriale dismessa",
    "politiche_formative_lavoro": "Academy del distretto",
    "promozione_prodotti_innovativi": "Promozione dei prodotti innovativi",
    "opere_infrastrutture": "Infrastrutture dell'area produttiva",
}
COMUNI = ["Comune di Caltagirone", "Comune di Mazara del Vallo", "Comune di Acireale", "Comune di Bronte",
          "Comune di Custonaci", "Comune di Modica", "Comune di Vittoria", "Libero Consorzio di Ragusa",
          "Comune di Santo Stefano di Camastra", "Comune di Marsala", "Città Metropolitana di Catania"]


def make_distretto_progetti(rng: random.Random, n: int) -> list[dict]:
    opens, closes = dt.date(2026, 2, 2), dt.datetime(2026, 4, 30, 12, 0)
    districts = []
    for j, chain in enumerate(SIC_CHAINS * 3):
        districts.append({"code": f"DP-SIC-2025-{j + 1:03d}",
                          "name": f"Distretto {chain[0]} {SIC_AREAS[j % len(SIC_AREAS)]}",
                          "firms": rng.randrange(50, 121), "recognised_until": dt.date(2028, 12, 15)})
    apps = []
    reasons = ["ati_third", "public_body_area", "association_pact", "consortium_majority", "works_by_public_bodies",
               "recognised", "cost_range", "duration", "cofinancing", "on_time"]
    for i in range(n):
        dis = dict(rng.choice(districts))
        kind = rng.choices(["ati", "ente_pubblico", "associazione", "consorzio"], [55, 20, 15, 10])[0]
        surname = rng.choice(SIC_SURNAMES)
        if kind == "ati":
            applicant = {"name": f"ATI {dis['name'].split()[1]} (capofila {surname} srl)",
                         "tax_code": piva(rng, rng.choice(SIC_OFFICES)), "kind": kind,
                         "ati_firms": -(-dis["firms"] // 3) + rng.randrange(0, 15)}
        elif kind == "ente_pubblico":
            applicant = {"name": rng.choice(COMUNI), "tax_code": f"{rng.randrange(10**10, 10**11)}", "kind": kind,
                         "in_district_area": True}
        elif kind == "associazione":
            applicant = {"name": f"{rng.choice(['Confartigianato', 'CNA', 'Confcommercio', 'Coldiretti'])} "
                                 f"{rng.choice(['Catania', 'Palermo', 'Ragusa', 'Trapani', 'Messina'])}",
                         "tax_code": f"9{rng.randrange(10**9, 10**10)}", "kind": kind, "pact_member": True}
        else:
            total = rng.randrange(10, 60)
            applicant = {"name": f"Consorzio {dis['name'].split()[1]} {surname}", "kind": kind,
                         "tax_code": piva(rng, rng.choice(SIC_OFFICES)),
                         "consortium_members": total,
                         "consortium_in_district": total // 2 + rng.randrange(1, total // 2 + 1)}
        types = PROJECT_TYPES if kind == "ente_pubblico" else PROJECT_TYPES[:-1]
        ptype = rng.choice(types)
        cost = money(rng.randrange(100, 1500) * 1000 + rng.choice([0, 0, 0, 500, D("250.75")]))
        intensity = D("0.8") if kind == "ente_pubblico" else D("0.5")
        requested = money(cost * intensity * D(rng.choice(["1", "1", "0.9", "0.8", "0.6"])))
        quality = rng.choice([2, 2.5, 3, 3, 3.5, 3.5, 4, 4, 4.5, 5])
        apps.append({
            "id": f"PSV-2026-B{i + 1:04d}",
            "submitted_at": at(spread_days(rng, opens, closes.date()), rng, closes),
            "applicant": applicant,
            "district": dis,
            "project": {"title": PROJECT_TITLES[ptype], "type": ptype, "cost": cost, "amount_requested": requested,
                        "months": rng.choice([12, 18, 24, 24, 30, 36]),
                        "firms_involved": rng.randrange(5, dis["firms"] + 1),
                        "new_jobs": rng.choice([0, 0, 1, 2, 3, 5, 6, 8, 10, 12])},
            "panel": {"quality": half_marks(rng, quality),
                      "innovation": half_marks(rng, rng.choice([2, 3, 3.5, 4, 4.5])),
                      "sustainability": half_marks(rng, rng.choice([2, 3, 3.5, 4, 5]))},
        })
        if rng.random() < 0.10:
            spoil_progetti(rng, apps[-1], rng.choice(reasons))
    return apps


def spoil_progetti(rng, app, reason):
    a, d, p = app["applicant"], app["district"], app["project"]
    if reason == "ati_third" or (reason in ("public_body_area", "association_pact", "consortium_majority")
                                 and a["kind"] == "ati"):
        a.update(kind="ati", ati_firms=d["firms"] // 3 - rng.randrange(1, 6))
    elif reason == "public_body_area" or a["kind"] == "ente_pubblico" and reason != "works_by_public_bodies":
        a.update(kind="ente_pubblico", in_district_area=False)
    elif reason == "association_pact" or a["kind"] == "associazione" and reason != "works_by_public_bodies":
        a.update(kind="associazione", pact_member=False)
    elif reason == "consortium_majority":
        a["consortium_in_district"] = a["consortium_members"] // 2
    if reason == "works_by_public_bodies":
        if a["kind"] == "ente_pubblico":
            a.update(kind="consorzio", consortium_members=20, consortium_in_district=15)
            a.pop("in_district_area", None)
        p["type"], p["title"] = "opere_infrastrutture", PROJECT_TITLES["opere_infrastrutture"]
    elif reason == "recognised":
        app["district"] = dict(d, recognised_until=dt.date(2026, 1, 31))
    elif reason == "cost_range":
        p["cost"] = money(rng.choice([60_000, 85_000, 1_800_000]))
        p["amount_requested"] = money(p["cost"] / 2)
    elif reason == "duration":
        p["months"] = rng.choice([6, 9, 42, 48])
    elif reason == "cofinancing":
        p["amount_requested"] = money(p["cost"] * D("0.95"))
    elif reason == "on_time":
        app["submitted_at"] = dt.datetime(2026, 4, 30, 12, rng.randrange(1, 60), rng.randrange(60))


# --------------------------------------------------------------------------- 2InS Clusters

MED_PARTNERS = [
    ("EC Business and Innovation Centre of Attika", "GR", "business_support"),
    ("University of Patras – Department of Business Administration", "GR", "university"),
    ("Region of Attica", "GR", "public_authority"),
    ("Centre for Research and Technology Hellas", "GR", "research_centre"),
    ("Chamber of Commerce and Industry of Marseille Provence", "FR", "chamber_of_commerce"),
    ("Antipolis Innovation Campus", "FR", "business_support"),
    ("Université de Toulon", "FR", "university"),
    ("Sviluppo Basilicata S.p.A.", "IT", "development_agency"),
    ("Province of Matera", "IT", "public_authority"),
    ("Università degli Studi della Basilicata", "IT", "university"),
    ("University-Enterprise Foundation of the Balearic Islands", "ES", "university"),
    ("Universidad de Málaga – OTRI", "ES", "university"),
    ("Isla Local Council", "MT", "public_authority"),
    ("Malta Enterprise", "MT", "development_agency"),
    ("Cyprus Chamber of Commerce and Industry", "CY", "chamber_of_commerce"),
    ("University of Cyprus – Research and Innovation Office", "CY", "research_centre"),
    ("Technology Park Ljubljana", "SI", "business_support"),
    ("National Association of Young Entrepreneurs (ANJE)", "PT", "sme_association"),
    ("Croatian Chamber of Economy – Split", "HR", "chamber_of_commerce"),
]
PILOT_WORDS = {
    "GR": ["Attica", "Patras", "Piraeus", "Achaia", "Olympia", "Hellas"],
    "FR": ["Provence", "Marseille", "Sophia", "Luberon", "Calanques"],
    "IT": ["Lucania", "Matera", "Vulture", "Basilicata", "Metaponto"],
    "ES": ["Mallorca", "Menorca", "Ibiza", "Palma", "Málaga"],
    "MT": ["Gozo", "Valletta", "Mdina"], "CY": ["Limassol", "Nicosia", "Paphos"], "SI": ["Koper", "Ljubljana"],
    "PT": ["Algarve", "Lisboa"], "HR": ["Split", "Dalmacija"],
}
PILOT_TRADES = ["Food Tech", "Software", "Marine", "Bio Cosmetics", "Robotics", "Solar", "Textiles", "Olive Oil",
                "Wine Tech", "3D Print", "Drone Systems", "Photonics", "Health Apps", "Aqua", "Logistics"]
PILOT_FORMS = {"GR": "S.A.", "FR": "SAS", "IT": "S.r.l.", "ES": "S.L.", "MT": "Ltd", "CY": "Ltd", "SI": "d.o.o.",
               "PT": "Lda", "HR": "d.o.o."}
VAT_PREFIX = {"GR": "EL"}
CLUSTER_THEMES = ["Agri-food", "Blue growth", "Creative industries", "Green building", "Tourism innovation",
                  "ICT for SMEs", "Renewable energy", "Smart logistics", "Cultural heritage", "Health and wellbeing"]


def make_2ins_clusters(rng: random.Random, n: int) -> list[dict]:
    opens, closes = dt.date(2011, 10, 3), dt.datetime(2011, 12, 16, 17, 0)
    apps, pool, vats = [], [], set()
    reasons = ["min_partners", "min_countries", "med_area", "one_lead", "knowledge_partner", "min_pilots",
               "pilots_sme", "pilots_local", "cofinancing", "budget_range", "duration", "on_time"]
    knowledge = [p for p in MED_PARTNERS if p[2] in ("university", "research_centre")]
    for i in range(n):
        while True:
            ps = rng.sample(MED_PARTNERS, rng.choice([3, 4, 4, 5, 5, 6, 7, 9]))
            if len({p[1] for p in ps}) >= 3:
                break
        if not any(p[2] in ("university", "research_centre") for p in ps):
            ps[-1] = rng.choice([k for k in knowledge if k not in ps])
        partners = [{"name": p[0], "country": p[1], "kind": p[2]} for p in ps]
        partners[0]["lead"] = True
        countries = sorted({p["country"] for p in partners})
        firms = []
        for _ in range(rng.randrange(6, 16)):
            c = rng.choice(countries)
            staff, turnover, balance = size(rng, 0.3)
            while True:
                vat = VAT_PREFIX.get(c, c) + str(rng.randrange(10**8, 10**9))
                if vat not in vats:
                    vats.add(vat)
                    break
            firms.append({"vat": vat, "name": f"{rng.choice(PILOT_WORDS[c])} {rng.choice(PILOT_TRADES)} "
                                              f"{PILOT_FORMS[c]}",
                          "country": c, "staff": staff, "turnover": turnover, "balance_sheet": balance})
        if pool and rng.random() < 0.04:
            shared = rng.choice(pool)
            if shared["country"] in countries:
                firms[-1] = dict(shared)
        pool.extend(dict(f) for f in firms[:1])
        cost = money(rng.randrange(100, 301) * 1000)
        requested = money(cost * D(rng.choice(["0.75", "0.75", "0.7", "0.6", "0.5"])))
        quality = rng.choice([2.5, 3, 3.5, 3.5, 4, 4, 4.5, 5])
        apps.append({
            "id": f"2INS-2011-B{i + 1:04d}",
            "submitted_at": at(spread_days(rng, opens, closes.date()), rng, closes),
            "project": {"acronym": f"{rng.choice(CLUSTER_THEMES).split()[0].upper()}-2IN-{i + 1:03d}",
                        "title": f"{rng.choice(CLUSTER_THEMES)} cluster for SMEs' innovation and internationalisation",
                        "partners": partners, "firms": firms, "cost": cost, "amount_requested": requested,
                        "months": rng.choice([12, 18, 18, 24, 24])},
            "evaluation": {"excellence": half_marks(rng, quality),
                           "impact": half_marks(rng, rng.choice([3, 3.5, 4, 4.5])),
                           "implementation": half_marks(rng, rng.choice([3, 3.5, 4, 4.5, 5]))},
        })
        if rng.random() < 0.10:
            spoil_2ins(rng, apps[-1], rng.choice(reasons))
    return apps


def spoil_2ins(rng, app, reason):
    p = app["project"]
    if reason == "min_partners":
        p["partners"] = p["partners"][:2]
    elif reason == "min_countries":
        for q in p["partners"]:
            q["country"] = p["partners"][0]["country"]
        for f in p["firms"]:
            f["country"] = p["partners"][0]["country"]
    elif reason == "med_area":
        p["partners"].append({"name": "Fraunhofer-Institut für System- und Innovationsforschung", "country": "DE",
                              "kind": "research_centre"})
    elif reason == "one_lead":
        p["partners"][1]["lead"] = True
    elif reason == "knowledge_partner":
        p["partners"] = [q for q in p["partners"] if q["kind"] not in ("university", "research_centre")] or \
            [{"name": "Malta Enterprise", "country": "MT", "kind": "development_agency", "lead": True}]
    elif reason == "min_pilots":
        p["firms"] = p["firms"][:5]
    elif reason == "pilots_sme":
        f = p["firms"][0]
        f["staff"], f["turnover"], f["balance_sheet"] = 310, money(72_000_000), money(51_000_000)
    elif reason == "pilots_local":
        p["firms"][-1]["country"] = "DE"
    elif reason == "cofinancing":
        p["amount_requested"] = money(p["cost"] * D("0.85"))
    elif reason == "budget_range":
        p["cost"] = money(rng.choice([60_000, 80_000, 350_000, 420_000]))
        p["amount_requested"] = money(p["cost"] / 2)
    elif reason == "duration":
        p["months"] = rng.choice([6, 30, 36])
    elif reason == "on_time":
        app["submitted_at"] = dt.datetime(2011, 12, 16, 17, rng.randrange(1, 60), rng.randrange(60))


# --------------------------------------------------------------------------- horizon_evaluation

HORIZON_PARTICIPANTS = [
    ("Politecnico di Torino", "IT"), ("Consiglio Nazionale delle Ricerche", "IT"),
    ("Fraunhofer-Gesellschaft zur Förderung der angewandten Forschung e.V.", "DE"),
    ("Technische Universität München", "DE"), ("Commissariat à l'énergie atomique et aux énergies alternatives", "FR"),
    ("Centre national de la recherche scientifique", "FR"), ("Universidad Politécnica de Madrid", "ES"),
    ("Fundación Tecnalia Research & Innovation", "ES"), ("Katholieke Universiteit Leuven", "BE"),
    ("TNO – Nederlandse Organisatie voor toegepast-natuurwetenschappelijk onderzoek", "NL"),
    ("VTT Technical Research Centre of Finland", "FI"), ("Aalto University", "FI"),
    ("Ethniko Kentro Erevnas kai Technologikis Anaptyxis", "EL"), ("Politechnika Warszawska", "PL"),
    ("Instituto Superior Técnico", "PT"), ("AIT Austrian Institute of Technology", "AT"),
    ("SINTEF AS", "NO"), ("University of Strathclyde", "UK"), ("Technion – Israel Institute of Technology", "IL"),
]
HORIZON_THEMES = ["Green hydrogen", "Circular batteries", "Low-carbon steel", "Smart grids", "Bio-based materials",
                  "Digital twins", "Offshore wind", "Water reuse", "Agri-photovoltaics", "Quantum sensing"]


def make_horizon_evaluation(rng: random.Random, n: int) -> list[dict]:
    """Proposals of one topic; most request at most 70% of their costs, so that they are eligible in
    both types of action (`--param action=IA` or RIA), a quarter request up to 100% (RIA only)."""
    opens, closes = dt.date(2025, 5, 15), dt.datetime(2025, 9, 17, 17, 0)
    reasons = ["min_participants", "member_state", "eligible_countries", "one_coordinator", "funding_rate", "on_time",
               "page_limit", "declarations"]
    apps = []
    for i in range(n):
        while True:
            ps = rng.sample(HORIZON_PARTICIPANTS, rng.choice([3, 4, 5, 5, 6, 7, 8]))
            if sum(c not in ("NO", "UK", "IL") for _, c in ps) >= 1:
                break
        participants = [{"name": name, "country": c} for name, c in ps]
        participants[0]["coordinator"] = True
        cost = money(rng.randrange(150, 801) * 10_000)
        requested = money(cost * D(rng.choice(["0.7", "0.7", "0.65", "1", "0.9", "0.7"])))
        quality = rng.choice([2.5, 3, 3.5, 3.5, 4, 4, 4.5, 5])
        theme = rng.choice(HORIZON_THEMES)
        apps.append({
            "id": f"HZ-2025-B{i + 1:04d}",
            "submitted_at": at(spread_days(rng, opens, closes.date()), rng, closes),
            "project": {"acronym": f"{theme.split()[-1].upper()[:6]}-{i + 1:03d}",
                        "title": f"{theme} for Europe's industry", "participants": participants,
                        "cost": cost, "amount_requested": requested, "pages": rng.randrange(28, 46),
                        "declarations": True},
            "evaluation": {"excellence": D(str(_half(rng, quality))), "impact": D(str(_half(rng, rng.choice([3, 3.5, 4, 4.5])))),
                           "implementation": D(str(_half(rng, rng.choice([3, 3.5, 4, 4.5, 5]))))},
        })
        if rng.random() < 0.10:
            spoil_horizon(rng, apps[-1], rng.choice(reasons))
    return apps


def _half(rng, centre: float) -> float:
    """One consensus score near ``centre``, 0..5 by half points."""
    return min(5.0, max(0.0, centre + rng.choice([-0.5, 0, 0, 0.5])))


def spoil_horizon(rng, app, reason):
    p = app["project"]
    if reason == "min_participants":
        p["participants"] = p["participants"][:2]
    elif reason == "member_state":
        p["participants"] = [{"name": "SINTEF AS", "country": "NO", "coordinator": True},
                             {"name": "University of Strathclyde", "country": "UK"},
                             {"name": "Technion – Israel Institute of Technology", "country": "IL"}]
    elif reason == "eligible_countries":
        p["participants"].append({"name": "Massachusetts Institute of Technology", "country": "US"})
    elif reason == "one_coordinator":
        p["participants"][1]["coordinator"] = True
    elif reason == "funding_rate":
        p["amount_requested"] = money(p["cost"] * D("1.1"))
    elif reason == "on_time":
        app["submitted_at"] = dt.datetime(2025, 9, 17, 17, rng.randrange(1, 60), rng.randrange(60))
    elif reason == "page_limit":
        p["pages"] = rng.randrange(46, 61)
    elif reason == "declarations":
        p["declarations"] = False


# --------------------------------------------------------------------------- data errors


def break_row(rng: random.Random, app: dict) -> None:
    """Introduce one data error that makes the row invalid (the same error in every form)."""
    firms = _find_list(app)
    how = rng.choice(["bad_number", "missing", "bad_number"])
    if how == "bad_number" and firms:
        f = rng.choice(firms)
        key = "employees" if "employees" in f else "staff"
        f[key] = rng.choice(["n.d.", "dodici", "12 circa"])
        return
    # a required field left empty: the cost of the project
    for part in ("project", "plan"):
        if part in app and "cost" in app[part]:
            del app[part]["cost"]
            return
    if "district" in app:
        del app["district"]["chain"]


def _find_list(app):
    for part in ("network", "district", "project"):
        if part in app and isinstance(app[part].get("firms"), list) and app[part]["firms"]:
            return app[part]["firms"]
    return None


MAKERS = {
    "salentonet": make_salentonet,
    "mechnet": make_mechnet,
    "distretto_riconoscimento": make_distretto_riconoscimento,
    "distretto_progetti": make_distretto_progetti,
    "2ins_clusters": make_2ins_clusters,
    "horizon_evaluation": make_horizon_evaluation,
}


def generate(name: str, n: int, seed: int) -> list[dict]:
    rng = random.Random(f"{name}:{seed}")
    apps = MAKERS[name](rng, n)
    # about 1.5% of the rows carry a data error
    for app in rng.sample(apps, max(2, n * 15 // 1000)):
        break_row(rng, app)
    return apps


# --------------------------------------------------------------------------- writers


class Layout:
    """Columns of the main table and of each items table, from the policy's JSON Schema."""

    def __init__(self, schema: dict):
        self.root = schema
        self.main: list[tuple[tuple, dict]] = []  # (path, schema of the value)
        self.items: list[tuple[tuple, list]] = []  # (path of the list, [(field path, schema)])
        self._walk(schema, ())

    def resolve(self, node):
        while isinstance(node, dict) and "$ref" in node:
            target = self.root
            for part in node["$ref"][2:].split("/"):
                target = target[part]
            node = target
        return node

    def _walk(self, node, path):
        for name, sub in self.resolve(node).get("properties", {}).items():
            sub = self.resolve(sub)
            kind = sub.get("x-bando-type")
            if kind == "record":
                self._walk(sub, path + (name,))
            elif kind == "list" and self.resolve(sub["items"]).get("x-bando-type") == "record":
                fields = []
                self._fields(self.resolve(sub["items"]), (), fields)
                self.items.append((path + (name,), fields))
            else:
                self.main.append((path + (name,), sub))

    def _fields(self, node, path, out):
        for name, sub in node.get("properties", {}).items():
            sub = self.resolve(sub)
            if sub.get("x-bando-type") == "record":
                self._fields(sub, path + (name,), out)
            else:
                out.append((path + (name,), sub))


def _get(obj, path):
    for p in path:
        if not isinstance(obj, dict) or p not in obj:
            return None
        obj = obj[p]
    return obj


class Text:
    """Cell text for CSV, Italian or English."""

    def __init__(self, italian: bool):
        self.it = italian

    def number(self, v: Decimal, places=None) -> str:
        v = D(v)
        if places is not None:
            v = v.quantize(D(1).scaleb(-places))
        s = format(v, "f")
        if not self.it:
            return s
        whole, _, frac = s.partition(".")
        sign = "-" if whole.startswith("-") else ""
        whole = whole.lstrip("-")
        groups = []
        while len(whole) > 3:
            groups.insert(0, whole[-3:])
            whole = whole[:-3]
        whole = ".".join([whole] + groups)
        return sign + whole + ("," + frac if frac else "")

    def cell(self, v, node) -> str:
        if v is None:
            return ""
        kind = node.get("x-bando-type")
        if isinstance(v, str):
            return v  # text, enum, or a deliberately wrong value
        if kind == "list":
            item = node.get("items", {})
            return "; ".join(self.cell(x, item) for x in v)
        if isinstance(v, bool):
            return ("sì" if v else "no") if self.it else ("yes" if v else "no")
        if isinstance(v, dt.datetime):
            return v.strftime("%d/%m/%Y %H:%M:%S" if self.it else "%Y-%m-%d %H:%M:%S")
        if isinstance(v, dt.date):
            return v.strftime("%d/%m/%Y") if self.it else v.isoformat()
        if kind == "money":
            return self.number(v, 2)
        if isinstance(v, (Decimal, float)):
            return self.number(D(str(v)).normalize() if D(str(v)) != D(str(v)).to_integral_value()
                               else D(str(v)).quantize(D(1)))
        return str(v)


def write_jsonl(apps, path: Path):
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for app in apps:
            fh.write(_json(app) + "\n")


def _json(obj) -> str:
    """Compact JSON; amounts and decimals written as exact JSON numbers."""
    mark = "\u0000"

    def conv(o):
        if isinstance(o, Decimal):
            return f"{mark}{format(o, 'f')}{mark}"
        if isinstance(o, dt.datetime):
            return o.isoformat()
        if isinstance(o, dt.date):
            return o.isoformat()
        raise TypeError(type(o).__name__)

    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=conv)
    return text.replace('"\\u0000', "").replace('\\u0000"', "")


def write_csv(apps, layout: Layout, path: Path, italian: bool):
    fmt = Text(italian)
    sep = ";" if italian else ","
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=sep, lineterminator="\r\n")
        w.writerow([".".join(p) for p, _ in layout.main])
        for app in apps:
            w.writerow([fmt.cell(_get(app, p), node) for p, node in layout.main])
    for list_path, fields in layout.items:
        item_path = path.with_name(f"{path.stem}.{list_path[-1]}.csv")
        with open(item_path, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, delimiter=sep, lineterminator="\r\n")
            w.writerow(["application"] + [".".join(p) for p, _ in fields])
            for app in apps:
                for item in _get(app, list_path) or ():
                    w.writerow([app["id"]] + [fmt.cell(_get(item, p), node) for p, node in fields])


def write_xlsx(apps, layout: Layout, path: Path, italian: bool):
    import openpyxl
    from openpyxl.styles import Font

    fmt = Text(italian)
    wb = openpyxl.Workbook()
    stamp = dt.datetime(2000, 1, 1)
    wb.properties.created = wb.properties.modified = stamp
    wb.properties.creator = "examples/generate.py"

    def value(v, node):
        kind = node.get("x-bando-type")
        if v is None:
            return None
        if kind == "list" or isinstance(v, str):
            return fmt.cell(v, node)
        if isinstance(v, Decimal):
            return int(v) if v == v.to_integral_value() and kind == "int" else float(v)
        return v

    def sheet(ws, header, rows, formats):
        ws.append(header)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append(row)
        for col, f in enumerate(formats, start=1):
            if f:
                for (cell,) in ws.iter_rows(min_row=2, min_col=col, max_col=col):
                    cell.number_format = f
        ws.freeze_panes = "A2"

    def number_format(node):
        return {"money": "#,##0.00", "date": "DD/MM/YYYY" if italian else "YYYY-MM-DD",
                "datetime": "DD/MM/YYYY HH:MM:SS" if italian else "YYYY-MM-DD HH:MM:SS"}.get(node.get("x-bando-type"))

    ws = wb.active
    ws.title = "applications"
    sheet(ws, [".".join(p) for p, _ in layout.main],
          ([value(_get(app, p), node) for p, node in layout.main] for app in apps),
          [number_format(node) for _, node in layout.main])
    for list_path, fields in layout.items:
        ws = wb.create_sheet(list_path[-1])
        rows = ([app["id"]] + [value(_get(item, p), node) for p, node in fields]
                for app in apps for item in _get(app, list_path) or ())
        sheet(ws, ["application"] + [".".join(p) for p, _ in fields], rows,
              [None] + [number_format(node) for _, node in fields])
    wb.save(path)
    _fix_zip_times(path)


def _fix_zip_times(path: Path):
    """Give the workbook and its members fixed timestamps, so the same seed gives the same bytes
    (openpyxl stamps the save time into docProps/core.xml and into the zip entries)."""
    import re
    import zipfile

    with zipfile.ZipFile(path) as zin:
        members = [(info, zin.read(info.filename)) for info in zin.infolist()]
    members = [(info, re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2000-01-01T00:00:00Z", data)
                if info.filename == "docProps/core.xml" else data) for info, data in members]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info, data in members:
            fixed = zipfile.ZipInfo(info.filename, date_time=(2000, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            zout.writestr(fixed, data)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("policy", choices=sorted(MAKERS), help="policy name (policies/NAME.bando)")
    ap.add_argument("--n", type=int, default=500, help="number of applications (default 500)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--out", help="output path without extension (default examples/NAME/batch)")
    args = ap.parse_args(argv)

    from engine.evaluate.policy import load_policy

    policy = load_policy(ROOT / "policies" / f"{args.policy}.bando")
    layout = Layout(policy.json_schema())
    italian = policy.language == "it"
    out = Path(args.out) if args.out else ROOT / "examples" / args.policy / "batch"
    out.parent.mkdir(parents=True, exist_ok=True)
    apps = generate(args.policy, args.n, args.seed)
    write_jsonl(apps, out.with_suffix(".jsonl"))
    write_csv(apps, layout, out.with_suffix(".csv"), italian)
    write_xlsx(apps, layout, out.with_suffix(".xlsx"), italian)
    files = [out.with_suffix(".jsonl"), out.with_suffix(".csv")] + \
        [out.with_name(f"{out.name}.{p[-1]}.csv") for p, _ in layout.items] + [out.with_suffix(".xlsx")]
    for f in files:
        print(f"{f}  {f.stat().st_size / 1024:,.0f} KiB")


if __name__ == "__main__":
    main()
