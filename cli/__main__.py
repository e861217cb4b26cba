from attngrad.cli.main import main

main()
