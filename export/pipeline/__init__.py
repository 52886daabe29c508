"""Making many artifacts: downloading the released checkpoints and regenerating every module.

`download` (resumable, digest-checked archive downloads), `regenerate` (the orchestrator) with
`plan`, `schedule`, `report` (with `estimate`: the time left, from each artifact's cost),
`worker` (one artifact in a fresh process, forked by a `forkserver` that imported TensorFlow
once; `references`: the reference outputs a variant's artifacts share), `state` (artifacts,
stamps, staleness), `manifest` (the manifest's schema, its only writer and reader, over the
typed JSON `records`) and `lock` (what a run must reproduce). docs/regeneration.md describes it.

May import every other `export` subpackage and `nets`. Never the binaries.
"""
