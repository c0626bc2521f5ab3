"""The sandbox tool server: shell, files, browser and VNC over one authenticated HTTP port.

It runs inside every sandbox and never imports the riadex package: the image ships only this.
"""

__version__ = "0.1.0"
