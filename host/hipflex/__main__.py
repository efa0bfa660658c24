from hipflex.cli import main

raise SystemExit(main())
