"""The one log message that means listeners lost programme audio.

The playout logs it when it must air from now rather than catch up (app.playout.clock), and
the station when the playout process died (app.stream.playout_process). Hosts and tests
grep the log for it; it needs nothing heavy, so the serving process can import it.
"""

SKIPPED_AUDIO = "playout skipped audio"
