"""The progress line: redrawn on a terminal, throttled plain lines in a pipe."""

import io

from sparsecore.cli._progress import ProgressLine


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_terminal_redraws_one_line():
    out = Tty()
    line = ProgressLine("sweep", 4, stream=out)
    for done in range(1, 5):
        line.update(done, f"cell {done}")
    line.close()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.count("\r") == 4
    assert "sweep  4/4" in text.split("\r")[-1] and "ETA" not in text.split("\r")[-1]
    assert "ETA" in text.split("\r")[1]  # 1/4 done: an estimate of the rest


def test_pipe_prints_plain_lines_throttled():
    out = io.StringIO()
    line = ProgressLine("[dense]", 100, stream=out, plain_every=3600.0)
    for done in range(1, 101):
        line.update(done)
    line.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # the first update, and the last (never throttled)
    assert lines[0].startswith("[dense]  1/100") and lines[1].startswith(
        "[dense]  100/100"
    )
    assert "\r" not in out.getvalue()


def test_close_with_a_final_text():
    out = io.StringIO()
    line = ProgressLine("x", 2, stream=out)
    line.close("done in 1 s")
    assert out.getvalue() == "done in 1 s\n"
