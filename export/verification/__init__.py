"""Does an export reproduce its checkpoint? The checks, their tolerance policy and goldens.

`reference` (the checkpoint in TF-Slim's own graph), `expectation` (the probe outputs and
variable values an export must reproduce, read and run independently of the exporter),
`golden` (stored expectations), `checks`, `report`, `verifier` (load through
`export.runtime.loading`, run, check). docs/verification.md describes the policy.

May import: `export.runtime`, `export.formats`, `export.core`, `export.base`, `nets`. Never
`export.publish`, `export.pipeline` or the binaries.
"""
