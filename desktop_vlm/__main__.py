from desktop_vlm.cli import main

raise SystemExit(main())
