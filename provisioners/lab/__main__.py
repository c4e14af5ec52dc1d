"""`python -m provisioners.lab ...` runs the lab CLI."""

from .cli import lab

lab(prog_name="python -m provisioners.lab")
