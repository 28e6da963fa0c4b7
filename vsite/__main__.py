from vsite.cli import main

main()
