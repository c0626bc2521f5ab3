"""A demo corpus: synthetic CVs (data and real PDFs made with fpdf2), the same for the same seed.

`make demo` (= `riadex demo`) writes them, uploads them into a new session of a demo user and prints
how to open it; the sandbox reads a PDF's text with `pdftotext` (poppler-utils)."""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Katherine",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Radia",
    "Linus",
    "Margaret",
    "Dennis",
    "Hedy",
    "Tim",
    "Shafi",
    "John",
    "Lynn",
    "Niklaus",
    "Sophie",
]
LAST = [
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Novak",
    "Fernandes",
    "Kowalski",
    "Haddad",
    "Brennan",
    "Achterberg",
    "Castillo",
    "Ivanova",
    "Mensah",
    "Rossi",
    "Nakamura",
    "Dubois",
    "Schmidt",
    "Patel",
]
CITIES = ["Lisbon", "Berlin", "Toronto", "Nairobi", "Osaka", "Austin", "Krakow", "Lyon", "Dublin", "Seoul"]
ROLES = [
    "Backend Engineer",
    "Data Engineer",
    "Site Reliability Engineer",
    "Machine Learning Engineer",
    "Frontend Engineer",
    "Platform Engineer",
    "Security Engineer",
    "Engineering Manager",
]
SKILLS = [
    "Python",
    "Go",
    "Rust",
    "TypeScript",
    "Kubernetes",
    "Terraform",
    "AWS",
    "PostgreSQL",
    "DynamoDB",
    "Kafka",
    "Spark",
    "PyTorch",
    "React",
    "GraphQL",
    "Linux",
    "CI/CD",
    "Observability",
    "gRPC",
]
COMPANIES = [
    "Northwind Labs",
    "Bluefin Analytics",
    "Copperleaf Systems",
    "Harbor Robotics",
    "Kestrel Pay",
    "Lumen Health",
    "Orbital Freight",
    "Quill Media",
    "Tidewater Energy",
    "Vantage Maps",
]
SCHOOLS = [
    "University of Porto",
    "TU Delft",
    "University of Waterloo",
    "KTH Stockholm",
    "ETH Zurich",
    "University of Cape Town",
    "Politecnico di Milano",
    "National University of Singapore",
]
DEGREES = [
    "BSc Computer Science",
    "MSc Software Engineering",
    "BEng Electrical Engineering",
    "MSc Data Science",
    "BSc Mathematics",
    "PhD Distributed Systems",
]
DOINGS = [
    "cut p99 latency of the payments API by {n}%",
    "migrated {n} services to Kubernetes",
    "built a streaming pipeline handling {n}k events per second",
    "led a team of {n} engineers",
    "reduced cloud spend by {n}% with right-sizing",
    "shipped a feature used by {n}k customers",
    "wrote the on-call runbooks for {n} services",
    "raised test coverage from 40% to {n}%",
]
PDF_DATE = datetime(2026, 1, 1, tzinfo=UTC)
"""Fixed, so that a seed always gives the same bytes."""


@dataclass(frozen=True)
class Job:
    company: str
    title: str
    start: int
    end: int | None
    highlights: list[str]


@dataclass(frozen=True)
class Candidate:
    id: str
    name: str
    email: str
    city: str
    title: str
    years: int
    skills: list[str]
    summary: str
    jobs: list[Job]
    education: str

    @property
    def file_name(self) -> str:
        return f"cv-{self.id}-{self.name.lower().replace(' ', '-')}.pdf"


def candidates(count: int, seed: int) -> list[Candidate]:
    rng = random.Random(seed)  # noqa: S311 - synthetic data, reproducible from its seed on purpose
    names: set[str] = set()
    made: list[Candidate] = []
    while len(made) < count:
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        if name in names:
            continue
        names.add(name)
        years = rng.randint(2, 18)
        title = rng.choice(ROLES)
        skills = rng.sample(SKILLS, rng.randint(4, 7))
        jobs: list[Job] = []
        end: int | None = None
        year = 2026
        for _ in range(rng.randint(2, 3)):
            start = year - rng.randint(1, 5)
            doings = [d.format(n=rng.randint(3, 60)) for d in rng.sample(DOINGS, 2)]
            jobs.append(Job(rng.choice(COMPANIES), rng.choice(ROLES), start, end, doings))
            end, year = start, start
        made.append(
            Candidate(
                id=f"{len(made) + 1:02d}",
                name=name,
                email=f"{name.lower().replace(' ', '.')}@example.com",
                city=rng.choice(CITIES),
                title=title,
                years=years,
                skills=skills,
                summary=(
                    f"{title} with {years} years of experience, strongest in {skills[0]} and "
                    f"{skills[1]}; open to remote work."
                ),
                jobs=jobs,
                education=f"{rng.choice(DEGREES)}, {rng.choice(SCHOOLS)}",
            )
        )
    return made


def cv_pdf(candidate: Candidate) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(PDF_DATE)
    pdf.set_title(f"CV - {candidate.name}")
    pdf.set_author(candidate.name)
    pdf.set_margins(18, 18, 18)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 22)
    pdf.cell(0, 11, candidate.name, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 12)
    pdf.set_text_color(80, 80, 80)
    pdf.cell(0, 7, f"{candidate.title} - {candidate.city} - {candidate.email}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(4)

    def heading(text: str) -> None:
        pdf.ln(2)
        pdf.set_font("Helvetica", "B", 13)
        pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_draw_color(200, 200, 200)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
        pdf.ln(2)
        pdf.set_font("Helvetica", "", 11)

    heading("Summary")
    pdf.multi_cell(0, 6, candidate.summary, new_x="LMARGIN", new_y="NEXT")
    heading("Skills")
    pdf.multi_cell(0, 6, ", ".join(candidate.skills), new_x="LMARGIN", new_y="NEXT")
    heading("Experience")
    for job in candidate.jobs:
        pdf.set_font("Helvetica", "B", 11)
        until = str(job.end) if job.end else "present"
        pdf.cell(0, 6, f"{job.title}, {job.company} ({job.start} - {until})", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 11)
        for line in job.highlights:
            pdf.multi_cell(0, 6, f"- {line}", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    heading("Education")
    pdf.multi_cell(0, 6, candidate.education, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def write_corpus(out: Path, count: int, seed: int) -> tuple[list[Candidate], list[Path]]:
    """Write candidates.json and one PDF per candidate into `out`; returns them and the files."""
    out.mkdir(parents=True, exist_ok=True)
    people = candidates(count, seed)
    files = []
    for person in people:
        path = out / person.file_name
        path.write_bytes(cv_pdf(person))
        files.append(path)
    data = out / "candidates.json"
    data.write_text(json.dumps([asdict(p) for p in people], indent=2) + "\n")
    return people, [data, *files]
