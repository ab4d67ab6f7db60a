"""An internet radio station: media library -> scheduler -> playout -> stream -> listeners."""
