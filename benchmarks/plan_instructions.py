#!/usr/bin/env python3
"""Instructions per decode + validate + plan of the seed's performance-vm.

Runs benchmarks/plan_benchmark's BM_DecodeValidatePlanPerformanceVm under
callgrind and prints, per stage, the inclusive instructions per call, and the
work per iteration: LoadVmi + MakePlan + Plan::CommandLine + Plan::~Plan + Vmi::~Vmi over
LoadVmi's calls. The benchmark function's own total is not used: it also
holds its set-up (host facts with the built-in capability sets), which
google-benchmark repeats a varying number of times.

This VM has no PMU, so instruction counts come from callgrind; they are the
stable figure (timings move up to 20 % between runs). Needs valgrind.

  benchmarks/plan_instructions.py [--build build]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

STAGES = {
    "LoadVmi": "spec::LoadVmi(",
    "ReadStream": "spec::ReadStream(",
    "DecodeVmiSpec": "spec::DecodeVmiSpec(",
    "Validate": "spec::Validate(",
    "MakePlan": "MakePlan(qdirect::spec::Vmi",
    "CommandLine": "qdirect::Plan::CommandLine() const",
    "~Plan": "qdirect::Plan::~Plan()",
    "~Vmi": "qdirect::spec::Vmi::~Vmi()",
}
WORK = ("LoadVmi", "MakePlan", "CommandLine", "~Plan", "~Vmi")


def stage_costs(tree_text):
    """{stage: (inclusive instructions, calls)} from a caller tree."""
    lines = tree_text.split("\n")
    found = {}
    for i, line in enumerate(lines):
        if "*  " not in line:
            continue
        for stage, needle in STAGES.items():
            if stage in found or needle not in line:
                continue
            total = int(line.split()[0].replace(",", ""))
            calls = 0
            j = i - 1
            while j >= 0 and lines[j].strip() and "<" in lines[j]:
                m = re.search(r"\(([\d,]+)x\)", lines[j])
                if m:
                    calls += int(m.group(1).replace(",", ""))
                j -= 1
            if calls:
                found[stage] = (total, calls)
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default="build", help="meson build directory")
    args = parser.parse_args()
    binary = os.path.join(args.build, "benchmarks", "plan_benchmark")
    if not os.access(binary, os.X_OK):
        sys.exit(f"{binary}: not built (meson compile -C {args.build})")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        subprocess.run(
            ["valgrind", "--tool=callgrind",
             "--toggle-collect=qdirect::(anonymous namespace)::"
             "BM_DecodeValidatePlanPerformanceVm*",
             f"--callgrind-out-file={out}", binary,
             "--benchmark_filter=BM_DecodeValidatePlan", "--benchmark_min_time=1"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tree = subprocess.run(
            ["callgrind_annotate", "--inclusive=yes", "--tree=caller", "--threshold=100", out],
            check=True, capture_output=True, text=True).stdout
    costs = stage_costs(tree)
    if "LoadVmi" not in costs:
        sys.exit("LoadVmi not found in the profile (was the benchmark built with symbols?)")
    iterations = costs["LoadVmi"][1]
    for stage, (total, calls) in costs.items():
        print(f"{stage:<14} {total / calls:9.0f} instructions per call ({calls} calls)")
    work = sum(costs[s][0] for s in WORK if s in costs) / iterations
    print(f"work per iteration ({' + '.join(WORK)}): {work:.0f} instructions")


if __name__ == "__main__":
    main()
