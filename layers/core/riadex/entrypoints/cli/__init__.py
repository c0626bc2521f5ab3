"""`riadex`, the command-line client: sessions, chat with a live view of the run, tail, files."""
