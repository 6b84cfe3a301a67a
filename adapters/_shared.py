"""The adapters' one source of code: the Python module's blindspot/adapters.py (it imports nothing
but torch), loaded by its path in this checkout. Imported by each file adapter before it drops
its own folder from the import path."""
import importlib.util
import os


def shared():
    """python/wheel/blindspot/adapters.py as a module."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "python", "wheel", "blindspot", "adapters.py")
    spec = importlib.util.spec_from_file_location("blindspot_adapters", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
