"""The benchmark command's smoke run on the deployed lab (what lab/benchmark --quick does): P1-P3 run
against the real endpoints, and the report and its plots are made from their JSON. Figures are never
asserted here (they belong to docs/benchmarks/); the test proves each part measures what it says."""

from __future__ import annotations

import json
import sys

from lablib import REPO, run


BENCH = REPO / "lab" / "bench"


def test_quick_benchmark_measures_both_paths_and_reports(deployed, tmp_path):
    out = tmp_path / "benchmarks.json"
    bench = run(sys.executable, str(BENCH / "bench.py"), str(out), "--quick", "--parts", "p1,p2,p3",
                "--command", "lab/benchmark --quick", timeout=900)
    assert bench.returncode == 0, bench.stdout + bench.stderr
    result = json.loads(out.read_text())
    series = result["p1_latency"]["series"]
    assert set(series) == {"direct", "tunnel", "plain_ssh"}
    for name, data in series.items():
        assert len(data["samples_ms"]) == 100, name  # each request answered 200 with the model list
        assert 0 < data["p50_ms"] <= data["p99_ms"] <= data["max_ms"], name
    levels = result["p2_throughput"]["levels"]
    assert [level["streams"] for level in levels] == [1, 16]
    for level in levels:
        # (client.py fails the run unless every stream brought exactly the tokens it asked for)
        assert level["direct_tok_s"] > 0 and level["tunnel_tok_s"] > 0
    # the CPU time of the tunnel's ssh processes is counted (in clock ticks: the 1024 tokens of 16 streams
    # take several, one stream's 64 tokens may take less than one)
    assert levels[1]["tunnel_ssh_cpu_s_per_1k_tokens"] > 0, "no CPU time counted for the tunnel's ssh processes"
    assert result["p3_recovery"]["source"] == "build/lab/faults.json"
    # nothing of the plain ssh baseline stays behind (its key was copied into two nodes for the run)
    for node in ("hpcv-compute-a", "hpcv-laptop"):
        assert run("podman", "exec", node, "test", "-e", "/tmp/hpcv-bench-key").returncode == 1
    report = run(sys.executable, str(BENCH / "report.py"), str(out), str(tmp_path), timeout=120)
    assert report.returncode == 0, report.stderr
    markdown = (tmp_path / "benchmarks.md").read_text()
    assert "lab/benchmark --quick" in markdown and "not measured in this run" in markdown  # P4, P5
    for plot in ("latency_cdf.png", "throughput.png"):
        assert (tmp_path / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({plot})" in markdown
