"""`python -m app.db URL`: bring the database at URL to the newest migration."""

import sys

from app.db import make_engine, upgrade

engine = make_engine(sys.argv[1])
try:
    upgrade(engine)
finally:
    engine.dispose()
