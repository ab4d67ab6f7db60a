"""The news desk: articles, their speech, bulletins and feeds."""
