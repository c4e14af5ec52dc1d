"""A capability defined only in the tests that brings nothing but a settings section (for the
manifest test: a section a config.yaml written before it does not have starts with its defaults)."""

from panel.capabilities.base import Manifest

MANIFEST = Manifest(name="sectioned", package=__name__, label="Sectioned", settings="settings:SectionedSettings")
