"""What gets published beside each module: TF Hub's layout and the model cards.

`hub_layout` (where a module version's SavedModel, card and archive go under an output root),
`model_card` (the Markdown card of a handle and version, rendered from the tables).

May import: `export.core`, `export.base`, `nets`. Never `export.pipeline` or the binaries.
"""
