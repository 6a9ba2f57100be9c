"""`python -m histoire`: the `histoire` command line."""

from histoire.cli import main

if __name__ == "__main__":
    main()
