"""Child process of the crash tests: commits a teach session, then waits to be killed.

``python crash_child.py STORE SESSION_ID during|after``: with ``during`` it
stops inside the commit's transaction (after the new version is written, before
COMMIT) and says ``IN-COMMIT``; with ``after`` it finishes and says ``DONE``.
Either way it then sleeps until the test kills it with SIGKILL.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from calibration.context import Context
from calibration.db import Tx, open_database
from calibration.domain import teach as teach_domain
from calibration.repository import teach as teach_repo
from calibration.settings import Settings


def main() -> None:
    store, session_id, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode == "during":
        original = teach_repo.close_session

        def stalled(tx: Tx, *args: Any, **kwargs: Any) -> bool:
            done = original(tx, *args, **kwargs)
            print("IN-COMMIT", flush=True)
            time.sleep(300)
            return done

        teach_repo.close_session = stalled
    ctx = Context(db=open_database(store), settings=Settings(db=store))
    teach_domain.commit(ctx, "crash-child", session_id, activate=True)
    print("DONE", flush=True)
    time.sleep(300)


if __name__ == "__main__":
    main()
