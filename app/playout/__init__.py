"""Playout: sources of PCM, operators over them, and the one real-time clock."""
