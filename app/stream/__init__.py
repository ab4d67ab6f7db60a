"""The stream: the MP3 encoder, the fan-out hub, ICY metadata and the listener connections."""
