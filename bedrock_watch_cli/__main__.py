"""`python -m bedrock_watch_cli` is `bedrock-watch`."""

from bedrock_watch_cli.main import main

raise SystemExit(main())
