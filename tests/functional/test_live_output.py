"""Long commands print each piece of work as it starts and ends (plain lines when not on a terminal)."""

import re


def _lines(text: str) -> list[str]:
    """The lines without their time of day."""
    return [re.sub(r"^\d\d:\d\d:\d\d  ", "", line) for line in text.splitlines()]


def test_run_prints_each_step_as_it_starts_and_ends(workspace, cli):
    job = workspace.root / "jobs" / "three"
    job.mkdir(parents=True)
    (job / "10_one.sql").write_text("CREATE TABLE one AS SELECT 1 AS x;\n")
    (job / "20_two.py").write_text(
        "def run(job_input):\n    print('inside two')\n"
        "    job_input.send_tabular_data_for_ingestion([(1,), (2,)], ['x'], destination_table='two')\n"
    )
    (job / "30_three.py").write_text("def run(job_input):\n    raise ValueError('three broke')\n")
    result = cli("run", "three")
    assert result.exit_code == 1
    lines = [re.sub(r" \.+ ", " ", line) for line in _lines(result.stdout)]
    started_ended = [line for line in lines if re.match(r"\d of 3 ", line)]
    assert [re.sub(r"in [\d.]+s", "in Ns", line) for line in started_ended] == [
        "1 of 3 START 10_one.sql [RUN]",
        "1 of 3 OK 10_one.sql [OK in Ns, 1 row]",
        "2 of 3 START 20_two.py [RUN]",
        "2 of 3 OK 20_two.py [OK in Ns, 2 rows]",
        "3 of 3 START 30_three.py [RUN]",
        "3 of 3 ERROR 30_three.py [ERROR in Ns]",
    ]
    # the step's own output shows between its start and its end
    assert lines.index("inside two") == lines.index(started_ended[2]) + 1
    assert re.search(r"Run three-\S+ user_error in [\d.]+s, 3 rows written\. Log: ", result.stdout)
    assert all(len(line) <= 80 for line in result.stdout.splitlines() if " of 3 " in line)
    assert "\x1b" not in result.stdout and "⠋" not in result.stdout  # no colours nor spinners in a pipe
    everything = result.stdout + result.stderr
    assert everything.count("ValueError: three broke") == 1, everything
