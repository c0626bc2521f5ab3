"""The tool server as a jailed child process on this machine."""
