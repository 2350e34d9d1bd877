from dcs_mailbox.cli import main

raise SystemExit(main())
