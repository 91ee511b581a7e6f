"""``manage.py create_bucket``: create the media bucket (``NANOMARK_S3_BUCKET``) if missing.

For S3-compatible servers started empty, such as docker-compose's MinIO; run
after ``migrate``, any number of times. On AWS the bucket is usually made with
the rest of the infrastructure, and the command only confirms it is reachable.
"""

from botocore.exceptions import ClientError
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError
from storages.backends.s3 import S3Storage

#: The region whose buckets take no LocationConstraint (S3's rule).
DEFAULT_REGION = "us-east-1"


class Command(BaseCommand):
    help = "Create the S3 bucket that holds media (NANOMARK_S3_BUCKET) unless it exists."

    def handle(self, *args, **options) -> None:
        if not isinstance(default_storage, S3Storage):
            raise CommandError("media is on the filesystem: set NANOMARK_S3_BUCKET first")
        client = default_storage.connection.meta.client
        bucket = default_storage.bucket_name
        try:
            client.head_bucket(Bucket=bucket)
            self.stdout.write(f"Bucket {bucket!r} exists.")
            return
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("404", "NoSuchBucket"):
                raise CommandError(f"bucket {bucket!r}: {error}") from None
        region = client.meta.region_name
        if region in (None, DEFAULT_REGION):
            client.create_bucket(Bucket=bucket)
        else:
            client.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
            )
        self.stdout.write(f"Created bucket {bucket!r}.")
