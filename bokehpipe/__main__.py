from bokehpipe.cli import main

main()
