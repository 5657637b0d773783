"""Say where `make deploy` is about to deploy, from the caller's own AWS configuration.

No API call: the region and profile are resolved the way the SAM CLI (botocore) resolves them
(--region/--profile, then AWS_DEFAULT_REGION / AWS_PROFILE, then the profile's config; the
Makefile passes AWS_REGION as --region), so a deploy never lands in a region the caller did not
choose. Exits 2 with one line
when there is no region or no credentials, before `sam deploy` would fail less clearly.
"""

from __future__ import annotations

import argparse
import sys

import boto3
from botocore.exceptions import BotoCoreError


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--region")
    args.add_argument("--profile")
    options = args.parse_args(argv)
    try:
        session = boto3.session.Session(profile_name=options.profile, region_name=options.region)
        credentials = session.get_credentials()
    except BotoCoreError as err:
        sys.stderr.write(f"make deploy: {err}\n")
        return 2
    if session.region_name is None:
        sys.stderr.write(
            "make deploy: no AWS region: set AWS_REGION or AWS_DEFAULT_REGION, a region in your "
            "profile (aws configure), or pass REGION=...\n"
        )
        return 2
    if credentials is None:
        sys.stderr.write(
            "make deploy: no AWS credentials found (aws configure, aws sso login, or AWS_PROFILE)\n"
        )
        return 2
    profile = options.profile or session.profile_name
    sys.stdout.write(f"deploying to region {session.region_name} with profile {profile}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
