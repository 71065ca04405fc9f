"""Builds this folder's files from ../distretto_progetti/batch.csv (deterministic; run from the repository).

domande.csv: the first 40 applications without the experts' marks (panel.* columns);
voti.csv: the marks of experts E1, E2, E3 as the panel keeps them, one row per
(application, evaluator, criterion), with the events of a real panel: E2 declares a
conflict of interest on PSV-2026-B0007 and E4 marks in their place; on PSV-2026-B0005
the experts are 2.5 points apart on innovation and the consensus meeting agrees 3.5;
voti_largo.xlsx: the same marks, one row per (application, evaluator);
voti_ricorso.csv: the marks after an appeal: PSV-2026-B0036 contested its quality marks
(2.5 from each expert), the panel met again and agreed 3.5;
ritiri.txt: PSV-2026-B0025 renounces its grant after the final ranking (scorrimento).
"""
import csv
import io
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "distretto_progetti" / "batch.csv"
MARKS = ("quality", "innovation", "sustainability")


def main():
    rows = list(csv.reader(io.StringIO(SOURCE.read_text(encoding="utf-8-sig")), delimiter=";"))
    head, body = rows[0], rows[1:41]
    keep = [i for i, c in enumerate(head) if not c.startswith("panel.")]
    given = {c[len("panel."):]: i for i, c in enumerate(head) if c.startswith("panel.")}
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\r\n")
    w.writerow([head[i] for i in keep])
    for r in body:
        w.writerow([r[i] for i in keep])
    (HERE / "domande.csv").write_text("\ufeff" + out.getvalue(), encoding="utf-8", newline="")
    marks = []  # (application, evaluator, mark id, mark text, conflict)
    for r in body:
        app = r[0]
        for mid in MARKS:
            for n, text in enumerate(r[given[mid]].split(";"), 1):
                marks.append([app, f"E{n}", mid, text.strip(), ""])
    for m in marks:
        if m[0] == "PSV-2026-B0007" and m[1] == "E2":
            m[4] = "sì"  # a conflict of interest: E2's marks do not count, E4 marks instead
        if m[0] == "PSV-2026-B0005" and m[2] == "innovation" and m[1] == "E3":
            m[3] = "1,5"  # 4 and 4 against 1.5: more than 2 points apart
    e4 = [[m[0], "E4", m[2], m[3], ""] for m in marks if m[0] == "PSV-2026-B0007" and m[1] == "E2"]
    marks += e4
    marks.append(["PSV-2026-B0005", "consenso", "innovation", "3,5", ""])
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\r\n")
    w.writerow(["domanda", "valutatore", "criterio", "voto", "conflitto"])
    w.writerows(marks)
    (HERE / "voti.csv").write_text("\ufeff" + out.getvalue(), encoding="utf-8", newline="")
    wide(marks)
    w.writerow(["PSV-2026-B0036", "consenso", "quality", "3,5", ""])  # the appeal, upheld by the panel
    (HERE / "voti_ricorso.csv").write_text("\ufeff" + out.getvalue(), encoding="utf-8", newline="")
    (HERE / "ritiri.txt").write_text("PSV-2026-B0025\n", encoding="utf-8")


def wide(marks):
    import datetime as dt
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Voti"
    ws.append(["Voti della commissione di valutazione"])  # a title row above the header, as offices write
    ws.append(["domanda", "valutatore", "conflitto"] + list(MARKS))
    seen = {}
    for app, ev, mid, text, conflict in marks:
        row = seen.setdefault((app, ev), {"conflitto": conflict})
        row[mid] = float(text.replace(",", "."))
    for (app, ev), row in seen.items():
        ws.append([app, ev, row["conflitto"]] + [row.get(m) for m in MARKS])
    wb.properties.created = wb.properties.modified = dt.datetime(2026, 6, 1)
    wb.save(HERE / "voti_largo.xlsx")


if __name__ == "__main__":
    main()
