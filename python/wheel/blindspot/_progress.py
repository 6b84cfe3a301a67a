"""How `check` and `run` show their progress (`progress=`):

- `None` (the default): a tqdm bar per stage in a Jupyter notebook when tqdm is installed (a
  widget when ipywidgets is, text otherwise); elsewhere blindspot's own lines on stderr (a
  redrawn bar on a terminal, a line every 30 s in a log), as the command line prints them;
- `"tqdm"`: tqdm bars wherever (an error when tqdm is not installed); `"stderr"`: blindspot's
  lines; `False`: nothing;
- a callable `progress(label, done, total, finished)`: called when a stage starts (done 0), at
  most every 50 ms while it runs, and once when it ends (finished True).

blindspot's own work is interruptible whatever the choice: Ctrl-C raises KeyboardInterrupt
within a batch."""
import sys


class Bars:
    """One tqdm bar per stage label, closed when the stage ends (or when the call does)."""

    def __init__(self, tqdm):
        self._tqdm = tqdm
        self._bars = {}

    def __call__(self, label, done, total, finished):
        bar = self._bars.get(label)
        if bar is None:
            bar = self._bars[label] = self._tqdm(total=total, desc=label, leave=True)
        bar.total = total
        bar.n = done
        bar.refresh()
        if finished:
            bar.close()
            del self._bars[label]

    def close(self):
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


def _in_notebook():
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ipython = shell.get_ipython()
    return ipython is not None and type(ipython).__name__ == "ZMQInteractiveShell"


def _tqdm(notebook):
    if notebook:
        try:
            import ipywidgets  # noqa: F401  (tqdm.notebook's widget)
            from tqdm.notebook import tqdm

            return tqdm
        except ImportError:
            pass
    from tqdm import tqdm

    return tqdm


def resolve(progress):
    """(callback, quiet, bars) for the native side; `bars` to close after the call, or None."""
    if progress is False:
        return None, True, None
    if progress is None:
        if not _in_notebook():
            return None, False, None
        try:
            bars = Bars(_tqdm(True))
        except ImportError:
            return None, False, None
        return bars, False, bars
    if progress == "stderr":
        return None, False, None
    if progress == "tqdm":
        try:
            bars = Bars(_tqdm(_in_notebook()))
        except ImportError:
            raise ImportError("progress='tqdm' needs tqdm: pip install tqdm") from None
        return bars, False, bars
    if callable(progress):
        return progress, False, None
    raise TypeError(f"progress is None, False, 'tqdm', 'stderr' or a callable "
                    f"progress(label, done, total, finished), not {progress!r}")
