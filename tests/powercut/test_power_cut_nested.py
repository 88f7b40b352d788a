"""Power cuts with the simulated disk mounted at the data directory's parent: the kiosk
makes its data directory itself and must make that durable too.

The rounds and their checks are :func:`tests.powercut.test_power_cut.cut_power_repeatedly`
(see that module); this test has a file of its own so that ``--dist loadfile`` can run it
beside the six upload rounds on the other worker.
"""

from __future__ import annotations

from pathlib import Path

from tests.powercut.test_lazyfs import needs_fuse
from tests.powercut.test_power_cut import cut_power_repeatedly

pytestmark = needs_fuse


def test_power_cuts_keep_a_data_directory_the_kiosk_made_itself(tmp_path: Path) -> None:
    run = cut_power_repeatedly(tmp_path, rounds=2, seed=5, nested=True)
    # the second round waits for a printed id before its cut; the final start prints one
    assert len(run.printed) >= 2, "the demo never got to print"
    assert run.cut_mid_enrollment >= 1, "no cut landed while a citizen was enrolling"
