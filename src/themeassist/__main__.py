"""``python -m themeassist``: the command line."""

from themeassist.cli import main

if __name__ == "__main__":
    main()
