"""The layer every other part of `export` stands on: rules and data shared by all of them.

`errors` (usage errors versus failures, one-line messages), `files` (atomic placement of files
and directories, permissions under the umask, sha256, stable JSON, reproducible archives),
`versions` (the published module versions as data), `probe_images` (the fixed, exactly
computed images that verification, calibration and examples use), `timing` (seconds per phase
of a job).

May import: `nets` and the standard library, NumPy. Never TensorFlow, never another
`export` subpackage.
"""
