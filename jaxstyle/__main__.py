from jaxstyle.cli import main

raise SystemExit(main())
