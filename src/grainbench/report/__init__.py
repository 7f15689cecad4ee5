"""Pages people read: a run's ``report.html`` (:mod:`grainbench.report.run`), the headline
cards on it (:mod:`grainbench.report.headline`), the interactive ``leaderboard.html``
(:mod:`grainbench.report.board`), and the page around both (:mod:`grainbench.report.page`)."""

from grainbench.report.page import page
from grainbench.report.run import render_report, write_report

__all__ = ["page", "render_report", "write_report"]
