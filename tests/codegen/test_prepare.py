"""codegen.prepare: the back end's rewrites are one list, run by the front end's pass driver
(timed, printed, verified and dumped like every pass), and nothing else rewrites the graph."""

from __future__ import annotations

from corpus_cases import corpus_case

from codegen.prepare import PREPARE, prepare
from codegen.schedule import Schedule
from symgrad.ir.interpret import Interpreter


def test_every_rewrite_runs_from_the_list_and_keeps_the_values(monkeypatch):
    monkeypatch.setenv("SYMGRAD_CHECK", "1")  # the verifier runs after each rewrite
    case = corpus_case("nn_mlp_ce")
    out = prepare(case.program)
    assert [s[0] for s in out.pass_stats] == [name for name, _ in PREPARE]
    assert out.stage == "prepared" and case.program.stage == "optimized"  # input untouched
    case.check(Interpreter(out).run(case.arrays))
    assert prepare(out) is out  # prepared once


def test_the_scheduler_schedules_the_prepared_program_as_it_is():
    case = corpus_case("nn_linear_ce")
    prepared = prepare(case.program)
    s = Schedule(prepared)
    assert s.program is prepared  # no rewrite of its own


def test_the_debug_ladder_and_the_dump_show_each_rewrite(monkeypatch, capfd, tmp_path):
    monkeypatch.setenv("SYMGRAD_DEBUG", "3")
    monkeypatch.setenv("SYMGRAD_DUMP", str(tmp_path))
    prepare(corpus_case("softmax_ce").program)
    err = capfd.readouterr().err
    for name, _ in PREPARE:
        assert f"pass {name}: " in err and f"after {name}:" in err
    dumped = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("prepared."))
    assert [d.split(".")[3] for d in dumped] == [name for name, _ in PREPARE]
