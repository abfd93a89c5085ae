from bench.chaos.soak import main

raise SystemExit(main())
