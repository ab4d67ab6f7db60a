"""Host accounts: passwords, personal API tokens, browser sessions and login throttling.

The HTTP side (who is asking, CSRF, cookies) lives in app/api/auth.py and app/api/hosts.py;
this package holds the rules and the database work, so the CLI can use them too.
"""
