"""`bedrock-watch`: the one command users run (report, drill, and the commands each area adds)."""
