from ops.api.app import main

main()
