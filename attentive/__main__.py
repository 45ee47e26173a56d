from attentive.cli import main

raise SystemExit(main())
