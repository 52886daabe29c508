"""Publishing the regenerated modules as Kaggle Models (where tfhub.dev handles resolve now).

  mapping.py     (variant, module type, hub version, format) -> Kaggle instance and version
  sources.py     what a finished regeneration output offers, checked against its manifest
  metadata.py    model-metadata.json and model-instance-metadata.json, from the model cards
  staging.py     the plan and the staging tree, one directory per instance version
  ledger.py      the record of what was uploaded (uploads.json)
  upload.py      the upload, resumable and idempotent: what to send, decided per version
  kaggle_api.py  kagglehub's calls, credentials, the API endpoint
  publish.py     the whole, for scripts/publish_kaggle.py

docs/publishing.md describes the whole; scripts/publish_kaggle.py is the binary.

May import: `export.pipeline` (the manifest and lock it publishes from), `export.publish`,
`export.formats` (the registry: each format's framework and slugs), `export.base`, `nets`, and
kagglehub and kagglesdk only inside the functions that upload (the dry run works without them).
Never the binaries.
"""
