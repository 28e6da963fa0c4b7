from vsite.entry import main

main()
