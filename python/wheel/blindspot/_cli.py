"""The `blindspot` command of the wheel: blindspot's command line, run in this process."""
import sys


def main():
    try:
        from ._native import native
    except ImportError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    sys.exit(native.main(["blindspot"] + sys.argv[1:]))


if __name__ == "__main__":
    main()
