"""Running an export: loading any format through the registry, and classifying pictures.

`loading` (the one path that loads an export of any format, mapping every failure to one
`LoadError` line), `classifier` (image files through a classification export to labels).

May import: `export.formats`, `export.core`, `export.base`, `nets`. Never
`export.verification` or anything above, nor the binaries.
"""
