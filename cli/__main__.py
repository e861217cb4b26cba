from attngrad.cli.main import main

if __name__ == "__main__":  # guarded: `attngrad check` starts worker processes that import __main__
    main()
