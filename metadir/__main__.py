from metadir.cli import main

raise SystemExit(main())
