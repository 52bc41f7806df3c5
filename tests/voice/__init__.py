"""Voice notes: the real pipeline on a tiny locally built Whisper."""
