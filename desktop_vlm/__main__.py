from desktop_vlm.entry import main

raise SystemExit(main())
