"""What gets published beside each module: TF Hub's layout and the model cards.

`hub_layout` (where a module version's SavedModel, card and archive go under an output root;
each format's files where the registry says), `model_card` (the Markdown card of a handle and
version, rendered from the tables), `card_formats` (its sections about the LiteRT, ONNX and
TF.js files made with a version).

May import: `export.formats` (its registry), `export.core`, `export.base`, `nets`. Never
`export.runtime`, `export.verification`, `export.pipeline` or the binaries.
"""
